import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from core.sequences import next_values
from core.timezones import business_date
from orders import intake, services
from orders.models import Customer, Order, OrderEvent, OrderLine, OrderStatus
from orders.tests.factories import canonical_payload, ensure_master_data, make_order, validated

pytestmark = pytest.mark.django_db


def test_ingest_creates_order_lines_totals_and_event():
    order = make_order(external_id="T-10001")

    assert re.fullmatch(rf"SO{business_date():%Y%m%d}\d{{6}}", order.number)
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert [(line.line_no, line.sku.code, line.quantity) for line in order.lines.all()] == [
        (1, "SKU-1", 2),
        (2, "SKU-2", 1),
    ]
    # goods 2×59.90 + 100 = 219.80; − line discount 5 − order discount 10 + shipping 8
    assert order.goods_amount == Decimal("219.80")
    assert order.total == Decimal("212.80")
    assert order.money("total").currency == "CNY"
    assert order.events.get().kind == "created"
    assert order.customer.phone == "+8613800000001"


def test_placed_at_keeps_its_offset_and_is_stored_in_utc():
    order = make_order(placed_at="2026-02-16T01:00:00+08:00")
    assert order.placed_at.isoformat() == "2026-02-15T17:00:00+00:00"


def test_naive_platform_time_is_read_in_the_channel_zone():
    order = make_order(placed_at="2026-02-16T09:30:00")  # channel zone Asia/Shanghai
    assert order.placed_at.isoformat() == "2026-02-16T01:30:00+00:00"


def test_same_order_twice_yields_one_order():
    first = make_order(external_id="T-dup")
    again = make_order(external_id="T-dup")

    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert OrderLine.objects.count() == 2
    assert OrderEvent.objects.count() == 1


def test_newer_version_updates_and_older_is_ignored():
    t0 = timezone.now() - timedelta(minutes=30)
    order = make_order(external_id="T-v", updated_at=t0.isoformat())
    newer_address = {**canonical_payload()["shipping_address"], "line1": "新地址 1 号"}

    make_order(
        external_id="T-v",
        updated_at=(t0 + timedelta(minutes=5)).isoformat(),
        shipping_address=newer_address,
        paid=True,
    )
    make_order(
        external_id="T-v",
        updated_at=(t0 + timedelta(minutes=1)).isoformat(),
        shipping_address={**newer_address, "line1": "stale"},
    )

    order.refresh_from_db()
    assert order.ship_line1 == "新地址 1 号"
    assert order.status == OrderStatus.PAID
    update = order.events.get(kind="platform_update")
    assert update.payload["changes"]["ship_line1"] == ["文三路 90 号", "新地址 1 号"]


def test_platform_cancellation_cancels_here():
    t0 = timezone.now() - timedelta(minutes=30)
    order = make_order(external_id="T-c", updated_at=t0.isoformat(), paid=True)
    make_order(external_id="T-c", updated_at=(t0 + timedelta(minutes=1)).isoformat(), cancelled=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_paid_on_the_platform_lands_paid():
    order = make_order(paid=True, paid_at="2026-02-16T09:31:00+08:00")
    assert order.status == OrderStatus.PAID
    assert order.paid_at.isoformat() == "2026-02-16T01:31:00+00:00"


def test_vip_customer_orders_get_vip_priority():
    ensure_master_data()
    Customer.objects.create(identity_key="phone:+8613900000009", phone="+8613900000009", is_vip=True)
    order = make_order(customer={"name": "VIP", "phone": "139 0000 0009"})
    assert order.priority == "vip"


def test_customer_stats_follow_on_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order()
        make_order()
    order.customer.refresh_from_db()
    assert order.customer.order_count == 2

    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, name="cancel", reason="duplicate")
    order.customer.refresh_from_db()
    assert order.customer.order_count == 1


def test_daily_sequences_increase_and_restart_per_day():
    day = business_date()
    first = next_values(name="test_seq", day=day)
    batch = next_values(name="test_seq", day=day, count=3)
    other_day = next_values(name="test_seq", day=day - timedelta(days=1))
    assert batch == [first[0] + 1, first[0] + 2, first[0] + 3]
    assert other_day == [1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_yields_unique_numbers_and_one_order_per_external_id():
    # given 8 workers on their own connections, each posting 25 orders, half of them duplicates
    ensure_master_data()
    barrier = threading.Barrier(8)
    errors = []

    def worker(worker_no):
        try:
            barrier.wait()
            for index in range(25):
                external_id = f"R-{index}" if index % 2 else f"W{worker_no}-{index}"
                intake.order_ingest(data=validated(canonical_payload(external_id=external_id)))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then nothing failed, every distinct external id is one order, every number is unique
    assert errors == []
    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(numbers) == 8 * 13 + 12
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"SO\d{14}", number) for number in numbers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_sharing_orders_and_customers_in_opposite_order_do_not_deadlock():
    # given two workers ingesting, round after round, batches of the same new orders (a platform
    # delivering each twice) and customers, one in the order given and the other reversed
    ensure_master_data()
    rounds, size = 8, 40
    batches = [
        [
            validated(
                canonical_payload(
                    external_id=f"D{round_no}-{n}",
                    customer={"name": "王芳", "phone": f"1390{round_no:03d}{n:04d}"},
                )
            )
            for n in range(size)
        ]
        for round_no in range(rounds)
    ]
    barrier = threading.Barrier(2)
    errors = []

    def worker(reverse):
        try:
            for batch in batches:
                barrier.wait()
                intake.order_ingest_batch(items=batch[::-1] if reverse else batch)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(reverse,)) for reverse in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then neither failed (no deadlock: both take the rows in one order), each order and customer once
    assert errors == []
    assert Order.objects.count() == rounds * size
    assert Customer.objects.filter(phone__startswith="+86139").count() == rounds * size


@pytest.mark.parametrize(
    ("naive", "utc"),
    [
        ("2026-03-08T01:30:00", "2026-03-08T06:30:00+00:00"),  # EST, before the spring-forward change
        ("2026-03-08T03:30:00", "2026-03-08T07:30:00+00:00"),  # EDT, after it
        ("2026-11-01T01:30:00", "2026-11-01T05:30:00+00:00"),  # the repeated hour reads as its first pass
    ],
)
def test_naive_times_across_a_dst_change_use_the_channels_rules(naive, utc):
    from orders.tests.factories import ChannelFactory

    ensure_master_data()
    ChannelFactory(code="shop-ny", time_zone="America/New_York", currency="USD")
    order = make_order(channel="shop-ny", currency="USD", placed_at=naive)
    order.refresh_from_db()
    assert order.placed_at.isoformat() == utc


# --- a later platform version changes the lines (the buyer or seller edited the order) ----------


def _version(external_id, t0, minutes, lines, **extra):
    return make_order(
        external_id=external_id,
        updated_at=(t0 + timedelta(minutes=minutes)).isoformat(),
        lines=lines,
        **extra,
    )


def test_fewer_units_on_the_platform_cancel_ours_and_release_their_stock():
    from inventory.models import StockBalance

    t0 = timezone.now() - timedelta(minutes=30)
    order = make_order(external_id="T-q", updated_at=t0.isoformat())
    sku1 = order.lines.get(line_no=1).sku
    reserved_before = sum(StockBalance.objects.filter(sku=sku1).values_list("reserved", flat=True))

    _version(
        "T-q",
        t0,
        5,
        [
            {"sku": "SKU-1", "quantity": 1, "unit_price": "59.90", "discount": "5.00"},
            {"sku": "SKU-2", "quantity": 1, "unit_price": "100.00"},
        ],
    )

    line = order.lines.get(line_no=1)
    assert (line.quantity, line.cancelled_quantity) == (2, 1)
    reserved_after = sum(StockBalance.objects.filter(sku=sku1).values_list("reserved", flat=True))
    assert reserved_after == reserved_before - 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.goods_amount == Decimal("159.90")  # unpaid: the buyer pays the new amounts
    assert order.events.filter(kind="lines_cancelled").count() == 1


def test_more_units_or_a_new_sku_on_the_platform_add_reserved_lines():
    from inventory.reservations import held_quantities

    t0 = timezone.now() - timedelta(minutes=30)
    order = make_order(external_id="T-more", updated_at=t0.isoformat(), paid=True)
    paid_total = order.total

    _version(
        "T-more",
        t0,
        5,
        [
            {"sku": "SKU-1", "quantity": 3, "unit_price": "59.90", "discount": "6.00"},
            {"sku": "SKU-2", "quantity": 1, "unit_price": "100.00"},
        ],
        paid=True,
    )

    added = order.lines.get(line_no=3)
    assert (added.sku.code, added.quantity, added.discount) == ("SKU-1", 1, Decimal("2.00"))
    assert held_quantities(order.pk)[added.pk] == 1
    order.refresh_from_db()
    assert order.total == paid_total  # paid: money changes come back as refunds, not edits
    update = order.events.filter(kind="platform_update").latest("pk")
    assert update.payload["lines_added"] == [{"line": 3, "sku": "SKU-1", "quantity": 1}]


def test_a_version_that_repeats_the_lines_changes_no_line():
    t0 = timezone.now() - timedelta(minutes=30)
    order = make_order(external_id="T-same", updated_at=t0.isoformat())
    _version("T-same", t0, 5, canonical_payload()["lines"])
    assert [(line.quantity, line.cancelled_quantity) for line in order.lines.all()] == [(2, 0), (1, 0)]


def test_units_added_to_a_routed_order_are_routed_too(django_capture_on_commit_callbacks):
    from fulfilment.models import ShipmentLine

    t0 = timezone.now() - timedelta(minutes=30)
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(external_id="T-routed", updated_at=t0.isoformat(), paid=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED

    lines = [*canonical_payload()["lines"], {"sku": "SKU-2", "quantity": 2, "unit_price": "100.00"}]
    with django_capture_on_commit_callbacks(execute=True):
        _version("T-routed", t0, 5, lines, paid=True)

    added = order.lines.get(line_no=3)
    assert added.quantity == 2
    assert sum(ShipmentLine.objects.filter(order_line=added).values_list("quantity", flat=True)) == 2
