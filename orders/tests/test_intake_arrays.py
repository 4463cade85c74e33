"""The array inserts of the intake (core.array_insert, issue #18) write the rows bulk_create wrote."""

from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from core.array_insert import insert_instances
from orders import building
from orders.intake import order_ingest_batch
from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.tests.factories import canonical_payload, ensure_master_data, validated

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SKIP = {"id", "number", "external_id", "created_at", "updated_at", "order", "customer"}


def _rich_payload(external_id: str) -> dict:
    payload = canonical_payload(
        external_id=external_id,
        buyer_ip="203.0.113.9",
        tags=["vip", "直播"],
        note="请尽快发货",
        protected_receiver={"name": {"masked": "王*", "ciphertext": "~abc~"}},
    )
    payload["lines"][0]["discount_allocations"] = [{"amount": "5.00", "funded_by": "platform", "title": "券"}]
    payload["lines"][0]["tax_rate"] = "0.1300"
    return validated(payload)


def _row(instance) -> dict:
    return {
        k: v for k, v in model_to_dict(type(instance).objects.get(pk=instance.pk)).items() if k not in SKIP
    }


def test_an_array_insert_writes_the_row_bulk_create_writes():
    # given the same canonical order built twice
    ensure_master_data()
    data = _rich_payload("ARR-1")
    customer = Customer.objects.create(identity_key="phone:+8613900000000", name="买家")
    by_array, by_orm = (
        building.build_order(data, number=number, customer=customer)
        for number in building.allocate_order_numbers(2)
    )
    by_orm.external_id = "ARR-2"

    # when one goes through the array insert and the other through bulk_create
    [(number, pk)] = insert_instances([by_array], conflict_nothing=True, returning=("number", "id"))
    by_array.pk = pk
    Order.objects.bulk_create([by_orm])

    # then the stored rows are the same, field by field (JSON, inet, time zone, money included)
    assert number == by_array.number
    assert _row(by_array) == _row(by_orm)
    assert _row(by_array)["buyer_ip"] == "203.0.113.9" and _row(by_array)["tags"] == ["vip", "直播"]
    lines_array = building.build_lines(by_array, data)
    lines_orm = building.build_lines(by_orm, data)
    insert_instances(lines_array)
    OrderLine.objects.bulk_create(lines_orm)
    assert all(line.pk for line in lines_array)
    assert [_row(line) for line in lines_array] == [_row(line) for line in lines_orm]
    assert _row(lines_array[0])["tax_rate"] == Decimal("0.1300")


def test_an_array_insert_skips_conflicting_rows_and_returns_only_the_inserted():
    ensure_master_data()
    data = _rich_payload("ARR-3")
    first, again = (
        building.build_order(data, number=number, customer=None)
        for number in building.allocate_order_numbers(2)
    )
    insert_instances([first], conflict_nothing=True, returning=("number", "id"))

    returned = insert_instances([again], conflict_nothing=True, returning=("number", "id"))

    assert returned == [] and Order.objects.filter(external_id="ARR-3").count() == 1


def test_a_batch_ingested_through_arrays_reads_back_whole():
    ensure_master_data()
    items = [_rich_payload(f"ARR-B{n}") for n in range(3)] + [_rich_payload("ARR-B0")]

    results = order_ingest_batch(items=items)

    assert [created for _order, created in results] == [True, True, True, False]
    order = Order.objects.get(external_id="ARR-B1")
    assert order.pk == results[1][0].pk and order.customer_id == results[1][0].customer_id
    assert order.lines.count() == len(items[1]["lines"])
    assert OrderEvent.objects.filter(order=order, kind="created").count() == 1
    assert order.lines.order_by("line_no").first().discount_allocations == [
        {"amount": "5.00", "funded_by": "platform", "title": "券"}
    ]


def test_columns_every_row_shares_travel_once_and_store_what_bulk_create_stores():
    # given three orders built from one payload (their blank fields, JSON, money and times alike)
    ensure_master_data()
    data = _rich_payload("ARR-C")
    numbers = building.allocate_order_numbers(6)
    by_array = [building.build_order(data, number=number, customer=None) for number in numbers[:3]]
    by_orm = [building.build_order(data, number=number, customer=None) for number in numbers[3:]]
    for n, order in enumerate(by_array + by_orm):
        order.external_id = f"ARR-C{n}"
    by_array[2].ship_city = by_orm[2].ship_city = "宁波市"  # a column whose rows differ

    # when three go through the array insert and three through bulk_create
    with CaptureQueriesContext(connection) as captured:
        insert_instances(by_array)
    Order.objects.bulk_create(by_orm)

    # then only the varying columns were arrays, and the rows are the same field by field
    [insert] = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    arrays = insert.split("unnest(", 1)[1].count("[]")
    assert 1 < arrays < len(Order._meta.concrete_fields) // 4, insert
    assert [_row(o) for o in by_array] == [_row(o) for o in by_orm]  # external ids aside (SKIP)
    assert [_row(o)["ship_city"] for o in by_array] == [
        by_array[0].ship_city,
        by_array[0].ship_city,
        "宁波市",
    ]
