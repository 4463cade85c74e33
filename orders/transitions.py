"""Order state changes through the one transition helper (core.transitions), with the order's
own event: a TRANSITION row on the order timeline. Used by the order services and by the layers
above that move orders (routing, shipments following their parcels)."""

from typing import Any

from core import transitions
from core.transitions import Actor, Moved
from orders.models import Order, OrderEvent, OrderEventKind


def record_order_event(order: Order, kind: str, actor: Actor = None, **fields: Any) -> OrderEvent:
    return OrderEvent.objects.create(order=order, kind=kind, actor=actor, **fields)


def lock_order(order: Order | int) -> Order:
    return transitions.lock_one(Order.objects, order.pk if isinstance(order, Order) else order)


def run_order_transition(
    order: Order,
    name: str,
    actor: Actor,
    *,
    reason: str = "",
    payload: dict | None = None,
    args: dict | None = None,
) -> OrderEvent:
    """Run one transition on the locked order and write it on its timeline."""

    def event(moved: Moved) -> OrderEvent:
        return record_order_event(
            order,
            OrderEventKind.TRANSITION,
            actor,
            from_status=moved.from_state,
            to_status=moved.to_state,
            reason=reason,
            payload={"transition": name, **(payload or {})},
        )

    written = transitions.transition(order, name, actor, args=args, event=event)
    assert written is not None
    return written
