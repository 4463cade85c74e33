from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import ReplenishmentSuggestion
from orders.replenishment import replenishment_refresh
from orders.tests.factories import SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db


def sell(sku_code, quantity, days_ago=1):
    placed = (timezone.now() - timedelta(days=days_ago)).isoformat()
    make_order(
        placed_at=placed, discount="0", lines=[{"sku": sku_code, "quantity": quantity, "unit_price": "1.00"}]
    )


def test_skus_with_less_than_a_week_of_cover_are_suggested_once_a_day():
    # given SKU-1 sells 28 units in 4 weeks (1/day) with 5 left, SKU-2 the same with 40 left
    ensure_master_data(stock=0)
    receive(SKUFactory(code="SKU-1"), 33)
    receive(SKUFactory(code="SKU-2"), 68)
    for code in ("SKU-1", "SKU-2"):
        sell(code, 28, days_ago=3)

    # when the daily job runs (twice: it must not duplicate)
    assert replenishment_refresh() == 1
    assert replenishment_refresh() == 1

    # then only SKU-1 is suggested: 5 available covers 5 days; order up to 30 days of sales
    [suggestion] = ReplenishmentSuggestion.objects.all()
    assert suggestion.sku.code == "SKU-1"
    assert (suggestion.available, suggestion.average_daily_sales) == (5, Decimal("1.00"))
    assert (suggestion.days_of_cover, suggestion.suggested_quantity) == (Decimal("5.0"), 25)


def test_old_and_cancelled_sales_do_not_count():
    ensure_master_data(stock=0)
    receive(SKUFactory(code="SKU-1"), 100)
    sell("SKU-1", 50, days_ago=40)
    assert replenishment_refresh() == 0
    assert not ReplenishmentSuggestion.objects.exists()
