from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.errors import DomainError
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_process, inbound_message_replay
from integrations.tests.conftest import payload, raw, reserved
from orders.item_mapping import item_map
from orders.models import Order, OrderEventKind, OrderStatus
from orders.tests.factories import SKUFactory

pytestmark = pytest.mark.django_db

CREATE = "shopify_orders_create"


def shopify_order():
    return Order.objects.get(channel__code="shop-us", external_id="820982911946154508")


# --- signatures and bad input -----------------------------------------------------------------


def test_signed_delivery_is_stored_processed_and_becomes_an_order(
    post_shopify, django_capture_on_commit_callbacks
):
    body = raw(payload(CREATE))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(body)

    assert response.status_code == 202
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.PROCESSED
    assert (message.topic, message.dedupe_id, message.attempts) == ("orders/create", "wh-1", 1)
    assert message.body == body.decode() and len(message.body_sha256) == 64
    assert message.headers["X-Shopify-Shop-Domain"] == "conduit-demo.myshopify.com"
    order = shopify_order()
    assert message.order == order
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.placed_at == datetime(2026, 2, 15, 17, 0, tzinfo=UTC)  # +08:00 stored as UTC
    assert (order.shipping_fee, order.discount, order.currency) == (Decimal("12.98"), Decimal("6.00"), "USD")
    assert order.tags == ["vip", "gift"] and str(order.buyer_ip) == "203.0.113.7"
    assert (reserved("IPOD2008PINK"), reserved("IPOD2008BLACK")) == (1, 2)


@pytest.mark.parametrize("signature", ["d3Jvbmc=", ""], ids=["wrong", "missing"])
def test_bad_signature_is_refused_with_only_an_audit_row(
    post_shopify, signature, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(payload(CREATE), signature=signature)

    assert response.status_code == 401
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.REJECTED
    assert (message.body, message.dedupe_id, message.order) == ("", None, None)
    assert not Order.objects.filter(channel__code="shop-us").exists()


def test_a_rejected_delivery_does_not_block_the_genuine_one(post_shopify, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_shopify(payload(CREATE), signature="d3Jvbmc=").status_code == 401
        assert post_shopify(payload(CREATE)).status_code == 202

    assert shopify_order()


def test_channel_without_a_secret_accepts_nothing(post_shopify, shopify_channel):
    shopify_channel.webhook_secret = ""
    shopify_channel.save()

    assert post_shopify(payload(CREATE)).status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "/integrations/webhooks/shopify/no-such-shop/",
        "/integrations/webhooks/magento/shop-us/",
        "/integrations/webhooks/woocommerce/shop-us/",  # the channel is a Shopify shop
    ],
)
def test_unknown_platform_or_channel_is_404_and_stores_nothing(client, shopify_channel, url):
    response = client.post(url, data=b"{}", content_type="application/json")

    assert response.status_code == 404
    assert not InboundMessage.objects.exists()


def test_webhook_answers_only_post(client, shopify_channel):
    assert client.get("/integrations/webhooks/shopify/shop-us/").status_code == 405


def test_malformed_json_is_400_and_the_raw_body_is_kept(post_shopify, django_capture_on_commit_callbacks):
    body = b'{"id": 1, "line_items": [\xff'

    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(body)

    assert response.status_code == 400
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.FAILED
    assert "JSON" in message.error and response.json()["error"] == message.error
    assert message.body == body.decode("utf-8", errors="replace")
    assert not Order.objects.filter(channel__code="shop-us").exists()


@pytest.mark.parametrize(
    "body, where",
    [
        (b'{"id": 1, "note": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
        (b'{"id": 1, "note": "a\x00b"}', "JSON"),
        (b'{"id": 1, "note": "a\\u0000b"}', "note"),
    ],
    ids=["5000-deep", "raw NUL byte", "escaped NUL"],
)
def test_signed_bodies_a_database_cannot_hold_are_400_and_kept(
    post_shopify, django_capture_on_commit_callbacks, body, where
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(body)

    assert response.status_code == 400
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.FAILED and where in message.error
    assert "\x00" not in message.body


# --- idempotency ------------------------------------------------------------------------------


def test_ten_deliveries_of_one_webhook_make_one_message_and_one_order(
    post_shopify, django_capture_on_commit_callbacks
):
    body = raw(payload(CREATE))

    with django_capture_on_commit_callbacks(execute=True):
        codes = [post_shopify(body, webhook_id="wh-same").status_code for _ in range(10)]

    assert codes == [202] + [200] * 9
    assert InboundMessage.objects.get().status == InboundStatus.PROCESSED
    assert Order.objects.filter(channel__code="shop-us").count() == 1
    assert reserved("IPOD2008PINK") == 1


def test_same_version_under_a_new_webhook_id_changes_nothing(
    post_shopify, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(payload(CREATE), webhook_id="wh-1")
        post_shopify(payload(CREATE), topic="orders/updated", webhook_id="wh-2")

    order = shopify_order()
    assert Order.objects.filter(channel__code="shop-us").count() == 1
    assert (
        list(InboundMessage.objects.values_list("status", "order"))
        == [(InboundStatus.PROCESSED, order.pk)] * 2
    )
    assert not order.events.filter(kind=OrderEventKind.PLATFORM_UPDATE).exists()


def test_processing_twice_is_a_no_op(post_shopify, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(payload(CREATE))
    message = InboundMessage.objects.get()

    again = inbound_message_process(message.pk)

    assert (again.status, again.attempts) == (InboundStatus.PROCESSED, 1)


# --- later versions ---------------------------------------------------------------------------


def test_later_version_marked_paid_makes_the_order_paid(post_shopify, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(payload(CREATE), webhook_id="wh-1")
        post_shopify(payload("shopify_orders_updated_paid"), topic="orders/updated", webhook_id="wh-2")

    order = shopify_order()
    assert order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED)
    assert order.paid_at == datetime(2026, 2, 15, 17, 30, tzinfo=UTC)
    assert order.events.filter(kind=OrderEventKind.PLATFORM_UPDATE).count() == 1


def test_cancelled_on_shopify_cancels_and_releases_the_stock(
    post_shopify, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(payload(CREATE), webhook_id="wh-1")
    assert reserved("IPOD2008BLACK") == 2
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(payload("shopify_orders_cancelled"), topic="orders/cancelled", webhook_id="wh-2")

    assert shopify_order().status == OrderStatus.CANCELLED
    assert (reserved("IPOD2008PINK"), reserved("IPOD2008BLACK")) == (0, 0)


def test_topic_without_an_order_is_ignored(post_shopify, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_shopify({"id": 820982911946154508}, topic="orders/delete")

    assert response.status_code == 202
    assert InboundMessage.objects.get().status == InboundStatus.IGNORED


# --- failures and replay ----------------------------------------------------------------------


def test_an_unknown_seller_code_is_taken_and_held_until_its_item_is_mapped(
    post_shopify, shopify_channel, django_capture_on_commit_callbacks
):
    """A Shopify line whose sku is the seller's own code, not ours, is no longer refused ("may
    not be null"): the order is taken and held, and mapping the seller code releases it."""
    data = payload(CREATE)
    data["line_items"][1]["sku"] = "NEW-SKU-9"

    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(data)

    message = InboundMessage.objects.get()
    assert (message.status, message.error) == (InboundStatus.PROCESSED, "")
    order = shopify_order()
    assert order.status == OrderStatus.ON_HOLD and "Unmapped item" in order.hold_reason
    line = order.lines.get(line_no=2)
    assert (line.sku, line.seller_code, line.quantity) == (None, "NEW-SKU-9", 2)
    assert reserved("IPOD2008PINK") == 1  # the mapped line holds its stock meanwhile

    black = SKUFactory(code="IPOD2008BLACK")
    outcome = item_map(channel=shopify_channel, seller_code="NEW-SKU-9", sku=black)

    assert outcome.released == [order.number] and order.lines.get(line_no=2).sku == black
    assert reserved("IPOD2008BLACK") == 2


def test_only_failed_messages_replay(post_shopify, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(payload(CREATE))

    with pytest.raises(DomainError):
        inbound_message_replay(InboundMessage.objects.get().pk)


# --- WooCommerce ------------------------------------------------------------------------------


def test_woocommerce_ping_is_answered_and_logged(client, woo_channel):
    response = client.post(
        "/integrations/webhooks/woocommerce/woo-cn/",
        data=b"webhook_id=15",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    message = InboundMessage.objects.get()
    assert (message.topic, message.status, message.body) == ("ping", InboundStatus.IGNORED, "webhook_id=15")


def test_woocommerce_order_created_then_completed(post_woo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_woo(payload("woocommerce_order_created"), delivery_id="d-1").status_code == 202
    order = Order.objects.get(channel__code="woo-cn", external_id="727")
    assert order.status == OrderStatus.PENDING_PAYMENT
    with django_capture_on_commit_callbacks(execute=True):
        post_woo(payload("woocommerce_order_updated_completed"), topic="order.updated", delivery_id="d-2")

    order.refresh_from_db()
    assert order.placed_at == datetime(2026, 2, 16, 1, 0, tzinfo=UTC)  # GMT, not Asia/Shanghai
    assert order.paid_at == datetime(2026, 2, 16, 1, 10, tzinfo=UTC)
    assert order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED)
    assert order.total == Decimal("105.00")


def test_woocommerce_wrong_signature_is_401(post_woo):
    response = post_woo(payload("woocommerce_order_created"), signature="d3Jvbmc=")

    assert response.status_code == 401
    assert InboundMessage.objects.get().status == InboundStatus.REJECTED
