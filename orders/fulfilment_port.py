"""What the order domain asks of fulfilment, without importing it.

Fulfilment sits one layer above orders (it reads orders to build shipments), yet a few order
changes must reach it inside the same transaction: a held or cancelled order stops its parcels
still in the warehouse, a paid or released order is routed, the "Route now" button routes at
once, and a new order's customer is told it was placed. The order services call `fulfilment()`;
the fulfilment app plugs its implementation in at start-up (see config/registry.py, which lists
every such connection in one place)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

from core.transitions import Actor

if TYPE_CHECKING:
    from orders.models import Order


class FulfilmentPort(Protocol):
    def orders_placed(self, orders: Sequence["Order"]) -> None:
        """Tell the customers their orders were placed (through the outbox)."""

    def route_on_commit(self, order_ids: Sequence[int]) -> None:
        """Route these orders by a task once the current transaction commits."""

    def route_now(self, order: "Order", actor: Actor, reason: str) -> bool:
        """Route a locked order now; False when nothing could be routed yet."""

    def stop_shipments(
        self, order: "Order", reason: str, *, line_ids: Sequence[int] | None = None, reroute: bool = False
    ) -> None:
        """Cancel the order's shipments still in the warehouse (only those carrying `line_ids`
        when given) and, with `reroute`, route again what the order still has live."""


_plugged: FulfilmentPort | None = None


def plug(port: FulfilmentPort) -> None:
    global _plugged
    _plugged = port


def fulfilment() -> FulfilmentPort:
    if _plugged is None:
        raise ImproperlyConfigured("No fulfilment plugged into the order domain: is 'fulfilment' installed?")
    return _plugged
