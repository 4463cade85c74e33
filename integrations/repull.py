"""Re-pull a window of a channel's orders (issue #15, R-X2): the remedy for orders the polling
missed, such as the source documents' Amazon seller who lost 1,200 orders to a time-zone bug that
moved the cursor past them.

A re-pull asks the platform's order client (integrations.clients.OrderClient) for every order
updated in [since, until) and takes each one the way polling does (integrations.sync): stored raw
as an InboundMessage under the platform's version id, then ingested through the one intake. So it
is idempotent: a version stored before is a duplicate and changes nothing, and the intake applies
a stored order's version only when it is newer. Each client cuts the window by its platform's own
limits (Taobao's `taobao.trades.sold.increment.get` takes at most one day per call: its client
walks the window day by day, in Beijing time).

A re-pull never moves the channel's cursor (SyncCursor.cursor) and never runs beside the channel's
regular sync: it takes the same lease on the SyncCursor row, renews it while it runs, and gives it
back when done. A platform's "slow down" pushes the regular sync's next run back as well, since
both share the platform's quota.

Every re-pull is a ChannelRepull row (who, which window, counts of fetched / new / updated /
unchanged / ignored / failed orders, and the failures). From the desk it is queued for a worker
(`integrations.tasks.sync_repull`, queue "sync"); a run that finds the channel busy waits queued
and the sweeper (every minute) hands it over again once the lease is free. `manage.py
channel_repull` runs it inline, or queues it with --async."""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Channel
from core import handoff
from core.errors import DomainError, NotPermitted
from core.handoff import INFRASTRUCTURE_ERRORS, Swept
from core.http import PlatformError, RateLimited
from core.timezones import checked_moment
from integrations.adapters import get_adapter
from integrations.cursor_lease import LEASE
from integrations.models import (
    ChannelRepull,
    InboundMessage,
    InboundStatus,
    RepullState,
    SyncCursor,
)
from integrations.services import inbound_message_note_error, inbound_message_process
from integrations.sync import message_store
from orders.models import OrderEvent, OrderEventKind

logger = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=31)  # one re-pull at most; a longer gap is re-pulled month by month
HEARTBEAT = LEASE / 3  # a running re-pull renews the channel's lease at least this often
PROGRESS_EVERY = 50  # orders between two saved progress counts
ERRORS_KEPT = 50  # failed orders listed on the run (all are counted)
PERMISSION = "integrations.add_channelrepull"
# A queued run that found the channel busy is handed to a worker again this long after the lease
# ends at the earliest (the sweeper runs every minute).
BUSY_MARGIN = timedelta(seconds=5)


class Outcome:
    NEW = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True)
class RepullWindow:
    """A checked window, in UTC. `zone` names the channel's time zone when a time was given
    without an offset and read in it (None when both carried one)."""

    since: datetime
    until: datetime
    zone: str | None = None

    def notice(self) -> str:
        if not self.zone:
            return ""
        return _("Times without a UTC offset were read in the channel's time zone (%(zone)s).") % {
            "zone": self.zone
        }


@dataclass
class Tally:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    failed: int = 0
    errors: list[dict] = field(default_factory=list)

    def add(self, outcome: str, error: dict | None = None) -> None:
        self.fetched += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        if error is not None and len(self.errors) < ERRORS_KEPT:
            self.errors.append(error)

    def fields(self) -> dict:
        return {
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "ignored": self.ignored,
            "failed": self.failed,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Busy:
    """The channel cannot be re-pulled now: its lease is held, or it backs off a rate limit."""

    until: datetime
    message: str


class ChannelBusy(DomainError):
    """The channel's sync (or another re-pull) holds it, or it backs off a rate limit."""

    status_code = 409


class LeaseLost(Exception):
    pass


# --- checking a request ------------------------------------------------------------------------


def _moment(value, zone: ZoneInfo, name: str) -> tuple[datetime, bool]:
    """(the moment in UTC, whether it was read in `zone`), or DomainError naming the field."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise DomainError(_("Give a date and time."), field=name)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise DomainError(
                _(
                    "%(value)r is not a date and time; write it as 2026-03-08T09:30, or with its UTC "
                    "offset as 2026-03-08T09:30+08:00."
                )
                % {"value": text[:40]},
                field=name,
            ) from None
    if not isinstance(value, datetime):
        raise DomainError(_("Give a date and time."), field=name)
    try:
        checked_moment(value)
    except ValueError as exc:
        raise DomainError(str(exc), field=name) from None
    naive = timezone.is_naive(value)
    if naive:
        value = timezone.make_aware(value, zone)
    return value.astimezone(UTC), naive


def repull_window(channel: Channel, since, until, *, now: datetime | None = None) -> RepullWindow:
    """The window [since, until) checked: each a datetime or ISO 8601 text; one without a UTC
    offset is read in the channel's time zone (and the window says so). Refused, naming the field:
    since not before until, until in the future, more than MAX_WINDOW."""
    now = now or timezone.now()
    zone = ZoneInfo(str(channel.time_zone))
    start, start_naive = _moment(since, zone, "since")
    end, end_naive = _moment(until, zone, "until")
    if start >= end:
        raise DomainError(_("The window must end after it starts (since < until)."), field="until")
    if end > now:
        raise DomainError(
            _("%(until)s is in the future; the platform has nothing updated after now.")
            % {"until": end.isoformat()},
            field="until",
        )
    if end - start > MAX_WINDOW:
        raise DomainError(
            _("A re-pull covers at most %(days)s days; re-pull a longer gap in several windows.")
            % {"days": MAX_WINDOW.days},
            field="since",
        )
    return RepullWindow(start, end, str(zone) if start_naive or end_naive else None)


def repull_refusal(channel: Channel) -> str:
    """Why this channel cannot be re-pulled ("" when it can): it must be active and polled."""
    if not channel.is_active:
        return _("Channel %(channel)s is inactive.") % {"channel": channel.code}
    try:
        adapter = get_adapter(channel.platform)
    except LookupError:
        adapter = None
    if adapter is None or getattr(adapter, "client_class", None) is None:
        return _("Orders of %(platform)s channels cannot be fetched from the platform.") % {
            "platform": channel.get_platform_display()
        }
    if not channel.api_credentials:
        return _("Channel %(channel)s has no API credentials to fetch its orders with.") % {
            "channel": channel.code
        }
    return ""


def _check(channel: Channel, since, until, actor, now: datetime) -> RepullWindow:
    if actor is not None and not actor.has_perm(PERMISSION):
        raise NotPermitted(_("You are not allowed to re-pull a channel's orders."))
    refusal = repull_refusal(channel)
    if refusal:
        raise DomainError(refusal, field="channel")
    return repull_window(channel, since, until, now=now)


def _create(
    channel: Channel, window: RepullWindow, actor, via: str, now: datetime, **fields
) -> ChannelRepull:
    try:
        with transaction.atomic():
            return ChannelRepull.objects.create(
                channel=channel,
                since=window.since,
                until=window.until,
                requested_by=actor,
                requested_via=via,
                requested_at=now,
                **fields,
            )
    except IntegrityError:
        active = ChannelRepull.objects.filter(
            channel=channel, state__in=[RepullState.QUEUED, RepullState.RUNNING]
        ).first()
        raise DomainError(
            _("A re-pull of channel %(channel)s is already %(state)s (#%(run)s); wait for it to finish.")
            % {
                "channel": channel.code,
                "state": active.get_state_display().lower() if active else _("queued"),
                "run": active.pk if active else "?",
            },
            field="channel",
        ) from None


# --- requesting and running ------------------------------------------------------------------


def channel_repull_request(
    *, channel: Channel, since, until, actor, via: str = "desk", now: datetime | None = None
) -> ChannelRepull:
    """Queue a re-pull for a worker (task `sync_repull`, queue "sync"). DomainError naming the
    field for a window or channel that cannot be re-pulled, NotPermitted without the permission."""
    from integrations.tasks import sync_repull

    now = now or timezone.now()
    window = _check(channel, since, until, actor, now)
    with transaction.atomic():
        run = _create(channel, window, actor, via, now)
        handoff.publish_on_commit(sync_repull, run.pk)
    return run


def channel_repull(*, channel: Channel, since, until, actor, now: datetime | None = None) -> ChannelRepull:
    """Re-pull a window now, in this process (the command). DomainError when the channel is busy
    (its sync or another re-pull holds it, or it backs off a rate limit): nothing is recorded then."""
    clock = (lambda: now) if now is not None else timezone.now
    window = _check(channel, since, until, actor, clock())
    adapter = get_adapter(channel.platform)
    lease = _lease_take(channel, clock())
    if isinstance(lease, Busy):
        raise ChannelBusy(lease.message, field="channel")
    started = clock()
    try:
        run = _create(
            channel,
            window,
            actor,
            "command",
            started,
            state=RepullState.RUNNING,
            started_at=started,
            heartbeat_at=started,
            lease_token=lease,
            attempts=1,
        )
    except BaseException:
        _lease_release(channel, lease)
        raise
    return _execute(run, channel, adapter, lease, clock)


def channel_repull_run(*, run_id: int, now: datetime | None = None) -> ChannelRepull:
    """The worker's side of a queued re-pull: run it if the channel is free, else leave it queued
    (with what it waits for) for the sweeper to hand over again. Safe to deliver twice: only a
    queued run is started, and only by whoever holds the channel's lease."""
    clock = (lambda: now) if now is not None else timezone.now
    run = ChannelRepull.objects.select_related("channel").get(pk=run_id)
    if run.state != RepullState.QUEUED:
        return run
    channel = run.channel
    refusal = repull_refusal(channel)
    if refusal:
        return _finish(run, RepullState.FAILED, Tally(), 0, clock(), refusal)
    lease = _lease_take(channel, clock())
    if isinstance(lease, Busy):
        ChannelRepull.objects.filter(pk=run.pk, state=RepullState.QUEUED).update(
            message=lease.message, next_handoff_at=lease.until + BUSY_MARGIN
        )
        run.refresh_from_db()
        return run
    started = clock()
    queued = ChannelRepull.objects.filter(pk=run.pk, state=RepullState.QUEUED)
    if not handoff.record_start(queued, started="attempts", now=started) or not queued.update(
        state=RepullState.RUNNING, started_at=started, heartbeat_at=started, lease_token=lease, message=""
    ):
        _lease_release(channel, lease)  # another delivery of this task took it meanwhile
        run.refresh_from_db()
        return run
    run.refresh_from_db()
    return _execute(run, channel, get_adapter(channel.platform), lease, clock)


def _execute(run: ChannelRepull, channel: Channel, adapter, token: uuid.UUID, clock) -> ChannelRepull:
    """Fetch the window and take every order, holding the channel's lease; record the outcome."""
    tally, client = Tally(), None
    beat = clock()
    state, message = RepullState.DONE, ""
    try:
        client = adapter.client_class(channel)
        for payload in client.iter_orders(updated_since=run.since, updated_until=run.until):
            tally.add(*_take(channel, adapter, payload))
            if tally.fetched % PROGRESS_EVERY == 0 or clock() - beat >= HEARTBEAT:
                beat = clock()
                _progress(run, channel, token, tally, _pages(client), beat)
    except RateLimited as exc:
        wait = _backoff(channel, clock(), exc.retry_after)
        state = RepullState.FAILED
        message = _(
            "Rate limited by the platform after %(fetched)s orders; re-pull the window again in "
            "%(seconds)d s (orders already taken are not taken twice)."
        ) % {"fetched": tally.fetched, "seconds": wait.total_seconds()}
    except PlatformError as exc:
        state, message = RepullState.FAILED, _("The platform refused the request: %(error)s") % {"error": exc}
    except LeaseLost:
        state = RepullState.FAILED
        message = _("The re-pull lost the channel's lease (it stalled for over %(minutes)s minutes).") % {
            "minutes": int(LEASE.total_seconds() // 60)
        }
    except INFRASTRUCTURE_ERRORS:
        _requeue_quietly(run, channel, token, tally)  # the task's retry or the sweeper runs it again
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the run, with the traceback in the log
        logger.exception("re-pull %s of channel %s stopped", run.pk, channel.code)
        state = RepullState.FAILED
        message = _("The re-pull stopped unexpectedly: %(error)r") % {"error": exc}
    except BaseException:  # interrupted (Ctrl-C, worker shutdown): free the channel, say so
        _lease_release(channel, token)
        _finish(run, RepullState.FAILED, tally, _pages(client), clock(), _("The re-pull was interrupted."))
        raise
    _lease_release(channel, token)
    return _finish(run, state, tally, _pages(client), clock(), message)


def _take(channel: Channel, adapter, payload: dict) -> tuple[str, dict | None]:
    """Store and ingest one order as polling does; what it did here (and the failure to list)."""
    before = OrderEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    message, _new = message_store(channel, adapter, payload)
    fresh = message.status == InboundStatus.RECEIVED
    if fresh:  # a new version, or one stored by a run that stopped before processing it
        try:
            message = inbound_message_process(message.pk)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - one order that breaks the pipeline stops only itself
            logger.exception("re-pull: inbound message %s could not be processed", message.pk)
            inbound_message_note_error(message.pk, exc)  # the sweeper retries it, then fails it
            error = f"{type(exc).__name__}: {exc}"
            return Outcome.FAILED, {
                "message": message.pk,
                "dedupe_id": message.dedupe_id or "",
                "error": error[:500],
            }
    if message.status == InboundStatus.FAILED:
        return Outcome.FAILED, _failure(message)
    if message.status != InboundStatus.PROCESSED or message.order_id is None:
        return Outcome.IGNORED, None
    if not fresh:  # this version was taken before
        return Outcome.UNCHANGED, None
    kinds = set(
        OrderEvent.objects.filter(
            order_id=message.order_id,
            pk__gt=before,
            kind__in=[OrderEventKind.CREATED, OrderEventKind.PLATFORM_UPDATE],
        ).values_list("kind", flat=True)
    )
    if OrderEventKind.CREATED in kinds:
        return Outcome.NEW, None
    if OrderEventKind.PLATFORM_UPDATE in kinds:
        return Outcome.UPDATED, None
    return Outcome.UNCHANGED, None  # a version no newer than the order's (e.g. taken by webhook)


def _failure(message: InboundMessage) -> dict:
    return {"message": message.pk, "dedupe_id": message.dedupe_id or "", "error": message.error[:500]}


def _pages(client) -> int:
    return getattr(client, "pages_fetched", 0) if client is not None else 0


# --- the lease (shared with integrations.sync) -------------------------------------------------


def _lease_take(channel: Channel, now: datetime) -> uuid.UUID | Busy:
    SyncCursor.objects.get_or_create(channel=channel)
    with transaction.atomic():
        state = SyncCursor.objects.select_for_update(skip_locked=True).filter(channel=channel).first()
        if state is None:  # locked this very moment by a sync taking or settling its lease
            return Busy(
                now, _("Channel %(channel)s is busy; try again in a moment.") % {"channel": channel.code}
            )
        if state.lease_until is not None and state.lease_until > now:
            return Busy(state.lease_until, _busy_message(channel, state))
        if state.next_run_at is not None and state.next_run_at > now:
            return Busy(
                state.next_run_at,
                _("Channel %(channel)s backs off a rate limit of the platform until %(until)s (UTC).")
                % {"channel": channel.code, "until": f"{state.next_run_at:%Y-%m-%d %H:%M:%S}"},
            )
        state.lease_token, state.lease_until = uuid.uuid4(), now + LEASE
        state.save(update_fields=["lease_token", "lease_until"])
    return state.lease_token


def _busy_message(channel: Channel, state: SyncCursor) -> str:
    holder = ChannelRepull.objects.filter(
        channel=channel, state=RepullState.RUNNING, lease_token=state.lease_token
    ).first()
    values = {"channel": channel.code, "until": f"{state.lease_until:%Y-%m-%d %H:%M:%S}"}
    if holder is not None:
        values["run"] = holder.pk
        return _(
            "Channel %(channel)s is busy: re-pull #%(run)s holds it (at the latest until %(until)s UTC)."
        ) % (values)
    return _("Channel %(channel)s is busy: its sync is running (at the latest until %(until)s UTC).") % values


def _lease_release(channel: Channel, token: uuid.UUID) -> None:
    SyncCursor.objects.filter(channel=channel, lease_token=token).update(lease_token=None, lease_until=None)


def _backoff(channel: Channel, now: datetime, retry_after: float) -> timedelta:
    """The platform asked to slow down: the channel's sync waits too (they share its quota)."""
    wait = timedelta(seconds=max(retry_after, 1.0))
    with transaction.atomic():
        state = SyncCursor.objects.select_for_update().get(channel=channel)
        if state.next_run_at is None or state.next_run_at < now + wait:
            state.next_run_at = now + wait
            state.save(update_fields=["next_run_at"])
    return wait


def _progress(run, channel, token, tally: Tally, pages: int, now: datetime) -> None:
    """Save the counts so far and renew the lease; LeaseLost when another run took it over."""
    renewed = SyncCursor.objects.filter(channel=channel, lease_token=token).update(lease_until=now + LEASE)
    if not renewed:
        raise LeaseLost
    ChannelRepull.objects.filter(pk=run.pk, lease_token=token).update(
        **tally.fields(), pages_fetched=pages, heartbeat_at=now
    )


def _finish(run, state: str, tally: Tally, pages: int, now: datetime, message: str) -> ChannelRepull:
    ChannelRepull.objects.filter(pk=run.pk).update(
        **tally.fields(),
        state=state,
        pages_fetched=pages,
        message=message,
        finished_at=now,
        lease_token=None,
        next_handoff_at=None,
    )
    run.refresh_from_db()
    logger.info(
        "re-pull %s of channel %s %s: fetched %s, new %s, updated %s, unchanged %s, ignored %s, failed %s",
        run.pk,
        run.channel.code,
        state,
        tally.fetched,
        tally.created,
        tally.updated,
        tally.unchanged,
        tally.ignored,
        tally.failed,
    )
    return run


def _requeue_quietly(run, channel, token, tally: Tally) -> None:
    """After a database error: put the run back in the queue and free the channel, if the
    database answers (if not, the sweeper finds the run's heartbeat stale and does it)."""
    try:
        ChannelRepull.objects.filter(pk=run.pk, lease_token=token).update(
            state=RepullState.QUEUED, lease_token=None, heartbeat_at=None
        )
        _lease_release(channel, token)
    except INFRASTRUCTURE_ERRORS:
        logger.warning("re-pull %s: the database is away; the sweeper will hand it over", run.pk)


# --- the safety net ------------------------------------------------------------------------------


def channel_repulls_sweep(*, now: datetime | None = None, limit: int = 100) -> Swept:
    """Every minute: a running re-pull whose heartbeat is older than the lease died with its
    worker (its channel's lease has expired too): back to the queue. Then hand every queued run
    that waits (for its channel, or for a task that never ran) to a worker again, giving up on one
    whose task started HANDOFF_MAX_ATTEMPTS times without finishing."""
    from integrations.tasks import sync_repull

    now = now or timezone.now()
    with transaction.atomic():
        dead = ChannelRepull.objects.filter(state=RepullState.RUNNING, heartbeat_at__lt=now - LEASE)
        dead_ids = list(dead.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if dead_ids:
            ChannelRepull.objects.filter(pk__in=dead_ids).update(
                state=RepullState.QUEUED,
                lease_token=None,
                heartbeat_at=None,
                next_handoff_at=now,  # due at once
                message=_("Its worker stopped; handed over again."),
            )
            logger.warning("re-pulls %s stopped with their workers; queued again", dead_ids)
        waiting = ChannelRepull.objects.filter(state=RepullState.QUEUED).filter(
            handoff.waiting_since("requested_at", now) | ~Q(next_handoff_at=None)
        )
        swept = handoff.claim_due(waiting, started="attempts", now=now, limit=limit)
        if swept.given_up:
            ChannelRepull.objects.filter(pk__in=swept.given_up).update(
                state=RepullState.FAILED,
                finished_at=now,
                next_handoff_at=None,
                message=_("The re-pull started %(n)s times and never finished; re-pull the window again.")
                % {"n": settings.HANDOFF_MAX_ATTEMPTS},
            )
            logger.warning("re-pulls %s given up", swept.given_up)
        for run_id in swept.handed_over:
            handoff.publish_on_commit(sync_repull, run_id)
    return swept


def repull_counts_text(run: ChannelRepull) -> str:
    """The counts as one line (the command prints it; the desk shows the same figures)."""
    return _(
        "fetched %(fetched)s: %(created)s new, %(updated)s updated, %(unchanged)s unchanged, "
        "%(ignored)s ignored, %(failed)s failed"
    ) % {
        "fetched": run.fetched,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "ignored": run.ignored,
        "failed": run.failed,
    }
