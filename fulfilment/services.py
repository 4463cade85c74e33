"""Shipment writes (R-F3, R-F4). Each runs in one transaction: lock the orders the shipment
carries (ascending id) → lock the shipment → check permission → run the transition → save →
write the order timeline → let the orders follow their shipments → enqueue outbound work.

Lock order everywhere: order rows → shipment rows → reservation rows → balance rows.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.instances import build
from core.transitions import Actor, Moved, apply, lock_one, lock_rows, require_state, transition
from fulfilment import notifications
from fulfilment.models import LEFT_WAREHOUSE, Shipment, ShipmentLine, ShipmentStatus
from fulfilment.warehouse_port import warehouses
from inventory import reservations
from orders.models import LineKind, Order, OrderEvent, OrderEventKind, OrderLine, OrderStatus
from orders.transitions import record_order_event, run_order_transition

SS = ShipmentStatus
# What each order state becomes, step by step, as its shipments leave and arrive.
FOLLOWING = (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED)


def shipment_orders(shipment: Shipment) -> list[int]:
    """Ids of the orders whose lines the shipment carries (several when orders were merged)."""
    ids = set(ShipmentLine.objects.filter(shipment=shipment).values_list("order_line__order_id", flat=True))
    ids.add(shipment.order_id)
    return sorted(ids)


def lock_shipment(shipment: Shipment | int) -> tuple[Shipment, list[Order]]:
    """Lock the shipment's orders, then the shipment, in the global lock order."""
    shipment_id = shipment.pk if isinstance(shipment, Shipment) else shipment
    unlocked = Shipment.objects.get(pk=shipment_id)
    orders = lock_rows(Order.objects.all(), shipment_orders(unlocked))
    return lock_one(Shipment.objects, shipment_id), orders


def run_shipment_transition(
    shipment: Shipment,
    orders: list[Order],
    name: str,
    actor: Actor = None,
    *,
    reason: str = "",
    payload: dict | None = None,
    args: dict | None = None,
) -> None:
    """Run one transition on a locked shipment and write it on every order it carries."""

    def event(moved: Moved) -> None:
        for order in orders:
            record_order_event(
                order,
                OrderEventKind.SHIPMENT,
                actor,
                reason=reason,
                payload={
                    "shipment": shipment.number,
                    "transition": name,
                    "from": moved.from_state,
                    "to": moved.to_state,
                    **(payload or {}),
                },
            )

    had_first_scan = shipment.first_scan_at is not None
    transition(shipment, name, actor, args=args, event=event)
    if name == "ship":
        for order in orders:
            reservations.reservations_consume(
                order_id=order.pk, shipment_id=shipment.pk, reference=shipment.number
            )
    for order in orders:
        follow_shipments(order)
    _after_transition(shipment, orders, name)
    if not had_first_scan and shipment.first_scan_at is not None:
        warehouses().shipment_first_scan(shipment)


def release_unwritten_shipments(
    shipments: list[Shipment], orders: dict[int, Order], reasons: list[str], *, now
) -> list[OrderEvent]:
    """send_to_warehouse on new shipments routing is about to insert (nobody can see them yet)
    for orders the caller holds, each with its warehouse's reason: checked and applied one by
    one, so they are written already released (no update of rows just inserted); returns their
    timeline rows, for the caller to insert after the routing's own. Once they are written the
    caller hands them to warehouses().shipments_released (_after_transition's send_to_warehouse
    work, at once). Each shipment carries only its own order. The orders do not follow: sending
    leaves every parcel in the warehouse, so the order's state cannot change."""
    events = []
    for shipment, reason in zip(shipments, reasons, strict=True):
        moved = apply(shipment, "send_to_warehouse", None)
        shipment.sent_at = now  # sent together
        events.append(
            build(
                OrderEvent,
                order=orders[shipment.order_id],
                kind=OrderEventKind.SHIPMENT,
                reason=reason,
                payload={
                    "shipment": shipment.number,
                    "transition": moved.name,
                    "from": moved.from_state,
                    "to": moved.to_state,
                },
                created_at=now,
            )
        )
    return events


def _after_transition(shipment: Shipment, orders: list[Order], name: str) -> None:
    """Outbound work the new state calls for, all through the outbox (same transaction)."""
    if name == "send_to_warehouse":
        warehouses().shipment_released(shipment)
    elif name == "cancel":
        warehouses().shipment_cancelled(shipment)
    elif name == "ship":
        warehouses().subscribe_tracking(shipment)
        warehouses().shipment_shipped(shipment)
        for order in orders:
            notifications.notify_customer(order=order, event="shipped", shipment=shipment)
    elif name == "deliver":
        for order in orders:
            if order.status == OrderStatus.DELIVERED:
                notifications.notify_customer(order=order, event="delivered", shipment=shipment)


def shipment_transition(
    *,
    shipment: Shipment | int,
    name: str,
    actor=None,
    reason: str = "",
    expected_status: str | None = None,
    args: dict | None = None,
    payload: dict | None = None,
) -> Shipment:
    """Run one named shipment transition (desk buttons, WMS callbacks, carrier events)."""
    if name not in {
        "send_to_warehouse",
        "start_picking",
        "pack",
        "ship",
        "mark_in_transit",
        "deliver",
        "mark_exception",
        "cancel",
    }:
        raise DomainError(_("Unknown action “%(name)s”.") % {"name": name}, field="action")
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment)
        require_state(shipment, expected_status)
        run_shipment_transition(shipment, orders, name, actor, reason=reason, payload=payload, args=args)
    return shipment


# --- the order follows its shipments -----------------------------------------------------------


def live_shipments(order: Order) -> list[Shipment]:
    return list(
        Shipment.objects.filter(lines__order_line__order=order)
        .exclude(status=SS.CANCELLED)
        .distinct()
        .order_by("pk")
    )


def unshipped_quantity(order: Order, shipments: list[Shipment]) -> int:
    """Live units of the order that no live shipment carries yet (e.g. pre-sale lines waiting)."""
    carried: dict[int, int] = {}
    for line_id, quantity in ShipmentLine.objects.filter(
        shipment__in=shipments, order_line__order=order
    ).values_list("order_line_id", "quantity"):
        carried[line_id] = carried.get(line_id, 0) + quantity
    return sum(
        max(0, line.live_quantity - carried.get(line.pk, 0))
        for line in OrderLine.objects.filter(order=order).exclude(kind=LineKind.BUNDLE)  # its components ship
    )


def order_target_status(order: Order) -> str | None:
    """Where the order belongs given its shipments: allocated, partially shipped, shipped or
    delivered. None when the shipments do not decide it (not routed, held, cancelled…)."""
    if order.status not in FOLLOWING and order.status != OrderStatus.DELIVERED:
        return None
    shipments = live_shipments(order)
    if not shipments:
        return None
    left = [s for s in shipments if s.status in LEFT_WAREHOUSE]
    complete = unshipped_quantity(order, shipments) == 0 and len(left) == len(shipments)
    if complete and all(s.status == SS.DELIVERED for s in shipments):
        return OrderStatus.DELIVERED
    if complete:
        return OrderStatus.SHIPPED
    if left:
        return OrderStatus.PARTIALLY_SHIPPED
    return OrderStatus.ALLOCATED


# Each step the order takes towards its target, by (from, target).
_STEPS: dict[tuple[str, str], str] = {
    (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED): "mark_partially_shipped",
    (OrderStatus.ALLOCATED, OrderStatus.SHIPPED): "mark_shipped",
    (OrderStatus.ALLOCATED, OrderStatus.DELIVERED): "mark_shipped",
    (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED): "mark_shipped",
    (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.DELIVERED): "mark_shipped",
    (OrderStatus.SHIPPED, OrderStatus.DELIVERED): "mark_delivered",
}


def follow_shipments(order: Order) -> None:
    """Move the (locked) order forward to the state its shipments put it in (R-F4). Orders never
    move backwards here: a late or out-of-order event cannot undo delivery."""
    target = order_target_status(order)
    while target and order.status != target:
        step = _STEPS.get((order.status, target))
        if step is None:
            return
        args: dict[str, Any] = {"delivered_at": timezone.now()} if step == "mark_delivered" else {}
        # The system moves the order; the person who moved the shipment is on the shipment event.
        run_order_transition(
            order,
            step,
            None,
            reason=_("Shipments: %(state)s") % {"state": OrderStatus(target).label},
            args=args,
        )
