"""Splitting a parcel: a warehouse packed part of a shipment in a box of its own (a cloud
warehouse confirming several packages, or confirming part of a shipment now and the rest later).

The part becomes a Shipment of its own (`split_from` names the one it came from) carrying the
units it holds, with their reservations, in the state the shipment was in, so it ships, is
tracked and is written back to the sales platforms exactly like any other parcel. What stays
behind remains the original shipment, still open in the warehouse."""

from django.utils.translation import gettext as _

from core.errors import DomainError
from fulfilment.models import IN_WAREHOUSE, Shipment, ShipmentLine
from inventory import reservations
from orders.models import Order, OrderEventKind
from orders.transitions import record_order_event


def shipment_split_off(
    *,
    shipment: Shipment,
    orders: list[Order],
    quantities: dict[int, int],
    reason: str,
    payload: dict,
    actor=None,
    to_warehouse=None,
) -> Shipment:
    """Move `quantities` ({shipment line id: units}) of the locked shipment (and its locked
    orders, fulfilment.services.lock_shipment) into a new parcel from the same warehouse. Some
    units must stay behind: a shipment is never emptied.

    With `to_warehouse` (another warehouse, chosen by hand) the parcel starts there as a new,
    unsent shipment and its units' reservations are only unlinked here: the caller moves them
    the way routing does (fulfilment.manual_grouping)."""
    lines = {
        line.pk: line
        for line in ShipmentLine.objects.select_for_update(of=("self",))
        .filter(shipment=shipment)
        .select_related("sku", "order_line")
        .order_by("pk")
    }
    taken = {line_id: units for line_id, units in quantities.items() if units}
    if shipment.status not in IN_WAREHOUSE:
        raise DomainError(
            _("Shipment %(number)s is %(status)s: it can no longer be split.")
            % {"number": shipment.number, "status": shipment.get_status_display()}
        )
    if not taken or any(
        line_id not in lines or not 0 < units <= lines[line_id].quantity for line_id, units in taken.items()
    ):
        raise ValueError(f"cannot take {quantities} from shipment {shipment.number}")
    if sum(taken.values()) >= sum(line.quantity for line in lines.values()):
        raise ValueError(f"splitting {quantities} off would empty shipment {shipment.number}")

    moving = to_warehouse is not None and to_warehouse.pk != shipment.warehouse_id
    same_place = {
        "warehouse": shipment.warehouse,
        "status": shipment.status,
        "external_ref": shipment.external_ref,
        "sent_at": shipment.sent_at,
        "packed_at": shipment.packed_at,
    }
    parcel = Shipment.objects.create(
        # Numbered like routing numbers parcels; the order row is locked, so the count holds.
        number=f"{shipment.order.number}-{Shipment.objects.filter(order=shipment.order).count() + 1}",
        order=shipment.order,
        presale=shipment.presale,
        priority=shipment.priority,
        routing={"split_from": shipment.number},
        split_from=shipment,
        **({"warehouse": to_warehouse} if moving else same_place),
    )
    moved = []
    for line_id, units in sorted(taken.items()):
        line = lines[line_id]
        if units == line.quantity:
            ShipmentLine.objects.filter(pk=line.pk).update(shipment=parcel)
        else:
            stays = line.quantity - units
            packed_stays = min(line.packed_quantity, stays)
            ShipmentLine.objects.filter(pk=line.pk).update(quantity=stays, packed_quantity=packed_stays)
            ShipmentLine.objects.create(
                shipment=parcel,
                order_line=line.order_line,
                sku=line.sku,
                quantity=units,
                packed_quantity=min(units, line.packed_quantity - packed_stays),
            )
        reservations.reservations_follow_split(
            from_shipment_id=shipment.pk,
            to_shipment_id=None if moving else parcel.pk,
            order_line_id=line.order_line_id,
            quantity=units,
        )
        moved.append({"line": line.order_line.line_no, "sku": line.sku.code, "quantity": units})
    for order in orders:
        record_order_event(
            order,
            OrderEventKind.SHIPMENT,
            actor,
            reason=reason,
            payload={
                **payload,
                "transition": "split",
                "split_from": shipment.number,
                "parcel": parcel.number,
                # Only this order's lines are listed on its timeline.
                "lines": [
                    item
                    for item, line_id in zip(moved, sorted(taken), strict=True)
                    if lines[line_id].order_line.order_id == order.pk
                ],
            },
        )
    return parcel
