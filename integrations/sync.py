"""Incremental polling of platform orders (R-X2): the safety net under the webhooks.

Each run reads the orders the platform updated in [cursor − overlap, now − settle), stores every
one as an InboundMessage exactly like a webhook delivery and processes it through the same
pipeline (integrations.services), so an order arriving by webhook and by polling, any number of
times, is one order (R-X3). A run never holds a row lock while it talks to the platform: it takes
a lease on the channel's SyncCursor in one short transaction, fetches and ingests with no
transaction open, and settles the cursor in another short transaction."""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Channel
from core.http import PlatformError, RateLimited
from integrations.adapters import get_adapter
from integrations.models import InboundMessage, InboundStatus, SyncCursor
from integrations.services import inbound_message_process

logger = logging.getLogger(__name__)

SETTLE = timedelta(seconds=5)  # the newest seconds may still be committing on the platform
FIRST_RUN_LOOKBACK = timedelta(days=1)
LEASE = timedelta(minutes=15)  # a crashed run blocks its channel at most this long
MAX_BACKOFF = timedelta(minutes=15)
POLL_HEADERS = {"X-Conduit-Source": "poll"}


class SyncStatus:
    OK = "ok"
    BUSY = "busy"  # another run of this channel holds it
    WAITING = "waiting"  # backing off after a rate limit
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"
    NOT_POLLED = "not_polled"  # inactive channel, or a platform without a client


@dataclass(frozen=True)
class SyncResult:
    status: str
    updated_since: datetime | None = None
    updated_until: datetime | None = None
    pages_fetched: int = 0
    orders_seen: int = 0
    messages_stored: int = 0  # new versions; the rest were duplicates of stored messages
    cursor: datetime | None = None
    error: str = ""


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

    started = clock()
    claimed = _lease_take(channel, started)
    if isinstance(claimed, SyncResult):
        return claimed
    token, since, until = claimed

    client = None
    seen = stored = 0
    newest = None
    try:
        client = adapter.client_class(channel)
        for payload in client.iter_orders(updated_since=since, updated_until=until):
            seen += 1
            updated_at = _updated_at(adapter, payload)
            if updated_at is not None and (newest is None or updated_at > newest):
                newest = updated_at
            stored += _message_store_and_process(channel, adapter, payload)
    except RateLimited as exc:
        return _settle(channel, token, clock(), client, seen, stored, since, until, rate_limited=exc)
    except PlatformError as exc:
        error = _("The platform refused the request: %(error)s") % {"error": exc}
        return _settle(channel, token, clock(), client, seen, stored, since, until, error=error)
    except BaseException as exc:
        # Unexpected: free the channel for the next run (the cursor stays) and let it surface.
        error = _("The sync stopped unexpectedly: %(error)r") % {"error": exc}
        _settle(channel, token, clock(), client, seen, stored, since, until, error=error)
        raise
    return _settle(channel, token, clock(), client, seen, stored, since, until, newest=newest, complete=True)


def _lease_take(channel: Channel, now: datetime) -> SyncResult | tuple[uuid.UUID, datetime, datetime]:
    """Claim the channel for one run: (token, since, until), or the result to return instead."""
    SyncCursor.objects.get_or_create(channel=channel)
    with transaction.atomic():
        state = SyncCursor.objects.select_for_update(skip_locked=True).filter(channel=channel).first()
        if state is None or (state.lease_until is not None and state.lease_until > now):
            return SyncResult(SyncStatus.BUSY, cursor=state.cursor if state else None)
        if state.next_run_at is not None and state.next_run_at > now:
            return SyncResult(SyncStatus.WAITING, cursor=state.cursor)
        until = now - SETTLE
        if state.cursor is None:
            since = now - FIRST_RUN_LOOKBACK
        else:
            since = state.cursor - timedelta(seconds=state.overlap_seconds)
        if since >= until:  # the clock went back behind the cursor: nothing can be read yet
            return SyncResult(SyncStatus.OK, since, until, cursor=state.cursor)
        state.lease_token, state.lease_until, state.last_run_at = uuid.uuid4(), now + LEASE, now
        state.save(update_fields=["lease_token", "lease_until", "last_run_at"])
    return state.lease_token, since, until


def _settle(
    channel: Channel,
    token: uuid.UUID,
    now: datetime,
    client,
    seen: int,
    stored: int,
    since: datetime,
    until: datetime,
    *,
    newest: datetime | None = None,
    complete: bool = False,
    rate_limited: RateLimited | None = None,
    error: str = "",
) -> SyncResult:
    """Release the lease and record the run. Only a complete run moves the cursor, only forwards
    and never past the end of the window it read."""
    status = SyncStatus.OK if complete else SyncStatus.RATE_LIMITED if rate_limited else SyncStatus.FAILED
    with transaction.atomic():
        state = SyncCursor.objects.select_for_update().get(channel=channel)
        if state.lease_token != token:
            # This run outlived its lease and another one took over: leave the row to that one.
            logger.warning("sync of channel %s outlived its lease; its results are not recorded", channel.pk)
            return SyncResult(SyncStatus.BUSY, since, until, cursor=state.cursor)
        state.lease_token = state.lease_until = None
        state.pages_fetched = getattr(client, "pages_fetched", 0)
        state.orders_seen = seen
        if complete:
            # No order updated in a complete window means the whole window is known complete.
            reached = min(newest or until, until)
            if state.cursor is None or reached > state.cursor:
                state.cursor = reached
            state.last_success_at, state.last_error = now, ""
            state.next_run_at, state.backoff_level = None, 0
        elif rate_limited is not None:
            delay = min(timedelta(seconds=rate_limited.retry_after) * 2**state.backoff_level, MAX_BACKOFF)
            state.next_run_at = now + delay
            state.backoff_level = min(state.backoff_level + 1, 16)
            error = _("Rate limited by the platform; retrying in %(seconds)d s.") % {
                "seconds": delay.total_seconds()
            }
            state.last_error = error
        else:
            state.last_error = error
        state.save()
    return SyncResult(status, since, until, state.pages_fetched, seen, stored, state.cursor, error)


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
