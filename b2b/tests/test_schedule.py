"""Issue #21's done-means: a contract approved, three scheduled deliveries, the plan changed after
the first shipped, the rest delivered — stock and ledger exact."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from b2b import contracts, credit, schedule
from b2b.models import ContractEvent, DeliveryStatus
from b2b.tests.factories import TODAY, draft, stock
from core.errors import DomainError, TransitionRefused
from inventory.models import Reservation, StockBalance, StockMovement
from inventory.reconciliation import find_drift
from orders.models import OrderStatus
from orders.tests.factories import drive_shipments

pytestmark = pytest.mark.django_db
DS = DeliveryStatus


def balance(code):
    row = StockBalance.objects.filter(sku__code=code).aggregate(
        on_hand=Sum("on_hand"), reserved=Sum("reserved")
    )
    return row["on_hand"], row["reserved"]


def ledger(code):
    """(on hand, reserved) as the sum of the SKU's movements."""
    row = StockMovement.objects.filter(sku__code=code).aggregate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    return row["on_hand"], row["reserved"]


def refreshed(contract):
    deliveries = list(contract.deliveries.select_related("order").order_by("seq"))
    for d in deliveries:
        d.order.refresh_from_db()
    return deliveries


@pytest.fixture
def approved(agent, manager, django_capture_on_commit_callbacks):
    stock("B2B-A", 200)
    stock("B2B-B", 50)
    contract = draft(agent)
    contracts.contract_submit(contract=contract, actor=agent)
    with django_capture_on_commit_callbacks(execute=True):
        contracts.contract_approve(contract=contract, actor=manager)
    return contract


def test_approved_contract_reserves_three_held_deliveries(approved):
    first, second, third = refreshed(approved)
    assert [d.status for d in (first, second, third)] == [DS.SCHEDULED] * 3
    for delivery in (first, second, third):
        assert delivery.order.status == OrderStatus.ON_HOLD
        assert delivery.order.held_from == OrderStatus.PAID
        assert delivery.order.customer == approved.account.customer
        assert not delivery.order.shipments.exists()
    assert balance("B2B-A") == (200, 90) and balance("B2B-B") == (50, 30)


def test_done_means_plan_changed_after_first_shipped_rest_delivered(
    approved, agent, django_capture_on_commit_callbacks
):
    # given the first delivery is due: released, routed, shipped
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule.schedule_release_due(today=TODAY) == 1
    first, second, third = refreshed(approved)
    assert first.status == DS.RELEASED and first.order.status == OrderStatus.ALLOCATED
    assert (second.status, third.status) == (DS.SCHEDULED, DS.SCHEDULED)
    drive_shipments(first.order, deliver=True)
    first.order.refresh_from_db()
    assert first.order.status == OrderStatus.DELIVERED
    assert balance("B2B-A") == (170, 60) and balance("B2B-B") == (40, 20)

    # when the plan changes: a released delivery refuses, the rest move and re-split
    with pytest.raises(TransitionRefused, match="no longer be changed"):
        schedule.schedule_move(delivery=first, due_on=TODAY, actor=agent, reason="late")
    with pytest.raises(TransitionRefused, match="no longer be changed"):
        schedule.schedule_resplit(
            contract=approved, line_no=1, quantities={first.pk: 20, second.pk: 40}, actor=agent, reason="x"
        )
    with pytest.raises(DomainError, match="more than the 90 contracted"):
        schedule.schedule_resplit(
            contract=approved, line_no=1, quantities={second.pk: 50}, actor=agent, reason="more"
        )
    schedule.schedule_move(
        delivery=second, due_on=TODAY + timedelta(days=7), actor=agent, reason="customer asks"
    )
    schedule.schedule_resplit(
        contract=approved,
        line_no=1,
        quantities={second.pk: 45, third.pk: 15},
        actor=agent,
        reason="site ready",
    )
    schedule.schedule_resplit(
        contract=approved, line_no=2, quantities={second.pk: 6, third.pk: 0}, actor=agent, reason="fewer B"
    )
    assert balance("B2B-A") == (170, 60) and balance("B2B-B") == (40, 6)  # 4 B units back on the shelf
    _first, second, third = refreshed(approved)
    assert second.due_on == TODAY + timedelta(days=7)
    assert {line.sku.code: line.live_quantity for line in second.order.lines.all()} == {
        "B2B-A": 45,
        "B2B-B": 6,
    }
    assert {line.sku.code: line.live_quantity for line in third.order.lines.all()} == {
        "B2B-A": 15,
        "B2B-B": 0,
    }

    # then the rest is released on the new dates and delivered
    with django_capture_on_commit_callbacks(execute=True):
        assert schedule.schedule_release_due(today=TODAY + timedelta(days=6)) == 0
        assert schedule.schedule_release_due(today=TODAY + timedelta(days=28)) == 2
    _first, second, third = refreshed(approved)
    for delivery in (second, third):
        assert delivery.status == DS.RELEASED
        drive_shipments(delivery.order, deliver=True)
        delivery.order.refresh_from_db()
        assert delivery.order.status == OrderStatus.DELIVERED

    # stock and ledger exact: 90 A (30 + 45 + 15) and 16 B (10 + 6 + 0) left the shelf, nothing
    # stays reserved
    assert balance("B2B-A") == (110, 0) and balance("B2B-B") == (34, 0)
    assert (ledger("B2B-A"), ledger("B2B-B")) == ((110, 0), (34, 0))
    assert not Reservation.objects.filter(state__in=["active", "committed"]).exists()
    assert find_drift() == []
    codes = list(ContractEvent.objects.filter(contract=approved).values_list("code", flat=True))
    assert codes.count("delivery_released") == 3 and codes.count("delivery_resplit") == 2
    assert "delivery_moved" in codes


def test_cancel_the_rest_frees_their_stock_and_keeps_the_released_one(
    approved, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        schedule.schedule_release_due(today=TODAY)
    schedule.schedule_cancel_rest(contract=approved, actor=agent, reason="customer closed the site")
    first, second, third = refreshed(approved)
    assert (first.status, second.status, third.status) == (DS.RELEASED, DS.CANCELLED, DS.CANCELLED)
    assert second.order.status == third.order.status == OrderStatus.CANCELLED
    assert first.order.status == OrderStatus.ALLOCATED
    assert balance("B2B-A") == (200, 30) and balance("B2B-B") == (50, 10)
    # the credit line carries only what is still to be delivered or was: 30 × 10.00 + 10 × 20.00
    assert credit.open_exposure(approved.account) == Decimal("500.00")
    with pytest.raises(TransitionRefused, match="no delivery left"):
        schedule.schedule_cancel_rest(contract=approved, actor=agent, reason="again")


def test_a_resplit_short_of_stock_changes_nothing(agent, manager):
    stock("B2B-A", 90)
    stock("B2B-B", 30)
    contract = draft(agent)
    contracts.contract_submit(contract=contract, actor=agent)
    contracts.contract_approve(contract=contract, actor=manager)
    _first, second, third = refreshed(contract)
    # the line total is within the contract, but 90 A are reserved already: growing needs stock
    schedule.schedule_resplit(
        contract=contract, line_no=1, quantities={third.pk: 20}, actor=agent, reason="less"
    )
    stock("B2B-OTHER", 1)
    assert balance("B2B-A") == (90, 80)
    # someone else's order takes the 10 units freed: the shelf has none left to grow delivery 2
    from orders.tests.factories import make_order  # noqa: PLC0415

    make_order(paid=True, lines=[{"sku": "B2B-A", "quantity": 10, "unit_price": "1.00"}])
    assert balance("B2B-A") == (90, 90)
    with pytest.raises(DomainError) as refused:
        schedule.schedule_resplit(
            contract=contract, line_no=1, quantities={second.pk: 40, third.pk: 20}, actor=agent, reason="more"
        )
    assert refused.value.field == f"delivery_{second.pk}"
    _first, second, third = refreshed(contract)
    assert second.lines.get(contract_line__line_no=1).quantity == 30
    assert {line.sku.code: line.live_quantity for line in second.order.lines.all()}["B2B-A"] == 30
    assert third.lines.get(contract_line__line_no=1).quantity == 20
    assert balance("B2B-A") == (90, 90)


def test_the_beat_task_releases_what_is_due_and_is_harmless_twice(
    approved, django_capture_on_commit_callbacks
):
    from b2b.tasks import release_due_deliveries

    # the contract's dates are in the past of the real calendar: all three are due today
    with django_capture_on_commit_callbacks(execute=True):
        assert release_due_deliveries.delay().get() == 3
        assert release_due_deliveries.delay().get() == 0
    assert set(approved.deliveries.values_list("status", flat=True)) == {DS.RELEASED}
