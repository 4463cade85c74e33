"""The health watch (a beat job, every minute): each threshold breached raises an alert to the
managers through core.alerts — one per key, bumped while it lasts — and each one back to normal
resolves its alert. A check that cannot be read this time (PostgreSQL statistics on SQLite, a
queue of unknown depth) leaves its alert as it is.

Thresholds are settings (OPS_*): retry and failure rates over OPS_RATE_WINDOW_MINUTES (the source
documents: a retry rate above 3 % for 5 minutes), broker queue depths and database backlogs, beat's
heartbeat, sync lag per polled channel, and the longest lock wait; and, with no setting, stored work
the sweepers keep handing to workers that never start it."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.models import AlertSeverity
from core.roles import Role
from ops.backlogs import UNSTARTED_AFTER_HANDOFFS, database_backlogs, never_started
from ops.broker import broker_status
from ops.heartbeats import BEAT, heartbeat_age
from ops.locks import lock_waits
from ops.sync_lag import channel_sync_lags
from ops.task_outcomes import task_outcome_rates, task_outcomes_prune

KIND = "ops"
# Backlogs whose size says work is piling up (dead outbox messages have alerts of their own).
WATCHED_BACKLOGS = {
    "inbound_received",
    "callbacks_received",
    "outbox_due",
    "imports_waiting",
    "reconciliations_waiting",
    "order_uploads_queued",
    "cycle_count_uploads_queued",
}


@dataclass(frozen=True)
class Finding:
    key: str
    breached: bool
    message: str = ""
    payload: dict = field(default_factory=dict)
    severity: str = AlertSeverity.WARNING


@dataclass
class WatchResult:
    raised: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f} %"


def _task_rates(now: datetime) -> list[Finding]:
    minutes = settings.OPS_RATE_WINDOW_MINUTES
    rates = task_outcome_rates(minutes=minutes, now=now)
    enough = rates.total >= settings.OPS_RATE_MIN_TASKS
    payload = {
        "minutes": minutes,
        "succeeded": rates.succeeded,
        "retried": rates.retried,
        "failed": rates.failed,
    }
    return [
        Finding(
            f"{KIND}:retry_rate",
            enough and rates.retry_rate > settings.OPS_RETRY_RATE_ALERT,
            _("Celery tasks: %(rate)s of %(total)s outcomes in the last %(minutes)s minutes were retries.")
            % {"rate": _percent(rates.retry_rate), "total": rates.total, "minutes": minutes},
            payload,
        ),
        Finding(
            f"{KIND}:failure_rate",
            enough and rates.failure_rate > settings.OPS_FAILURE_RATE_ALERT,
            _("Celery tasks: %(rate)s of %(total)s outcomes in the last %(minutes)s minutes were failures.")
            % {"rate": _percent(rates.failure_rate), "total": rates.total, "minutes": minutes},
            payload,
            AlertSeverity.CRITICAL,
        ),
    ]


def _queues() -> list[Finding]:
    limit = settings.OPS_QUEUE_DEPTH_ALERT
    broker = broker_status()
    return [
        Finding(
            f"{KIND}:queue:{queue}",
            depth > limit,
            _("Queue “%(queue)s” holds %(depth)s messages (alert above %(limit)s).")
            % {"queue": queue, "depth": depth, "limit": limit},
            {"queue": queue, "depth": depth},
        )
        for queue, depth in broker.depths.items()
        if depth is not None
    ]


def _backlogs(now: datetime) -> list[Finding]:
    limit = settings.OPS_QUEUE_DEPTH_ALERT
    return [
        Finding(
            f"{KIND}:backlog:{backlog.key}",
            backlog.count > limit,
            _("%(backlog)s: %(count)s waiting (alert above %(limit)s).")
            % {"backlog": backlog.label, "count": backlog.count, "limit": limit},
            {"backlog": backlog.key, "count": backlog.count},
        )
        for backlog in database_backlogs(now=now)
        if backlog.key in WATCHED_BACKLOGS
    ]


def _never_started() -> list[Finding]:
    """Stored work is never given up for want of a worker (core.handoff): it waits, and this says
    so. Any row at all is an alert: its queue has had no worker for a quarter of an hour."""
    return [
        Finding(
            f"{KIND}:unstarted:{waiting.key}",
            waiting.count > 0,
            _(
                "%(work)s: %(count)s handed to a worker %(n)s times or more and never started: "
                "is a worker taking their queue?"
            )
            % {"work": waiting.label, "count": waiting.count, "n": UNSTARTED_AFTER_HANDOFFS},
            {"work": waiting.key, "count": waiting.count},
            AlertSeverity.CRITICAL,
        )
        for waiting in never_started()
    ]


def _beat(now: datetime) -> list[Finding]:
    age = heartbeat_age(BEAT, now=now)
    seconds = int(age.total_seconds()) if age is not None else None
    stale = seconds is None or seconds > settings.OPS_BEAT_STALE_SECONDS
    message = (
        _("Beat's heartbeat was never recorded: is beat running?")
        if seconds is None
        else _("Beat's last heartbeat was %(seconds)s s ago: is beat running, and a worker taking its tasks?")
        % {"seconds": seconds}
    )
    return [Finding(f"{KIND}:beat", stale, message, {"age_seconds": seconds}, AlertSeverity.CRITICAL)]


def _sync_lag(now: datetime) -> list[Finding]:
    """A polled channel further behind than OPS_SYNC_LAG_ALERT_MINUTES; resolved once it catches
    up or is no longer polled. The message carries the sync's last error, when there is one."""
    limit = timedelta(minutes=settings.OPS_SYNC_LAG_ALERT_MINUTES)
    findings = []
    for lag in channel_sync_lags(now=now):
        message = _("Channel %(channel)s is %(minutes)s minutes behind its platform.") % {
            "channel": lag.code,
            "minutes": int(lag.lag.total_seconds() // 60) if lag.lag else 0,
        }
        if lag.last_error:
            message = f"{message} {_('Last error: %(error)s') % {'error': lag.last_error[:300]}}"
        findings.append(
            Finding(
                f"{KIND}:sync_lag:{lag.code}",
                lag.polled and lag.is_active and lag.lag is not None and lag.lag > limit,
                message,
                {"channel": lag.code, "lag_seconds": int(lag.lag.total_seconds()) if lag.lag else None},
            )
        )
    return findings


def _locks() -> list[Finding]:
    waits = lock_waits()
    if waits is None:  # not PostgreSQL: nothing to read
        return []
    return [
        Finding(
            f"{KIND}:lock_waits",
            waits.longest_seconds > settings.OPS_LOCK_WAIT_ALERT_SECONDS,
            _("%(waiting)s database sessions wait for locks, the longest for %(seconds)s seconds.")
            % {"waiting": waits.waiting, "seconds": int(waits.longest_seconds)},
            {
                "waiting": waits.waiting,
                "longest_seconds": int(waits.longest_seconds),
                "by_kind": waits.by_kind,
            },
        )
    ]


def health_watch(*, now: datetime | None = None) -> WatchResult:
    now = now or timezone.now()
    findings = [
        *_task_rates(now),
        *_queues(),
        *_backlogs(now),
        *_never_started(),
        *_beat(now),
        *_sync_lag(now),
        *_locks(),
    ]
    result = WatchResult()
    for finding in findings:
        if finding.breached:
            alert_raise(
                kind=KIND,
                key=finding.key,
                role=Role.MANAGER,
                message=finding.message[:500],
                payload=finding.payload,
                severity=finding.severity,
            )
            result.raised.append(finding.key)
        elif alert_resolve(key=finding.key):
            result.resolved.append(finding.key)
    task_outcomes_prune(keep=timedelta(hours=settings.OPS_TASK_OUTCOMES_KEEP_HOURS), now=now)
    return result
