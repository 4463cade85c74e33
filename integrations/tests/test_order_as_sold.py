"""The order as the platform sold it (issue #14): buyers' phones, WooCommerce's province codes and
orders that ship nothing, through the real webhook path."""

import pytest

from core.errors import TransitionRefused
from fulfilment.models import Shipment
from fulfilment.routing import route_order
from fulfilment.routing.schedule import paid_orders_waiting
from integrations.tests.conftest import payload
from orders.models import Customer, Order, OrderStatus

pytestmark = pytest.mark.django_db

SHOPIFY_ID = "820982911946154508"


def woo_order(post_woo, capture, *, order_id, phone="13800000001", email="fang@example.com", **billing):
    data = payload("woocommerce_order_created", id=order_id)
    data["billing"] = {**data["billing"], "phone": phone, "email": email, **billing}
    with capture(execute=True):
        assert post_woo(data, delivery_id=f"d-{order_id}").status_code == 202
    return Order.objects.get(channel__code="woo-cn", external_id=str(order_id))


def shopify_order(post_shopify, capture, data):
    with capture(execute=True):
        assert post_shopify(data).status_code == 202
    return Order.objects.get(channel__code="shop-us", external_id=SHOPIFY_ID)


# --- phones ---------------------------------------------------------------------------------------


def test_one_buyer_however_the_phone_is_written(post_woo, django_capture_on_commit_callbacks):
    written = ["138 0000 0001", "+86 138-0000-0001", "0086 13800000001"]
    orders = [
        woo_order(post_woo, django_capture_on_commit_callbacks, order_id=700 + n, phone=phone, email="")
        for n, phone in enumerate(written)
    ]

    assert {order.customer_id for order in orders} == {orders[0].customer_id}
    assert orders[0].customer.identity_key == "phone:+8613800000001"
    assert {order.customer_phone for order in orders} == {"+8613800000001"}


def test_a_masked_phone_is_shown_as_sent_and_never_an_identity(post_woo, django_capture_on_commit_callbacks):
    first = woo_order(
        post_woo, django_capture_on_commit_callbacks, order_id=801, phone="136********", email="a@example.com"
    )
    second = woo_order(
        post_woo, django_capture_on_commit_callbacks, order_id=802, phone="138****1234", email="b@example.com"
    )
    anonymous = woo_order(
        post_woo, django_capture_on_commit_callbacks, order_id=803, phone="136********", email=""
    )

    assert (first.customer_phone, second.customer_phone) == ("136********", "138****1234")
    assert first.customer.identity_key == "email:a@example.com"
    assert second.customer.identity_key == "email:b@example.com"
    assert anonymous.customer is None  # a mask is shared by many buyers: no customer rather than a wrong one
    assert not Customer.objects.filter(identity_key__startswith="phone:").exists()


# --- WooCommerce provinces -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "province"),
    [("CN2", "北京市"), ("CN20", "广东省"), ("CN21", "广西壮族自治区"), ("CN32", "新疆维吾尔自治区")],
)
def test_woocommerce_province_codes_are_stored_as_names(
    post_woo, django_capture_on_commit_callbacks, code, province
):
    data = payload("woocommerce_order_created")
    data["shipping"] = {**data["shipping"], "state": code}
    with django_capture_on_commit_callbacks(execute=True):
        post_woo(data)

    # WooCommerce's name (北京, 广西壮族), stored under its official one by intake (core.divisions)
    assert Order.objects.get(channel__code="woo-cn", external_id="727").ship_province == province


# --- orders that ship nothing --------------------------------------------------------------------


def pickup_order(**changes):
    data = payload("shopify_orders_create", **changes)
    data.pop("shipping_address")
    data["shipping_lines"] = []
    data["total_price"] = "79.00"  # 91.98 without the 12.98 shipping: nothing ships, nothing charged
    return data


def test_a_paid_shopify_order_that_ships_nothing_is_taken_and_never_routed(
    post_shopify, django_capture_on_commit_callbacks
):
    data = pickup_order(financial_status="paid")
    data["line_items"] = [{**item, "requires_shipping": False} for item in data["line_items"]]

    order = shopify_order(post_shopify, django_capture_on_commit_callbacks, data)

    assert order.requires_shipping is False
    assert order.status == OrderStatus.PAID  # not routed, not held: it stays paid
    assert not Shipment.objects.exists()
    assert order.pk not in paid_orders_waiting(now=order.paid_at.replace(year=2100))
    with pytest.raises(TransitionRefused, match="nothing to ship"):
        route_order(order=order)  # not even by hand


def test_goods_to_ship_without_an_address_are_held_not_refused(
    post_shopify, django_capture_on_commit_callbacks
):
    order = shopify_order(
        post_shopify, django_capture_on_commit_callbacks, pickup_order(financial_status="paid")
    )

    assert order.requires_shipping is True
    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_reason.startswith("No shipping address")
    assert not Shipment.objects.exists()


def test_a_woocommerce_order_with_an_empty_shipping_block_waits_for_an_address(
    post_woo, django_capture_on_commit_callbacks
):
    data = payload("woocommerce_order_created")
    data["shipping"] = dict.fromkeys(data["shipping"], "")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_woo(data).status_code == 202

    order = Order.objects.get(channel__code="woo-cn", external_id="727")
    assert (order.status, order.hold_reason[:19]) == (OrderStatus.ON_HOLD, "No shipping address")
