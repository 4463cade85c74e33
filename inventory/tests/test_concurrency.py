"""Real parallel connections on PostgreSQL: callers race for the same stock rows."""

import random
import threading

import pytest
from django.db import connection
from django.db.models import Sum

from inventory.models import HOLDING, Reservation, StockBalance
from inventory.reconciliation import find_drift
from orders import intake, services
from orders.models import Order, OrderStatus
from orders.tests.factories import SKUFactory, canonical_payload, ensure_master_data, receive, validated

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_parallel(workers: int, target) -> list[Exception]:
    barrier = threading.Barrier(workers)
    errors: list[Exception] = []

    def run(index):
        try:
            barrier.wait()
            target(index)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_stock_consistent(sku_code: str) -> StockBalance:
    balance = StockBalance.objects.get(sku__code=sku_code)
    held = (
        Reservation.objects.filter(balance=balance, state__in=HOLDING).aggregate(n=Sum("quantity"))["n"] or 0
    )
    assert balance.available >= 0
    assert balance.reserved == held
    assert find_drift() == []
    return balance


def test_64_callers_racing_for_the_last_units_never_oversell():
    # given 20 units of one SKU and 64 customers ordering one unit each at the same instant
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 20)
    payloads = [
        validated(
            canonical_payload(
                external_id=f"HOT-{i}", lines=[{"sku": "HOT", "quantity": 1, "unit_price": "9.90"}]
            )
        )
        for i in range(64)
    ]

    # when they all place their orders in parallel
    errors = run_parallel(64, lambda i: intake.order_ingest(data=payloads[i]))

    # then exactly 20 orders hold stock, the others wait on hold, and nothing is oversold
    assert errors == []
    assert Order.objects.count() == 64
    assert Order.objects.filter(status=OrderStatus.PENDING_PAYMENT).count() == 20
    assert (
        Order.objects.filter(status=OrderStatus.ON_HOLD, hold_reason__contains="Out of stock").count() == 44
    )
    balance = assert_stock_consistent("HOT")
    assert (balance.on_hand, balance.reserved) == (20, 20)


def test_mixed_reserve_cancel_pay_and_receive_in_parallel_keep_the_books_straight():
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 30)
    rng = random.Random(7)
    plans = [rng.choice(["order", "order", "cancel", "pay", "receive"]) for _ in range(48)]

    def act(index):
        kind = plans[index]
        if kind == "receive":
            from django.db import transaction

            with transaction.atomic():
                receive(SKUFactory(code="HOT"), 2)
            return
        lines = [{"sku": "HOT", "quantity": rng.randint(1, 3), "unit_price": "9.90"}]
        order, _ = intake.order_ingest(
            data=validated(canonical_payload(external_id=f"M-{index}", lines=lines))
        )
        if kind == "cancel":
            services.order_transition(order=order, name="cancel", reason="race")
        elif kind == "pay" and order.status == OrderStatus.PENDING_PAYMENT:
            services.order_transition(order=order, name="mark_paid")

    assert run_parallel(48, act) == []
    balance = assert_stock_consistent("HOT")
    assert balance.on_hand == 30 + 2 * plans.count("receive")
