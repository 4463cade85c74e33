"""An agent's decisions on an RMA — approve, reject, cancel, close — and the scheduled job that
closes what is settled. Approving an exchange creates its replacement order; cancelling one
cancels that order too."""

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.transitions import Actor, check_transition, require_state
from orders.models import OrderStatus
from orders.services import order_transition
from returns.exchanges import create_exchange_order
from returns.models import R, RefundState, ReturnKind, ReturnRequest
from returns.transitions import lock_rma, run_rma_transition


def approve_locked_rma(rma: ReturnRequest, actor: Actor, reason: str) -> None:
    """Approve a locked RMA; an exchange gets its replacement order at once."""
    run_rma_transition(rma, "approve", actor, reason=reason, args={"by": actor})
    if rma.kind == ReturnKind.EXCHANGE:
        create_exchange_order(rma)


def rma_approve(
    *, rma: ReturnRequest | int, actor: Actor = None, reason: str = "", expected_status: str | None = None
) -> ReturnRequest:
    """An agent approves a request waiting for approval (outside the policy, or a channel that
    does not auto-approve). Its units were claimed when it was requested, so no other request can
    have taken them meanwhile."""
    with transaction.atomic():
        rma = lock_rma(rma)
        require_state(rma, expected_status)
        approve_locked_rma(rma, actor, reason.strip())
    return rma


def rma_reject(
    *, rma: ReturnRequest | int, actor: Actor = None, reason: str, expected_status: str | None = None
) -> ReturnRequest:
    if not reason.strip():
        raise DomainError(_("Say why the request is rejected."), field="reason")
    with transaction.atomic():
        rma = lock_rma(rma)
        require_state(rma, expected_status)
        run_rma_transition(rma, "reject", actor, reason=reason.strip(), args={"reason": reason.strip()[:255]})
    return rma


def rma_cancel(
    *, rma: ReturnRequest | int, actor: Actor = None, reason: str, expected_status: str | None = None
) -> ReturnRequest:
    """The customer withdrew before the goods arrived: the units are free again, and the exchange
    order is cancelled with its stock released (refused once the replacement has shipped)."""
    if not reason.strip():
        raise DomainError(_("Say why the request is cancelled."), field="reason")
    with transaction.atomic():
        rma = lock_rma(rma, with_exchange=True)
        exchange = rma.exchange_order if rma.exchange_order_id else None
        require_state(rma, expected_status)
        if exchange is not None:
            # Checked before the RMA moves: a replacement already on its way keeps the RMA open.
            check_transition(
                exchange,
                "cancel",
                None,
                refused=_(
                    "The replacement order %(order)s is already %(status)s: it can no longer be cancelled."
                )
                % {"order": exchange.number, "status": exchange.get_status_display()},
            )
        run_rma_transition(rma, "cancel", actor, reason=reason.strip(), args={"reason": reason.strip()[:255]})
        if exchange is not None:
            order_transition(
                order=exchange.pk, name="cancel", reason=_("Return %(rma)s cancelled") % {"rma": rma.number}
            )
    return rma


def rma_close(
    *, rma: ReturnRequest | int, actor: Actor = None, reason: str = "", expected_status: str | None = None
) -> ReturnRequest:
    """An agent closes an RMA by hand; settled ones also close by themselves (rmas_close_settled)."""
    with transaction.atomic():
        rma = lock_rma(rma)
        require_state(rma, expected_status)
        run_rma_transition(rma, "close", actor, reason=reason.strip())
    return rma


def rmas_close_settled(*, limit: int = 500) -> int:
    """Close what is settled: refunds that went through, exchanges whose new order was delivered.
    Each RMA is re-read under its lock, so two runs at once close it once."""
    candidates = list(
        ReturnRequest.objects.filter(
            Q(status__in=[R.REFUNDING, R.REFUNDED], refund__state=RefundState.SUCCEEDED)
            | Q(status=R.EXCHANGED, exchange_order__status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED])
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    closed = 0
    for rma_id in candidates:
        with transaction.atomic():
            rma = lock_rma(rma_id)
            if rma.status not in (R.REFUNDING, R.REFUNDED, R.EXCHANGED):
                continue
            if rma.status == R.REFUNDING:  # paid out, its step missed (an older release)
                run_rma_transition(rma, "mark_refunded", None, reason=_("Refund paid out"))
            run_rma_transition(rma, "close", None, reason=_("Settled"))
            closed += 1
    return closed
