from django import template
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _

from fulfilment.models import ShipmentStatus
from orders.models import Order

register = template.Library()


def _label(field: str) -> str:
    try:
        return str(Order._meta.get_field(field).verbose_name)
    except FieldDoesNotExist:
        return field


@register.filter
def event_details(payload: dict) -> list[str]:
    """Readable lines for an event payload: changed fields as "field: old → new", cancelled
    lines as "SKU ×qty"; bookkeeping keys (transition name, counts) are left out."""
    details = []
    changes = payload.get("changes", payload)
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2 and not isinstance(value[0], dict):
            details.append(f"{_label(field)}: {value[0] or '—'} → {value[1] or '—'}")
    for line in payload.get("lines", []) if isinstance(payload.get("lines"), list) else []:
        details.append(f"#{line['line']} {line['sku']} ×{line['quantity']}")
    if payload.get("shipment") and payload.get("to"):  # a shipment moved: "SO…-1: packed → shipped"
        labels = dict(ShipmentStatus.choices)
        before = labels.get(payload.get("from"), payload.get("from") or "—")
        details.append(f"{payload['shipment']}: {before} → {labels.get(payload['to'], payload['to'])}")
    if payload.get("released"):
        details.append(_("Stock released: %(n)s units") % {"n": payload["released"]})
    return details
