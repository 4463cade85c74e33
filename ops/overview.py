"""What the desk's Operations page shows, read in one place (selectors only)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.models import Alert, AlertState
from ops.backlogs import database_backlogs
from ops.health import health_report
from ops.latency import transition_latency
from ops.locks import lock_waits
from ops.sync_lag import channel_sync_lags
from ops.task_outcomes import task_outcome_rates, task_outcomes_by_task
from ops.watch import KIND

LATENCY_HOURS = 24
TASKS_MINUTES = 60
CHECK_LABELS = {
    "database": gettext_lazy("Database"),
    "broker": gettext_lazy("Broker"),
    "beat": gettext_lazy("Beat heartbeat"),
    "queues": gettext_lazy("Queue depths"),
}


def duration_text(value: timedelta | None) -> str:
    """A duration in its two largest units: "2 d 3 h", "5 min 12 s", "40 s"."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": seconds}
    return _("%(s)s s") % {"s": seconds}


def _checks(report: dict) -> list[dict]:
    return [
        {"name": name, "label": CHECK_LABELS.get(name, name), **check}
        for name, check in report["checks"].items()
    ]


def operations_overview() -> dict:
    now = timezone.now()
    window = settings.OPS_RATE_WINDOW_MINUTES
    health = health_report(now=now)
    beat_age = health["checks"]["beat"]["age_seconds"]
    return {
        "health": health,
        "checks": _checks(health),
        "beat_age": duration_text(timedelta(seconds=beat_age)) if beat_age is not None else None,
        "window_minutes": window,
        "rates": task_outcome_rates(minutes=window, now=now),
        "rates_hour": task_outcome_rates(minutes=TASKS_MINUTES, now=now),
        "tasks": task_outcomes_by_task(minutes=TASKS_MINUTES, now=now),
        "tasks_minutes": TASKS_MINUTES,
        "backlogs": [
            {"row": row, "oldest": duration_text(row.oldest_age)} for row in database_backlogs(now=now)
        ],
        "locks": lock_waits(),
        "sync_lags": [{"row": row, "lag": duration_text(row.lag)} for row in channel_sync_lags(now=now)],
        "latency": [
            {
                "row": row,
                "average": duration_text(row.average),
                "p95": duration_text(row.p95),
                "longest": duration_text(row.longest),
            }
            for row in transition_latency(hours=LATENCY_HOURS, now=now)
        ],
        "latency_hours": LATENCY_HOURS,
        "open_alerts": Alert.objects.filter(kind=KIND).exclude(state=AlertState.RESOLVED).count(),
        "alert_kind": KIND,
        "limits": {
            "retry_rate": settings.OPS_RETRY_RATE_ALERT * 100,
            "failure_rate": settings.OPS_FAILURE_RATE_ALERT * 100,
            "queue_depth": settings.OPS_QUEUE_DEPTH_ALERT,
            "beat_stale_seconds": settings.OPS_BEAT_STALE_SECONDS,
            "sync_lag_minutes": settings.OPS_SYNC_LAG_ALERT_MINUTES,
            "lock_wait_seconds": settings.OPS_LOCK_WAIT_ALERT_SECONDS,
        },
    }
