"""Item mappings under real parallel connections (PostgreSQL): two people mapping one item at
once, and an order arriving while its item is being mapped, in either order."""

import threading

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from core.errors import DomainError
from inventory.models import ItemMapping
from inventory.reconciliation import find_drift
from orders import intake
from orders.item_mapping import item_map
from orders.models import Order, OrderEvent, OrderEventKind, OrderLine, OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    receive,
    validated,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def unmapped_order(external_id: str, quantity: int = 1) -> dict:
    line = {
        "sku": None,
        "platform_item_id": "I-1",
        "platform_sku_id": "V-1",
        "quantity": quantity,
        "unit_price": "8.00",
    }
    return validated(
        canonical_payload(channel="tb-shop", external_id=external_id, lines=[line], discount="0.00")
    )


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


@pytest.fixture
def shop(db):
    ensure_master_data(stock=0)
    channel = ChannelFactory(code="tb-shop", platform="taobao")
    mug, cup = SKUFactory(code="MUG"), SKUFactory(code="CUP")
    receive(mug, 100)
    receive(cup, 100)
    return channel, mug, cup


def reserved(sku) -> int:
    return sku.balances.aggregate(total=Sum("reserved"))["total"] or 0


def test_people_mapping_one_item_at_once_make_one_mapping_and_release_each_order_once(shop):
    channel, mug, cup = shop
    orders = [intake.order_ingest(data=unmapped_order(f"W-{n}", quantity=2))[0] for n in range(6)]
    barrier = threading.Barrier(8)
    errors, refused = [], []

    def mapper(n):
        def run():
            barrier.wait()
            try:  # half of them to another SKU: whoever comes second is told it is mapped already
                item_map(
                    channel=channel, platform_item_id="I-1", platform_sku_id="V-1", sku=mug if n % 2 else cup
                )
            except DomainError as exc:
                refused.append(exc.message)

        return run

    threads = [in_thread(mapper(n), errors) for n in range(8)]
    for thread in threads:
        thread.join()

    assert errors == []
    mapping = ItemMapping.objects.get()
    winner = mapping.sku
    assert len(refused) == 4 and all(f"already mapped to {winner.code}" in text for text in refused)
    assert set(OrderLine.objects.values_list("sku_id", flat=True)) == {winner.pk}
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.PENDING_PAYMENT}
    for order in orders:  # released once, by one mapping
        assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.ITEM_MAPPED).count() == 1
    assert reserved(winner) == 12 and reserved(mug if winner == cup else cup) == 0
    assert find_drift() == []


def test_an_order_arriving_while_its_item_is_mapped_waits_for_the_mapping_and_finds_it(shop):
    channel, mug, _cup = shop
    data = unmapped_order("LATE-1", quantity=3)  # validated before the item is mapped
    mapped, commit = threading.Event(), threading.Event()
    errors = []

    def mapping():
        with transaction.atomic():
            item_map(channel=channel, platform_item_id="I-1", platform_sku_id="V-1", sku=mug)
            mapped.set()
            commit.wait(10)

    mapper = in_thread(mapping, errors)
    assert mapped.wait(10)
    arriving = in_thread(lambda: intake.order_ingest(data=data), errors)
    arriving.join(0.5)
    assert arriving.is_alive()  # it waits for the mapping's lock before it writes anything
    commit.set()
    mapper.join()
    arriving.join()

    assert errors == []
    order = Order.objects.get(external_id="LATE-1")
    assert order.status == OrderStatus.PENDING_PAYMENT  # never held: the second look found the mapping
    assert order.lines.get().sku == mug and reserved(mug) == 3
    assert find_drift() == []


def test_an_order_committing_while_its_item_is_mapped_is_found_by_the_mapping(shop):
    channel, mug, _cup = shop
    data = unmapped_order("EARLY-1", quantity=2)
    written, commit = threading.Event(), threading.Event()
    errors = []

    def arrive():
        with transaction.atomic():
            intake.order_ingest(data=data)
            written.set()
            commit.wait(10)

    arriving = in_thread(arrive, errors)
    assert written.wait(10)
    mapper = in_thread(
        lambda: item_map(channel=channel, platform_item_id="I-1", platform_sku_id="V-1", sku=mug), errors
    )
    mapper.join(0.5)
    assert mapper.is_alive()  # the mapping waits for the order being written
    commit.set()
    arriving.join()
    mapper.join()

    assert errors == []
    order = Order.objects.get(external_id="EARLY-1")
    assert order.status == OrderStatus.PENDING_PAYMENT  # held on arrival, released by the mapping
    assert order.lines.get().sku == mug and reserved(mug) == 2
    assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.ITEM_MAPPED).count() == 1
    assert find_drift() == []
