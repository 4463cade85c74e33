"""Refunds through Stripe's refunds API, an outbox handler."""

from decimal import Decimal

from django.conf import settings

from core.models import OutboxMessage
from core.outbox import PermanentFailure
from finance.providers.stripe import currency_exponent
from returns.models import RefundState
from returns.refunds.delivery import call_provider, fail_refund, json_object, load_refund
from returns.refunds.lifecycle import refund_record_outcome


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Stripe takes amounts in the currency's smallest unit (fen, cents; yen has none)."""
    return int((amount * (Decimal(10) ** currency_exponent(currency))).to_integral_value())


def refund_via_stripe(message: OutboxMessage) -> None:
    """POST /v1/refunds (https://docs.stripe.com/api/refunds/create). The outbox idempotency key
    is Stripe's Idempotency-Key, so a retried delivery never refunds twice."""
    refund = load_refund(message)
    if refund is None:
        return
    if not settings.STRIPE_SECRET_KEY:
        raise PermanentFailure("STRIPE_SECRET_KEY is not configured")
    if refund.payment is None:
        raise fail_refund(refund, "no Stripe payment to refund")
    target = "charge" if refund.payment.transaction_id.startswith(("ch_", "py_")) else "payment_intent"
    data = {
        target: refund.payment.transaction_id,
        "amount": str(to_minor_units(refund.amount, refund.currency)),
        "reason": "requested_by_customer",
        "metadata[rma]": refund.rma.number,
        "metadata[order_number]": refund.order.number,
    }
    headers = {
        "Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}",
        "Idempotency-Key": message.idempotency_key,
    }
    url = f"{settings.STRIPE_API_URL.rstrip('/')}/v1/refunds"
    body = json_object(
        call_provider(refund, "Stripe", lambda http: http.post(url, data=data, headers=headers)),
        "Stripe",
    )
    status, reference = body.get("status"), str(body.get("id") or "")
    if status == "succeeded":
        refund_record_outcome(refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=reference)
    elif status in ("pending", "requires_action"):
        refund_record_outcome(refund_id=refund.pk, state=RefundState.SENT, reference=reference)
    else:
        reason = body.get("failure_reason") or status or "unknown status"
        refund_record_outcome(
            refund_id=refund.pk, state=RefundState.FAILED, reference=reference, error=f"Stripe: {reason}"
        )
