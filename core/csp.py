"""The Content-Security-Policy header (Django 5.2 has none built in). One policy for the desk, a
relaxed one for the third-party screens whose templates carry inline script or style (the admin,
the API docs and browsable API); both come from settings (CONTENT_SECURITY_POLICY…)."""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        relaxed = request.path_info.startswith(tuple(settings.CONTENT_SECURITY_POLICY_RELAXED_PATHS))
        policy = settings.CONTENT_SECURITY_POLICY_RELAXED if relaxed else settings.CONTENT_SECURITY_POLICY
        header = (
            "Content-Security-Policy-Report-Only"
            if settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
            else "Content-Security-Policy"
        )
        if policy and header not in response:  # a view that set its own policy keeps it
            response[header] = policy
        return response
