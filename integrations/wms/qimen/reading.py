"""Reading the fields of a Qimen request: required or not, bounded, times in Beijing time, whole
units. Each refusal is a DomainError naming the field by its path in the request."""

from xml.etree import ElementTree as ET

from django.utils.translation import gettext as _

from core.errors import DomainError
from core.timezones import parse_beijing_time


def text(
    element: ET.Element | None, path: str, field: str, *, required: bool = True, max_length: int = 0
) -> str:
    value = (element.findtext(path) or "").strip() if element is not None else ""
    if required and not value:
        raise DomainError(_("%(field)s: required.") % {"field": field}, field=field)
    if max_length and len(value) > max_length:
        raise DomainError(
            _("%(field)s: at most %(max)s characters.") % {"field": field, "max": max_length}, field=field
        )
    return value


def time(element: ET.Element | None, path: str, field: str):
    value = text(element, path, field, required=False)
    if not value:
        return None
    try:
        return parse_beijing_time(value)
    except ValueError as exc:
        raise DomainError(
            _("%(field)s: expected YYYY-MM-DD HH:MM:SS (Beijing time), got %(value)s.")
            % {"field": field, "value": value},
            field=field,
        ) from exc


def units(text: str | None, field: str) -> int:
    value = (text or "").strip()
    if not value.isdigit():
        raise DomainError(
            _("%(field)s: expected a whole number of units, got %(value)s.")
            % {"field": field, "value": value or "-"},
            field=field,
        )
    return int(value)
