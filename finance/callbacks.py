"""Payment-provider callbacks: verify the signature (constant time) → store the raw delivery →
record the payment idempotently. The callback row is committed before it is processed, so a
delivery that cannot be applied yet (unknown order, conflict) is kept for replay; the provider's
own retry of that delivery replays it too.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted
from core.refusals import audit_headers, refusal_allowed
from finance.models import CallbackStatus, PaymentCallback
from finance.providers import MalformedCallback, get_provider
from finance.services import payment_record

logger = logging.getLogger(__name__)

# Request headers never worth keeping (a provider sends neither; a browser might).
DROPPED_HEADERS = {"cookie", "authorization"}

# Provider → what applies its refund notifications (returns, a layer above: config/registry.py
# plugs it in). It returns "" when applied, otherwise why the notification was ignored, and raises
# DomainError when it cannot be applied yet.
RefundHandler = Callable[..., str]
_refund_handlers: dict[str, RefundHandler] = {}


def register_refund_handler(provider: str) -> Callable[[RefundHandler], RefundHandler]:
    def register(handler: RefundHandler) -> RefundHandler:
        _refund_handlers[provider] = handler
        return handler

    return register


class Outcome:
    PROCESSED = "processed"  # a payment was recorded (or found already recorded)
    IGNORED = "ignored"  # a valid notification that is not a payment
    DUPLICATE = "duplicate"  # this notification was handled before: nothing done
    REJECTED = "rejected"  # bad, expired or replayed signature: an audit line only
    THROTTLED = "throttled"  # refused, and too many refusals from this caller: nothing stored
    FAILED = "failed"  # signed, stored, but not applicable: kept for replay


@dataclass(frozen=True)
class CallbackReceipt:
    outcome: str
    callback: PaymentCallback | None = None
    error: str = ""
    status_code: int = 200


def payment_callback_receive(
    *, provider: str, headers: dict, raw_body: bytes, now: float | None = None, client_address: str = ""
) -> CallbackReceipt:
    """Take one delivery from a payment provider ("stripe", "alipay", "wechat_pay", "unionpay")."""
    handler = get_provider(provider)
    headers = {key: value for key, value in headers.items() if key.lower() not in DROPPED_HEADERS}
    row = {"provider": provider, "headers": headers, "body_sha256": hashlib.sha256(raw_body).hexdigest()}
    problem = handler.verify(headers, raw_body, now=time.time() if now is None else now)
    if problem:
        return _reject(row, problem, client_address)
    body = raw_body.decode("utf-8", errors="replace")
    try:
        event = handler.parse(headers, raw_body)
    except MalformedCallback as exc:
        callback = PaymentCallback.objects.create(
            **row, body=body, status=CallbackStatus.FAILED, error=str(exc), processed_at=timezone.now()
        )
        return CallbackReceipt(Outcome.FAILED, callback, str(exc), 400)
    callback = PaymentCallback(
        **row,
        body=body,
        event_id=event.event_id[:128],
        event_type=event.event_type[:100],
        signature=handler.signature(headers, raw_body),
    )
    try:
        with transaction.atomic():
            callback.save()
    except IntegrityError:
        existing = PaymentCallback.objects.get(provider=provider, event_id=callback.event_id)
        if handler.rejects_repeated_signature and existing.signature == callback.signature:
            return _reject(
                row, _("Replayed delivery: this exact signature was received before."), client_address
            )
        if existing.status == CallbackStatus.FAILED:  # the provider's retry: try it again
            return payment_callback_process(existing.pk)
        return CallbackReceipt(Outcome.DUPLICATE, existing)
    return payment_callback_process(callback.pk)


def _reject(row: dict, problem: str, client_address: str) -> CallbackReceipt:
    if not refusal_allowed(f"payment:{row['provider']}", client_address):
        return CallbackReceipt(
            Outcome.THROTTLED, None, _("Too many refused callbacks: try again in a minute."), 429
        )
    # No body and no event id: an unsigned request must not block a later genuine delivery.
    # Its headers are a capped audit line, whatever was sent.
    headers = audit_headers(row["headers"], client_address=client_address)
    callback = PaymentCallback.objects.create(
        **{**row, "headers": headers},
        status=CallbackStatus.REJECTED,
        error=problem,
        processed_at=timezone.now(),
    )
    logger.warning("payment callback rejected: provider=%s id=%s %s", row["provider"], callback.pk, problem)
    return CallbackReceipt(Outcome.REJECTED, callback, problem, 401)


def payment_callback_process(callback_id: int) -> CallbackReceipt:
    """Apply a stored callback. Idempotent and safe to run twice at once: the row is locked and
    only a callback still received (or failed, on replay) is worked on."""
    with transaction.atomic():
        callback = PaymentCallback.objects.select_for_update().get(pk=callback_id)
        if callback.status not in (CallbackStatus.RECEIVED, CallbackStatus.FAILED):
            return CallbackReceipt(Outcome.DUPLICATE, callback)
        callback.attempts += 1
        callback.processed_at = timezone.now()
        receipt = _apply(callback)
        callback.save(update_fields=["status", "error", "payment", "attempts", "processed_at"])
    return receipt


def _apply(callback: PaymentCallback) -> CallbackReceipt:
    handler = get_provider(callback.provider)
    try:
        event = handler.parse(callback.headers, callback.body.encode("utf-8"))
        if event.refund is not None:
            return _apply_refund(callback, event.refund)
        if event.payment is None:
            callback.status, callback.error = CallbackStatus.IGNORED, event.ignored_because
            return CallbackReceipt(Outcome.IGNORED, callback)
        # payment_record rolls its own writes back on a refusal; its alerts stay (committed here).
        payment, _created = payment_record(**event.payment, provider=callback.provider, callback=callback)
    except MalformedCallback as exc:
        callback.status, callback.error = CallbackStatus.FAILED, str(exc)
        return CallbackReceipt(Outcome.FAILED, callback, str(exc), 400)
    except DomainError as exc:
        text = f"{exc.field}: {exc.message}" if exc.field else exc.message
        callback.status, callback.error = CallbackStatus.FAILED, text
        return CallbackReceipt(Outcome.FAILED, callback, text, exc.status_code)
    callback.status, callback.error, callback.payment = CallbackStatus.PROCESSED, "", payment
    return CallbackReceipt(Outcome.PROCESSED, callback)


def _apply_refund(callback: PaymentCallback, refund: dict) -> CallbackReceipt:
    apply = _refund_handlers.get(callback.provider)
    if apply is None:
        callback.status, callback.error = CallbackStatus.IGNORED, "no refund handler for this provider"
        return CallbackReceipt(Outcome.IGNORED, callback)
    with transaction.atomic():  # a refusal rolls the handler's writes back, the callback row stays
        ignored_because = apply(**refund)
    if ignored_because:
        callback.status, callback.error = CallbackStatus.IGNORED, ignored_because
        return CallbackReceipt(Outcome.IGNORED, callback)
    callback.status, callback.error = CallbackStatus.PROCESSED, ""
    return CallbackReceipt(Outcome.PROCESSED, callback)


def payment_callback_replay(*, callback_id: int, actor=None) -> CallbackReceipt:
    """Process a failed callback again, once its cause (e.g. the order not yet imported) is fixed."""
    if actor is not None and not actor.has_perm("finance.change_paymentcallback"):
        raise NotPermitted(_("You are not allowed to replay payment callbacks."))
    callback = PaymentCallback.objects.filter(pk=callback_id).first()
    if callback is None or callback.status != CallbackStatus.FAILED or not callback.body:
        raise DomainError(_("Only failed callbacks can be replayed."), field="status")
    return payment_callback_process(callback_id)
