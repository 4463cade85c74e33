"""The beat releasing a delivery while someone changes the plan of that very delivery, on real
parallel PostgreSQL connections: exactly one of them acts on it, nothing is reserved twice."""

import threading

import pytest
from django.db import connection
from django.db.models import Sum

from b2b import contracts, schedule
from b2b.models import DeliveryStatus
from b2b.tests.factories import TODAY, draft, stock
from core.errors import TransitionRefused
from inventory.models import StockBalance
from inventory.reconciliation import find_drift
from orders.models import OrderLine

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(target, errors: list) -> threading.Thread:
    def run():
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("round_no", range(3))
def test_release_and_resplit_of_one_delivery_at_once(agent, manager, round_no):
    stock("B2B-A", 200)
    stock("B2B-B", 50)
    contract = draft(agent)
    contracts.contract_submit(contract=contract, actor=agent)
    contracts.contract_approve(contract=contract, actor=manager)
    first, second, _third = contract.deliveries.order_by("seq")
    barrier = threading.Barrier(3)
    errors, released, refused = [], [], []

    def release():
        barrier.wait()
        released.append(schedule.schedule_release_due(today=TODAY))

    def resplit():
        barrier.wait()
        try:
            schedule.schedule_resplit(
                contract=contract,
                line_no=1,
                quantities={first.pk: 20, second.pk: 40},
                actor=agent,
                reason="x",
            )
        except TransitionRefused as exc:
            refused.append(exc.message)

    threads = [in_thread(release, errors), in_thread(release, errors), in_thread(resplit, errors)]
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(released) == [0, 1]  # two beat runs at once: one releases, the other finds nothing
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == DeliveryStatus.RELEASED
    first_a = first.lines.get(contract_line__line_no=1)
    second_a = second.lines.get(contract_line__line_no=1)
    if refused:  # the release won: the released delivery kept its units
        assert "no longer be changed" in refused[0]
        assert (first_a.quantity, second_a.quantity) == (30, 30)
    else:  # the plan change won: the release took the new quantities
        assert (first_a.quantity, second_a.quantity) == (20, 40)
    # every delivery line is exactly its order line, and the stock reserved is what they hold
    for line in (first_a, second_a):
        assert OrderLine.objects.get(pk=line.order_line_id).live_quantity == line.quantity
    reserved = StockBalance.objects.filter(sku__code="B2B-A").aggregate(n=Sum("reserved"))["n"]
    assert reserved == 90
    assert find_drift() == []
