"""Batch printing for the warehouse (R-F3): the desk selects shipments (or a wave) and gets one
PDF. Labels need the parcel's waybill (its tracking number); each printed copy is counted on the
shipment, and a reprint — any copy after the first — is written on the order's timeline with
who printed it, since a second label for one parcel is how parcels get shipped twice."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted
from core.transitions import Actor
from fulfilment import labels
from fulfilment.models import Shipment
from orders.models import OrderEventKind
from orders.transitions import record_order_event

PRINT_PERMISSION = "orders.work_shipment"
MAX_BATCH = 500  # one PDF; a wave is smaller


@dataclass
class Printed:
    pdf: bytes
    printed: list[str] = field(default_factory=list)  # shipment numbers in the PDF
    reprinted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why each one left out was left out


def _selected(numbers: list[str]) -> list[Shipment]:
    numbers = list(dict.fromkeys(number.strip() for number in numbers if number.strip()))
    if not numbers:
        raise DomainError(_("Select the shipments to print."), field="shipment")
    if len(numbers) > MAX_BATCH:
        raise DomainError(_("At most %(max)s shipments per print.") % {"max": MAX_BATCH}, field="shipment")
    found = {
        shipment.number: shipment
        for shipment in Shipment.objects.filter(number__in=numbers)
        .select_related("order__channel", "warehouse", "carrier")
        .prefetch_related("lines__sku")
    }
    missing = [number for number in numbers if number not in found]
    if missing:
        raise DomainError(
            _("No such shipment: %(numbers)s.") % {"numbers": ", ".join(missing)}, field="shipment"
        )
    return [found[number] for number in numbers]  # the order the desk listed them in


def _require_printer(actor: Actor) -> None:
    if actor is not None and not actor.has_perm(PRINT_PERMISSION):
        raise NotPermitted(_("You are not allowed to do this."))


def shipments_print_labels(*, numbers: list[str], actor: Actor) -> Printed:
    """The labels of the selected shipments that have a waybill, counted as printed."""
    _require_printer(actor)
    shipments = _selected(numbers)
    now = timezone.now()
    with transaction.atomic():
        # Locked in id order (the order every path locks shipments in); what may be printed is
        # read under the lock, so a parcel cancelled a moment ago is not labelled.
        locked = {
            pk: (cancelled_at, tracking_number)
            for pk, cancelled_at, tracking_number in Shipment.objects.filter(
                pk__in=[shipment.pk for shipment in shipments]
            )
            .order_by("pk")
            .select_for_update()
            .values_list("pk", "cancelled_at", "tracking_number")
        }
        for shipment in shipments:
            shipment.cancelled_at, shipment.tracking_number = locked[shipment.pk]
        ready = [
            shipment for shipment in shipments if shipment.tracking_number and shipment.cancelled_at is None
        ]
        skipped = [
            _("%(number)s: cancelled") % {"number": shipment.number}
            if shipment.cancelled_at
            else _("%(number)s: no waybill yet") % {"number": shipment.number}
            for shipment in shipments
            if shipment not in ready
        ]
        if not ready:
            raise DomainError(" ".join([_("Nothing to print."), *skipped]), field="shipment")
        ids = [shipment.pk for shipment in ready]
        Shipment.objects.filter(pk__in=ids).update(label_prints=F("label_prints") + 1, label_printed_at=now)
        copies = dict(Shipment.objects.filter(pk__in=ids).values_list("pk", "label_prints"))
        reprints = {pk: copy for pk, copy in copies.items() if copy > 1}
        for shipment in ready:
            if shipment.pk in reprints:
                record_order_event(
                    shipment.order,
                    OrderEventKind.SHIPMENT,
                    actor,
                    reason=_("Label of %(shipment)s reprinted (copy %(copy)s).")
                    % {"shipment": shipment.number, "copy": reprints[shipment.pk]},
                    payload={"shipment": shipment.number, "label_copy": reprints[shipment.pk]},
                )
    return Printed(
        pdf=labels.labels_pdf(ready, reprints=reprints),
        printed=[shipment.number for shipment in ready],
        reprinted=[shipment.number for shipment in ready if shipment.pk in reprints],
        skipped=skipped,
    )


def shipments_print_packing_slips(*, numbers: list[str], actor: Actor) -> Printed:
    """A4 packing slips of the selected shipments (no waybill needed, nothing counted)."""
    _require_printer(actor)
    shipments = _selected(numbers)
    return Printed(
        pdf=labels.packing_slips_pdf(shipments), printed=[shipment.number for shipment in shipments]
    )
