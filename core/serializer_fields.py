from django.utils.functional import lazy
from django.utils.translation import gettext
from rest_framework import serializers


def _unknown_message(what) -> str:
    return gettext("Unknown or inactive %(what)s “{value}”.") % {"what": what}


_unknown_message_lazy = lazy(_unknown_message, str)  # translated when the error is raised


def active_by_code(
    queryset, field_class=serializers.SlugRelatedField, **kwargs
) -> serializers.SlugRelatedField:
    """Master data named by its code in API bodies (channel, SKU, warehouse); inactive rows and
    unknown codes are refused with the code in the message."""
    if any(f.name == "is_active" for f in queryset.model._meta.fields):
        queryset = queryset.filter(is_active=True)
    return field_class(
        slug_field="code",
        queryset=queryset,
        error_messages={"does_not_exist": _unknown_message_lazy(queryset.model._meta.verbose_name)},
        **kwargs,
    )
