"""Transactional outbox (SPEC R-X4): every outbound call is a row written in the caller's
transaction and delivered after commit by Celery, with retries, exponential backoff and a dead
state an operator can replay.

Delivery is at least once: a worker killed mid-delivery leaves its row "delivering" with a lease
(`next_attempt_at`); once the lease ends the sweep delivers it again. Handlers get
`message.idempotency_key` so the receiver can make the effect exactly once.

A handler is a function of the message that makes the HTTP call and raises RetryLater or
PermanentFailure (any other error is retried); config/registry.py lists every kind and its handler.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError
from core.handoff import publish_on_commit
from core.models import OutboxMessage, OutboxState
from core.roles import Role

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a delivery not finished by then is presumed dead and re-delivered
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX = timedelta(hours=1)
# "delivering" rows are due again once their lease (next_attempt_at) has passed.
DUE_STATES = (OutboxState.PENDING, OutboxState.DELIVERING)

# Outcomes returned by outbox_deliver.
DELIVERED = "delivered"
RETRY = "retry"
DEAD = "dead"
SKIPPED = "skipped"  # not due, already delivered, or claimed by another worker
LOST_LEASE = "lost_lease"  # delivered, but the lease had ended and another worker re-claimed it


class RetryLater(Exception):
    """The receiver is busy or down; try again (after `retry_after` seconds, if given)."""

    def __init__(self, message: str = "", *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Retrying cannot help (rejected payload, unknown target): dead-letter at once."""


def outbox_failure(
    detail: str, *, temporary: bool, retry_after: float | None = None
) -> RetryLater | PermanentFailure:
    """The outcome of a failed outbound call, for its handler to raise: RetryLater (after
    `retry_after` seconds, if given) when the failure may go away by itself, PermanentFailure
    when it is a refusal. HTTP failures come here through core.http.outbox_outcome; refusals in a
    protocol's own answer (an error code in a 200 body) come here with the protocol's verdict."""
    if temporary:
        return RetryLater(detail, retry_after=retry_after)
    return PermanentFailure(detail)


Handler = Callable[[OutboxMessage], None]
_handlers: dict[str, Handler] = {}


def register_handler(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and _name(existing) != _name(handler):
            raise ValueError(f"outbox kind {kind!r} already has a handler: {_name(existing)}")
        _handlers[kind] = handler
        return handler

    return register


def _name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def is_last_attempt(message: OutboxMessage) -> bool:
    """Whether a failure of this attempt dead-letters the message (OUTBOX_MAX_ATTEMPTS)."""
    return message.attempts >= settings.OUTBOX_MAX_ATTEMPTS


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=BACKOFF_BASE_SECONDS * 2**attempts), BACKOFF_MAX)


def outbox_enqueue(*, kind: str, payload: dict, idempotency_key: str, channel_id: int | None = None) -> None:
    """Write the message in the caller's transaction; it is delivered once that commits.
    Enqueuing an idempotency key that already exists is a no-op (the unique key deduplicates)."""
    outbox_enqueue_many(
        [{"kind": kind, "payload": payload, "idempotency_key": idempotency_key, "channel_id": channel_id}]
    )


def outbox_enqueue_many(messages: Iterable[dict]) -> list[int]:
    """outbox_enqueue for many messages at once (one insert): each a dict of `kind`, `payload`,
    `idempotency_key` and optionally `channel_id`. Keys that exist already are no-ops; returns the
    ids of the messages (new or existing), each delivered once the caller's transaction commits."""
    from core.tasks import deliver_outbox_message  # core.tasks imports this module

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_enqueue must be called inside the transaction of the change it announces")
    now = timezone.now()
    rows = [
        OutboxMessage(
            kind=message["kind"],
            payload=message["payload"],
            idempotency_key=message["idempotency_key"],
            channel_id=message.get("channel_id"),
            next_attempt_at=now,
        )
        for message in messages
    ]
    if not rows:
        return []
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    message_ids = list(
        OutboxMessage.objects.filter(idempotency_key__in=[row.idempotency_key for row in rows])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for message_id in message_ids:
        publish_on_commit(deliver_outbox_message, message_id)  # a broker that is down: the sweep delivers
    return message_ids


def _claim(message_id: int, now: datetime) -> OutboxMessage | None:
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, state__in=DUE_STATES, next_attempt_at__lte=now)
            .first()
        )
        if message is None:
            return None
        message.state = OutboxState.DELIVERING
        message.attempts += 1
        message.next_attempt_at = now + LEASE
        message.save(update_fields=["state", "attempts", "next_attempt_at"])
    return message


def outbox_deliver(message_id: int, *, now: datetime | None = None) -> str:
    """Claim the message if it is due, call its handler with no transaction or lock held, then
    record the outcome. `now` is for tests and the sweep; it defaults to the current time."""
    message = _claim(message_id, now or timezone.now())
    if message is None:
        return SKIPPED

    handler = _handlers.get(message.kind)
    error: Exception | None
    try:
        if handler is None:
            raise PermanentFailure(f"no handler registered for outbox kind {message.kind!r}")
        handler(message)
    except Exception as exc:  # noqa: BLE001 — any handler error is recorded and retried, never lost
        error = exc
        logger.warning(
            "outbox %s (%s) attempt %s failed: %r", message.pk, message.kind, message.attempts, exc
        )
    else:
        error = None

    finished = now or timezone.now()
    # Only the worker holding the current claim (same attempt number) may record the outcome.
    ours = OutboxMessage.objects.filter(
        pk=message.pk, state=OutboxState.DELIVERING, attempts=message.attempts
    )
    with transaction.atomic():
        if error is None:
            updated = ours.update(state=OutboxState.DELIVERED, delivered_at=finished, last_error="")
            return DELIVERED if updated else LOST_LEASE

        last_error = f"{type(error).__name__}: {error}"
        if isinstance(error, PermanentFailure) or is_last_attempt(message):
            if not ours.update(state=OutboxState.DEAD, last_error=last_error):
                return LOST_LEASE
            alert_raise(
                kind="outbox_dead",
                key=f"outbox:{message.pk}",
                role=Role.MANAGER,
                message=f"Outbox message {message.kind} {message.idempotency_key} is dead after "
                f"{message.attempts} attempt(s): {last_error}"[:500],
                payload={"outbox_message_id": message.pk, "kind": message.kind},
            )
            return DEAD

        retry_after = getattr(error, "retry_after", None)
        delay = timedelta(seconds=retry_after) if retry_after is not None else backoff(message.attempts)
        updated = ours.update(
            state=OutboxState.PENDING, next_attempt_at=finished + delay, last_error=last_error
        )
        return RETRY if updated else LOST_LEASE


def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Deliver every due message in id order; returns how many were delivered. Safe to run twice
    at once: each message is claimed with skip_locked and a lease before its handler runs."""
    due_ids = list(
        OutboxMessage.objects.filter(state__in=DUE_STATES, next_attempt_at__lte=now or timezone.now())
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(outbox_deliver(message_id, now=now) == DELIVERED for message_id in due_ids)


def outbox_replay(message_id: int, *, actor=None) -> None:
    """Operator action: send a dead message again now (its attempts are kept)."""
    from core.tasks import deliver_outbox_message

    with transaction.atomic():
        replayed = OutboxMessage.objects.filter(pk=message_id, state=OutboxState.DEAD).update(
            state=OutboxState.PENDING, next_attempt_at=timezone.now()
        )
        if not replayed:
            raise DomainError("Only a dead outbox message can be replayed.")
        alert_resolve(key=f"outbox:{message_id}", actor=actor)
        logger.info("outbox %s replayed by %s", message_id, actor)
        publish_on_commit(deliver_outbox_message, message_id)
