"""RMA state changes through the one transition helper (core.transitions), with the RMA's own
event: a note on its order's timeline that names the RMA (the RMA page shows the ones naming it).

Lock order for every RMA write: order rows (ascending id) → the RMA row → shipment →
reservation → balance rows. `actor=None` is the system or the customer on a self-service link;
a user is checked for permission.
"""

from typing import Any

from django.utils.translation import gettext as _

from core.errors import DomainError
from core.transitions import Actor, Moved, lock_one, lock_rows, transition
from orders.models import Order, OrderEvent, OrderEventKind
from orders.transitions import record_order_event
from returns.models import R, ReturnRequest


def record_rma_event(rma: ReturnRequest, actor: Actor, text: str, **payload: Any) -> OrderEvent:
    """An RMA event, written on its order's timeline."""
    return record_order_event(
        rma.order, OrderEventKind.NOTE, actor, reason=text, payload={"rma": rma.number, **payload}
    )


def lock_order(order_id: int) -> Order:
    # With its channel: the policy, the exchange order and the refund provider all read it.
    return lock_one(Order.objects.select_related("channel"), order_id)


def lock_rma(rma: ReturnRequest | int, *, with_exchange: bool = False) -> ReturnRequest:
    """Lock the RMA's order (and its exchange order: order rows in ascending id), then the RMA,
    fresh from the database."""
    rma_id = rma.pk if isinstance(rma, ReturnRequest) else rma
    ids = ReturnRequest.objects.filter(pk=rma_id).values_list("order_id", "exchange_order_id").first()
    if ids is None:
        raise DomainError(_("No such return request."), field="rma")
    order_id, exchange_id = ids
    wanted = [order_id, exchange_id] if with_exchange and exchange_id else [order_id]
    orders = {order.pk: order for order in lock_rows(Order.objects.select_related("channel"), wanted)}
    locked = lock_one(ReturnRequest.objects, rma_id)
    locked.order = orders[order_id]
    if with_exchange and locked.exchange_order_id in orders:
        locked.exchange_order = orders[locked.exchange_order_id]
    return locked


def run_rma_transition(
    rma: ReturnRequest,
    name: str,
    actor: Actor,
    *,
    reason: str = "",
    args: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Run one transition on a locked RMA and write it on the order timeline."""

    def event(moved: Moved) -> OrderEvent:
        text = _("Return %(rma)s: %(from)s → %(to)s.") % {
            "rma": rma.number,
            "from": R(moved.from_state).label,
            "to": R(moved.to_state).label,
        }
        return record_rma_event(
            rma,
            actor,
            f"{text} {reason}".strip(),
            transition=name,
            rma_from=moved.from_state,
            rma_to=moved.to_state,
            **(payload or {}),
        )

    transition(rma, name, actor, args=args, event=event)
