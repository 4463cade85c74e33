"""What every provider's refund handler shares: the refund a message names, one HTTP call with
the outbox's retry rules, reading the JSON answer, and failing the refund for good."""

from collections.abc import Callable

import httpx

from core.http import TIMEOUT, send_for_outbox
from core.models import OutboxMessage
from core.outbox import PermanentFailure, outbox_failure
from returns.models import RefundState, ReturnRefund
from returns.refunds.lifecycle import refund_record_outcome

# Seconds to wait before retrying when a rate-limited provider does not say (Retry-After).
DEFAULT_RETRY_AFTER = 5.0


def load_refund(message: OutboxMessage) -> ReturnRefund | None:
    """The refund the message names; None when it already went through."""
    refund = (
        ReturnRefund.objects.select_related("rma", "order", "order__channel", "payment")
        .filter(pk=message.payload.get("refund"))
        .first()
    )
    if refund is None:
        raise PermanentFailure(f"refund #{message.payload.get('refund')} does not exist")
    if refund.state == RefundState.SUCCEEDED:
        return None  # delivered before (at-least-once delivery)
    return refund


def fail_refund(refund: ReturnRefund, error: str) -> Exception:
    """A final refusal: the refund fails and the message dead-letters (an operator can replay it)."""
    refund_record_outcome(refund_id=refund.pk, state=RefundState.FAILED, error=error)
    return outbox_failure(error, temporary=False)


def call_provider(
    refund: ReturnRefund, platform: str, request: Callable[[httpx.Client], httpx.Response]
) -> httpx.Response:
    """One request: temporary failures (network, 408, 425, 429, 5xx) are retried later, other
    refusals fail the refund (and dead-letter the message, which an operator can replay)."""
    with httpx.Client(timeout=TIMEOUT) as http:
        try:
            return send_for_outbox(platform, lambda: request(http), DEFAULT_RETRY_AFTER)
        except PermanentFailure as exc:
            raise fail_refund(refund, str(exc)) from exc


def json_object(response: httpx.Response, platform: str) -> dict:
    """The provider's answer as a JSON object; anything else is retried (a proxy's error page…)."""
    try:
        body = response.json()
    except ValueError as exc:
        detail = f"{platform}: answer is not JSON: {response.text[:200]}"
        raise outbox_failure(detail, temporary=True) from exc
    if not isinstance(body, dict):
        raise outbox_failure(f"{platform}: answer is not a JSON object", temporary=True)
    return body
