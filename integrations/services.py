import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Channel, Platform
from core import handoff
from core.errors import DomainError
from core.handoff import Swept
from core.json_bodies import MAX_JSON_DEPTH, nesting_exceeds, too_deep_message
from core.nul_characters import nul_in_json
from core.refusals import audit_headers, refusal_allowed
from integrations.adapters import get_adapter
from integrations.credentials import credentials_merged
from integrations.models import InboundMessage, InboundStatus
from orders.canonical import CanonicalOrderInput
from orders.intake import order_ingest

logger = logging.getLogger(__name__)


def channel_create_or_update(*, code: str, platform: str, **fields) -> tuple[Channel, bool]:
    """Channel set-up (the `add_channel` command and the desk form): create the channel, or
    update the fields given for an existing one. Only non-None fields are applied, so re-running
    a script never blanks a secret; API credentials are merged key by key and checked against
    the platform's table (integrations.credentials)."""
    if platform not in Platform.values:
        raise ValidationError({"platform": f"unknown platform {platform!r}"})
    values = {key: value for key, value in fields.items() if value is not None}
    given_credentials = values.pop("api_credentials", None)
    with transaction.atomic():
        channel = Channel.objects.select_for_update().filter(code=code).first()
        created = channel is None
        if created:
            values.setdefault("name", code)
            channel = Channel(code=code)
        if given_credentials is not None or channel.platform != platform:
            # Merged key by key (integrations.credentials): rotating one token keeps the rest, and
            # the set must be complete for the platform it ends on.
            channel.api_credentials = credentials_merged(
                platform, channel.api_credentials, given_credentials or {}
            )
        channel.platform = platform
        for key, value in values.items():
            try:
                setattr(channel, key, value)
            except ValidationError as exc:  # the time zone field validates on assignment
                raise ValidationError({key: exc.messages}) from exc
        channel.full_clean()
        channel.save()
    return channel, created


# --- platform webhooks: verify → store the raw message → enqueue → process idempotently --------

# Request headers never worth keeping (a webhook carries neither; a browser might).
DROPPED_HEADERS = {"cookie", "authorization"}


class Outcome:
    ACCEPTED = "accepted"  # stored and queued for processing
    DUPLICATE = "duplicate"  # this delivery id was stored before: nothing else done
    PING = "ping"  # a platform's set-up ping
    REJECTED = "rejected"  # bad or missing signature: an audit row only
    THROTTLED = "throttled"  # refused, and too many refusals from this caller: nothing stored
    MALFORMED = "malformed"  # signed but not a JSON object: stored as failed
    UNKNOWN = "unknown"  # no such platform adapter or channel: nothing stored


@dataclass(frozen=True)
class Receipt:
    outcome: str
    message: InboundMessage | None = None


def inbound_message_receive(
    *, platform: str, channel_code: str, headers: dict, raw_body: bytes, client_address: str = ""
) -> Receipt:
    """Take one webhook delivery. Only a correctly signed body is kept; the unique constraint on
    (channel, dedupe_id) is what turns a repeated delivery into a no-op."""
    try:
        adapter = get_adapter(platform)
    except LookupError:
        return Receipt(Outcome.UNKNOWN)
    channel = Channel.objects.filter(code=channel_code, platform=platform, is_active=True).first()
    if channel is None:
        return Receipt(Outcome.UNKNOWN)
    headers = {key: value for key, value in headers.items() if key.lower() not in DROPPED_HEADERS}
    row = {
        "channel": channel,
        "platform": platform,
        "headers": headers,
        "body_sha256": hashlib.sha256(raw_body).hexdigest(),
    }
    if adapter.is_ping(headers, raw_body):  # unsigned too: the same limit and short audit line
        if not refusal_allowed(f"webhook:{platform}:{channel.code}", client_address):
            return Receipt(Outcome.THROTTLED)
        message = InboundMessage.objects.create(
            **_unsigned_row(row, adapter, client_address),
            topic="ping",
            body=raw_body.decode("ascii"),
            status=InboundStatus.IGNORED,
        )
        return Receipt(Outcome.PING, message)
    if not adapter.verify(headers, raw_body, channel.webhook_secret):
        if not refusal_allowed(f"webhook:{platform}:{channel.code}", client_address):
            return Receipt(Outcome.THROTTLED)
        # No body and no dedupe id: an unsigned request must not block a later genuine delivery.
        InboundMessage.objects.create(
            **_unsigned_row(row, adapter, client_address),
            topic=adapter.topic(headers),
            status=InboundStatus.REJECTED,
            error=_("Bad or missing signature."),
        )
        return Receipt(Outcome.REJECTED)
    topic, dedupe_id = adapter.message_keys(headers, raw_body)
    message = InboundMessage(
        **row,
        topic=topic,
        dedupe_id=dedupe_id,
        # PostgreSQL text cannot hold NUL; JSON never has a bare one, so such a body is malformed.
        body=raw_body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
    )
    with transaction.atomic():
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            return Receipt(Outcome.DUPLICATE)
        problem = _json_problem(raw_body, allow_array=adapter.accepts_json_array)
        if problem:
            message.status, message.error = InboundStatus.FAILED, problem
            message.save(update_fields=["status", "error"])
            return Receipt(Outcome.MALFORMED, message)
        from integrations.tasks import process_inbound_message

        # Acknowledged once stored: if the broker is down, the sweeper hands it over later.
        handoff.publish_on_commit(process_inbound_message, message.pk)
    return Receipt(Outcome.ACCEPTED, message)


def _unsigned_row(row: dict, adapter, client_address: str) -> dict:
    """An unsigned request's row keeps a capped audit line of its headers, never all of them."""
    kept = audit_headers(
        row["headers"],
        also=(adapter.signature_header, adapter.topic_header, adapter.dedupe_header),
        client_address=client_address,
    )
    return {**row, "headers": kept}


# Messages that are not orders (WMS callbacks, tracking pushes) are processed by their own
# package, which registers its processor here when it is imported.
_processors: dict[str, Callable[[int], InboundMessage]] = {}


def register_message_processor(platform: str, process: Callable[[int], InboundMessage]) -> None:
    _processors[platform] = process


# Topics of an order platform that are not orders (e.g. Shopify refunds/create → returns) are
# processed by the app that registers for them: process(message, payload) → (order, status).
_topic_processors: dict[tuple[str, str], Callable] = {}


def register_topic_processor(platform: str, topic: str, process: Callable) -> None:
    _topic_processors[(platform, topic)] = process


# Push messages that only name orders to read from the platform (Douyin, Xiaohongshu, Pinduoduo's
# message service): process(message, payload) → (order, status), run OUTSIDE any transaction —
# each order named is read over HTTP and then ingested in its own transaction, so no stock or
# order lock is held while a platform answers (and a token the platform rotated meanwhile is
# kept even when a later order of the same push fails).
_notification_processors: dict[tuple[str, str], Callable] = {}


def register_notification_processor(platform: str, topic: str, process: Callable) -> None:
    _notification_processors[(platform, topic)] = process


def inbound_message_process(message_id: int) -> InboundMessage:
    """Map a stored message to the canonical order and ingest it. Idempotent and safe to run twice
    at once: the message row is locked and only a message still "received" is worked on."""
    platform, topic = InboundMessage.objects.filter(pk=message_id).values_list(
        "platform", "topic"
    ).first() or (None, None)
    if platform in _processors:
        return _processors[platform](message_id)
    if (platform, topic) in _notification_processors:
        return _notification_process(message_id, _notification_processors[(platform, topic)])
    inbound_message_started(message_id)
    with transaction.atomic():
        message = (
            InboundMessage.objects.select_for_update(of=("self",))
            .select_related("channel")
            .get(pk=message_id)
        )
        if message.status != InboundStatus.RECEIVED:
            return message
        try:
            with transaction.atomic():  # a refusal leaves nothing half-written
                message.order, message.status = _ingest(message)
            message.error = ""
        except DomainError as exc:
            message.status, message.error = InboundStatus.FAILED, exc.message
        message.processed_at = timezone.now()
        message.save(update_fields=["order", "status", "error", "processed_at"])
    return message


def _notification_process(message_id: int, process: Callable) -> InboundMessage:
    """A notification push: its processor runs without a transaction (see
    register_notification_processor); the outcome is written only on a message still
    "received", so two workers running it at once record it once (each order it names is
    deduplicated by the polling store anyway)."""
    inbound_message_started(message_id)
    message = InboundMessage.objects.select_related("channel").get(pk=message_id)
    if message.status != InboundStatus.RECEIVED:
        return message
    adapter = get_adapter(message.platform)
    order, error = None, ""
    try:
        payload = _json_object(message.body, allow_array=adapter.accepts_json_array)
        order, status = process(message, payload)
    except DomainError as exc:
        status, error = InboundStatus.FAILED, exc.message
    InboundMessage.objects.filter(pk=message_id, status=InboundStatus.RECEIVED).update(
        order=order, status=status, error=error, processed_at=timezone.now()
    )
    message.refresh_from_db()
    return message


def inbound_message_started(message_id: int) -> bool:
    """Every processor's first statement, before its transaction: count the start in `attempts`
    (committed on its own, so a worker dying mid-way still counts), which is what the sweeper
    gives up on. False when the message is no longer "received"."""
    return handoff.record_start(
        InboundMessage.objects.filter(pk=message_id, status=InboundStatus.RECEIVED), started="attempts"
    )


def inbound_message_replay(message_id: int) -> InboundMessage:
    """Process a failed message again (after the cause, e.g. a missing SKU, was fixed)."""
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update(of=("self",)).get(pk=message_id)
        if message.status != InboundStatus.FAILED:
            raise DomainError(_("Only failed messages can be replayed."), field="status")
        message.status = InboundStatus.RECEIVED
        # the sweeper's counts start afresh: a replayed message is not given up for earlier starts
        message.attempts, message.handoffs, message.next_handoff_at = 0, 0, None
        message.save(update_fields=["status", "attempts", "handoffs", "next_handoff_at"])
        return inbound_message_process(message_id)


# --- the safety net: messages whose task never ran or died -------------------------------------


def inbound_message_note_error(message_id: int, error: BaseException) -> None:
    """Keep the error a processing task died of on the message, for the failed queue should
    the sweeper give up on it. Best effort: the database may be what failed."""
    text = f"{type(error).__name__}: {error}"[:2000]
    try:
        InboundMessage.objects.filter(pk=message_id, status=InboundStatus.RECEIVED).update(error=text)
    except DatabaseError:
        logger.warning("could not record the error of inbound message %s: %s", message_id, text)


def inbound_messages_sweep(*, now: datetime | None = None, limit: int = 500) -> Swept:
    """Hand every message still "received" HANDOFF_GRACE_SECONDS after it was stored (or after
    its last hand-off) to a worker again: its task was never published, never taken, or its
    worker died. A message being processed holds its row lock and is skipped. Once processing
    has started HANDOFF_MAX_ATTEMPTS times without finishing, the message goes to the failed
    queue with its last error, to be replayed from the desk; one no worker has started waits,
    however long. Every platform's messages are processed through `inbound_message_process`,
    which hands Qimen and Kuaidi100 messages to their own processors. Safe to run twice at once."""
    from integrations.tasks import process_inbound_message

    now = now or timezone.now()
    stuck = InboundMessage.objects.filter(
        handoff.waiting_since("received_at", now), status=InboundStatus.RECEIVED
    )
    with transaction.atomic():
        swept = handoff.claim_due(stuck, started="attempts", now=now, limit=limit)
        if swept.given_up:
            gave_up = _("Processing started %(n)s times and never finished.") % {
                "n": settings.HANDOFF_MAX_ATTEMPTS
            }
            InboundMessage.objects.filter(pk__in=swept.given_up).update(
                status=InboundStatus.FAILED,
                processed_at=now,
                error=handoff.given_up_error(gave_up),
            )
            logger.warning("inbound messages %s given up: %s", swept.given_up, gave_up)
        for message_id in swept.handed_over:
            handoff.publish_on_commit(process_inbound_message, message_id)
    return swept


def _json_problem(raw_body: bytes, *, allow_array: bool = False) -> str:
    """Why the body cannot be processed ("" when it can): checked once, before it is acknowledged."""
    try:
        _json_object(raw_body.decode("utf-8"), allow_array=allow_array)
    except UnicodeDecodeError as exc:
        return _("The body is not valid UTF-8 JSON: %(error)s") % {"error": exc}
    except DomainError as exc:
        return exc.message
    return ""


def _json_object(text: str, *, allow_array: bool = False) -> dict:
    """The body as a JSON object (or array, when the platform sends one) a database can hold;
    DomainError saying why not."""
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise DomainError(_("The body is not valid UTF-8 JSON: %(error)s") % {"error": exc}) from exc
    except RecursionError as exc:
        raise DomainError(too_deep_message()) from exc
    if not isinstance(payload, dict) and not (allow_array and isinstance(payload, list)):
        raise DomainError(_("The body is JSON but not an object."))
    if nesting_exceeds(payload, MAX_JSON_DEPTH):
        raise DomainError(too_deep_message())
    nul = nul_in_json(payload)  # an escaped \u0000 cannot be stored in any text column
    if nul is not None:
        raise DomainError(f"{nul[0]}: {nul[1]}")
    return payload


def _ingest(message: InboundMessage):
    """(order, status) for a message; DomainError when it cannot become an order."""
    adapter = get_adapter(message.platform)
    topic_processor = _topic_processors.get((message.platform, message.topic))
    if topic_processor is not None:
        return topic_processor(message, _json_object(message.body, allow_array=adapter.accepts_json_array))
    if message.topic not in adapter.order_topics:
        return None, InboundStatus.IGNORED
    payload = _json_object(message.body)
    try:
        canonical = adapter.to_canonical(payload, message.channel)
    # a payload of another shape than the platform documents (e.g. a string where an object is)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise DomainError(_("The payload cannot be mapped: %(error)r") % {"error": exc}) from exc
    if canonical is None:
        return None, InboundStatus.IGNORED
    data = CanonicalOrderInput(data=canonical)
    if not data.is_valid():
        raise DomainError("; ".join(_field_errors(data.errors)))
    order, _created = order_ingest(data=data.validated_data, actor=None)
    return order, InboundStatus.PROCESSED


def _field_errors(errors, path: str = "") -> list[str]:
    """DRF's nested errors as "lines[0].sku: message" lines."""
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [f"{path}: {' '.join(errors)}"] if errors else []
    if isinstance(errors, list):
        errors = dict(enumerate(errors))
    if isinstance(errors, dict):
        return [
            text for key, value in errors.items() for text in _field_errors(value, _child_path(path, key))
        ]
    return [f"{path}: {errors}"]


def _child_path(path: str, key) -> str:
    if isinstance(key, int):  # a list item (DRF reports nested list errors by index)
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
