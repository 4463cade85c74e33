"""Login throttling: too many failures for one username or one address lock it out for a while."""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def _keys(request, username: str) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "") if request else ""
    return [f"login-fail:user:{username.lower()}", f"login-fail:addr:{address}"]


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _("Too many failed sign-ins. Try again in a few minutes."),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        keys = _keys(self.request, username)
        if any(cache.get(key, 0) >= settings.LOGIN_THROTTLE_ATTEMPTS for key in keys):
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except ValidationError:
            for key in keys:
                cache.add(key, 0, settings.LOGIN_THROTTLE_WINDOW_SECONDS)
                cache.incr(key)
            raise
