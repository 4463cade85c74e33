"""The order follows its shipments (R-F3, R-F4): partially shipped when one parcel left, shipped
when all did, delivered when all arrived — whatever order the carrier events come in, and never
backwards. Each shipment takes only its own units off the shelf."""

import pytest
from django.db.models import Sum
from django.utils import timezone

from core.errors import TransitionRefused
from core.models import Alert
from fulfilment import routing
from fulfilment.services import shipment_transition
from inventory.models import StockBalance, Warehouse
from inventory.reconciliation import find_drift
from orders import services
from orders.models import OrderStatus
from orders.tests.factories import CarrierFactory, SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db
S = OrderStatus


@pytest.fixture
def split_order():
    """SKU-1 only in Hangzhou, SKU-2 only in Shanghai: one order, two parcels."""
    ensure_master_data(stock=0)
    hz = Warehouse.objects.create(code="WH-HZ", name="Hangzhou", kind="own", province="浙江省", city="杭州市")
    sh = Warehouse.objects.create(code="WH-SH", name="Shanghai", kind="own", province="上海市", city="上海市")
    receive(SKUFactory(code="SKU-1"), 5, warehouse=hz)
    receive(SKUFactory(code="SKU-2"), 5, warehouse=sh)
    order = make_order(paid=True)  # SKU-1 ×2, SKU-2 ×1
    first, second = routing.route_order(order=order)
    assert (first.warehouse, second.warehouse) == (hz, sh)
    return order, first, second


def move(shipment, *names):
    carrier = CarrierFactory()
    args = {
        "ship": {"carrier": carrier, "tracking_number": f"SF{shipment.pk:08d}"},
        "mark_in_transit": {"at": timezone.now()},
        "deliver": {"at": timezone.now()},
    }
    for name in names:
        shipment = shipment_transition(shipment=shipment, name=name, args=args.get(name))
    return shipment


def status(order):
    order.refresh_from_db()
    return order.status


def on_hand(code):
    return StockBalance.objects.filter(sku__code=code).aggregate(n=Sum("on_hand"))["n"]


def test_the_order_moves_with_its_parcels(split_order):
    order, first, second = split_order
    assert status(order) == S.ALLOCATED

    move(first, "pack", "ship")
    assert status(order) == S.PARTIALLY_SHIPPED
    assert (on_hand("SKU-1"), on_hand("SKU-2")) == (3, 5)  # only the first parcel's units left

    move(second, "pack", "ship")
    assert status(order) == S.SHIPPED
    assert on_hand("SKU-2") == 4

    move(first, "mark_in_transit", "deliver")
    assert status(order) == S.SHIPPED  # one parcel is still on its way

    move(second, "deliver")  # signed for without an in-transit scan first
    assert status(order) == S.DELIVERED
    assert order.delivered_at is not None
    assert set(order.reservations.values_list("state", flat=True)) == {"consumed"}
    steps = list(order.events.filter(kind="transition").values_list("to_status", flat=True))
    assert steps[-3:] == [S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED]
    assert find_drift() == []

    services.order_transition(order=order, name="complete")
    assert status(order) == S.COMPLETED


def test_a_parcel_delivered_before_the_other_left_waits_for_it(split_order):
    order, first, second = split_order

    move(second, "pack", "ship", "deliver")
    assert status(order) == S.PARTIALLY_SHIPPED

    move(first, "pack", "ship")  # everything has left, one parcel already arrived
    assert status(order) == S.SHIPPED

    move(first, "deliver")
    assert status(order) == S.DELIVERED


def test_late_or_repeated_carrier_events_never_move_the_order_back(split_order):
    order, first, second = split_order
    move(first, "pack", "ship", "deliver")
    move(second, "pack", "ship", "deliver")
    assert status(order) == S.DELIVERED
    events = order.events.count()

    with pytest.raises(TransitionRefused):
        move(first, "mark_in_transit")  # an in-transit scan that arrives after the signature
    with pytest.raises(TransitionRefused):
        move(second, "deliver")

    assert status(order) == S.DELIVERED
    assert order.events.count() == events


def test_an_exception_does_not_undo_shipped_and_delivery_after_it_counts(split_order):
    order, first, second = split_order
    move(first, "pack", "ship")
    move(second, "pack", "ship")
    shipment_transition(shipment=first, name="mark_exception", args={"problem": "address unknown"})
    assert status(order) == S.SHIPPED

    move(first, "mark_in_transit", "deliver")
    move(second, "deliver")
    assert status(order) == S.DELIVERED


def test_a_single_parcel_order_goes_straight_to_shipped():
    ensure_master_data()
    order = make_order(paid=True)
    [shipment] = routing.route_order(order=order)

    move(shipment, "pack", "ship")
    assert status(order) == S.SHIPPED


def test_units_no_shipment_carries_keep_the_order_short_of_shipped():
    ensure_master_data()
    SKUFactory(code="PRE-1", presale=True)  # no stock: its line waits
    order = make_order(
        paid=True,
        lines=[
            {"sku": "SKU-1", "quantity": 1, "unit_price": "10.00"},
            {"sku": "PRE-1", "quantity": 1, "unit_price": "10.00", "presale": True},
        ],
    )
    [shipment] = routing.route_order(order=order)

    move(shipment, "pack", "ship", "deliver")
    assert status(order) == S.PARTIALLY_SHIPPED


def test_a_cancelled_parcel_does_not_count(split_order):
    order, first, second = split_order
    move(first, "pack", "ship")
    routing.reroute_rejected(shipment=second, reason="out of boxes")  # SKU-2 has nowhere else to go

    assert status(order) == S.PARTIALLY_SHIPPED  # partly shipped orders cannot be held
    second.refresh_from_db()
    assert second.status == "cancelled"
    assert order.events.filter(kind="routed").last().reason.startswith("WH-SH rejected shipment")
    assert Alert.objects.get(kind="routing_short").state == "open"  # a manager must act
