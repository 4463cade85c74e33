"""A refund's life (R-R4): created once per RMA inside the inspection's transaction — booked as
one `refund` revenue line in finance (idempotent per RMA number) and sent as one outbox message
`finance.refund.<provider>` (returns.refunds.stripe / alipay / shopify deliver it), or left to
finance to pay out by hand — then settled by what the provider or finance says."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError
from core.outbox import outbox_enqueue
from core.roles import Role
from core.transitions import Actor, lock_one, require_perm
from finance.revenue import revenue_record_refund
from returns.models import R, RefundProvider, RefundState, ReturnPolicy, ReturnRefund, ReturnRequest
from returns.refunds.amounts import choose_provider, quote_refund
from returns.refunds.invoicing import refund_tell_invoicing
from returns.transitions import lock_rma, record_rma_event, run_rma_transition

OUTBOX_KIND = "finance.refund.{provider}"


def refund_create(*, rma: ReturnRequest, policy: ReturnPolicy) -> ReturnRefund | None:
    """Inside the inspection's transaction (order and RMA rows locked): the RMA's refund, created
    once. None when there is nothing to refund."""
    existing = ReturnRefund.objects.filter(rma=rma).first()
    if existing is not None:
        return existing
    order = rma.order
    amounts = quote_refund(rma, policy)
    if amounts.total <= 0:
        return None
    provider, payment = choose_provider(order, amounts.total)
    try:
        with transaction.atomic():
            refund = ReturnRefund.objects.create(
                rma=rma,
                order=order,
                amount=amounts.total,
                goods_amount=amounts.goods,
                shipping_amount=amounts.shipping,
                restocking_fee=amounts.restocking_fee,
                currency=order.currency,
                provider=provider,
                payment=payment,
                state=RefundState.MANUAL if provider == RefundProvider.MANUAL else RefundState.PENDING,
                detail={"lines": amounts.lines, "capped": amounts.capped},
            )
    except IntegrityError:  # the unique RMA: someone else created it first
        return ReturnRefund.objects.get(rma=rma)
    revenue_record_refund(
        order=order,
        amount=amounts.total,
        reference=rma.number,
        currency=order.currency,
        payment=payment,
        note=_("Return %(rma)s") % {"rma": rma.number},
    )
    record_rma_event(
        rma,
        None,
        _(
            "Refund of %(amount)s %(currency)s created for %(rma)s (goods %(goods)s, shipping %(shipping)s, "
            "restocking fee %(fee)s): %(provider)s."
        )
        % {
            "amount": amounts.total,
            "currency": order.currency,
            "rma": rma.number,
            "goods": amounts.goods,
            "shipping": amounts.shipping,
            "fee": amounts.restocking_fee,
            "provider": refund.get_provider_display(),
        },
        refund=str(amounts.total),
        refund_state=refund.state,
    )
    if provider == RefundProvider.MANUAL:
        alert_raise(
            kind="return_refund_manual",
            key=f"return_refund_manual:{rma.number}",
            role=Role.FINANCE,
            message=_("Pay out the refund of %(amount)s %(currency)s for %(rma)s (order %(order)s) by hand.")
            % {"amount": amounts.total, "currency": order.currency, "rma": rma.number, "order": order.number},
            payload={"rma": rma.number, "refund": refund.pk},
        )
    else:
        outbox_enqueue(
            kind=OUTBOX_KIND.format(provider=provider),
            payload={"refund": refund.pk, "rma": rma.number},
            idempotency_key=f"refund:{rma.number}",
            channel_id=order.channel_id if provider == RefundProvider.SHOPIFY else None,
        )
    return refund


def refund_record_outcome(
    *, refund_id: int, state: str, reference: str = "", error: str = "", actor: Actor = None
) -> None:
    """What the provider (or finance, for a manual payout) said, on the refund and the order
    timeline; a refund that went through closes its RMA."""
    with transaction.atomic():
        # The global lock order: the order row, the RMA row, then the refund row.
        rma_id = ReturnRefund.objects.filter(pk=refund_id).values_list("rma_id", flat=True).get()
        rma = lock_rma(rma_id)
        refund = lock_one(ReturnRefund.objects, refund_id)
        if refund.state == RefundState.SUCCEEDED:
            return
        refund.state = state
        refund.provider_reference = (reference or refund.provider_reference)[:128]
        refund.error = error[:2000]
        if state == RefundState.SUCCEEDED:
            refund.completed_at = timezone.now()
        refund.save(update_fields=["state", "provider_reference", "error", "completed_at"])
        if state == RefundState.SUCCEEDED:
            refund_tell_invoicing(refund)  # the order's e-invoice: red-letter what was given back
        text = {
            RefundState.SUCCEEDED: _("Refund for %(rma)s completed by %(provider)s (%(ref)s)."),
            RefundState.SENT: _("Refund for %(rma)s accepted by %(provider)s (%(ref)s), not settled yet."),
            RefundState.FAILED: _("Refund for %(rma)s failed at %(provider)s: %(error)s"),
        }.get(state, _("Refund for %(rma)s: %(provider)s."))
        record_rma_event(
            rma,
            actor,
            text
            % {
                "rma": rma.number,
                "provider": refund.get_provider_display(),
                "ref": reference,
                "error": error,
            },
            refund_state=state,
        )
        if state == RefundState.FAILED:
            alert_raise(
                kind="return_refund_failed",
                key=f"return_refund_failed:{rma.number}",
                role=Role.FINANCE,
                message=_("The refund for %(rma)s failed: %(error)s")
                % {"rma": rma.number, "error": error[:300]},
                payload={"rma": rma.number, "refund": refund.pk},
            )
        if state == RefundState.SUCCEEDED and rma.status == R.REFUNDING:
            run_rma_transition(rma, "mark_refunded", None, reason=_("Refund paid out"))
        if state == RefundState.SUCCEEDED and rma.status == R.REFUNDED:
            run_rma_transition(rma, "close", None, reason=_("Refund completed"))


def refund_confirm_manual(*, refund: ReturnRefund, reference: str, actor: Actor) -> None:
    """Finance paid a manual refund out (bank transfer, cash…) and says so."""
    require_perm(actor, "returns.change_returnrefund", _("You are not allowed to confirm refunds."))
    if not reference.strip():
        raise DomainError(_("Give the payout reference (bank transfer number…)."), field="reference")
    if refund.state not in (RefundState.MANUAL, RefundState.FAILED):
        raise DomainError(_("This refund is not waiting for a manual payout."), field="state")
    refund_record_outcome(
        refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=reference.strip(), actor=actor
    )
    alert_resolve(key=f"return_refund_manual:{refund.rma.number}", actor=actor)
    alert_resolve(key=f"return_refund_failed:{refund.rma.number}", actor=actor)
