"""Routing (R-F1, R-F2): the ranking as pure functions, then the service end to end — which
warehouse ships, how stock moves there through the ledger, splits, pre-sale isolation, merges,
rejections, cancellations and holds."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from rest_framework.test import APIClient

from core.errors import NotPermitted, TransitionRefused
from fulfilment import routing, tasks
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import RoutingPolicy, Shipment, ShipmentLine, ShippingRate
from fulfilment.routing import Candidate, Need
from inventory import reservations
from inventory.models import MovementKind, Reservation, StockBalance, StockMovement, Warehouse, WarehouseKind
from inventory.reconciliation import find_drift
from orders import services
from orders.models import Order, OrderEventKind, OrderStatus
from orders.templatetags.order_timeline import event_details
from orders.tests.factories import (
    SKUFactory,
    canonical_payload,
    drive_shipments,
    ensure_master_data,
    make_order,
    receive,
)

S = OrderStatus
NEEDS = [Need(1, 10, 2), Need(2, 20, 1)]


# --- the ranking, as pure functions ------------------------------------------------------------


def cand(code, stock=None, **facts):
    return Candidate(warehouse_id=hash(code) % 1000, code=code, stock=stock or {10: 5, 20: 5}, **facts)


def codes(candidates):
    return [c.code for c in candidates]


def test_availability_prefers_the_warehouse_covering_most_units():
    partial = cand("A", {10: 2, 20: 0})
    full = cand("B", {10: 2, 20: 1})
    assert codes(routing.rank([partial, full], ["availability"], NEEDS)) == ["B", "A"]
    assert routing.coverage(partial.stock, NEEDS) == 2
    assert routing.ships_whole(full.stock, NEEDS) and not routing.ships_whole(partial.stock, NEEDS)


def test_delivery_time_puts_the_service_region_first_then_days_then_distance():
    far_in_region = cand("A", in_region=True, days=3, distance_km=900.0)
    near_fast = cand("B", days=1, distance_km=5.0)
    near_slow = cand("C", days=2, distance_km=1.0)
    unknown = cand("D")  # no rate, no coordinates: last
    ranked = routing.rank([unknown, near_slow, near_fast, far_in_region], ["delivery_time"], NEEDS)
    assert codes(ranked) == ["A", "B", "C", "D"]

    by_distance = [cand("E", distance_km=300.0), cand("F", distance_km=12.5)]
    assert codes(routing.rank(by_distance, ["delivery_time"], NEEDS)) == ["F", "E"]


def test_cost_ranks_cheapest_first_and_an_unknown_rate_last():
    ranked = routing.rank(
        [cand("A"), cand("B", cost=Decimal("12.00")), cand("C", cost=Decimal("6.50"))], ["cost"], NEEDS
    )
    assert codes(ranked) == ["C", "B", "A"]


def test_strategies_apply_in_priority_order():
    cheap_far = cand("A", cost=Decimal("5.00"), distance_km=800.0)
    dear_near = cand("B", cost=Decimal("9.00"), distance_km=3.0)
    assert codes(routing.rank([cheap_far, dear_near], ["cost", "delivery_time"], NEEDS)) == ["A", "B"]
    assert codes(routing.rank([cheap_far, dear_near], ["delivery_time", "cost"], NEEDS)) == ["B", "A"]


def test_a_full_tie_is_broken_by_warehouse_code_whatever_the_input_order():
    tied = [cand("WH-B", cost=Decimal("5")), cand("WH-A", cost=Decimal("5")), cand("WH-C", cost=Decimal("5"))]
    for candidates in (tied, list(reversed(tied))):
        assert codes(routing.rank(candidates, ["availability", "cost"], NEEDS)) == ["WH-A", "WH-B", "WH-C"]
    assert routing.deciding_strategy(tied[1], tied[0], ["availability", "cost"], NEEDS) == ""


def test_nearest_store_puts_stores_first_nearest_first():
    store_far = cand("S1", kind=WarehouseKind.STORE, distance_km=8.0)
    store_near = cand("S2", kind=WarehouseKind.STORE, distance_km=2.0)
    warehouse = cand("W", distance_km=1.0)
    assert codes(routing.rank([warehouse, store_far, store_near], ["nearest_store"], NEEDS)) == [
        "S2",
        "S1",
        "W",
    ]


def test_plan_keeps_the_order_whole_when_one_warehouse_can():
    best_but_short = cand("A", {10: 2, 20: 0}, distance_km=1.0)
    whole = cand("B", {10: 9, 20: 9}, distance_km=500.0)
    plan = routing.plan([best_but_short, whole], ["delivery_time"], NEEDS, allow_split=True)
    assert plan.mode == "single"
    assert plan.parts == {whole.warehouse_id: [(NEEDS[0], 2), (NEEDS[1], 1)]}


def test_plan_splits_greedily_when_no_warehouse_can():
    a = cand("A", {10: 1, 20: 1}, distance_km=1.0)
    b = cand("B", {10: 5, 20: 0}, distance_km=9.0)
    plan = routing.plan([a, b], ["availability", "delivery_time"], NEEDS, allow_split=True)
    assert plan.mode == "split"
    # A covers 2 units (one of each), B covers 2 of SKU 10: tie on availability, A is nearer.
    assert plan.parts == {a.warehouse_id: [(NEEDS[0], 1), (NEEDS[1], 1)], b.warehouse_id: [(NEEDS[0], 1)]}


def test_plan_reports_what_is_short_without_a_split():
    a = cand("A", {10: 2, 20: 0})
    b = cand("B", {10: 0, 20: 1})
    assert routing.plan([a, b], ["availability"], NEEDS, allow_split=False).short == {20: 1}
    assert routing.plan([a], ["availability"], NEEDS, allow_split=True).short == {20: 1}
    assert not routing.plan([a, b], ["availability"], NEEDS, allow_split=True).short


def test_pre_sale_lines_join_only_while_the_plan_still_works():
    stock = cand("A", {10: 2, 20: 0, 30: 4})
    needs = [Need(1, 10, 2, True), Need(2, 20, 1, True), Need(3, 30, 4, True)]
    plan, waiting = routing.plan_presale([stock], ["availability"], needs, allow_split=True)
    assert waiting == [needs[1]]
    assert plan.parts == {stock.warehouse_id: [(needs[0], 2), (needs[2], 4)]}


# --- the service --------------------------------------------------------------------------------


def warehouse(code, *, province, city, kind=WarehouseKind.OWN, lat=None, lon=None, regions=()):
    return Warehouse.objects.create(
        code=code,
        name=code,
        kind=kind,
        province=province,
        city=city,
        latitude=lat,
        longitude=lon,
        service_regions=list(regions),
    )


@pytest.fixture
def skus():
    ensure_master_data(stock=0)
    return {code: SKUFactory(code=code) for code in ("SKU-1", "SKU-2", "SKU-3")}


@pytest.fixture
def beijing_and_hangzhou(skus):
    """Beijing first (lower id, so creation reserves there), Hangzhou by the default address."""
    bj = warehouse("WH-BJ", province="北京市", city="北京市")
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    for wh in (bj, hz):
        for sku in skus.values():
            receive(sku, 10, warehouse=wh)
    return bj, hz


@pytest.fixture
def wms_calls(monkeypatch):
    """Record what the warehouse systems are told (the own-warehouse push still runs)."""
    from integrations import wms

    calls = []
    push = wms.push_shipment
    monkeypatch.setattr(
        wms, "push_shipment", lambda s, **kw: (calls.append(("push", s.number)), push(s, **kw))
    )
    monkeypatch.setattr(wms, "cancel_shipment", lambda s: calls.append(("cancel", s.number)))
    return calls


def paid_order(**overrides):
    return make_order(paid=True, **overrides)


def one_sku(code="SKU-1", quantity=1, **overrides):
    return paid_order(lines=[{"sku": code, "quantity": quantity, "unit_price": "10.00"}], **overrides)


def stock_at(wh, code="SKU-1"):
    row = StockBalance.objects.filter(warehouse=wh, sku__code=code).aggregate(
        on_hand=Sum("on_hand"), reserved=Sum("reserved")
    )
    return row["on_hand"] or 0, row["reserved"] or 0


def live_shipments(order):
    return [s for s in fulfilment_selectors.order_shipments(order) if s.status != "cancelled"]


def assert_stock_consistent():
    assert find_drift() == []
    assert not StockBalance.objects.filter(on_hand__lt=F("reserved") + F("qc_hold")).exists()


@pytest.mark.django_db
def test_routing_moves_the_reservations_to_the_chosen_warehouse_through_the_ledger(
    beijing_and_hangzhou, settings
):
    bj, hz = beijing_and_hangzhou
    order = paid_order()  # SKU-1 ×2, SKU-2 ×1 to Hangzhou
    assert stock_at(bj) == (10, 2) and stock_at(hz) == (10, 0)  # reserved where creation found stock

    shipments = routing.route_order(order=order)

    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    [shipment] = shipments
    assert (shipment.warehouse, shipment.number, shipment.presale) == (hz, f"{order.number}-1", False)
    assert stock_at(bj) == (10, 0) and stock_at(hz) == (10, 2)
    held = order.reservations.filter(state__in=["active", "committed"])
    assert {(r.balance.warehouse.code, r.shipment_id) for r in held} == {("WH-HZ", shipment.pk)}
    released = StockMovement.objects.filter(order=order, kind=MovementKind.RELEASE)
    assert sorted(released.values_list("reserved_delta", flat=True)) == [-2, -1]
    assert {m.note for m in released} == {"Routed to WH-HZ"}
    assert all(m.payload == {"routed_to": ["WH-HZ"]} for m in released)
    assert set(order.reservations.filter(balance__warehouse=bj).values_list("state", flat=True)) == {
        "released"
    }
    assert_stock_consistent()
    # moves are not cancellations: the release breaker does not count them
    sku_id = order.lines.first().sku_id
    assert reservations.release_allowance({sku_id}, now=timezone.now()) == {
        sku_id: settings.INVENTORY_RELEASE_BREAKER_LIMIT
    }


@pytest.mark.django_db
def test_the_explanation_is_on_the_shipment_and_the_timeline(beijing_and_hangzhou):
    order = paid_order()
    [shipment] = routing.route_order(order=order)

    event = order.events.get(kind=OrderEventKind.ROUTED)
    assert event.reason == (
        "Ships from WH-HZ: it holds the whole order and comes before WH-BJ on Delivery time "
        "(service region, distance)."
    )
    assert [c["warehouse"] for c in event.payload["routing"]["candidates"]] == ["WH-HZ", "WH-BJ"]
    assert event.payload["routing"]["candidates"][1]["distance_km"] > 1000
    assert event.payload["routing"]["strategies"] == ["availability", "delivery_time", "cost"]
    assert event.payload["routing"]["shipments"] == [shipment.number]
    assert shipment.routing["why"] == event.reason
    transition = order.events.get(kind="transition", to_status=S.ALLOCATED)
    assert transition.reason == f"Routed: {shipment.number}"


@pytest.mark.django_db
def test_an_own_warehouse_gets_the_shipment_at_once(beijing_and_hangzhou, wms_calls):
    order = paid_order()
    [shipment] = routing.route_order(order=order)
    shipment.refresh_from_db()
    assert shipment.status == "sent_to_warehouse"
    assert wms_calls == [("push", shipment.number)]


@pytest.mark.django_db
def test_service_region_beats_distance(skus):
    near = warehouse("WH-NEAR", province="浙江省", city="宁波市")
    regional = warehouse("WH-SH", province="上海市", city="上海市", regions=["上海市", "浙江省"])
    for wh in (near, regional):
        receive(skus["SKU-1"], 5, warehouse=wh)
    [shipment] = routing.route_order(order=one_sku())
    assert shipment.warehouse == regional
    assert shipment.routing["candidates"][0]["in_region"] is True


@pytest.mark.django_db
def test_the_orders_coordinates_beat_the_district_centre(skus):
    # the default address is 杭州市西湖区, placed by intake at the district's centre (30.2595, 120.1302)
    east = warehouse("WH-EAST", province="浙江省", city="杭州市", lat=Decimal("30.26"), lon=Decimal("120.20"))
    west = warehouse("WH-WEST", province="浙江省", city="杭州市", lat=Decimal("30.25"), lon=Decimal("119.90"))
    for wh in (east, west):
        receive(skus["SKU-1"], 5, warehouse=wh)
    by_district = routing.route_order(order=one_sku())  # about 7 km from the east one, 22 from the west
    order = one_sku()
    Order.objects.filter(pk=order.pk).update(ship_latitude=Decimal("30.24"), ship_longitude=Decimal("119.80"))
    by_point = routing.route_order(order=order)

    assert by_district[0].warehouse == east
    assert by_district[0].routing["destination"]["point_from"] == "district"
    assert by_point[0].warehouse == west
    assert by_point[0].routing["destination"]["point_from"] == "order"


@pytest.mark.django_db
def test_the_nearer_warehouse_wins_when_only_the_district_differs(skus):
    """Two warehouses in one city, placed only by their district: each order goes to the one in
    (or next to) its own district, whatever the codes' order; before district centres both were
    at the city's centre and the code decided."""
    xiaoshan = warehouse("WH-A-XS", province="浙江省", city="杭州市")
    Warehouse.objects.filter(pk=xiaoshan.pk).update(district="萧山区")
    xihu = warehouse("WH-B-XH", province="浙江省", city="杭州市")
    Warehouse.objects.filter(pk=xihu.pk).update(district="西湖区")
    for wh in (xiaoshan, xihu):
        receive(skus["SKU-1"], 5, warehouse=wh)

    address = canonical_payload()["shipping_address"]
    to_xihu = one_sku()  # the default address: 浙江省杭州市西湖区
    to_gongshu = one_sku(shipping_address={**address, "district": "拱墅"})  # short name, north of 西湖区
    to_binjiang = one_sku(shipping_address={**address, "district": "滨江区"})  # across the river
    Order.objects.filter(pk=to_gongshu.pk).update(ship_latitude=None, ship_longitude=None)  # an older order

    assert routing.route_order(order=to_xihu)[0].warehouse == xihu
    [gongshu] = routing.route_order(order=to_gongshu)
    assert gongshu.warehouse == xihu
    assert gongshu.routing["destination"]["point_from"] == "district"  # placed by routing itself
    assert routing.route_order(order=to_binjiang)[0].warehouse == xiaoshan
    to_gongshu.refresh_from_db()
    assert to_gongshu.ship_district == "拱墅区"


@pytest.mark.django_db
def test_cost_uses_the_province_rate_else_the_default_and_unknown_is_worst(skus):
    RoutingPolicy.objects.create(name="cheapest", strategies=["cost", "availability"])
    a, b, c = (warehouse(code, province="江苏省", city="南京市") for code in ("WH-A", "WH-B", "WH-C"))
    for wh in (a, b, c):
        receive(skus["SKU-1"], 5, warehouse=wh)
    ShippingRate.objects.create(warehouse=a, province="", cost=Decimal("6.00"), currency="CNY")
    ShippingRate.objects.create(warehouse=a, province="浙江省", cost=Decimal("9.00"), currency="CNY")
    ShippingRate.objects.create(warehouse=b, province="", cost=Decimal("7.00"), currency="CNY")
    # C has no rate at all

    [shipment] = routing.route_order(order=one_sku())  # to 浙江省: A costs 9 there, B 7 by default
    assert shipment.warehouse == b
    facts = {f["warehouse"]: f["cost"] for f in shipment.routing["candidates"]}
    assert facts == {"WH-B": "7.00", "WH-A": "9.00", "WH-C": None}
    assert "on Shipping cost" in shipment.routing["why"]


@pytest.mark.django_db
def test_a_store_inside_the_geofence_ships_and_one_outside_never_does(skus):
    dc = warehouse("WH-DC", province="江苏省", city="南京市")
    store = warehouse("ST-HZ", province="浙江省", city="杭州市", kind=WarehouseKind.STORE)
    far_store = warehouse("ST-GZ", province="广东省", city="广州市", kind=WarehouseKind.STORE)
    for wh in (dc, store, far_store):
        receive(skus["SKU-1"], 5, warehouse=wh)

    no_fence = routing.route_order(order=one_sku())  # stores are never used without a fence
    RoutingPolicy.objects.create(
        name="stores", strategies=["nearest_store", "availability"], store_geofence_km=Decimal("30")
    )
    inside = routing.route_order(order=one_sku())  # to Hangzhou: the store is in town
    order = one_sku()
    Order.objects.filter(pk=order.pk).update(ship_latitude=Decimal("30.50"), ship_longitude=Decimal("120.50"))
    outside = routing.route_order(order=order)  # about 41 km from the store

    assert no_fence[0].warehouse == dc
    assert {e["warehouse"]: e["why"] for e in no_fence[0].routing["excluded"]} == {
        "ST-HZ": "store_without_geofence",
        "ST-GZ": "store_without_geofence",
    }
    assert inside[0].warehouse == store
    assert inside[0].routing["why"].startswith("Ships from ST-HZ")
    assert outside[0].warehouse == dc
    assert {"warehouse": "ST-HZ", "why": "store_outside_geofence"} in outside[0].routing["excluded"]


@pytest.mark.django_db
def test_falls_back_to_the_next_warehouse_when_the_best_lacks_stock(skus):
    best = warehouse("WH-HZ", province="浙江省", city="杭州市")
    next_best = warehouse("WH-SH", province="上海市", city="上海市")
    receive(skus["SKU-1"], 5, warehouse=best)  # no SKU-2 here
    receive(skus["SKU-1"], 5, warehouse=next_best)
    receive(skus["SKU-2"], 5, warehouse=next_best)

    [shipment] = routing.route_order(order=paid_order())
    assert shipment.warehouse == next_best
    assert shipment.routing["why"] == "Ships from WH-SH, the only warehouse that holds the whole order."
    assert stock_at(best) == (5, 0) and stock_at(next_best) == (5, 2)
    assert_stock_consistent()


@pytest.mark.django_db
def test_splits_across_two_warehouses_when_none_holds_everything(skus):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    sh = warehouse("WH-SH", province="上海市", city="上海市")
    receive(skus["SKU-1"], 1, warehouse=hz)
    receive(skus["SKU-2"], 1, warehouse=hz)
    receive(skus["SKU-1"], 4, warehouse=sh)
    order = paid_order()  # SKU-1 ×2, SKU-2 ×1

    shipments = routing.route_order(order=order)

    assert [(s.warehouse.code, s.number) for s in shipments] == [
        ("WH-HZ", f"{order.number}-1"),
        ("WH-SH", f"{order.number}-2"),
    ]
    lines = {
        (line.shipment.warehouse.code, line.sku.code): line.quantity
        for line in ShipmentLine.objects.filter(shipment__in=shipments)
    }
    assert lines == {("WH-HZ", "SKU-1"): 1, ("WH-HZ", "SKU-2"): 1, ("WH-SH", "SKU-1"): 1}
    assert stock_at(hz) == (1, 1) and stock_at(sh) == (4, 1)
    routed = order.events.get(kind=OrderEventKind.ROUTED)
    assert routed.reason.startswith("Split across WH-HZ, WH-SH")
    assert event_details(routed.payload) == []  # the explanation is not misread as field changes
    for shipment in shipments:  # each shipment holds exactly its own units
        held = Reservation.objects.filter(shipment=shipment).aggregate(n=Sum("quantity"))["n"]
        assert held == sum(line.quantity for line in shipment.lines.all())
    assert_stock_consistent()


@pytest.mark.django_db
def test_a_reservation_split_by_routing_keeps_its_part_linked_and_gives_back_the_rest(skus):
    far = warehouse("WH-BJ", province="北京市", city="北京市")  # lower id: creation reserves here
    near = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(skus["SKU-1"], 5, warehouse=far)
    receive(skus["SKU-1"], 1, warehouse=near)
    receive(skus["SKU-2"], 1, warehouse=near)
    RoutingPolicy.objects.create(name="fast first", strategies=["delivery_time", "availability"])
    order = paid_order(
        lines=[
            {"sku": "SKU-1", "quantity": 3, "unit_price": "10.00"},
            {"sku": "SKU-2", "quantity": 1, "unit_price": "10.00"},
        ]
    )
    [held_far] = order.reservations.filter(balance__warehouse=far)
    assert held_far.quantity == 3

    near_parcel, far_parcel = routing.route_order(order=order)  # the near one first, the rest from far

    assert (near_parcel.warehouse, far_parcel.warehouse) == (near, far)
    held_far.refresh_from_db()
    assert (held_far.quantity, held_far.state, held_far.shipment) == (2, "committed", far_parcel)
    assert stock_at(far) == (5, 2) and stock_at(near) == (1, 1) and stock_at(near, "SKU-2") == (1, 1)
    linked = {
        s.number: Reservation.objects.filter(shipment=s).aggregate(n=Sum("quantity"))["n"]
        for s in (near_parcel, far_parcel)
    }
    assert linked == {near_parcel.number: 2, far_parcel.number: 2}
    assert_stock_consistent()


@pytest.mark.django_db
def test_without_split_the_order_is_held_and_nothing_is_written(skus):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    sh = warehouse("WH-SH", province="上海市", city="上海市")
    receive(skus["SKU-1"], 2, warehouse=hz)
    receive(skus["SKU-2"], 1, warehouse=sh)
    RoutingPolicy.objects.create(name="whole only", strategies=["availability"], allow_split=False)
    order = paid_order()
    reserved_before = list(order.reservations.values_list("pk", "balance_id", "quantity", "state"))

    assert routing.route_order(order=order) == []

    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.held_from == S.PAID
    assert order.hold_reason.startswith("Out of stock in any single warehouse")
    assert "SKU-2" in order.hold_reason
    assert not Shipment.objects.exists()
    assert list(order.reservations.values_list("pk", "balance_id", "quantity", "state")) == reserved_before
    assert_stock_consistent()


@pytest.mark.django_db
def test_an_order_short_of_stock_is_held_out_of_stock(skus):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(skus["SKU-1"], 5, warehouse=hz)
    order = one_sku(quantity=3)
    Warehouse.objects.filter(pk=hz.pk).update(is_active=False)  # the only warehouse with it closes

    routing.route_order(order=order)

    order.refresh_from_db()
    assert (order.status, order.hold_reason) == (S.ON_HOLD, "Out of stock: SKU-1")
    assert not Shipment.objects.exists()


@pytest.mark.django_db
def test_only_paid_or_partly_routed_orders_route_and_only_with_permission(
    beijing_and_hangzhou, agent, manager
):
    unpaid = make_order()
    with pytest.raises(TransitionRefused, match="cannot be routed"):
        routing.route_order(order=unpaid)
    order = paid_order()
    with pytest.raises(NotPermitted):
        routing.route_order(order=order, actor=agent)
    routing.route_order(order=order, actor=manager)
    with pytest.raises(TransitionRefused, match="nothing left to route"):
        routing.route_order(order=order, actor=manager)
    assert order.events.get(kind=OrderEventKind.ROUTED).actor == manager


# --- pre-sale -------------------------------------------------------------------------------------


@pytest.fixture
def presale_sku(skus):
    return SKUFactory(code="PRE-1", presale=True)


def with_presale(quantity=1, **overrides):
    lines = [
        {"sku": "SKU-1", "quantity": 1, "unit_price": "10.00"},
        {"sku": "PRE-1", "quantity": quantity, "unit_price": "99.00", "presale": True},
    ]
    return paid_order(lines=lines, **overrides)


@pytest.mark.django_db
def test_pre_sale_lines_get_their_own_shipment_from_stock_that_exists(skus, presale_sku):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(skus["SKU-1"], 5, warehouse=hz)
    receive(presale_sku, 5, warehouse=hz)
    order = with_presale(quantity=2)
    assert stock_at(hz, "PRE-1") == (5, 0)  # pre-sale lines are not reserved at creation

    regular, presale = routing.route_order(order=order)

    assert (regular.presale, presale.presale) == (False, True)
    assert [(line.sku.code, line.quantity) for line in presale.lines.all()] == [("PRE-1", 2)]
    assert [line.sku.code for line in regular.lines.all()] == ["SKU-1"]
    assert stock_at(hz, "PRE-1") == (5, 2)
    assert Reservation.objects.get(sku=presale_sku).shipment == presale
    assert_stock_consistent()


@pytest.mark.django_db
def test_pre_sale_lines_wait_for_stock_and_are_routed_when_it_arrives(skus, presale_sku, wms_calls):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(skus["SKU-1"], 5, warehouse=hz)
    order = with_presale()

    [regular] = routing.route_order(order=order)
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert "1 pre-sale units wait for stock." in order.events.get(kind=OrderEventKind.ROUTED).reason
    assert routing.presale_waiting() == [order.pk]
    assert tasks.route_presale_waiting() == 0  # still nothing to route: no writes
    assert order.events.filter(kind=OrderEventKind.ROUTED).count() == 1

    drive_shipments(order)  # the regular parcel leaves; the pre-sale unit still waits
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED

    receive(presale_sku, 3, warehouse=hz)
    assert tasks.route_presale_waiting() == 1

    presale = Shipment.objects.get(order=order, presale=True)
    assert presale.number == f"{order.number}-2"
    assert routing.presale_waiting() == []
    drive_shipments(order)
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert_stock_consistent()


@pytest.mark.django_db
def test_an_all_pre_sale_order_without_stock_stays_paid(skus, presale_sku):
    order = paid_order(lines=[{"sku": "PRE-1", "quantity": 1, "unit_price": "9.00", "presale": True}])
    events = order.events.count()

    assert routing.route_order(order=order) == []
    with pytest.raises(TransitionRefused, match="pre-sale lines wait for stock"):
        services.order_transition(order=order, name="allocate")

    order.refresh_from_db()
    assert order.status == S.PAID and order.events.count() == events


# --- merging ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_open_orders_of_one_customer_to_one_address_share_a_parcel(beijing_and_hangzhou, wms_calls):
    RoutingPolicy.objects.create(
        name="merge",
        strategies=["availability", "delivery_time"],
        merge_open_orders=True,
        merge_window_minutes=30,
    )
    first = one_sku()
    second = one_sku(
        "SKU-2",
        2,
        shipping_address={
            "country": "CN",
            "province": "浙江",
            "city": "杭州市",
            "district": "西湖区",
            "line1": "文三路90号",
            "postcode": "310000",
            "phone": "13800000001",
        },
    )  # the same address, written differently
    elsewhere = one_sku(
        "SKU-3",
        shipping_address={
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "line1": "文三路 91 号",
            "postcode": "310000",
            "phone": "13800000001",
        },
    )

    [parcel] = routing.route_order(order=first)
    assert parcel.status == "created" and routing.MERGE_UNTIL in parcel.routing
    assert routing.route_order(order=second) == [parcel]
    [own] = routing.route_order(order=elsewhere)

    assert own != parcel
    assert wms_calls == []  # all wait for the window
    assert sorted(parcel.lines.values_list("order_line__order__number", flat=True)) == sorted(
        [first.number, second.number]
    )
    assert Reservation.objects.filter(order=second, shipment=parcel).exists()
    second.refresh_from_db()
    assert second.status == S.ALLOCATED
    assert "merged" in Shipment.objects.get(pk=parcel.pk).routing
    waits = "The new parcel waits 30 minutes for the customer's next order before it goes out."
    assert first.events.get(kind=OrderEventKind.ROUTED).reason.endswith(waits)
    assert second.events.get(kind=OrderEventKind.ROUTED).reason.endswith(
        f"Merged into shipment {parcel.number} with the customer's order {first.number} to the same address."
    )

    [seen_from_second] = fulfilment_selectors.order_shipments(second)  # the order page explains its own part
    assert (
        seen_from_second.why.startswith("Ships from WH-HZ") and "Merged into shipment" in seen_from_second.why
    )
    assert [line.sku.code for line in seen_from_second.order_lines] == ["SKU-2"]

    assert routing.shipments_release_merge_window() == 0  # not due yet
    later = timezone.now() + timedelta(minutes=31)
    assert routing.shipments_release_merge_window(now=later) == 2
    parcel.refresh_from_db()
    assert parcel.status == "sent_to_warehouse"
    assert ("push", parcel.number) in wms_calls

    drive_shipments(first)  # one parcel ships both orders
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (S.SHIPPED, S.SHIPPED)
    assert_stock_consistent()


# --- rejections, cancellations, holds -----------------------------------------------------------


@pytest.mark.django_db
def test_a_rejected_shipment_is_rerouted_elsewhere_and_the_timeline_says_why(beijing_and_hangzhou, wms_calls):
    bj, hz = beijing_and_hangzhou
    order = paid_order()
    [first] = routing.route_order(order=order)
    assert first.warehouse == hz

    [second] = routing.reroute_rejected(shipment=first, reason="SKU-2 damaged in stock")

    first.refresh_from_db()
    assert (first.status, first.problem) == ("cancelled", "SKU-2 damaged in stock")
    assert first.routing["rejected"]["reason"] == "SKU-2 damaged in stock"
    assert second.warehouse == bj
    assert second.routing["fallback"]["warehouse"] == "WH-HZ"
    assert {"warehouse": "WH-HZ", "why": "rejected"} in second.routing["excluded"]
    event = order.events.filter(kind=OrderEventKind.ROUTED).last()
    assert event.reason.startswith("WH-HZ rejected shipment")
    assert "SKU-2 damaged in stock" in event.reason
    assert stock_at(hz) == (10, 0) and stock_at(bj) == (10, 2)
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert routing.reroute_rejected(shipment=first, reason="again") == []  # a repeated callback
    assert_stock_consistent()


@pytest.mark.django_db
def test_a_rejection_with_nowhere_else_to_go_holds_the_order(skus):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(skus["SKU-1"], 5, warehouse=hz)
    order = one_sku()
    [shipment] = routing.route_order(order=order)

    assert routing.reroute_rejected(shipment=shipment, reason="no such SKU here") == []

    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.held_from == S.ALLOCATED
    assert order.hold_reason.startswith("WH-HZ rejected shipment")
    assert "Out of stock: SKU-1" in order.hold_reason
    assert order.reservations.get().state == "committed"  # it keeps its stock while held
    assert_stock_consistent()


@pytest.mark.django_db
def test_cancelling_a_line_of_an_allocated_order_cancels_and_reroutes_its_shipment(
    beijing_and_hangzhou, wms_calls, agent
):
    _bj, hz = beijing_and_hangzhou
    order = paid_order()
    [old] = routing.route_order(order=order)
    line = order.lines.get(sku__code="SKU-1")

    services.order_cancel_lines(
        order=order, quantities={line.pk: 1}, actor=agent, reason="customer changed size"
    )

    old.refresh_from_db()
    assert old.status == "cancelled" and ("cancel", old.number) in wms_calls
    [new] = live_shipments(order)
    assert new.number == f"{order.number}-2"
    assert sorted((sl.sku.code, sl.quantity) for sl in new.lines.all()) == [("SKU-1", 1), ("SKU-2", 1)]
    assert stock_at(hz) == (10, 1) and stock_at(hz, "SKU-2") == (10, 1)  # exactly one unit given back
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert_stock_consistent()


@pytest.mark.django_db
def test_cancelling_an_allocated_order_cancels_its_shipments_and_releases_everything(
    beijing_and_hangzhou, wms_calls
):
    order = paid_order()
    [shipment] = routing.route_order(order=order)

    services.order_transition(order=order, name="cancel", reason="fraud")

    shipment.refresh_from_db()
    assert shipment.status == "cancelled" and ("cancel", shipment.number) in wms_calls
    assert StockBalance.objects.aggregate(n=Sum("reserved"))["n"] == 0
    assert_stock_consistent()


@pytest.mark.django_db
def test_holding_an_allocated_order_stops_its_shipment_and_release_routes_again(
    beijing_and_hangzhou, wms_calls, django_capture_on_commit_callbacks
):
    order = paid_order()
    [shipment] = routing.route_order(order=order)

    services.order_transition(order=order, name="hold", reason="address check")
    shipment.refresh_from_db()
    assert shipment.status == "cancelled"
    assert order.reservations.filter(state="committed", shipment__isnull=True).count() == 2  # kept, unlinked

    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, name="release")
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    [again] = live_shipments(order)
    assert again.number == f"{order.number}-2"
    assert_stock_consistent()


@pytest.mark.django_db
def test_payment_routes_the_order_once_it_commits(beijing_and_hangzhou, django_capture_on_commit_callbacks):
    order = make_order()
    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=order, name="mark_paid")
    order.refresh_from_db()
    assert order.status == S.ALLOCATED and len(live_shipments(order)) == 1


@pytest.mark.django_db
def test_the_safety_net_routes_paid_orders_the_task_missed(beijing_and_hangzhou):
    recent, stale = paid_order(), paid_order()
    Order.objects.filter(pk=stale.pk).update(paid_at=timezone.now() - timedelta(minutes=5))
    Order.objects.filter(pk=recent.pk).update(paid_at=timezone.now())

    assert routing.paid_orders_waiting() == [stale.pk]
    assert tasks.route_missed_paid_orders() == 1
    assert tasks.route_missed_paid_orders() == 0  # idempotent
    stale.refresh_from_db()
    recent.refresh_from_db()
    assert (stale.status, recent.status) == (S.ALLOCATED, S.PAID)


@pytest.mark.django_db
def test_reroute_cancels_what_is_in_the_warehouse_and_routes_again(beijing_and_hangzhou, wms_calls, manager):
    bj, hz = beijing_and_hangzhou
    order = paid_order()
    [first] = routing.route_order(order=order)
    Warehouse.objects.filter(pk=hz.pk).update(is_active=False)  # Hangzhou closes

    [second] = routing.reroute_order(order=order, actor=manager, reason="Hangzhou closed")

    first.refresh_from_db()
    assert first.status == "cancelled" and second.warehouse == bj
    assert stock_at(bj) == (10, 2) and stock_at(hz) == (10, 0)
    assert_stock_consistent()


# --- the order page and the API -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_order_page_shows_shipments_and_routes_for_managers_only(
    client, agent, manager, beijing_and_hangzhou
):
    order = paid_order()
    url = order.get_absolute_url()
    route_url = reverse("fulfilment:order-route", args=[order.number])

    client.force_login(agent)
    page = client.get(url).content.decode()
    assert "Not routed yet" in page and route_url not in page
    assert client.post(route_url, {"mode": "route", "expected_status": "paid"}).status_code == 403

    client.force_login(manager)
    assert 'value="route"' in client.get(url).content.decode()
    response = client.post(route_url, {"mode": "route", "expected_status": "paid"}, follow=True)
    page = response.content.decode()
    assert f"Order {order.number} routed: {order.number}-1." in page
    assert "Ships from WH-HZ" in page and "SKU-1 × 2" in page
    assert 'value="reroute"' in page and 'value="route"' not in page

    stale = client.post(route_url, {"mode": "route", "expected_status": "paid"}, follow=True)
    assert "changed meanwhile" in stale.content.decode()
    rerouted = client.post(
        route_url,
        {"mode": "reroute", "expected_status": "allocated", "reason": "policy changed"},
        follow=True,
    )
    assert f"{order.number}-2" in rerouted.content.decode()
    assert [s.status for s in fulfilment_selectors.order_shipments(order)] == [
        "cancelled",
        "sent_to_warehouse",
    ]


@pytest.mark.django_db
def test_the_api_detail_lists_the_shipments(agent, beijing_and_hangzhou):
    order = paid_order()
    routing.route_order(order=order)
    api = APIClient()
    api.force_authenticate(agent)

    [shipment] = api.get(f"/api/v1/orders/{order.number}/").data["shipments"]

    assert shipment["number"] == f"{order.number}-1"
    assert (shipment["status"], shipment["warehouse"], shipment["presale"]) == (
        "sent_to_warehouse",
        "WH-HZ",
        False,
    )
    assert [(line["sku"], line["quantity"]) for line in shipment["lines"]] == [("SKU-1", 2), ("SKU-2", 1)]
    assert shipment["routing"]["chosen"] == ["WH-HZ"]


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_routing_and_cancellations_neither_deadlock_nor_oversell():
    # given units far away (Beijing, where creation reserves) and 6 near (Hangzhou), two paid
    # orders routed (on commit) to the near ones, and four unpaid orders holding far units
    ensure_master_data(stock=0)
    sku = SKUFactory(code="SKU-1")
    far = warehouse("WH-BJ", province="北京市", city="北京市")
    near = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(sku, 20, warehouse=far)
    receive(sku, 6, warehouse=near)
    routed = [one_sku(quantity=2) for _ in range(2)]
    assert {s.warehouse for order in routed for s in live_shipments(order)} == {near}
    unpaid = [make_order(lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}]) for _ in range(4)]
    barrier = threading.Barrier(len(routed) + len(unpaid))
    errors = []

    def work(order, name, reason=""):
        try:
            barrier.wait()
            # payment routes the order when it commits (the task runs eagerly in tests)
            services.order_transition(order=order.pk, name=name, reason=reason)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when the routed orders are cancelled while the others are paid and routed, all at once
    threads = [threading.Thread(target=work, args=(order, "cancel", "race")) for order in routed]
    threads += [threading.Thread(target=work, args=(order, "mark_paid")) for order in unpaid]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then nothing failed, and stock, reservations and shipments agree
    assert errors == []
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in routed])} == {S.CANCELLED}
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in unpaid])} == {S.ALLOCATED}
    assert_stock_consistent()
    assert stock_at(near)[1] <= 6
    for order in unpaid:
        [shipment] = live_shipments(order)
        linked = Reservation.objects.filter(order=order, state="committed", shipment=shipment)
        assert linked.aggregate(n=Sum("quantity"))["n"] == 2
    assert not Shipment.objects.filter(order__in=routed).exclude(status="cancelled").exists()


# --- random histories -----------------------------------------------------------------------------


class RoutingMachine(RuleBasedStateMachine):
    """Receipts in two warehouses, paid orders, routing, line cancellations, rejections and
    shipping in any order: the ledger stays true, nothing is oversold, and every parcel still in
    a warehouse holds exactly the units it carries."""

    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()  # every example runs in a savepoint rolled back at teardown
        self.counter = 0

    @initialize()
    def master_data(self):
        ensure_master_data(stock=0)
        self.warehouses = [
            warehouse("WH-BJ", province="北京市", city="北京市"),  # creation reserves here first
            warehouse("WH-HZ", province="浙江省", city="杭州市"),  # routing prefers this one
        ]
        # nearest first: parcels split and reservations split between the two warehouses
        RoutingPolicy.objects.create(name="near first", strategies=["delivery_time", "availability"])
        for code in ("SKU-1", "SKU-2"):
            receive(SKUFactory(code=code), 8, warehouse=self.warehouses[0])
            receive(SKUFactory(code=code), 2, warehouse=self.warehouses[1])

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def _pick(self, queryset, pick):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        return ids[pick % len(ids)] if ids else None

    @rule(where=st.integers(0, 1), sku=st.sampled_from(["SKU-1", "SKU-2"]), quantity=st.integers(1, 6))
    def receive(self, where, sku, quantity):
        receive(SKUFactory(code=sku), quantity, warehouse=self.warehouses[where])

    @rule(
        lines=st.lists(
            st.tuples(st.sampled_from(["SKU-1", "SKU-2"]), st.integers(1, 3)), min_size=1, max_size=2
        )
    )
    def place_paid_order(self, lines):
        self.counter += 1
        paid_order(
            external_id=f"R-{self.counter}",
            lines=[{"sku": sku, "quantity": qty, "unit_price": "5.00"} for sku, qty in lines],
        )

    @rule(pick=st.integers(0, 50))
    def route(self, pick):
        order_id = self._pick(Order.objects.filter(status=S.PAID), pick)
        if order_id:
            routing.route_order(order=order_id)

    @rule(pick=st.integers(0, 50))
    def cancel_a_unit(self, pick):
        order_id = self._pick(Order.objects.filter(status=S.ALLOCATED), pick)
        if order_id:
            line = Order.objects.get(pk=order_id).lines.filter(quantity__gt=F("cancelled_quantity")).first()
            services.order_cancel_lines(order=order_id, quantities={line.pk: 1}, reason="size")

    @rule(pick=st.integers(0, 50))
    def reject(self, pick):
        shipment_id = self._pick(Shipment.objects.filter(status="sent_to_warehouse"), pick)
        if shipment_id:
            routing.reroute_rejected(shipment=shipment_id, reason="damaged")

    @rule(pick=st.integers(0, 50))
    def ship(self, pick):
        order_id = self._pick(Order.objects.filter(status=S.ALLOCATED), pick)
        if order_id:
            drive_shipments(Order.objects.get(pk=order_id), limit=1)

    @invariant()
    def the_books_are_straight(self):
        assert_stock_consistent()

    @invariant()
    def unshipped_orders_hold_exactly_their_live_units(self):
        for order in Order.objects.filter(status__in=[S.PAID, S.ALLOCATED]):
            held = reservations.held_quantities(order.pk)
            assert {line.pk: line.live_quantity for line in order.lines.all() if line.live_quantity} == {
                line_id: units for line_id, units in held.items() if units
            }

    @invariant()
    def allocated_orders_have_every_live_unit_in_a_parcel(self):
        for order in Order.objects.filter(status=S.ALLOCATED):
            assert routing.unrouted_needs(order) == []

    @invariant()
    def parcels_in_the_warehouse_hold_what_they_carry(self):
        for shipment in Shipment.objects.filter(status__in=["created", "sent_to_warehouse"]):
            carried = dict(
                shipment.lines.values("order_line_id")
                .annotate(n=Sum("quantity"))
                .values_list("order_line_id", "n")
            )
            held = dict(
                Reservation.objects.filter(shipment=shipment, state__in=["active", "committed"])
                .values("order_line_id")
                .annotate(n=Sum("quantity"))
                .values_list("order_line_id", "n")
            )
            assert held == carried


@pytest.mark.django_db
def test_random_routing_histories_keep_stock_and_parcels_consistent():
    run_state_machine_as_test(
        RoutingMachine,
        settings=hypothesis_settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


@pytest.mark.django_db
def test_an_order_of_only_pre_sale_units_waits_in_the_pre_sale_job_not_the_safety_net(
    skus, presale_sku, wms_calls
):
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    order = one_sku("PRE-1", 2)  # paid, nothing in stock to route yet
    Order.objects.filter(pk=order.pk).update(paid_at=timezone.now() - timedelta(minutes=5))
    assert order.status == S.PAID
    assert routing.paid_orders_waiting() == []  # it must not crowd out orders the safety net is for
    assert routing.presale_waiting() == [order.pk]
    assert tasks.route_presale_waiting() == 0

    receive(presale_sku, 3, warehouse=hz)
    assert tasks.route_presale_waiting() == 1
    order.refresh_from_db()
    assert order.status == S.ALLOCATED and routing.presale_waiting() == []
