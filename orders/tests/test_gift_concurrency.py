"""Gifts racing for the last unit on PostgreSQL, from real parallel connections: the reservation
is what proves a gift is in stock, so exactly one order gets it and the other says it did not."""

import pytest
from django.db.models import Sum

from inventory.models import SKU, Reservation, StockBalance
from inventory.reconciliation import find_drift
from inventory.tests.test_concurrency import run_parallel
from orders import intake
from orders.gifts import GIFT_OUT_OF_STOCK_TAG
from orders.models import GiftRule, LineKind, Order, OrderEventKind, OrderLine, OrderStatus
from orders.tests.factories import SKUFactory, canonical_payload, ensure_master_data, receive, validated

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("workers", [2, 8])
def test_parallel_orders_never_oversell_the_last_gift_unit(workers):
    ensure_master_data(stock=100)
    receive(SKUFactory(code="LAST-GIFT", name="Last tote"), 1)
    GiftRule.objects.create(
        name="Tote with SKU-1",
        trigger_sku=SKU.objects.get(code="SKU-1"),
        gift_sku=SKU.objects.get(code="LAST-GIFT"),
    )
    payloads = [
        validated(
            canonical_payload(
                external_id=f"RACE-{i}",
                paid=True,
                lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "59.90"}],
            )
        )
        for i in range(workers)
    ]

    errors = run_parallel(workers, lambda i: intake.order_ingest(data=payloads[i]))

    assert errors == []
    gift_lines = OrderLine.objects.filter(kind=LineKind.GIFT)
    assert gift_lines.count() == 1  # exactly one order got the last tote
    winner = gift_lines.get().order
    assert Reservation.objects.filter(order_line__in=gift_lines).aggregate(n=Sum("quantity"))["n"] == 1
    losers = Order.objects.exclude(pk=winner.pk)
    assert losers.count() == workers - 1
    for order in losers:
        assert GIFT_OUT_OF_STOCK_TAG in order.tags
        assert order.events.filter(kind=OrderEventKind.GIFT, payload__added=False).count() == 1
    assert GIFT_OUT_OF_STOCK_TAG not in winner.tags
    # nobody was held for a free gift (all paid, routed on commit), and the books balance
    assert set(Order.objects.values_list("status", flat=True)) <= {OrderStatus.PAID, OrderStatus.ALLOCATED}
    balance = StockBalance.objects.get(sku__code="LAST-GIFT")
    assert (balance.on_hand, balance.reserved, balance.available) == (1, 1, 0)
    assert find_drift() == []
