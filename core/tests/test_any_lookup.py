"""`field__any=[…]` (core.any_lookup) finds exactly what `field__in=[…]` finds, on plain fields,
foreign keys and across a join, and on PostgreSQL sends the values as one array of the column's
type."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Channel
from inventory.models import SKU
from orders.models import Order, OrderLine


@pytest.fixture
def orders(db):
    channel = Channel.objects.create(platform="generic", code="web", name="Web", currency="CNY")
    skus = SKU.objects.bulk_create(SKU(code=f"ANY-{n}", name=f"Item {n}") for n in range(4))
    made = []
    for n in range(6):
        order = Order.objects.create(
            channel=channel,
            external_id=f"A'{n}\\",
            number=f"ANY-{n}",
            currency="CNY",
            placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
        OrderLine.objects.create(order=order, line_no=1, sku=skus[n % 4], quantity=1, unit_price=1)
        made.append(order)
    return made, skus


def _both(model, field, values):
    expected = sorted(model.objects.filter(**{f"{field}__in": values}).values_list("pk", flat=True))
    found = sorted(model.objects.filter(**{f"{field}__any": values}).values_list("pk", flat=True))
    return expected, found


def test_it_finds_what_in_finds(orders):
    made, skus = orders
    ids = [made[0].pk, made[3].pk, made[5].pk, 10**9]
    cases = [
        (Order, "pk", ids),
        (Order, "external_id", ["A'1\\", "A'4\\", "missing"]),  # quotes and backslashes survive
        (OrderLine, "order_id", ids),
        (OrderLine, "order", ids),  # a foreign key by its ids
        (OrderLine, "order__external_id", ["A'2\\"]),  # across a join
        (OrderLine, "sku_id", {skus[1].pk, skus[2].pk}),  # any iterable
    ]
    for model, field, values in cases:
        expected, found = _both(model, field, values)
        assert expected, (model, field)
        assert found == expected, (model, field)


def test_an_empty_list_and_none_match_nothing(orders):
    assert not Order.objects.filter(pk__any=[]).exists()
    assert not Order.objects.filter(pk__any=[None]).exists()
    assert Order.objects.exclude(pk__any=[]).count() == 6
    made, _skus = orders
    assert list(Order.objects.filter(pk__any=[None, made[1].pk]).values_list("pk", flat=True)) == [made[1].pk]


@pytest.mark.postgres
def test_on_postgresql_the_values_go_as_one_array_of_the_columns_type(db):
    with CaptureQueriesContext(connection) as queries:
        list(Order.objects.filter(pk__any=list(range(1, 301))).values_list("pk"))
        list(OrderLine.objects.filter(order__any=[1, 2]).values_list("pk"))
        list(Order.objects.filter(external_id__any=["a", "b"]).values_list("pk"))
    many, foreign, text = (query["sql"] for query in queries)
    assert " IN (" not in many
    # Small ids would go as smallint[], which PostgreSQL cannot hash against a bigint column.
    assert "::bigint[])" in many and "::bigint[])" in foreign
    assert "varchar" not in text  # a cast to varchar(n)[] would cut long values


def test_a_queryset_is_refused(orders):
    with pytest.raises(ValueError, match="__in"):
        list(Order.objects.filter(pk__any=Order.objects.values("pk")))
