"""R-R1 policy: the return window in the customer's calendar, over-returns (open RMAs count),
excluded items, manual approval, and concurrent requests for the same units."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from core.errors import DomainError
from returns import decisions, opening
from returns.models import ReturnExclusion, ReturnPolicy, ReturnRequest, ReturnStatus
from returns.opening import PolicyRefused
from returns.tests.conftest import delivered_order, line, request_return, set_delivered_at

pytestmark = pytest.mark.django_db

# 2026-03-01 15:30 UTC is 23:30 in Shanghai (the channel's zone): delivered on 1 March there.
DELIVERED = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)


@pytest.fixture
def order():
    order = delivered_order()
    set_delivered_at(order, DELIVERED)
    return order


def test_day_seven_in_the_customers_time_zone_is_inside_the_window(order):
    # 8 March 23:59 in Shanghai: day 7 of the 7-day window.
    rma = request_return(order, (1, 1), now=datetime(2026, 3, 8, 15, 59, tzinfo=UTC))

    assert rma.status == ReturnStatus.APPROVED  # within the policy: approved at once


def test_day_eight_in_the_customers_time_zone_is_refused_though_still_day_seven_in_utc(order):
    # 9 March 00:01 in Shanghai (day 8), while in UTC it is still 8 March 16:01.
    with pytest.raises(PolicyRefused) as refused:
        request_return(order, (1, 1), now=datetime(2026, 3, 8, 16, 1, tzinfo=UTC))

    assert "day 8" in refused.value.message and "7-day" in refused.value.message
    assert not ReturnRequest.objects.exists()


def test_a_channel_policy_sets_its_own_window(order):
    ReturnPolicy.objects.create(channel=order.channel, window_days=15)

    rma = request_return(order, (1, 1), now=datetime(2026, 3, 16, 15, 59, tzinfo=UTC))

    assert rma.status == ReturnStatus.APPROVED


def test_over_return_counts_units_of_an_open_rma(order):
    now = datetime(2026, 3, 3, tzinfo=UTC)
    request_return(order, (1, 1), now=now)  # line 1 has 2 delivered units

    with pytest.raises(DomainError) as refused:
        request_return(order, (1, 2), now=now)

    assert "only 1 of 2" in refused.value.message
    assert refused.value.field == "lines"
    assert request_return(order, (1, 1), now=now).lines.get().quantity == 1  # what is left still goes


def test_a_cancelled_rma_frees_its_units(order, agent):
    now = datetime(2026, 3, 3, tzinfo=UTC)
    first = request_return(order, (1, 2), now=now)
    decisions.rma_cancel(rma=first, actor=agent, reason="customer kept it")

    second = request_return(order, (1, 2), now=now)

    assert second.lines.get().quantity == 2


def test_over_return_is_refused_even_when_manual_approval_is_configured(order):
    ReturnPolicy.objects.create(manual_approval=True)

    with pytest.raises(DomainError, match="only 2 of 2"):
        request_return(order, (1, 3), now=datetime(2026, 3, 3, tzinfo=UTC))


def test_an_excluded_item_is_refused_with_the_reason(order):
    ReturnExclusion.objects.create(sku_prefix="SKU-2", reason="Hygiene product")

    with pytest.raises(PolicyRefused, match="Hygiene product"):
        request_return(order, (2, 1), now=datetime(2026, 3, 3, tzinfo=UTC))
    # other lines of the same order are not affected
    assert request_return(order, (1, 1), now=datetime(2026, 3, 3, tzinfo=UTC)).status == ReturnStatus.APPROVED


def test_a_policy_with_manual_approval_routes_the_exception_to_an_agent(order, agent):
    ReturnPolicy.objects.create(manual_approval=True)
    ReturnExclusion.objects.create(sku=line(order, 2).sku, reason="Final sale")

    rma = request_return(order, (2, 1), now=datetime(2026, 3, 20, tzinfo=UTC))

    assert rma.status == ReturnStatus.REQUESTED
    assert len(rma.policy_notes) == 2  # excluded, and past the window
    decisions.rma_approve(rma=rma, actor=agent, reason="goodwill", expected_status="requested")
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.APPROVED and rma.approved_by == agent


def test_an_undelivered_order_has_nothing_to_return():
    from orders.tests.factories import order_in_state

    order = order_in_state("shipped")

    with pytest.raises(DomainError, match="not been delivered"):
        request_return(order, (1, 1))


def test_bad_input_names_the_field(order):
    with pytest.raises(DomainError) as bad_kind:
        request_return(order, (1, 1), kind="swap")
    with pytest.raises(DomainError) as no_lines:
        opening.rma_create(order=order, kind="return", reason="no_reason", lines=[])
    with pytest.raises(DomainError) as bad_replacement:
        opening.rma_create(
            order=order,
            kind="exchange",
            reason="no_reason",
            lines=[{"order_line": line(order, 1).pk, "quantity": 1, "replacement_sku": "NOPE"}],
        )

    assert (bad_kind.value.field, no_lines.value.field, bad_replacement.value.field) == (
        "kind",
        "lines",
        "replacement_sku",
    )
    assert not ReturnRequest.objects.exists()


def test_warehouse_staff_cannot_open_or_approve_returns(order, warehouse_user, agent):
    from core.errors import NotPermitted

    with pytest.raises(NotPermitted):
        request_return(order, (1, 1), actor=warehouse_user, now=datetime(2026, 3, 3, tzinfo=UTC))
    ReturnPolicy.objects.create(auto_approve=False)
    rma = request_return(order, (1, 1), actor=agent, now=datetime(2026, 3, 3, tzinfo=UTC))
    with pytest.raises(NotPermitted):
        decisions.rma_approve(rma=rma, actor=warehouse_user)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_the_same_units_claim_them_once():
    order = delivered_order()
    line_id = line(order, 1).pk
    barrier = threading.Barrier(2)
    outcomes = []

    def ask():
        try:
            barrier.wait()
            opening.rma_create(
                order=order.pk,
                kind="return",
                reason="no_reason",
                lines=[{"order_line": line_id, "quantity": 2}],
                source="self_service",
            )
            outcomes.append("created")
        except DomainError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("created") == 1, outcomes
    assert ReturnRequest.objects.filter(order=order).count() == 1
