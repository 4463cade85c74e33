import threading
from collections import Counter

import pytest
from django.db import connection

from inventory.models import Reservation, StockBalance
from inventory.reconciliation import find_drift
from orders.intake import _group_commit, order_ingest_batch
from orders.models import Order, OrderEvent, OrderStatus
from orders.tests.factories import (
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    make_order,
    receive,
    validated,
)

pytestmark = pytest.mark.django_db


def item(external_id, sku="HOT", quantity=1, **overrides):
    lines = [{"sku": sku, "quantity": quantity, "unit_price": "9.90"}]
    return validated(canonical_payload(external_id=external_id, lines=lines, discount="0.00", **overrides))


def test_a_batch_behaves_like_one_by_one_ingestion():
    # given 4 units of HOT, one order that already exists, and a batch with a repeat and a cancellation
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 4)
    existing = make_order(
        external_id="OLD", discount="0", lines=[{"sku": "HOT", "quantity": 1, "unit_price": "1.00"}]
    )
    items = [
        item("A", paid=True),
        item("B", quantity=2),
        item("A", paid=True),  # the same order twice in one batch
        item("OLD"),  # already known
        item("C", quantity=5),  # more than is left: held
        item("D", cancelled=True),  # known only as cancelled
    ]

    results = order_ingest_batch(items=items)

    assert [created for _order, created in results] == [True, True, False, False, True, True]
    assert results[0][0].pk == results[2][0].pk and results[3][0].pk == existing.pk
    statuses = {o.external_id: o.status for o in Order.objects.all()}
    assert statuses == {
        "OLD": "pending_payment",
        "A": "paid",
        "B": "pending_payment",
        "C": "on_hold",
        "D": "cancelled",
    }
    assert Order.objects.get(external_id="C").hold_reason.startswith("Out of stock")
    assert Reservation.objects.get(order__external_id="A").state == "committed"
    assert Reservation.objects.get(order__external_id="B").expires_at is not None
    assert list(OrderEvent.objects.filter(order__external_id="A").values_list("kind", "to_status")) == [
        ("created", "pending_payment"),
        ("transition", "paid"),
    ]
    balance = StockBalance.objects.get(sku__code="HOT")
    assert (balance.on_hand, balance.reserved) == (4, 4)
    assert find_drift() == []
    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_group_commit_shares_transactions_and_never_oversells():
    # given 10 units and 32 callers, each placing 3 orders of one unit at once
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 10)
    group = _group_commit
    barrier = threading.Barrier(32)
    outcomes, errors = [], []

    def caller(n):
        try:
            barrier.wait()
            for k in range(3):
                outcomes.append(group.submit((item(f"G-{n}-{k}"), None)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every caller got its own order, exactly 10 hold stock, and the books balance
    assert errors == []
    assert len(outcomes) == 96 and len({order.pk for order, _created in outcomes}) == 96
    assert Counter(Order.objects.values_list("status", flat=True)) == {
        OrderStatus.PENDING_PAYMENT: 10,
        OrderStatus.ON_HOLD: 86,
    }
    assert StockBalance.objects.get(sku__code="HOT").reserved == 10
    assert find_drift() == []


def test_a_batch_that_fails_late_writes_nothing_and_each_caller_hears_its_own_outcome(django_user_model):
    # given a group-commit batch whose last request fails after the others were inserted
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 10)
    clerk = django_user_model.objects.create_user("clerk")  # may not create orders
    requests = [(item("LATE-1"), None), (item("LATE-2"), None), (item("LATE-3"), clerk)]

    outcomes = _group_commit.settle(requests)

    # then the failed batch left nothing behind, and the one-by-one retry reports each order once,
    # as created, and the refused request as refused
    assert [type(error).__name__ if error else created for (_order, created), error in _pairs(outcomes)] == [
        True,
        True,
        "NotPermitted",
    ]
    assert Counter(Order.objects.values_list("external_id", flat=True)) == {"LATE-1": 1, "LATE-2": 1}
    assert OrderEvent.objects.filter(order__external_id="LATE-1", kind="created").count() == 1
    assert find_drift() == []


def _pairs(outcomes):
    return [((result or (None, None)), error) for result, error in outcomes]
