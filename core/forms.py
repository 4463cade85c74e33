"""Form fields shared by the admin screens."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _


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
