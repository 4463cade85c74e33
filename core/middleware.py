from datetime import UTC

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

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
        if is_api_request(request):  # not request.user: on the API that would load a session for nothing
            timezone.activate(UTC)
        else:
            user = getattr(request, "user", None)
            zone = getattr(user, "time_zone", None) if user and user.is_authenticated else None
            timezone.activate(zone or business_zone())
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class LazyMessageMiddleware(MessageMiddleware):
    """Django's message middleware, its storage built when a view or template first touches it.
    Django builds it on every request (a settings import and a cookie signer); the API never shows
    a message, and that was a twentieth of a checkout lock request's CPU (issue #18). Storage nobody
    touched has nothing to store, which is what Django's `update` finds for it too."""

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)
