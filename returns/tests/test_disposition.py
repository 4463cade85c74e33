"""R-R3: each inspection result's effect on stock, through the ledger — balances, movements,
and a reconciliation that finds no drift — and the re-check fast path with its overdue alert."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError, TransitionRefused
from core.models import Alert, AlertState
from inventory.reconciliation import find_drift
from returns import disposition, inspection, logistics
from returns.models import ReturnStatus
from returns.tests.conftest import balance, delivered_order, movements, receive_and_inspect, request_return

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    return delivered_order()


def test_intact_goods_wait_in_qc_hold_then_a_passed_recheck_makes_them_available(order, warehouse_user):
    before = balance("SKU-1")
    rma = request_return(order, (1, 2))

    rma = receive_and_inspect(rma, {1: {"intact": 2}}, actor=warehouse_user)

    on_hand, reserved, qc_hold, available = balance("SKU-1")
    assert (on_hand, qc_hold, available) == (before[0] + 2, before[2] + 2, before[3])  # not sellable yet
    assert movements(rma.number) == [("return", 2, 2)]
    line = rma.lines.get()
    assert line.awaits_recheck and line.recheck_due_at > timezone.now() + timedelta(hours=1, minutes=59)

    disposition.rma_recheck(line=line, passed=True, actor=warehouse_user)

    assert balance("SKU-1")[3] == before[3] + 2
    assert movements(rma.number) == [("return", 2, 2), ("qc_release", 0, -2)]
    assert find_drift() == []


def test_a_failed_recheck_writes_the_units_off(order, warehouse_user):
    before = balance("SKU-1")
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}}, actor=warehouse_user)

    disposition.rma_recheck(line=rma.lines.get(), passed=False, actor=warehouse_user, note="scratched")

    assert balance("SKU-1") == before
    assert movements(rma.number) == [("return", 1, 1), ("write_off", -1, -1)]
    assert find_drift() == []


def test_damaged_goods_come_back_and_are_written_off_at_once(order, warehouse_user):
    before = balance("SKU-2")
    rma = request_return(order, (2, 1), reason="damaged")

    rma = receive_and_inspect(rma, {2: {"damaged": 1, "note": "crushed box"}}, actor=warehouse_user)

    assert balance("SKU-2") == before
    assert movements(rma.number) == [("return", 1, 1), ("write_off", -1, -1)]
    assert rma.lines.get().inspection_note == "crushed box"
    assert not rma.lines.get().awaits_recheck
    assert find_drift() == []


def test_a_wrong_item_changes_no_stock_and_is_flagged_for_investigation(order, warehouse_user):
    before = balance("SKU-1")
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"wrong_item": 1}}, actor=warehouse_user)

    assert balance("SKU-1") == before
    assert movements(rma.number) == []
    alert = Alert.objects.get(key=f"return_wrong_item:{rma.number}")
    assert alert.role == "manager" and "wrong item" in alert.message
    assert rma.status == ReturnStatus.INSPECTED  # nothing to refund: it waits for the investigation


def test_inspection_submitted_twice_changes_stock_once(order, warehouse_user):
    rma = request_return(order, (1, 2))
    rma = logistics.rma_receive(rma=rma, warehouse=delivered_order_warehouse())
    grades = {rma.lines.get().pk: {"intact": 2}}
    inspection.rma_inspect(rma=rma, grades=grades, actor=warehouse_user, expected_status="received")

    with pytest.raises(TransitionRefused):
        inspection.rma_inspect(rma=rma, grades=grades, actor=warehouse_user, expected_status="received")
    with pytest.raises(TransitionRefused):
        inspection.rma_inspect(rma=rma, grades=grades, actor=warehouse_user)

    assert movements(rma.number) == [("return", 2, 2)]


def test_a_recheck_happens_once(order, warehouse_user):
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}}, actor=warehouse_user)
    line = rma.lines.get()
    disposition.rma_recheck(line=line, passed=True, actor=warehouse_user)

    with pytest.raises(TransitionRefused):
        disposition.rma_recheck(line=line, passed=True, actor=warehouse_user)

    assert movements(rma.number) == [("return", 1, 1), ("qc_release", 0, -1)]


def test_grading_more_units_than_the_line_is_refused_and_nothing_moves(order, warehouse_user):
    rma = logistics.rma_receive(rma=request_return(order, (1, 1)), warehouse=delivered_order_warehouse())

    with pytest.raises(DomainError, match="2 units graded, but only 1"):
        inspection.rma_inspect(
            rma=rma, grades={rma.lines.get().pk: {"intact": 1, "damaged": 1}}, actor=warehouse_user
        )

    rma.refresh_from_db()
    assert rma.status == ReturnStatus.RECEIVED and movements(rma.number) == []


def test_an_overdue_recheck_raises_one_alert_for_the_warehouse_and_the_recheck_resolves_it(
    order, warehouse_user
):
    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}}, actor=warehouse_user)
    line = rma.lines.get()

    assert disposition.alert_overdue_rechecks(now=timezone.now() + timedelta(hours=1)) == 0
    later = timezone.now() + timedelta(hours=2, minutes=1)
    disposition.alert_overdue_rechecks(now=later)
    disposition.alert_overdue_rechecks(now=later)  # raised again: the same alert, bumped

    alert = Alert.objects.get(key=f"return_recheck:{line.pk}")
    assert (alert.role, alert.occurrences, alert.state) == ("warehouse", 2, AlertState.OPEN)
    disposition.rma_recheck(line=line, passed=True, actor=warehouse_user)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert disposition.alert_overdue_rechecks(now=later) == 0


def test_an_agent_cannot_inspect(order, agent):
    from core.errors import NotPermitted

    rma = logistics.rma_receive(rma=request_return(order, (1, 1)), warehouse=delivered_order_warehouse())

    with pytest.raises(NotPermitted):
        inspection.rma_inspect(rma=rma, grades={rma.lines.get().pk: {"intact": 1}}, actor=agent)


def delivered_order_warehouse():
    from orders.tests.factories import WarehouseFactory

    return WarehouseFactory()


def test_a_lot_tracked_item_comes_back_into_the_lot_it_was_shipped_from(warehouse_user):
    from datetime import date

    from orders.tests.factories import SKUFactory, ensure_master_data, receive

    ensure_master_data()
    sku = SKUFactory(code="SKU-LOT", lot_tracked=True)
    receive(sku, 10, lot_code="L2031", expires_on=date(2031, 1, 1))
    order = delivered_order(lines=[{"sku": "SKU-LOT", "quantity": 1, "unit_price": "20.00"}], discount="0.00")

    rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}}, actor=warehouse_user)
    disposition.rma_recheck(line=rma.lines.get(), passed=True, actor=warehouse_user)

    lots = set(sku.balances.filter(movements__reference=rma.number).values_list("lot__code", flat=True))
    assert lots == {"L2031"}
    assert find_drift() == []


def test_the_overdue_recheck_alerts_take_the_same_queries_however_many_lines_are_overdue(
    order, warehouse_user
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(now) -> int:
        with CaptureQueriesContext(connection) as ctx:
            disposition.alert_overdue_rechecks(now=now)
        return len(ctx.captured_queries)

    later = timezone.now() + timedelta(hours=2, minutes=1)
    receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}}, actor=warehouse_user)
    one = (queries(later), queries(later))  # raised, then bumped
    receive_and_inspect(
        request_return(order, (1, 1), (2, 1)), {1: {"intact": 1}, 2: {"intact": 1}}, actor=warehouse_user
    )
    disposition.alert_overdue_rechecks(now=later)  # one bumped, two new
    three = (queries(later), queries(later))  # all bumped; then all new once resolved by hand
    Alert.objects.filter(kind="return_recheck_overdue").update(state=AlertState.RESOLVED)
    three_new = queries(later)

    assert one == three and one[0] == three_new
    assert disposition.alert_overdue_rechecks(now=later) == 3
    assert Alert.objects.filter(kind="return_recheck_overdue").exclude(state=AlertState.RESOLVED).count() == 3
