"""Lock waits, from PostgreSQL's own statistics: sessions of this database waiting for a lock now
(pg_stat_activity, wait_event_type = 'Lock'), the longest such wait, and the deadlocks PostgreSQL
has counted (pg_stat_database). Other databases keep no such statistics: None, "not available"."""

from dataclasses import dataclass, field

from django.db import connection

_WAITING_SQL = """
    SELECT wait_event, COUNT(*), EXTRACT(EPOCH FROM MAX(clock_timestamp() - query_start))
    FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
    GROUP BY wait_event
"""
_DEADLOCKS_SQL = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"


@dataclass(frozen=True)
class LockWaits:
    waiting: int  # sessions waiting for a lock right now
    longest_seconds: float  # the longest of those waits so far
    deadlocks: int  # since PostgreSQL's statistics were last reset
    by_kind: dict[str, int] = field(default_factory=dict)  # e.g. transactionid, tuple, relation


def lock_waits() -> LockWaits | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(_WAITING_SQL)
        rows = cursor.fetchall()
        cursor.execute(_DEADLOCKS_SQL)
        deadlocks = cursor.fetchone()
    return LockWaits(
        waiting=sum(count for _kind, count, _longest in rows),
        longest_seconds=max((float(longest or 0) for _kind, _count, longest in rows), default=0.0),
        deadlocks=int(deadlocks[0] or 0) if deadlocks else 0,
        by_kind={kind: count for kind, count, _longest in rows},
    )
