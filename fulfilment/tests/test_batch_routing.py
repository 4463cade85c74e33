"""Batch routing (routing.route_orders, issue #18) writes what routing each order on its own
(route_order, ascending id) writes: the same world is routed both ways and everything routing
touches is compared — order states, shipments and their lines, reservations, balances, ledger
rows, timelines — and the batch's statements do not grow with the number of orders."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from fulfilment import routing
from fulfilment.models import RoutingPolicy, Shipment, ShipmentLine, ShippingRate
from fulfilment.routing import batch
from fulfilment.tests.test_routing import warehouse
from inventory import reservations
from inventory.models import Reservation, StockBalance, StockMovement
from inventory.reconciliation import find_drift
from inventory.reservations import move
from orders import services
from orders.intake import order_ingest_batch
from orders.models import Order, OrderEvent
from orders.tests.factories import (
    CarrierFactory,
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    make_order,
    receive,
    validated,
)

HANGZHOU = {
    "country": "CN",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "line1": "文三路 90 号",
    "postcode": "310000",
    "phone": "13800000001",
}
BEIJING = {
    **HANGZHOU,
    "province": "北京市",
    "city": "北京市",
    "district": "海淀区",
    "line1": "中关村大街 1 号",
}


def lines(*items):
    return [{"sku": sku, "quantity": quantity, "unit_price": "10.00"} for sku, quantity in items]


def customer(n):
    return {"name": f"买家{n}", "phone": f"1380000{n:04d}", "email": ""}


class Rollback(Exception):
    pass


def build_world() -> list[int]:
    """Three warehouses, two channels (one merging a customer's parcels with a window, one that
    ranks by cost and never splits), and orders that take every way through routing."""
    ensure_master_data(stock=0)
    other = ChannelFactory(code="shop-b", name="Shop B")
    skus = {code: SKUFactory(code=code) for code in ("SKU-1", "SKU-2", "SKU-3")}
    presale = SKUFactory(code="PRE-1", presale=True)
    bj = warehouse("WH-BJ", province="北京市", city="北京市")
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    sh = warehouse("WH-SH", province="上海市", city="上海市")
    for wh, stock in (
        (bj, {"SKU-1": 10, "SKU-2": 10, "SKU-3": 2}),
        (hz, {"SKU-1": 4, "SKU-2": 1}),
        (sh, {"SKU-1": 6, "SKU-3": 3}),
    ):
        for code, quantity in stock.items():
            receive(skus[code], quantity, warehouse=wh)
    receive(presale, 1, warehouse=sh)
    sh.default_carrier = CarrierFactory()  # released parcels there get their carrier (and why)
    sh.save(update_fields=["default_carrier"])
    RoutingPolicy.objects.create(
        name="merge",
        strategies=["availability", "delivery_time"],
        merge_open_orders=True,
        merge_window_minutes=30,
    )
    RoutingPolicy.objects.create(name="cheapest", channel=other, strategies=["cost"], allow_split=False)
    for wh, cost, days in ((sh, "5.00", 3), (bj, "9.00", 3), (hz, "12.00", 1)):
        ShippingRate.objects.create(warehouse=wh, province="", cost=Decimal(cost), currency="CNY", days=days)
    plans = [
        # held in Beijing at creation, Hangzhou ships it whole: released there, reserved here
        {"lines": lines(("SKU-1", 2), ("SKU-2", 1)), "shipping_address": HANGZHOU},
        # nobody holds SKU-1 ×3 and SKU-3 ×4 together: split
        {"lines": lines(("SKU-1", 3), ("SKU-3", 4)), "shipping_address": HANGZHOU},
        # stays where it was reserved
        {"lines": lines(("SKU-2", 2)), "shipping_address": BEIJING},
        # two orders of one customer to one address: route_order merges them
        {"lines": lines(("SKU-1", 1)), "shipping_address": BEIJING, "customer": customer(77)},
        {"lines": lines(("SKU-1", 1)), "shipping_address": BEIJING, "customer": customer(77)},
        # a pre-sale line: its own parcel
        {
            "lines": [
                *lines(("SKU-1", 1)),
                {"sku": "PRE-1", "quantity": 1, "unit_price": "5", "presale": True},
            ],
            "shipping_address": HANGZHOU,
        },
        # the cost channel: Shanghai is cheapest
        {"channel": "shop-b", "lines": lines(("SKU-1", 1)), "shipping_address": HANGZHOU},
        # the cost channel, no split: no single warehouse has SKU-2 ×3 and SKU-3 ×1 left → held
        {"channel": "shop-b", "lines": lines(("SKU-2", 3), ("SKU-3", 1)), "shipping_address": HANGZHOU},
        # not paid: not routed
        {"lines": lines(("SKU-1", 1)), "shipping_address": HANGZHOU, "paid": False},
    ]
    ids = []
    for n, plan in enumerate(plans):
        fields = {"paid": True, "customer": customer(n), **plan}
        ids.append(make_order(external_id=f"E-{n}", **fields).pk)
    return ids


def snapshot() -> dict:
    """Everything routing writes, with ids and order numbers replaced by external ids."""
    names = dict(Order.objects.values_list("number", "external_id"))

    def plain(value):
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
        for number, external in sorted(names.items(), key=lambda item: -len(item[0])):
            text = text.replace(number, external)
        data = json.loads(text)
        if isinstance(data, dict):
            data.pop("merge_until", None)  # a time; its presence is compared
            if "routed_from" in data:
                data["routed_from"] = len(data["routed_from"])  # random lock ids
        return data

    def shipment(pk):
        return plain(Shipment.objects.get(pk=pk).number) if pk else None

    return {
        "orders": sorted(Order.objects.values_list("external_id", "status", "hold_reason")),
        "shipments": sorted(
            (
                plain(s.number),
                s.order.external_id,
                s.warehouse.code,
                s.status,
                s.presale,
                "merge_until" in s.routing,
                plain(s.routing),
                s.carrier.code if s.carrier else "",
            )
            for s in Shipment.objects.select_related("order", "warehouse", "carrier")
        ),
        "shipment_lines": sorted(
            (plain(line.shipment.number), line.order_line.line_no, line.sku.code, line.quantity)
            for line in ShipmentLine.objects.select_related("shipment", "order_line", "sku")
        ),
        "reservations": sorted(
            (r.order.external_id, r.order_line.line_no, r.balance.warehouse.code, r.quantity, r.state)
            + (shipment(r.shipment_id),)
            for r in Reservation.objects.select_related("order", "order_line", "balance__warehouse")
        ),
        "balances": sorted(
            StockBalance.objects.values_list("warehouse__code", "sku__code", "on_hand", "reserved", "qc_hold")
        ),
        "movements": sorted(
            (m.kind, m.order.external_id if m.order else "", m.balance.warehouse.code, m.sku.code)
            + (m.on_hand_delta, m.reserved_delta, m.note, json.dumps(plain(m.payload), sort_keys=True))
            for m in StockMovement.objects.select_related("order", "balance__warehouse", "sku")
        ),
        "timelines": {
            order.external_id: [
                (
                    e.kind,
                    e.from_status,
                    e.to_status,
                    plain(e.reason),
                    json.dumps(plain(e.payload), sort_keys=True),
                )
                for e in OrderEvent.objects.filter(order=order).order_by("created_at", "pk")
            ]
            for order in Order.objects.all()
        },
    }


def routed(route) -> dict:
    ids = build_world()
    route(ids)
    assert find_drift() == []
    return snapshot()


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("chunk", [batch.BATCH_ROUTE_CHUNK, 2], ids=["one chunk", "chunks of two"])
def test_batch_routing_writes_what_routing_each_order_alone_writes(monkeypatch, chunk):
    def one_by_one(ids):
        for pk in ids:
            routing.route_quietly(pk)

    # route_orders falls back to one by one when a chunk fails: here it must not, and only the
    # orders the batch does not take may go through route_order
    alone_in_batch = []
    route = batch.route_quietly
    monkeypatch.setattr(batch, "route_quietly", lambda pk: (alone_in_batch.append(pk), route(pk))[1])
    monkeypatch.setattr(batch.logger, "exception", lambda *args: pytest.fail(f"a chunk failed: {args}"))
    # Chunks of two split the merge partners E-3 and E-4 (the second then finds the first's parcel)
    monkeypatch.setattr(batch, "BATCH_ROUTE_CHUNK", chunk)

    try:
        with transaction.atomic():
            alone = routed(one_by_one)
            raise Rollback
    except Rollback:
        pass
    together = routed(routing.route_orders)

    assert together == alone
    # the world took every way: moved, split, kept, merged, pre-sale, cost, held, unpaid
    states = {external: status for external, status, _reason in together["orders"]}
    assert states == {
        **{f"E-{n}": "allocated" for n in (0, 1, 2, 3, 4, 5, 6)},
        "E-7": "on_hold",  # shop-b does not split
        "E-8": "pending_payment",
    }
    by_id = dict(Order.objects.values_list("pk", "external_id"))
    # merge partners, pre-sale, the hold and the unpaid one; the others were planned together
    partners = ["E-3", "E-4"] if chunk > 2 else ["E-4"]  # E-3 alone in its chunk merges with nobody yet
    assert sorted(by_id[pk] for pk in alone_in_batch) == [*partners, "E-5", "E-7", "E-8"]
    shipments = {s[0]: s for s in together["shipments"]}
    assert shipments["E-0-1"][2:4] == ("WH-HZ", "created")  # the merge window: waits, not pushed
    assert any(m[:2] == ("release", "E-0") for m in together["movements"])  # moved from Beijing
    assert [shipments[n][2] for n in ("E-1-1", "E-1-2")] == ["WH-SH", "WH-BJ"]  # split
    assert shipments["E-2-1"][2] == "WH-BJ" and not any(
        m[:2] == ("release", "E-2") for m in together["movements"]
    )
    assert "merged" in shipments["E-3-1"][6] and "E-4-1" not in shipments  # one parcel for E-3 and E-4
    assert shipments["E-5-2"][4]  # pre-sale parcel
    assert shipments["E-6-1"][2:4] == ("WH-SH", "sent_to_warehouse")  # cheapest, no window: pushed
    assert shipments["E-6-1"][7] == "sf" and "carrier" in shipments["E-6-1"][6]  # chosen on release


@pytest.mark.django_db
def test_a_chunk_locks_the_stock_of_all_its_orders_before_routing_any(monkeypatch):
    """Balance rows are locked in ascending id or were held already, all through a chunk: an order
    left to route_order (a pre-sale one) whose stock has the lowest id does not lock it after rows
    with higher ids, which could deadlock with an intake locking the two in order."""
    ensure_master_data(stock=0)
    presale = SKUFactory(code="PRE-1", presale=True)
    receive(presale, 5)  # the lowest balance id
    receive(SKUFactory(code="SKU-1"), 10)
    planned = make_order(paid=True, lines=lines(("SKU-1", 1)), customer=customer(1)).pk
    left_to_route_order = make_order(
        paid=True,
        lines=[*lines(("SKU-1", 1)), {"sku": "PRE-1", "quantity": 1, "unit_price": "5", "presale": True}],
        customer=customer(2),
    ).pk
    locked = []  # per read of the routable stock: the balance rows it locked
    read = move.routable_stocks

    def recording(orders, **kwargs):
        stocks = read(orders, **kwargs)
        locked.append(sorted(next(iter(stocks.values())).free))
        return stocks

    monkeypatch.setattr(move, "routable_stocks", recording)  # route_order's
    monkeypatch.setattr(reservations, "routable_stocks", recording)  # the batch's
    routed_alone = []
    route = batch.route_quietly
    monkeypatch.setattr(batch, "route_quietly", lambda pk: (routed_alone.append(pk), route(pk))[1])

    routing.route_orders([planned, left_to_route_order])

    assert routed_alone == [left_to_route_order]
    assert len(locked) >= 2
    held: set[int] = set()
    for rows in locked:
        assert all(pk in held or pk > max(held, default=0) for pk in rows), locked
        held |= set(rows)
    assert set(
        Order.objects.filter(pk__in=[planned, left_to_route_order]).values_list("status", flat=True)
    ) == {"allocated"}


@pytest.mark.django_db
def test_batch_routing_statements_do_not_grow_with_the_orders():
    ensure_master_data(stock=100)  # WH-HZ, SKU-1..3; the built-in policy: no merging

    def paid_orders(count):
        return [make_order(paid=True, customer=customer(n)).pk for n in range(count)]

    first, second = paid_orders(2), paid_orders(20)
    with CaptureQueriesContext(connection) as few:
        routing.route_orders(first)
    with CaptureQueriesContext(connection) as many:
        routing.route_orders(second)

    assert Order.objects.filter(status="allocated").count() == 22
    assert len(many.captured_queries) == len(few.captured_queries)
    # the own warehouse's parcels are written already in its queue, not inserted and then updated
    assert set(Shipment.objects.values_list("status", flat=True)) == {"sent_to_warehouse"}
    assert not [q for q in many.captured_queries if q["sql"].startswith('UPDATE "orders_shipment"')]
    events = OrderEvent.objects.filter(order_id=second[0]).order_by("created_at", "pk")
    assert [(e.kind, e.to_status) for e in events][-3:] == [
        ("transition", "allocated"),
        ("routed", ""),
        ("shipment", ""),
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batch_routers_and_cancellations_at_once_route_each_order_once_and_oversell_nothing():
    # given 40 paid orders, not routed yet, held in Beijing where creation reserved; Hangzhou,
    # nearer to them all, has units for only some of them
    ensure_master_data(stock=0)
    sku = SKUFactory(code="SKU-1")
    far = warehouse("WH-BJ", province="北京市", city="北京市")
    near = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(sku, 200, warehouse=far)
    receive(sku, 25, warehouse=near)
    RoutingPolicy.objects.create(name="near first", strategies=["delivery_time"], allow_split=False)
    items = [
        validated(canonical_payload(paid=True, customer=customer(n), lines=lines(("SKU-1", 2))))
        for n in range(40)
    ]
    ids = sorted(order.pk for order, _created in order_ingest_batch(items=items, follow_up=False))
    cancelled = ids[5::8]
    barrier = threading.Barrier(3 + len(cancelled))
    errors = []

    def work(job):
        try:
            barrier.wait()
            job()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when two routers take overlapping halves in opposite orders while some orders are cancelled
    jobs = [
        lambda: routing.route_orders(ids[:30]),
        lambda: routing.route_orders(list(reversed(ids[10:]))),
        lambda: routing.route_orders(ids[20:] + ids[:10]),
    ]
    jobs += [
        lambda pk=pk: services.order_transition(order=pk, name="cancel", reason="race") for pk in cancelled
    ]
    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then nothing failed, each live order has exactly its units in one parcel, nothing is oversold
    assert errors == []
    assert find_drift() == []
    assert not StockBalance.objects.filter(on_hand__lt=F("reserved") + F("qc_hold")).exists()
    for order in Order.objects.filter(pk__in=ids):
        live = Shipment.objects.filter(order=order).exclude(status="cancelled")
        if order.pk in cancelled:
            assert order.status == "cancelled" and not live.exists()
            assert not Reservation.objects.filter(order=order, state__in=["active", "committed"]).exists()
            continue
        assert order.status == "allocated"
        [shipment] = live
        assert list(shipment.lines.values_list("quantity", flat=True)) == [2]
        held = Reservation.objects.filter(order=order, state__in=["active", "committed"])
        assert [(r.shipment_id, r.quantity) for r in held] == [(shipment.pk, 2)]
    assert Shipment.objects.filter(warehouse=near).exclude(status="cancelled").count() <= 12
