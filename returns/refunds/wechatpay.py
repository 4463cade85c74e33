"""Refunds through WeChat Pay (API v3): 申请退款 POST /v3/refund/domestic/refunds, an outbox
handler, and the refund result notifications (REFUND.SUCCESS / ABNORMAL / CLOSED) that settle it.

Sources: 申请退款 and 退款结果通知 (pay.weixin.qq.com/doc/v3/merchant); the request and answer
schema of TheNorthMemory/wechatpay-openapi v3/refund/domestic/refunds.yaml (out_refund_no, reason
≤ 80, notify_url, amount{refund, total, currency} in fen; answer refund_id, out_refund_no,
transaction_id, status SUCCESS / CLOSED / PROCESSING / ABNORMAL); wechatpay-go
services/refunddomestic (the same fields, the Status enum). "同一退款单号多次请求只退一笔": the RMA
number as out_refund_no makes a retried delivery refund once.
"""

from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.models import OutboxMessage
from core.outbox import PermanentFailure, outbox_failure
from finance.providers.wechatpay_client import answer_problem, configured, wechatpay_request
from returns.models import RefundProvider, RefundState, ReturnRefund
from returns.refunds.delivery import call_provider, fail_refund, json_object, load_refund
from returns.refunds.lifecycle import refund_record_outcome
from returns.refunds.stripe import to_minor_units

REFUNDS_PATH = "/v3/refund/domestic/refunds"
PLATFORM = "WeChat Pay"
# A refund's status (in the answer and in refund_status of the notification) → our refund state.
# ABNORMAL: the money could not go back (a closed bank card…): finance handles it in the merchant
# platform; a later REFUND.SUCCESS still completes the refund.
STATES = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.SENT,
    "ABNORMAL": RefundState.FAILED,
    "CLOSED": RefundState.FAILED,
}


def refund_via_wechatpay(message: OutboxMessage) -> None:
    """POST /v3/refund/domestic/refunds for the refund the message names, signed with our merchant
    key; the answer is believed only when WeChat Pay signed it."""
    refund = load_refund(message)
    if refund is None:
        return
    if not configured():
        raise PermanentFailure(
            "WECHATPAY_MCHID / WECHATPAY_MERCHANT_SERIAL_NO / WECHATPAY_MERCHANT_PRIVATE_KEY / "
            "WECHATPAY_API_V3_KEY are not configured"
        )
    payment = refund.payment
    if payment is None:
        raise fail_refund(refund, "no WeChat Pay payment to refund")
    body = {
        "transaction_id": payment.transaction_id,
        "out_refund_no": refund.rma.number,
        "reason": refund.rma.get_reason_display()[:80],
        "amount": {
            "refund": to_minor_units(refund.amount, refund.currency),
            "total": to_minor_units(payment.amount, payment.currency),
            "currency": refund.currency,
        },
    }
    if settings.WECHATPAY_REFUND_NOTIFY_URL:
        body["notify_url"] = settings.WECHATPAY_REFUND_NOTIFY_URL
    response = call_provider(
        refund, PLATFORM, lambda http: wechatpay_request(http, "POST", REFUNDS_PATH, body)
    )
    problem = answer_problem(response)
    if problem:
        raise outbox_failure(f"{PLATFORM}: the answer is not WeChat Pay's: {problem}", temporary=False)
    answer = json_object(response, PLATFORM)
    if answer.get("out_refund_no") != refund.rma.number:
        raise outbox_failure(f"{PLATFORM}: the answer is for another refund", temporary=False)
    state = STATES.get(str(answer.get("status")))
    if state is None:  # not one of the four published statuses: ask again (same out_refund_no)
        raise outbox_failure(f"{PLATFORM}: unknown refund status {answer.get('status')!r}", temporary=True)
    refund_record_outcome(
        refund_id=refund.pk,
        state=state,
        reference=str(answer.get("refund_id") or ""),
        error="" if state != RefundState.FAILED else f"{PLATFORM}: refund {answer.get('status')}",
    )


def refund_notification_apply(
    *, out_refund_no: str, refund_id: str, transaction_id: str, status: str, amount: Decimal, detail: str = ""
) -> str:
    """A verified, decrypted refund result notification (finance.callbacks): "" when applied,
    otherwise why it was ignored. Facts that contradict our refund raise DomainError (the callback
    is kept as failed for finance to look at)."""
    refund = (
        ReturnRefund.objects.select_related("rma", "payment")
        .filter(provider=RefundProvider.WECHAT_PAY, rma__number=out_refund_no)
        .first()
    )
    if refund is None:
        return f"out_refund_no {out_refund_no}: not a refund sent by Conduit"
    if refund.payment is not None and refund.payment.transaction_id != transaction_id:
        raise DomainError(
            _("The refund notification names transaction %(given)s, the refund was made on %(ours)s.")
            % {"given": transaction_id, "ours": refund.payment.transaction_id},
            field="transaction_id",
        )
    if amount != refund.amount:
        raise DomainError(
            _("The refund notification says %(given)s refunded, the refund is %(ours)s.")
            % {"given": amount, "ours": refund.amount},
            field="amount",
        )
    state = STATES.get(status)
    if state is None:
        return f"refund_status {status}"
    error = "" if state != RefundState.FAILED else f"{PLATFORM}: refund {status} {detail}".strip()
    refund_record_outcome(refund_id=refund.pk, state=state, reference=refund_id, error=error)
    return ""
