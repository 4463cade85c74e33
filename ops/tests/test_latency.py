"""Time in each order state: for each status change, the time since the order's previous status
event, grouped by the state it left."""

from datetime import timedelta

import pytest

from ops.latency import transition_latency
from orders.models import OrderEvent, OrderEventKind
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def _event(order, at, kind=OrderEventKind.TRANSITION, source="", target=""):
    OrderEvent.objects.create(order=order, kind=kind, from_status=source, to_status=target, created_at=at)


def test_time_in_state_is_measured_between_status_events(on_postgres):
    first, second = make_order(paid=False), make_order(paid=False)
    start = first.events.get(kind=OrderEventKind.CREATED).created_at
    second_start = second.events.get(kind=OrderEventKind.CREATED).created_at
    _event(first, start + timedelta(minutes=5), OrderEventKind.NOTE)  # not a status change
    _event(first, start + timedelta(minutes=10), source="pending_payment", target="paid")
    _event(first, start + timedelta(minutes=70), source="paid", target="allocated")
    _event(second, second_start + timedelta(minutes=20), source="pending_payment", target="paid")

    rows = {row.status: row for row in transition_latency(hours=24, now=start + timedelta(hours=2))}

    assert set(rows) == {"pending_payment", "paid"}
    pending, paid = rows["pending_payment"], rows["paid"]
    assert pending.transitions == 2
    assert pending.average.total_seconds() == pytest.approx(15 * 60, abs=2)
    assert pending.longest.total_seconds() == pytest.approx(20 * 60, abs=2)
    assert paid.transitions == 1 and paid.average.total_seconds() == pytest.approx(60 * 60, abs=2)
    if on_postgres:
        assert pending.p95.total_seconds() == pytest.approx(19.5 * 60, abs=2)  # interpolated
    else:
        assert pending.p95 is None
    assert list(rows) == ["paid", "pending_payment"]  # slowest first


def test_only_changes_within_the_window_count():
    order = make_order(paid=False)
    start = order.events.get(kind=OrderEventKind.CREATED).created_at
    _event(order, start + timedelta(minutes=10), source="pending_payment", target="paid")
    _event(order, start + timedelta(minutes=70), source="paid", target="allocated")

    rows = transition_latency(hours=1, now=start + timedelta(minutes=100))

    assert [(row.status, round(row.average.total_seconds() / 60)) for row in rows] == [("paid", 60)]
