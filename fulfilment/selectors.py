"""Fulfilment reads for the desk and the API."""

from django.db.models import Prefetch, Q

from fulfilment.models import Shipment, ShipmentLine
from orders.models import Order


def order_shipments(order: Order) -> list[Shipment]:
    """The shipments carrying the order's lines (merged parcels included), oldest first, each
    with `order_lines` (only this order's lines in it) and `why` (why it carries this order)."""
    shipments = list(
        Shipment.objects.filter(Q(order=order) | Q(lines__order_line__order=order))
        .distinct()
        .select_related("warehouse", "carrier", "order")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=ShipmentLine.objects.filter(order_line__order=order).select_related(
                    "sku", "order_line"
                ),
                to_attr="order_lines",
            )
        )
        .order_by("pk")
    )
    for shipment in shipments:
        merged = [m["why"] for m in shipment.routing.get("merged", []) if m.get("order") == order.number]
        shipment.why = shipment.routing.get("why", "") if shipment.order_id == order.pk else " ".join(merged)
    return shipments
