"""Form fields shared by the admin screens, the desk and the API's filters."""

import json
from datetime import UTC

from django import forms
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from core.timezones import checked_moment


class WriteOnlyJSONObjectField(forms.CharField):
    """A secret JSON object (API keys, account credentials): typed in, never shown back. Empty
    means "keep what is stored" and cleans to None; otherwise a dict."""

    widget = forms.PasswordInput(render_value=False)

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON.")) from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError(_("Expected a JSON object."))
        return parsed


class AwareDateTimeField(IsoDateTimeField):
    """An ISO 8601 moment typed into a filter, as aware UTC. A time without an offset is read in
    the user's zone; an offset of 16 h or more, or a date at the calendar's ends, is refused
    with the reason (the database would otherwise fail on it)."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return checked_moment(moment).astimezone(UTC)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="out_of_range") from exc
