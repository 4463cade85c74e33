"""Shipments for the tracking, watch and notification tests, built through the real services.

The routing engine may already have made the order's shipment when it was allocated; otherwise
one shipment carrying every line (and its reservations) is created, as routing would."""

from fulfilment.models import Carrier, Shipment, ShipmentLine, ShipmentStatus
from fulfilment.services import shipment_transition
from orders import services
from orders.models import Order, OrderStatus
from orders.tests.factories import WarehouseFactory, make_order


def carrier(code: str = "zto", tracking_code: str = "zhongtong", **fields) -> Carrier:
    found, _created = Carrier.objects.get_or_create(
        code=code,
        defaults={"name": fields.pop("name", code.upper()), "tracking_code": tracking_code, **fields},
    )
    return found


def allocated_shipment(order: Order | None = None, **order_fields) -> Shipment:
    from inventory.models import Reservation

    order = order or make_order(paid=True, **order_fields)
    order.refresh_from_db()
    if order.status == OrderStatus.PAID:
        order = services.order_transition(order=order, name="allocate")
    existing = (
        Shipment.objects.filter(lines__order_line__order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .distinct()
        .order_by("pk")
        .first()
    )
    if existing is not None:
        return existing
    shipment = Shipment.objects.create(number=f"SH{order.pk:08d}", order=order, warehouse=WarehouseFactory())
    ShipmentLine.objects.bulk_create(
        ShipmentLine(shipment=shipment, order_line=line, sku=line.sku, quantity=line.live_quantity)
        for line in order.lines.all()
    )
    Reservation.objects.filter(order=order).update(shipment=shipment)
    return shipment


def ready_to_ship(order: Order | None = None, **order_fields) -> Shipment:
    """A shipment the warehouse has (sent to it; routing may have sent it already)."""
    shipment = allocated_shipment(order, **order_fields)
    if shipment.status == ShipmentStatus.CREATED:
        shipment = shipment_transition(shipment=shipment, name="send_to_warehouse")
    return shipment


def shipped_shipment(
    order: Order | None = None,
    *,
    by: Carrier | None = None,
    tracking_number: str = "",
    shipped_at=None,
    **fields,
) -> Shipment:
    """A shipment handed to the carrier (status "shipped") with a tracking number."""
    shipment = ready_to_ship(order, **fields)
    return shipment_transition(
        shipment=shipment,
        name="ship",
        args={
            "carrier": by or carrier(),
            "tracking_number": tracking_number or f"ZT{shipment.pk:010d}",
            "shipped_at": shipped_at,
        },
    )
