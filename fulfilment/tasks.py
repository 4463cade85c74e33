"""Celery tasks of routing: take ids, call one service, safe to run twice at once (the order row
lock serialises them and a routed order has nothing left to route)."""

from celery import shared_task

from fulfilment import routing


@shared_task(name="fulfilment.route_order", acks_late=True)
def route_order_task(order_id: int) -> int:
    """Route one order as the system (queued on commit when it became paid or was released)."""
    return len(routing.route_quietly(order_id))


@shared_task(name="fulfilment.route_orders", acks_late=True)
def route_orders_task(order_ids: list[int]) -> int:
    """Route some orders as the system (queued on commit, a chunk of a batch's paid orders per
    task: one message each instead of one per order): the common ones together in one
    transaction (routing.route_orders), the rest one by one. An order that fails there does not
    keep the others from routing: the beat's safety net routes it again."""
    return routing.route_orders(order_ids)


@shared_task(name="fulfilment.route_missed_paid_orders", acks_late=True)
def route_missed_paid_orders() -> int:
    """Safety net: paid orders the on-commit task missed (each in its own transaction)."""
    return sum(len(routing.route_quietly(order_id)) for order_id in routing.paid_orders_waiting())


@shared_task(name="fulfilment.route_presale_waiting", acks_late=True)
def route_presale_waiting() -> int:
    """Pre-sale units waiting for stock: routed once it has arrived."""
    return sum(len(routing.route_quietly(order_id)) for order_id in routing.presale_waiting())


@shared_task(name="fulfilment.send_merged_shipments", acks_late=True)
def send_merged_shipments() -> int:
    """Shipments held back for merges go to their warehouse once the window has passed."""
    return routing.shipments_release_merge_window()
