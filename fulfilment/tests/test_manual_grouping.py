"""Merging and splitting parcels by hand (issue #19): the orders stay as sold, their parcels
change; reservations follow the units exactly, refusals name what blocks and write nothing."""

# ruff: noqa: F811 - the routing tests' fixtures are imported by name and requested as arguments

import threading

import pytest
from django.db import connection
from django.db.models import Sum
from django.urls import reverse

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.roles import Role
from fulfilment import manual_grouping, routing
from fulfilment.models import RoutingPolicy, Shipment, ShipmentLine
from fulfilment.services import shipment_transition
from fulfilment.tests.test_routing import (
    assert_stock_consistent,
    beijing_and_hangzhou,  # noqa: F401 - fixture
    live_shipments,
    one_sku,
    paid_order,
    skus,  # noqa: F401 - fixture
    stock_at,
    warehouse,
)
from inventory.models import Reservation, Warehouse
from orders import services
from orders.models import OrderEventKind
from orders.tests.factories import SKUFactory, ensure_master_data, make_order, receive

ELSEWHERE = {
    "country": "CN",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "line1": "文三路 91 号",
    "postcode": "310000",
    "phone": "13800000001",
}


def held(order_ids):
    return (
        Reservation.objects.filter(order_id__in=order_ids, state__in=["active", "committed"]).aggregate(
            n=Sum("quantity")
        )["n"]
        or 0
    )


def hangzhou():
    return Warehouse.objects.get(code="WH-HZ")


def routed(*orders):
    for order in orders:
        routing.route_order(order=order)
    return [live_shipments(order) for order in orders]


@pytest.fixture
def two_parcels(beijing_and_hangzhou):
    """Two orders of one customer to one address, each in its own parcel sent to Hangzhou."""
    first, second = one_sku("SKU-1", 2), one_sku("SKU-2", 1)
    [[a], [b]] = routed(first, second)
    assert a.warehouse.code == b.warehouse.code == "WH-HZ" and a.status == "sent_to_warehouse"
    return first, second, a, b


# --- merge --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_merging_two_orders_ships_them_in_one_parcel_with_their_reservations(two_parcels, agent):
    first, second, a, b = two_parcels
    before = held([first.pk, second.pk]), stock_at(hangzhou(), "SKU-2")

    parcel = manual_grouping.shipments_merge_by_hand(
        order=first, others=[second.pk], actor=agent, expected_status="allocated"
    )

    assert parcel == a
    assert sorted(parcel.lines.values_list("order_line__order__number", flat=True)) == sorted(
        [first.number, second.number]
    )
    b.refresh_from_db()
    assert b.status == "cancelled" and b.problem == f"Merged into {a.number}"
    assert [s.pk for s in live_shipments(second)] == [a.pk]
    assert set(
        Reservation.objects.filter(order=second, state="committed").values_list("shipment", flat=True)
    ) == {a.pk}
    assert (held([first.pk, second.pk]), stock_at(hangzhou(), "SKU-2")) == before
    assert_stock_consistent()
    for order in (first, second):
        event = order.events.filter(kind=OrderEventKind.SHIPMENT, payload__transition="merge").get()
        assert event.actor == agent and a.number in event.reason
    assert second.events.get(payload__transition="merge").payload["lines"] == [
        {"line": 1, "sku": "SKU-2", "quantity": 1}
    ]
    # and the merged parcel ships both orders
    for name in ("start_picking", "pack"):
        shipment_transition(shipment=a, name=name)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("allocated", "allocated")


@pytest.mark.django_db
def test_a_merge_is_refused_for_another_address_a_picked_parcel_a_stale_page_or_no_permission(
    two_parcels, agent, warehouse_user
):
    first, second, a, b = two_parcels
    [[other]] = routed(one_sku("SKU-3", 1, shipping_address=ELSEWHERE))
    other_order = other.order

    with pytest.raises(TransitionRefused, match="different address"):
        manual_grouping.shipments_merge_by_hand(order=first, others=[other_order.pk], actor=agent)
    with pytest.raises(NotPermitted):
        manual_grouping.shipments_merge_by_hand(order=first, others=[second.pk], actor=warehouse_user)
    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        manual_grouping.shipments_merge_by_hand(
            order=first, others=[second.pk], actor=agent, expected_status="paid"
        )
    shipment_transition(shipment=b, name="start_picking")
    with pytest.raises(TransitionRefused, match=f"{b.number} is already Picking"):
        manual_grouping.shipments_merge_by_hand(order=first, others=[second.pk], actor=agent)

    # nothing was written
    assert ShipmentLine.objects.filter(shipment=a).count() == 1
    assert not first.events.filter(payload__transition="merge").exists()
    assert_stock_consistent()


@pytest.mark.django_db
def test_a_printed_waybill_blocks_and_the_candidates_say_why(two_parcels, agent):
    first, second, a, b = two_parcels
    third = one_sku("SKU-3", 1)
    [[c]] = routed(third)
    Shipment.objects.filter(pk=c.pk).update(label_prints=1)
    first.refresh_from_db()

    listed = dict(manual_grouping.merge_candidates(first))
    assert listed[second] == ""
    assert "already printed" in listed[third]
    with pytest.raises(TransitionRefused, match="already printed"):
        manual_grouping.shipments_merge_by_hand(order=first, others=[third.pk], actor=agent)


# --- split --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_splitting_moves_units_into_a_new_parcel_from_the_same_warehouse(beijing_and_hangzhou, agent):
    order = paid_order()  # SKU-1 ×2, SKU-2 ×1
    [[parcel]] = routed(order)
    line = parcel.lines.get(sku__code="SKU-1")
    before = held([order.pk])

    new = manual_grouping.shipment_split_by_hand(
        shipment=parcel, quantities={line.pk: 1}, actor=agent, expected_status="sent_to_warehouse"
    )

    assert (
        new.warehouse == parcel.warehouse and new.split_from == parcel and new.status == "sent_to_warehouse"
    )
    shipped = {s.number: sorted(s.lines.values_list("sku__code", "quantity")) for s in live_shipments(order)}
    assert shipped == {parcel.number: [("SKU-1", 1), ("SKU-2", 1)], new.number: [("SKU-1", 1)]}
    assert held([order.pk]) == before
    assert (
        Reservation.objects.filter(order=order, shipment=new, state="committed").aggregate(n=Sum("quantity"))[
            "n"
        ]
        == 1
    )
    assert order.events.get(payload__transition="split").actor == agent
    assert_stock_consistent()


@pytest.mark.django_db
def test_splitting_to_another_warehouse_moves_the_reservation_through_the_ledger(beijing_and_hangzhou, agent):
    bj, hz = beijing_and_hangzhou
    order = paid_order()
    [[parcel]] = routed(order)
    assert stock_at(hz, "SKU-1") == (10, 2) and stock_at(bj, "SKU-1") == (10, 0)
    line = parcel.lines.get(sku__code="SKU-1")

    new = manual_grouping.shipment_split_by_hand(
        shipment=parcel, quantities={line.pk: 2}, actor=agent, to_warehouse_id=bj.pk
    )

    assert new.warehouse == bj and new.status == "sent_to_warehouse"  # an own warehouse takes it at once
    assert stock_at(hz, "SKU-1") == (10, 0) and stock_at(bj, "SKU-1") == (10, 2)
    assert {
        (r.balance.warehouse.code, r.shipment_id, r.quantity)
        for r in Reservation.objects.filter(order=order, sku__code="SKU-1", state="committed")
    } == {("WH-BJ", new.pk, 2)}
    assert held([order.pk]) == 3
    assert_stock_consistent()


@pytest.mark.django_db
def test_a_split_is_refused_without_stock_bad_quantities_or_emptying_the_parcel(
    beijing_and_hangzhou, agent, warehouse_user
):
    bj, hz = beijing_and_hangzhou
    empty = warehouse("WH-SH", province="上海市", city="上海市")
    order = paid_order()
    [[parcel]] = routed(order)
    lines = {line.sku.code: line for line in parcel.lines.select_related("sku")}

    with pytest.raises(DomainError, match="WH-SH does not have the stock for: SKU-1") as refused:
        manual_grouping.shipment_split_by_hand(
            shipment=parcel, quantities={lines["SKU-1"].pk: 1}, actor=agent, to_warehouse_id=empty.pk
        )
    assert refused.value.field == "warehouse"
    with pytest.raises(DomainError, match="between 0 and 2"):
        manual_grouping.shipment_split_by_hand(
            shipment=parcel, quantities={lines["SKU-1"].pk: 3}, actor=agent
        )
    with pytest.raises(DomainError, match="Leave at least one unit"):
        manual_grouping.shipment_split_by_hand(
            shipment=parcel, quantities={lines["SKU-1"].pk: 2, lines["SKU-2"].pk: 1}, actor=agent
        )
    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        manual_grouping.shipment_split_by_hand(
            shipment=parcel, quantities={lines["SKU-1"].pk: 1}, actor=agent, expected_status="created"
        )
    with pytest.raises(NotPermitted):
        manual_grouping.shipment_split_by_hand(
            shipment=parcel, quantities={lines["SKU-1"].pk: 1}, actor=warehouse_user
        )
    assert [s.pk for s in live_shipments(order)] == [parcel.pk]
    assert stock_at(hz, "SKU-1") == (10, 2) and stock_at(empty, "SKU-1") == (0, 0)
    assert_stock_consistent()


# --- desk ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_desk_merges_and_splits_and_shows_errors_without_500(two_parcels, agent, client):
    first, second, a, b = two_parcels
    client.force_login(agent)
    page = client.get(first.get_absolute_url())
    assert reverse("fulfilment:order-merge", args=[first.number]) in page.content.decode()
    assert reverse("fulfilment:shipment-split", args=[a.number]) in page.content.decode()

    merge_url = reverse("fulfilment:order-merge", args=[first.number])
    listing = client.get(merge_url)
    assert listing.status_code == 200 and second.number in listing.content.decode()
    assert client.post(merge_url, {"orders": "x"}).status_code == 200
    stale = client.post(merge_url, {"orders": second.pk, "expected_status": "paid"}, follow=True)
    assert stale.status_code == 200 and "changed meanwhile" in stale.content.decode()
    done = client.post(merge_url, {"orders": second.pk, "expected_status": "allocated"}, follow=True)
    assert f"now ship with {first.number} in one parcel, {a.number}" in done.content.decode()

    split_url = reverse("fulfilment:shipment-split", args=[a.number])
    line = a.lines.get(sku__code="SKU-2")
    assert client.get(split_url).status_code == 200
    bad = client.post(split_url, {f"line-{line.pk}": "two"})
    assert bad.status_code == 200 and "whole numbers" in bad.content.decode()
    assert client.post(split_url, {"warehouse": "nope"}).status_code == 200
    split = client.post(
        split_url, {f"line-{line.pk}": "1", "expected_status": "sent_to_warehouse"}, follow=True
    )
    assert f"Shipment {a.number} split" in split.content.decode()
    assert len(live_shipments(second)) == 1 and live_shipments(second)[0] != a


@pytest.mark.django_db
def test_the_desk_refuses_users_without_the_permission(two_parcels, warehouse_user, client):
    first, _second, a, _b = two_parcels
    client.force_login(warehouse_user)
    assert client.get(reverse("fulfilment:order-merge", args=[first.number])).status_code == 403
    assert client.get(reverse("fulfilment:shipment-split", args=[a.number])).status_code == 403


# --- races --------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_agents_merging_the_same_orders_at_once_merge_them_once(make_user):
    # given two orders of one customer to one address, each in its own parcel
    ensure_master_data(stock=0)
    sku = SKUFactory(code="SKU-1")
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(sku, 10, warehouse=hz)
    orders = [
        make_order(paid=True, lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}]) for _ in "ab"
    ]
    for order in orders:
        if not live_shipments(order):
            routing.route_order(order=order)
    assert len({s.pk for order in orders for s in live_shipments(order)}) == 2
    agents = [make_user(Role.CUSTOMER_SERVICE, username=f"agent{i}") for i in range(2)]
    barrier = threading.Barrier(2)
    won, refused, errors = [], [], []

    def merge(agent, order, other):
        try:
            barrier.wait()
            won.append(
                manual_grouping.shipments_merge_by_hand(order=order.pk, others=[other.pk], actor=agent)
            )
        except TransitionRefused as exc:
            refused.append(exc)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when two agents merge them from either order's page at the same moment
    threads = [
        threading.Thread(target=merge, args=(agents[0], orders[0], orders[1])),
        threading.Thread(target=merge, args=(agents[1], orders[1], orders[0])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one merged them, the other was told, and every unit is held once
    assert errors == [] and len(won) == 1 and len(refused) == 1
    assert "already ship as one parcel" in refused[0].message
    [parcel] = live_shipments(orders[0])
    assert live_shipments(orders[1]) == [parcel]
    assert (
        Reservation.objects.filter(shipment=parcel, state="committed").aggregate(n=Sum("quantity"))["n"] == 4
    )
    assert held([o.pk for o in orders]) == 4 and stock_at(hz) == (10, 4)
    assert_stock_consistent()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_manual_merge_racing_the_automatic_merge_loses_no_unit_and_holds_none_twice(make_user):
    # given an order C in a parcel sent to the warehouse, then (merging on) order A in a parcel
    # waiting for merges, and an unpaid order D of the same customer to the same address
    ensure_master_data(stock=0)
    sku = SKUFactory(code="SKU-1")
    hz = warehouse("WH-HZ", province="浙江省", city="杭州市")
    receive(sku, 10, warehouse=hz)
    line = [{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}]
    c = make_order(paid=True, lines=line)
    RoutingPolicy.objects.create(
        name="merge", strategies=["availability"], merge_open_orders=True, merge_window_minutes=30
    )
    a = make_order(paid=True, lines=line)
    [pc], [pa] = live_shipments(c), live_shipments(a)
    assert pc.status == "sent_to_warehouse" and routing.MERGE_UNTIL in pa.routing
    d = make_order(lines=line)
    agent = make_user(Role.CUSTOMER_SERVICE)
    barrier = threading.Barrier(2)
    refused, errors = [], []

    def run(work):
        try:
            barrier.wait()
            work()
        except TransitionRefused as exc:
            refused.append(exc)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    # when the agent merges A into C's parcel while D is paid and routing merges it into A's parcel
    threads = [
        threading.Thread(
            target=run,
            args=(lambda: manual_grouping.shipments_merge_by_hand(order=c.pk, others=[a.pk], actor=agent),),
        ),
        threading.Thread(target=run, args=(lambda: services.order_transition(order=d.pk, name="mark_paid"),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then whichever came first, every order's units ride in exactly one live parcel, held once
    assert errors == [] and len(refused) <= 1
    for order in (a, c, d):
        carried = ShipmentLine.objects.filter(order_line__order=order).exclude(shipment__status="cancelled")
        assert carried.aggregate(n=Sum("quantity"))["n"] == 2
        linked = Reservation.objects.filter(order=order, state="committed").exclude(
            shipment__status="cancelled"
        )
        assert linked.aggregate(n=Sum("quantity"))["n"] == 2 and held([order.pk]) == 2
    assert stock_at(hz) == (10, 6)
    assert_stock_consistent()
