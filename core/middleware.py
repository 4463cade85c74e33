from django.utils import timezone

from core.timezones import business_zone


class UserTimeZoneMiddleware:
    """Times are stored in UTC and shown in the user's zone (or the business zone)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = getattr(user, "time_zone", None) if user and user.is_authenticated else None
        timezone.activate(zone or business_zone())
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
