from datetime import UTC

from django.utils import timezone

from core.timezones import business_zone

API_PREFIX = "/api/"


def is_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


class UserTimeZoneMiddleware:
    """Times are stored in UTC and shown in the user's zone (or the business zone). The API
    speaks UTC to everyone: its times are RFC 3339 whatever the date (a zone's historic local
    mean time has an offset in seconds, which RFC 3339 cannot write)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = getattr(user, "time_zone", None) if user and user.is_authenticated else None
        timezone.activate(UTC if is_api_request(request) else zone or business_zone())
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
