"""Bundles (组合装, issue #14 part 4) through the real intake, cancellation, routing, shipping and
return paths: the components are reserved, shipped and returned; the bundle line keeps the money
as sold and its components carry their share of what it was paid, exact to the cent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from core.errors import DomainError
from finance.revenue import order_revenue_amounts
from fulfilment.models import ShipmentLine
from inventory.models import SKU, BundleComponent, Reservation, StockBalance
from inventory.reconciliation import find_drift
from orders import amounts, services
from orders.models import LineKind, OrderStatus
from orders.tests.factories import drive_shipments, ensure_master_data, make_order
from returns.models import ReturnRefund
from returns.tests.conftest import receive_and_inspect, request_return

pytestmark = pytest.mark.django_db

D = Decimal
T0 = timezone.now() - timedelta(hours=2)


def make_bundle(code="BOX", components=(("SKU-1", 2, "30.00"), ("SKU-2", 1, "40.00"))) -> SKU:
    """A gift box: 2 × SKU-1 (worth 30.00 each inside it) and 1 × SKU-2 (worth 40.00)."""
    ensure_master_data(stock=100)
    bundle = SKU.objects.create(code=code, name=f"Bundle {code}", is_bundle=True)
    for component, quantity, price in components:
        BundleComponent.objects.create(
            bundle=bundle,
            component=SKU.objects.get(code=component),
            quantity=quantity,
            reference_price=D(price),
        )
    return bundle


BUNDLE_LINES = [
    {"sku": "BOX", "quantity": 2, "unit_price": "150.00", "discount": "10.00"},
    {"sku": "SKU-3", "quantity": 1, "unit_price": "20.00"},
]


def bundle_order(**overrides):
    make_bundle()
    return make_order(lines=BUNDLE_LINES, discount="5.00", shipping_fee="8.00", **overrides)


def lines_by_no(order):
    return {line.line_no: line for line in order.lines.select_related("sku", "parent_line")}


def reserved(line) -> int:
    return line.reservations.aggregate(n=Sum("quantity"))["n"] or 0


def available(code: str) -> int:
    return sum(b.available for b in StockBalance.objects.filter(sku__code=code))


def test_a_bundle_line_becomes_component_lines_that_are_reserved_exactly():
    order = bundle_order(paid=True)

    lines = lines_by_no(order)
    assert [(no, line.kind, line.sku.code, line.quantity) for no, line in sorted(lines.items())] == [
        (1, LineKind.BUNDLE, "BOX", 2),
        (2, LineKind.GOODS, "SKU-3", 1),
        (3, LineKind.COMPONENT, "SKU-1", 4),  # 2 bundles × 2
        (4, LineKind.COMPONENT, "SKU-2", 2),  # 2 bundles × 1
    ]
    assert lines[3].parent_line == lines[1] and lines[4].parent_line == lines[1]
    # the components and the goods are reserved, the bundle line holds nothing of its own
    assert [reserved(lines[no]) for no in (1, 2, 3, 4)] == [0, 1, 4, 2]
    assert not Reservation.objects.filter(sku__code="BOX").exists()
    assert (available("SKU-1"), available("SKU-2"), available("SKU-3")) == (96, 98, 99)
    assert order.status == OrderStatus.PAID
    assert find_drift() == []


def test_the_bundle_keeps_the_money_and_its_components_share_what_it_was_paid():
    order = bundle_order(paid=True)
    lines = lines_by_no(order)

    # BOX: 2 × 150.00 − 10.00 = 290.00, less its share of the 5.00 order discount
    # (5 × 290 / 310 = 4.68) = 285.32; split 60 : 40 by reference price × units (2 × 30, 1 × 40)
    assert (lines[1].unit_price, lines[1].paid_amount) == (D("150.00"), D("285.32"))
    assert (lines[3].paid_amount, lines[4].paid_amount) == (D("171.19"), D("114.13"))
    assert lines[3].paid_amount + lines[4].paid_amount == lines[1].paid_amount
    for component in (lines[3], lines[4]):
        assert (component.unit_price, component.discount, component.tax_amount) == (D(0), D(0), D(0))
    # the order's amounts and revenue are those of the lines as sold
    sold = [line for line in lines.values() if line.is_sold]
    assert sum((line.paid_amount for line in sold), D(0)) + amounts.shipping_net(order) == order.total
    assert order.total == D("313.00")  # 300 + 20 − 10 − 5 + 8
    revenue = order_revenue_amounts(order)
    assert sum(revenue.values(), D(0)) - revenue.get("commission", D(0)) == order.total
    assert revenue["goods"] == D("320.00")


def test_components_without_reference_prices_share_by_units():
    make_bundle(code="DUO", components=(("SKU-1", 2, "0"), ("SKU-2", 1, "0")))
    order = make_order(lines=[{"sku": "DUO", "quantity": 1, "unit_price": "100.00"}], discount="0.00")
    lines = lines_by_no(order)
    assert (lines[2].paid_amount, lines[3].paid_amount) == (D("66.67"), D("33.33"))


def test_cancelling_a_bundle_line_cancels_and_releases_its_components(agent):
    order = bundle_order(paid=True)
    lines = lines_by_no(order)

    services.order_cancel_lines(order=order, quantities={lines[1].pk: 1}, actor=agent, reason="one box less")

    lines = lines_by_no(order)
    assert [lines[no].cancelled_quantity for no in (1, 2, 3, 4)] == [1, 0, 2, 1]
    assert (reserved(lines[3]), reserved(lines[4])) == (2, 1)
    assert (available("SKU-1"), available("SKU-2")) == (98, 99)
    event = order.events.filter(kind="lines_cancelled").get()
    assert event.payload["lines"] == [
        {"line": 1, "sku": "BOX", "quantity": 1},
        {"line": 3, "sku": "SKU-1", "quantity": 2},
        {"line": 4, "sku": "SKU-2", "quantity": 1},
    ]
    assert event.payload["released"] == 3

    services.order_cancel_lines(order=order, quantities={lines[1].pk: 1}, actor=agent, reason="no box")
    assert (available("SKU-1"), available("SKU-2")) == (100, 100)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID  # SKU-3 is still live
    assert find_drift() == []


def test_a_component_line_cannot_be_cancelled_on_its_own(agent):
    order = bundle_order(paid=True)
    lines = lines_by_no(order)

    with pytest.raises(DomainError, match="part of the bundle on line 1"):
        services.order_cancel_lines(order=order, quantities={lines[3].pk: 1}, actor=agent, reason="x")

    assert sum(line.cancelled_quantity for line in order.lines.all()) == 0


def test_the_api_cancel_by_sku_cancels_the_bundle_with_its_components(agent):
    order = bundle_order(paid=True)

    services.order_cancel(order=order, actor=agent, reason="gone", sku_quantities={"BOX": 2})

    assert {line.line_no: line.live_quantity for line in order.lines.all()} == {1: 0, 2: 1, 3: 0, 4: 0}
    assert (available("SKU-1"), available("SKU-2")) == (100, 100)


def test_a_platform_update_with_fewer_bundles_cancels_their_components():
    order = bundle_order(external_id="B-upd", updated_at=T0.isoformat())
    fewer = [{**BUNDLE_LINES[0], "quantity": 1}, BUNDLE_LINES[1]]

    make_order(external_id="B-upd", updated_at=(T0 + timedelta(minutes=1)).isoformat(), lines=fewer)

    lines = lines_by_no(order)
    assert [lines[no].live_quantity for no in (1, 2, 3, 4)] == [1, 1, 2, 1]
    assert (reserved(lines[3]), reserved(lines[4])) == (2, 1)
    assert (available("SKU-1"), available("SKU-2")) == (98, 99)


def test_a_platform_update_with_more_bundles_adds_a_bundle_line_with_reserved_components():
    order = bundle_order(external_id="B-more", updated_at=T0.isoformat())
    more = [{**BUNDLE_LINES[0], "quantity": 3}, BUNDLE_LINES[1]]

    make_order(external_id="B-more", updated_at=(T0 + timedelta(minutes=1)).isoformat(), lines=more)

    lines = lines_by_no(order)
    assert [
        (no, line.kind, line.sku.code, line.quantity) for no, line in sorted(lines.items()) if no > 4
    ] == [
        (5, LineKind.BUNDLE, "BOX", 1),
        (6, LineKind.COMPONENT, "SKU-1", 2),
        (7, LineKind.COMPONENT, "SKU-2", 1),
    ]
    assert lines[6].parent_line == lines[5]
    assert (reserved(lines[6]), reserved(lines[7])) == (2, 1)
    assert (available("SKU-1"), available("SKU-2")) == (94, 97)


def test_a_bundle_without_components_holds_the_order():
    ensure_master_data(stock=100)
    SKU.objects.create(code="EMPTY", name="Empty box", is_bundle=True)

    order = make_order(lines=[{"sku": "EMPTY", "quantity": 1, "unit_price": "10.00"}], discount="0.00")

    assert order.status == OrderStatus.ON_HOLD
    assert "Bundle without components: EMPTY" in order.hold_reason


def test_a_bundle_ships_its_components_and_a_returned_component_refunds_its_share():
    order = bundle_order(paid=True)
    order = services.order_transition(order=order, name="allocate")
    drive_shipments(order, deliver=True)
    order.refresh_from_db()
    lines = lines_by_no(order)

    # the parcels carry the components and the goods, never the bundle line
    carried = dict(
        ShipmentLine.objects.filter(order_line__order=order)
        .values("order_line__line_no")
        .annotate(n=Sum("quantity"))
        .values_list("order_line__line_no", "n")
    )
    assert carried == {2: 1, 3: 4, 4: 2}
    assert order.status == OrderStatus.DELIVERED
    on_hand_before = StockBalance.objects.get(sku__code="SKU-2").on_hand

    # the bundle line itself was never delivered: it cannot be returned, its components can
    with pytest.raises(DomainError, match="has not been delivered"):
        request_return(order, (1, 1))
    rma = receive_and_inspect(request_return(order, (4, 1)), {4: {"intact": 1}})

    # SKU-2's line was paid 114.13 for 2 units: the first unit back refunds 57.07
    refund = ReturnRefund.objects.get(rma=rma)
    assert refund.goods_amount == D("57.07") == amounts.units_paid(lines[4], 1)
    assert StockBalance.objects.get(sku__code="SKU-2").on_hand == on_hand_before + 1  # back, in QC
    assert find_drift() == []


def test_every_component_back_refunds_exactly_what_the_bundle_was_paid():
    order = bundle_order(paid=True)
    order = services.order_transition(order=order, name="allocate")
    drive_shipments(order, deliver=True)

    first = receive_and_inspect(request_return(order, (3, 3), (4, 1)), {3: {"intact": 3}, 4: {"intact": 1}})
    second = receive_and_inspect(request_return(order, (3, 1), (4, 1)), {3: {"intact": 1}, 4: {"intact": 1}})

    refunds = [ReturnRefund.objects.get(rma=rma).goods_amount for rma in (first, second)]
    assert sum(refunds, D(0)) == lines_by_no(order)[1].paid_amount == D("285.32")
