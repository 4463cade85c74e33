"""Routing that runs later: after commit, from the beat safety-net jobs (paid orders never
routed, pre-sale lines whose stock arrived) and the end of merge windows."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Sum
from django.utils import timezone

from core.errors import TransitionRefused
from fulfilment.models import (
    Shipment,
    ShipmentLine,
)
from fulfilment.routing.planner import MERGE_UNTIL, ROUTABLE, SS
from fulfilment.routing.service import route_order
from fulfilment.services import lock_shipment
from fulfilment.warehouse_port import warehouses
from orders.models import LineKind, Order, OrderLine, OrderStatus

logger = logging.getLogger(__name__)


def route_quietly(order_id: int) -> list[Shipment]:
    """The system's routing attempt: an order that moved on meanwhile is not an error."""
    try:
        return route_order(order=order_id)
    except TransitionRefused as exc:
        logger.info("order %s not routed: %s", order_id, exc.message)
    except Order.DoesNotExist:
        logger.warning("order %s to route does not exist", order_id)
    return []


def paid_orders_waiting(
    *, now=None, paid_for: timedelta = timedelta(minutes=2), limit: int = 500
) -> list[int]:
    """Paid orders the on-commit routing missed (paid a while ago, no live shipment), oldest first.
    Orders with only pre-sale units left are presale_waiting's: they would wait here for stock and
    crowd out the orders this job is for."""
    now = now or timezone.now()
    carried = ShipmentLine.objects.filter(order_line__order=OuterRef("pk")).exclude(
        shipment__status=SS.CANCELLED
    )
    in_stock_line = OrderLine.objects.filter(
        order=OuterRef("pk"), presale=False, quantity__gt=F("cancelled_quantity")
    ).exclude(kind=LineKind.BUNDLE)  # a bundle line ships as its components
    return list(
        Order.objects.filter(status=OrderStatus.PAID, paid_at__lte=now - paid_for, requires_shipping=True)
        .filter(Exists(in_stock_line))
        .exclude(Exists(carried))
        .order_by("paid_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def presale_waiting(*, limit: int = 500) -> list[int]:
    """Orders with live pre-sale units no shipment carries (two aggregate queries): routed ones,
    and paid ones that had nothing but pre-sale units to route."""
    lines = OrderLine.objects.filter(
        presale=True,
        quantity__gt=F("cancelled_quantity"),
        order__status__in=ROUTABLE,
        order__requires_shipping=True,
    ).exclude(kind=LineKind.BUNDLE)  # a bundle line ships as its components
    live = dict(
        lines.values("order_id")
        .annotate(n=Sum(F("quantity") - F("cancelled_quantity")))
        .values_list("order_id", "n")
    )
    carried = dict(
        ShipmentLine.objects.filter(order_line__in=lines)
        .exclude(shipment__status=SS.CANCELLED)
        .values("order_line__order_id")
        .annotate(n=Sum("quantity"))
        .values_list("order_line__order_id", "n")
    )
    return sorted(pk for pk, units in live.items() if units > carried.get(pk, 0))[:limit]


def shipments_release_merge_window(*, now=None) -> int:
    """Send the shipments whose merge window has passed to their warehouses."""
    now = now or timezone.now()
    sent = 0
    for shipment_id, routing in Shipment.objects.filter(
        status=SS.CREATED, routing__has_key=MERGE_UNTIL
    ).values_list("pk", "routing"):
        if datetime.fromisoformat(routing[MERGE_UNTIL]) > now:
            continue
        with transaction.atomic():
            shipment, orders = lock_shipment(shipment_id)
            if shipment.status != SS.CREATED or MERGE_UNTIL not in shipment.routing:
                continue  # sent or cancelled by someone else meanwhile
            routing = dict(shipment.routing)
            routing["merge_window_closed_at"] = routing.pop(MERGE_UNTIL)
            shipment.routing = routing
            Shipment.objects.filter(pk=shipment.pk).update(routing=routing, updated_at=now)
            warehouses().push_shipment(shipment, orders=orders)
            sent += 1
    return sent
