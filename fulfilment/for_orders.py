"""Fulfilment as the order domain sees it (orders.fulfilment_port.FulfilmentPort), plugged in by
config/registry.py."""

from collections.abc import Sequence

from core.transitions import Actor
from fulfilment import notifications, routing
from orders.models import Order


class OrdersFulfilment:
    def orders_placed(self, orders: Sequence[Order]) -> None:
        notifications.notify_placed(list(orders))

    def route_on_commit(self, order_ids: Sequence[int]) -> None:
        routing.route_on_commit(*order_ids)

    def route_now(self, order: Order, actor: Actor, reason: str) -> bool:
        return bool(routing.route_order(order=order, actor=actor, reason=reason))

    def stop_shipments(
        self, order: Order, reason: str, *, line_ids: Sequence[int] | None = None, reroute: bool = False
    ) -> None:
        routing.shipments_cancel(
            order=order, reason=reason, line_ids=None if line_ids is None else list(line_ids), reroute=reroute
        )
