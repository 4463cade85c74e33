from decimal import Decimal

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from core.money import ZERO
from fulfilment.models import ShipmentStatus
from orders.models import Order

register = template.Library()


def _label(field: str) -> str:
    try:
        return str(Order._meta.get_field(field).verbose_name)
    except FieldDoesNotExist:
        return field


def _shown(field: str, value) -> str:
    """A stored value as a person reads it: a choice's label ("Expedite"), not its code."""
    if not value:
        return "—"
    try:
        choices = dict(Order._meta.get_field(field).choices or ())
    except FieldDoesNotExist:
        choices = {}
    return str(choices.get(value, value))


@register.filter
def event_details(payload: dict) -> list[str]:
    """Readable lines for an event payload: changed fields as "field: old → new", cancelled
    lines as "SKU ×qty"; bookkeeping keys (transition name, counts) are left out."""
    details = []
    changes = payload.get("changes", payload)
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2 and not isinstance(value[0], dict):
            details.append(f"{_label(field)}: {_shown(field, value[0])} → {_shown(field, value[1])}")
    for line in payload.get("lines", []) if isinstance(payload.get("lines"), list) else []:
        details.append(f"#{line['line']} {line['sku']} ×{line['quantity']}")
    if payload.get("shipment") and payload.get("to"):  # a shipment moved: "SO…-1: packed → shipped"
        labels = dict(ShipmentStatus.choices)
        before = labels.get(payload.get("from"), payload.get("from") or "—")
        details.append(f"{payload['shipment']}: {before} → {labels.get(payload['to'], payload['to'])}")
    if payload.get("released"):
        details.append(_("Stock released: %(n)s units") % {"n": payload["released"]})
    details.extend(_edit_details(payload))
    return details


EDIT_LABELS = {
    "sku": _lazy("SKU"),
    "quantity": _lazy("quantity"),
    "unit_price": _lazy("unit price"),
    "paid_amount": _lazy("paid"),
}


def _edit_details(payload: dict) -> list[str]:
    """An order edit (orders.edits): each line's changes, gifts added and removed, the new total
    and how it stands against what the platform says was paid."""
    details = []
    for edit in payload.get("edits") or []:
        changed = [
            f"{label}: {edit['changes'][key][0]} → {edit['changes'][key][1]}"
            for key, label in EDIT_LABELS.items()
            if key in edit.get("changes", {})
        ]
        details.append(f"#{edit['line']} {edit['sku']}: {', '.join(changed)}")
    for gift in payload.get("gifts_added") or []:
        details.append(_("Gift added: #%(line)s %(sku)s ×%(qty)s") % {**gift, "qty": gift["quantity"]})
    for gift in payload.get("gifts_removed") or []:
        details.append(_("Gift removed: #%(line)s %(sku)s ×%(qty)s") % {**gift, "qty": gift["quantity"]})
    total = (payload.get("amounts") or {}).get("total")
    if isinstance(total, list):
        details.append(_("Total: %(old)s → %(new)s") % {"old": total[0], "new": total[1]})
    if payload.get("reserved"):
        details.append(_("Stock reserved: %(n)s units") % {"n": payload["reserved"]})
    difference = Decimal(payload["paid_difference"]) if payload.get("paid_difference") else ZERO
    if difference > 0:
        details.append(
            _("Paid on the platform %(paid)s: refund %(n)s")
            % {"paid": payload["paid_amount"], "n": difference}
        )
    elif difference < 0:
        details.append(
            _("Paid on the platform %(paid)s: collect %(n)s")
            % {"paid": payload["paid_amount"], "n": -difference}
        )
    return details
