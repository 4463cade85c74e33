"""Sign-in throttling for every login form (desk and admin), done by django-axes.

Axes counts failed sign-ins per user name + client address (core.client_address, proxy-aware) in
the database, so every worker process sees the same count. Once a pair reaches
LOGIN_THROTTLE_ATTEMPTS it is refused, even with the right password, for
LOGIN_THROTTLE_WINDOW_SECONDS; another user, or the same user from another address, is not.
An address that fails LOGIN_THROTTLE_ADDRESS_ATTEMPTS times across user names (password spraying)
is refused for every user name: a much higher limit, because a warehouse or an office shares one
address.
The settings hook these functions in (AXES_* in config/settings/base.py).
"""

from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

THROTTLED = _("Too many failed sign-ins. Try again in a few minutes.")


def login_failure_limit(request, credentials) -> int:
    """AXES_FAILURE_LIMIT: read at each attempt, so a changed setting applies at once."""
    return settings.LOGIN_THROTTLE_ATTEMPTS


class LoginThrottleHandler(AxesDatabaseHandler):
    """AXES_HANDLER: axes compares one count with one limit, so the per-address count (the second
    of AXES_LOCKOUT_PARAMETERS) is scaled to the per-pair limit before the two are compared."""

    def get_failures(self, request, credentials=None) -> int:
        per_pair, per_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        scaled = per_address * settings.LOGIN_THROTTLE_ATTEMPTS // settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS
        return max(per_pair, scaled)

    def reset_user_attempts(self, request, credentials=None) -> int:
        """A successful sign-in clears its own user name's failures only: one valid account must not
        wipe the address's count of failures against everyone else."""
        per_pair = self.filter_user_attempts(request, credentials)[0]
        deleted, _by_model = per_pair.delete()
        return deleted


def login_cooloff(request) -> timedelta:
    """AXES_COOLOFF_TIME: how long a locked-out pair waits."""
    return timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE. A sign-in page already says why (the forms below), so it is shown
    as it is; anything else that authenticates gets a plain 429."""
    context = getattr(original_response, "context_data", None) or {}
    if "form" in context:
        return original_response
    return HttpResponse(str(THROTTLED), status=429, content_type="text/plain; charset=utf-8")


class _SaysWhenThrottled:
    """A login form that names the lockout instead of "wrong password" (axes marks the request)."""

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "axes_locked_out", False):
                raise ValidationError(THROTTLED, code="throttled") from None
            raise


class ThrottledAuthenticationForm(_SaysWhenThrottled, AuthenticationForm):
    """The desk's sign-in form."""


class ThrottledAdminAuthenticationForm(_SaysWhenThrottled, AdminAuthenticationForm):
    """The admin site's sign-in form (config/urls.py sets it on the site)."""
