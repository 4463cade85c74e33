from django import template
from django.utils.translation import gettext_lazy as _

from fulfilment.models import ShipmentStatus

register = template.Library()
LABELS = dict(ShipmentStatus.choices)
_CREATED = _("Created")


@register.filter
def shipment_status(code: str) -> str:
    """A stored shipment state ("sent_to_warehouse") as a person reads it ("Sent to warehouse");
    "created" is the parcel coming into being."""
    if not code:
        return "—"
    if code == "created":
        return str(_CREATED)
    return str(LABELS.get(code, code))
