"""One polling run under a channel cursor's lease, shared by the order sync (SyncCursor,
integrations.sync) and the after-sales poll (AfterSaleCursor, integrations.after_sales).

Both read what the platform updated in [cursor − overlap, now − settle) and keep the same rules,
so the rules live here once: a run never holds a row lock while it talks to the platform (it takes
a lease in one short transaction, reads with no transaction open, and settles in another); a
second run of the same channel meanwhile is "busy"; only a complete run moves the cursor, only
forwards and never past the end of the window it read; a rate limit backs off exponentially and
leaves the cursor where it was. The two cursor models keep their own rows and their own name for
the count of records seen (`PolledCursor.seen_field`)."""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext as _

from catalog.models import Channel
from core.http import PlatformError, RateLimited

logger = logging.getLogger(__name__)

SETTLE = timedelta(seconds=5)  # the newest seconds may still be committing on the platform
FIRST_RUN_LOOKBACK = timedelta(days=1)
LEASE = timedelta(minutes=15)  # a crashed run blocks its channel at most this long
MAX_BACKOFF = timedelta(minutes=15)


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
    orders_seen: int = 0  # records seen: orders, or after-sales for the after-sales poll
    messages_stored: int = 0  # new versions; the rest were duplicates of stored messages
    cursor: datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class PolledCursor:
    """What differs between the cursors this module leases."""

    model: type[models.Model]  # one row per channel: cursor, overlap_seconds, lease and back-off fields
    seen_field: str  # where the run's count of records seen is kept
    run_name: str  # for the log: "sync", "after-sales sync"
    stopped_unexpectedly: str  # a lazily translated text with %(error)r


@dataclass
class LeasedRun:
    """A run holding a cursor's lease: the window it reads, and what it has done so far (the
    reader fills these in; `lease_settle` records them, also when the reader stopped half-way)."""

    token: uuid.UUID
    since: datetime
    until: datetime
    client: Any = None  # its `pages_fetched` is recorded
    seen: int = 0
    stored: int = 0
    newest: datetime | None = None  # the newest record version seen, when the reader can tell


def leased_run(
    cursor: PolledCursor, channel: Channel, clock: Callable[[], datetime], read: Callable[[LeasedRun], None]
) -> SyncResult:
    """Take the channel's lease, let `read` fetch and ingest [run.since, run.until) and settle.
    A refusal or an unexpected error frees the channel and keeps the cursor (the unexpected one
    is raised again so it surfaces); a rate limit backs off."""
    claimed = lease_take(cursor, channel, clock())
    if isinstance(claimed, SyncResult):
        return claimed
    run = claimed
    try:
        read(run)
    except RateLimited as exc:
        return lease_settle(cursor, channel, run, clock(), rate_limited=exc)
    except PlatformError as exc:
        error = _("The platform refused the request: %(error)s") % {"error": exc}
        return lease_settle(cursor, channel, run, clock(), error=error)
    except BaseException as exc:
        error = str(cursor.stopped_unexpectedly) % {"error": exc}
        lease_settle(cursor, channel, run, clock(), error=error)
        raise
    return lease_settle(cursor, channel, run, clock(), complete=True)


def lease_take(cursor: PolledCursor, channel: Channel, now: datetime) -> SyncResult | LeasedRun:
    """Claim the channel's cursor for one run, or the result to return instead (busy, backing
    off, or nothing to read yet)."""
    cursor.model.objects.get_or_create(channel=channel)
    with transaction.atomic():
        state = cursor.model.objects.select_for_update(skip_locked=True).filter(channel=channel).first()
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
    return LeasedRun(state.lease_token, since, until)


def lease_settle(
    cursor: PolledCursor,
    channel: Channel,
    run: LeasedRun,
    now: datetime,
    *,
    complete: bool = False,
    rate_limited: RateLimited | None = None,
    error: str = "",
) -> SyncResult:
    """Release the lease and record the run. Only a complete run moves the cursor: to the newest
    version it saw, or (none seen, or the reader cannot tell) to the end of the window it read,
    which is then known complete; the overlap re-reads what the platform shows late."""
    status = SyncStatus.OK if complete else SyncStatus.RATE_LIMITED if rate_limited else SyncStatus.FAILED
    since, until = run.since, run.until
    with transaction.atomic():
        state = cursor.model.objects.select_for_update().get(channel=channel)
        if state.lease_token != run.token:
            # This run outlived its lease and another one took over: leave the row to that one.
            logger.warning(
                "%s of channel %s outlived its lease; its results are not recorded",
                cursor.run_name,
                channel.pk,
            )
            return SyncResult(SyncStatus.BUSY, since, until, cursor=state.cursor)
        state.lease_token = state.lease_until = None
        state.pages_fetched = getattr(run.client, "pages_fetched", 0)
        setattr(state, cursor.seen_field, run.seen)
        if complete:
            reached = min(run.newest or until, until)
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
    return SyncResult(status, since, until, state.pages_fetched, run.seen, run.stored, state.cursor, error)
