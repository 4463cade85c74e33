"""Incremental polling of platform orders (R-X2): the safety net under the webhooks.

Each run reads the orders the platform updated in [cursor − overlap, now − settle), stores every
one as an InboundMessage exactly like a webhook delivery and processes it through the same
pipeline (integrations.services), so an order arriving by webhook and by polling, any number of
times, is one order (R-X3). A run never holds a row lock while it talks to the platform: it takes
a lease on the channel's SyncCursor in one short transaction, fetches and ingests with no
transaction open, and settles the cursor in another short transaction (integrations.cursor_lease,
which the after-sales poll shares)."""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import Channel
from core.errors import DomainError
from core.http import PlatformError, is_temporary
from integrations.adapters import get_adapter
from integrations.cursor_lease import LeasedRun, PolledCursor, SyncResult, SyncStatus, leased_run
from integrations.models import InboundMessage, InboundStatus, SyncCursor
from integrations.services import inbound_message_process

POLL_HEADERS = {"X-Conduit-Source": "poll"}

# The order cursor of a channel, leased, overlapped and backed off by integrations.cursor_lease.
ORDER_CURSOR = PolledCursor(
    SyncCursor,
    seen_field="orders_seen",
    run_name="sync",
    stopped_unexpectedly=gettext_lazy("The sync stopped unexpectedly: %(error)r"),
)


def pollable_channel_ids() -> list[int]:
    """Active channels with API credentials whose platform adapter has an HTTP client, in
    primary-key order (a channel fed only by webhooks or uploads has no credentials to poll with)."""
    ids = []
    channels = Channel.objects.filter(is_active=True).exclude(api_credentials={}).order_by("pk")
    for channel in channels.only("pk", "platform"):
        try:
            adapter = get_adapter(channel.platform)
        except LookupError:
            continue
        if adapter.client_class is not None:
            ids.append(channel.pk)
    return ids


def channel_sync(*, channel_id: int, now: datetime | None = None) -> SyncResult:
    """One polling run for a channel. Safe to call twice at once: the second returns "busy"."""
    clock = (lambda: now) if now is not None else timezone.now
    channel = Channel.objects.get(pk=channel_id)
    try:
        adapter = get_adapter(channel.platform)
    except LookupError:
        adapter = None
    if not channel.is_active or adapter is None or adapter.client_class is None:
        return SyncResult(SyncStatus.NOT_POLLED)

    def read(run: LeasedRun) -> None:
        run.client = adapter.client_class(channel)
        for payload in run.client.iter_orders(updated_since=run.since, updated_until=run.until):
            run.seen += 1
            updated_at = _updated_at(adapter, payload)
            if updated_at is not None and (run.newest is None or updated_at > run.newest):
                run.newest = updated_at
            run.stored += _message_store_and_process(channel, adapter, payload)

    return leased_run(ORDER_CURSOR, channel, clock, read)


def _updated_at(adapter, payload: dict) -> datetime | None:
    """The order version's time in UTC, when the adapter can read it (`poll_updated_at`); the
    cursor then follows the newest one seen, otherwise the end of each complete window."""
    reader = getattr(adapter, "poll_updated_at", None)
    if reader is None:
        return None
    try:
        return reader(payload)
    except (KeyError, TypeError, ValueError):
        return None  # stored anyway: processing records why it cannot be used


def _message_store_and_process(channel: Channel, adapter, payload: dict) -> int:
    """Store a polled order as a webhook delivery would be stored and process it; 1 when it was
    new. A version stored before (the overlap re-reads it) is the unique constraint's duplicate."""
    message, created = message_store(channel, adapter, payload)
    if message.status == InboundStatus.RECEIVED:  # new, or stored by a run that stopped early
        inbound_message_process(message.pk)
    return int(created)


def message_store(channel: Channel, adapter, payload: dict) -> tuple[InboundMessage, bool]:
    """A polled order stored as a webhook delivery would be: (message, True) when this version is
    new, (the stored message, False) when it was stored before. Not processed here: a message
    still "received" is for the caller to process (integrations.repull shares this with polling)."""
    body = json.dumps(payload, ensure_ascii=False)
    body_sha256 = hashlib.sha256(body.encode()).hexdigest()
    try:
        dedupe_id = adapter.poll_dedupe_id(payload)
    except (KeyError, TypeError, ValueError):
        dedupe_id = f"poll:sha256:{body_sha256}"  # no readable version: the body itself is one
    message = InboundMessage(
        channel=channel,
        platform=channel.platform,
        topic=adapter.poll_topic,
        dedupe_id=dedupe_id[:255],
        headers=dict(POLL_HEADERS),
        body=body,
        body_sha256=body_sha256,
    )
    try:
        with transaction.atomic():
            message.save()
        created = True
    except IntegrityError:
        message = InboundMessage.objects.get(channel=channel, dedupe_id=message.dedupe_id)
        created = False
    return message, created


def ingest_platform_order(
    channel: Channel, platform: str, order_id: str, fetch: Callable[[str], dict]
) -> InboundMessage:
    """Read one order (`fetch(order_id)`, the platform client's detail call) and take it the way
    polling does: stored by `message_store` and processed, so the same version by push and by poll
    is one stored message and one order. For push messages that only name an order (Douyin,
    Xiaohongshu, Pinduoduo's message service): the processed poll message. A refusal of the read or
    a failed ingest is a DomainError naming the order (the push message fails and can be replayed);
    a rate limit or a temporary failure is raised as it is, leaving the push "received" for the
    sweeper."""
    try:
        detail = fetch(order_id)
    except PlatformError as exc:
        if is_temporary(exc):
            raise
        raise DomainError(str(exc)) from exc
    stored, _created = message_store(channel, get_adapter(platform), detail)
    if stored.status == InboundStatus.RECEIVED:
        stored = inbound_message_process(stored.pk)
    if stored.status == InboundStatus.FAILED:
        raise DomainError(
            _("Order %(id)s could not be ingested: %(error)s") % {"id": order_id, "error": stored.error}
        )
    return stored
