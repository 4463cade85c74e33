"""How long orders stay in each state: for every status change in the window, the time since
the order's previous status event (its creation or last transition), grouped by the state it left.
A state machine looping or stuck shows here as a state whose time grows or whose count races."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from orders.models import OrderEvent, OrderEventKind, OrderStatus

_SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM ({later} - {earlier}))",
    "sqlite": "(julianday({later}) - julianday({earlier})) * 86400.0",
}
_P95 = {"postgresql": "percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds)"}

_SQL = """
WITH steps AS (
    SELECT e.from_status, e.kind, e.created_at,
           {seconds} AS seconds
    FROM (
        SELECT order_id, id, kind, from_status, created_at,
               LAG(created_at) OVER (PARTITION BY order_id ORDER BY created_at, id) AS entered_at
        FROM {table}
        WHERE kind IN (%s, %s)
          AND order_id IN (SELECT order_id FROM {table} WHERE kind = %s AND created_at >= %s)
    ) e
)
SELECT from_status, COUNT(*), AVG(seconds), MAX(seconds), {p95}
FROM steps
WHERE kind = %s AND created_at >= %s AND from_status <> '' AND seconds IS NOT NULL
GROUP BY from_status
"""


@dataclass(frozen=True)
class StateLatency:
    status: str
    label: str
    transitions: int
    average: timedelta
    p95: timedelta | None  # PostgreSQL only
    longest: timedelta


def transition_latency(*, hours: int = 24, now: datetime | None = None) -> list[StateLatency]:
    """Per state left in the last `hours`: how many orders left it and how long they had been in
    it (average, 95th percentile, longest), slowest first."""
    since = (now or timezone.now()) - timedelta(hours=hours)
    vendor = connection.vendor
    sql = _SQL.format(
        table=connection.ops.quote_name(OrderEvent._meta.db_table),
        seconds=_SECONDS.get(vendor, _SECONDS["postgresql"]).format(
            later="e.created_at", earlier="e.entered_at"
        ),
        p95=_P95.get(vendor, "NULL"),
    )
    created, transition = OrderEventKind.CREATED, OrderEventKind.TRANSITION
    since = connection.ops.adapt_datetimefield_value(since)
    with connection.cursor() as cursor:
        cursor.execute(sql, [created, transition, transition, since, transition, since])
        rows = cursor.fetchall()
    labels = dict(OrderStatus.choices)
    found = [
        StateLatency(
            status=status,
            label=str(labels.get(status, status)),
            transitions=count,
            average=timedelta(seconds=float(average)),
            p95=timedelta(seconds=float(p95)) if p95 is not None else None,
            longest=timedelta(seconds=float(longest)),
        )
        for status, count, average, longest, p95 in rows
    ]
    return sorted(found, key=lambda row: row.average, reverse=True)
