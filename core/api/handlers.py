"""Django's own error answers (no URL matched, a body too large to read, a crash) in the API's
shape on API paths: an API client gets JSON from every answer. Elsewhere, Django's pages."""

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from core.middleware import is_api_request


def bad_request(request, exception):
    if is_api_request(request):
        return JsonResponse(
            {"detail": _("The request could not be read: it is too large or malformed.")}, status=400
        )
    return defaults.bad_request(request, exception)


def page_not_found(request, exception):
    if is_api_request(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_request(request):
        return JsonResponse({"detail": _("Server error: it has been logged.")}, status=500)
    return defaults.server_error(request)
