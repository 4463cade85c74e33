"""The health report: is the database answering, the broker reachable, beat alive (its heartbeat
recent) and no queue too deep. GET /health/ shows it to anyone — each check's ok, the queue depths
and the heartbeat's age, nothing else — and answers 503 when a check fails. GET /health/live/
checks only that this web process and its database answer, for load balancers: a stopped beat
must not take the web servers out of rotation."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection

from ops.broker import broker_status
from ops.heartbeats import BEAT, heartbeat_age

logger = logging.getLogger(__name__)


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health: database check failed: %r", exc)
        return {"ok": False}
    return {"ok": True}


def _beat(now: datetime | None) -> dict:
    try:
        age = heartbeat_age(BEAT, now=now)
    except DatabaseError:
        return {"ok": False, "age_seconds": None}
    seconds = int(age.total_seconds()) if age is not None else None
    return {"ok": seconds is not None and seconds <= settings.OPS_BEAT_STALE_SECONDS, "age_seconds": seconds}


def _report(checks: dict) -> dict:
    return {"status": "ok" if all(check["ok"] for check in checks.values()) else "fail", "checks": checks}


def health_report(*, now: datetime | None = None) -> dict:
    broker = broker_status()
    limit = settings.OPS_QUEUE_DEPTH_ALERT
    queues_ok = broker.reachable and all(depth is None or depth <= limit for depth in broker.depths.values())
    return _report(
        {
            "database": _database(),
            "broker": {"ok": broker.reachable},
            "beat": _beat(now),
            "queues": {"ok": queues_ok, "depth": broker.depths},
        }
    )


def liveness_report() -> dict:
    return _report({"database": _database()})
