"""Platform after-sales: Shopify's refunds/create webhook creates (once) or links the RMA, books
the refund once; and a refund decided here is pushed back to Shopify through the outbox."""

from decimal import Decimal

import pytest

from core.models import OutboxMessage
from finance.models import RevenueKind, RevenueLine
from integrations.models import InboundMessage, InboundStatus
from integrations.tests.conftest import raw, sign
from orders.tests.factories import ChannelFactory, ensure_master_data
from returns.models import RefundState, ReturnKind, ReturnRefund, ReturnRequest, ReturnSource, ReturnStatus
from returns.tests.conftest import delivered_order, receive_and_inspect, request_return

pytestmark = pytest.mark.django_db

SECRET = "shpss_returns_secret"
SHOPIFY_ORDER_ID = 450789469


@pytest.fixture
def shop():
    ensure_master_data()
    return ChannelFactory(
        code="shop-sy", platform="shopify", webhook_secret=SECRET, time_zone="Asia/Shanghai", currency="CNY"
    )


@pytest.fixture
def order(shop):
    return delivered_order(channel="shop-sy", external_id=str(SHOPIFY_ORDER_ID))


def shopify_refund(
    refund_id=509562969, *, restock_type="return", quantity=1, amount="54.73", note="it broke"
):
    return {
        "id": refund_id,
        "order_id": SHOPIFY_ORDER_ID,
        "created_at": "2026-03-03T10:00:00+08:00",
        "note": note,
        "restock": restock_type != "no_restock",
        "refund_line_items": [
            {
                "id": 104689539,
                "quantity": quantity,
                "line_item_id": 703073504,
                "restock_type": restock_type,
                "subtotal": amount,
                "line_item": {"id": 703073504, "sku": "SKU-1", "quantity": 2, "price": "59.90"},
            }
        ],
        "transactions": [
            {"id": 179259969, "kind": "refund", "status": "success", "gateway": "bogus", "amount": amount},
            {"id": 179259970, "kind": "refund", "status": "failure", "gateway": "bogus", "amount": "1.00"},
        ],
    }


@pytest.fixture
def post_refund(client, django_capture_on_commit_callbacks):
    def post(body, *, webhook_id="wh-r1"):
        data = raw(body)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/integrations/webhooks/shopify/shop-sy/",
                data=data,
                content_type="application/json",
                HTTP_X_SHOPIFY_TOPIC="refunds/create",
                HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id,
                HTTP_X_SHOPIFY_HMAC_SHA256=sign(data, SECRET),
            )
        return response

    return post


def refunds_booked(order) -> list[tuple[Decimal, str]]:
    return list(
        RevenueLine.objects.filter(order=order, kind=RevenueKind.REFUND).values_list("amount", "source")
    )


def test_a_shopify_refund_with_goods_coming_back_becomes_an_approved_rma(order, post_refund):
    response = post_refund(shopify_refund())

    assert response.status_code == 202
    message = InboundMessage.objects.get(topic="refunds/create")
    assert (message.status, message.order) == (InboundStatus.PROCESSED, order)
    rma = ReturnRequest.objects.get(order=order)
    assert (rma.source, rma.kind, rma.status, rma.external_ref) == (
        ReturnSource.PLATFORM,
        ReturnKind.RETURN,
        ReturnStatus.APPROVED,
        "shopify:509562969",
    )
    assert [(rl.sku.code, rl.quantity) for rl in rma.lines.all()] == [("SKU-1", 1)]
    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.provider, refund.state, refund.amount) == (
        "shopify",
        RefundState.SUCCEEDED,
        Decimal("54.73"),
    )
    assert refunds_booked(order) == [(Decimal("-54.73"), "refund:shopify:509562969")]

    # the goods arrive: inspected as usual, and the refund is not made again
    rma = receive_and_inspect(rma, {1: {"intact": 1}})
    assert rma.status == ReturnStatus.REFUNDED
    assert refunds_booked(order) == [(Decimal("-54.73"), "refund:shopify:509562969")]
    assert not OutboxMessage.objects.filter(kind__startswith="finance.refund").exists()


def test_the_same_refund_delivered_twice_is_one_rma(order, post_refund):
    post_refund(shopify_refund(), webhook_id="wh-1")
    duplicate = post_refund(shopify_refund(), webhook_id="wh-1")
    post_refund(shopify_refund(), webhook_id="wh-2")  # another delivery of the same refund

    assert duplicate.status_code == 200
    assert ReturnRequest.objects.filter(order=order).count() == 1
    assert len(refunds_booked(order)) == 1


def test_a_refund_without_goods_is_settled_and_closed_at_once(order, post_refund):
    post_refund(shopify_refund(restock_type="no_restock", amount="20.00"))

    rma = ReturnRequest.objects.get(order=order)
    assert (rma.kind, rma.status) == (ReturnKind.REFUND_ONLY, ReturnStatus.CLOSED)
    assert refunds_booked(order) == [(Decimal("-20.00"), "refund:shopify:509562969")]


def test_a_refund_for_an_unknown_order_fails_with_the_field_named(shop, post_refund):
    post_refund({**shopify_refund(), "order_id": 1})

    message = InboundMessage.objects.get(topic="refunds/create")
    assert message.status == InboundStatus.FAILED and "Order 1" in message.error
    assert not ReturnRequest.objects.exists()


def test_more_units_than_delivered_fail_the_message_and_write_nothing(order, post_refund):
    post_refund(shopify_refund(quantity=5))

    message = InboundMessage.objects.get(topic="refunds/create")
    assert message.status == InboundStatus.FAILED and "SKU-1" in message.error
    assert not ReturnRequest.objects.exists() and refunds_booked(order) == []


# --- pushed back to Shopify ------------------------------------------------------------------------


@pytest.fixture
def shopify_api(shop, provider):
    shop.api_credentials = {"access_token": "shpat_returns", "base_url": provider.base_url}
    shop.save()
    return provider


def test_a_refund_decided_here_is_made_on_shopify_and_its_webhook_echo_creates_nothing(
    order, shopify_api, post_refund, django_capture_on_commit_callbacks
):
    api = f"/admin/api/2024-10/orders/{SHOPIFY_ORDER_ID}"
    shopify_api.answer(f"{api}/refunds.json", 200, {"refunds": []})
    shopify_api.answer(
        f"{api}.json",
        200,
        {"order": {"id": SHOPIFY_ORDER_ID, "line_items": [{"id": 703073504, "sku": "SKU-1", "quantity": 2}]}},
    )
    shopify_api.answer(
        f"{api}/refunds/calculate.json",
        200,
        {
            "refund": {
                "transactions": [
                    {
                        "parent_id": 801038806,
                        "amount": "62.73",
                        "maximum_refundable": "212.80",
                        "kind": "suggested_refund",
                        "gateway": "bogus",
                    }
                ]
            }
        },
    )
    shopify_api.answer(f"{api}/refunds.json", 201, {"refund": {"id": 929361462}})

    with django_capture_on_commit_callbacks(execute=True):
        rma = receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})

    assert shopify_api.paths() == [
        f"GET {api}/refunds.json",
        f"GET {api}.json",
        f"POST {api}/refunds/calculate.json",
        f"POST {api}/refunds.json",
    ]
    created = shopify_api.requests[-1]
    assert created["headers"]["X-Shopify-Access-Token"] == "shpat_returns"
    body = created["body"]["refund"]
    assert rma.number in body["note"]
    assert body["refund_line_items"] == [
        {"line_item_id": 703073504, "quantity": 1, "restock_type": "no_restock"}
    ]
    assert body["transactions"] == [
        {"parent_id": 801038806, "amount": "54.73", "kind": "refund", "gateway": "bogus"}
    ]
    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.provider, refund.state, refund.provider_reference) == ("shopify", "succeeded", "929361462")
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED

    # Shopify then tells us about "its" refund: it is ours, nothing new is created
    post_refund(shopify_refund(refund_id=929361462, note=f"{rma.number}: No reason"))
    assert ReturnRequest.objects.filter(order=order).count() == 1
    assert len(refunds_booked(order)) == 1


def test_a_retried_push_finds_the_refund_already_on_shopify(
    order, shopify_api, django_capture_on_commit_callbacks
):
    api = f"/admin/api/2024-10/orders/{SHOPIFY_ORDER_ID}"
    rma = request_return(order, (1, 1))
    shopify_api.answer(
        f"{api}/refunds.json", 200, {"refunds": [{"id": 777, "note": f"{rma.number}: No reason"}]}
    )

    with django_capture_on_commit_callbacks(execute=True):
        receive_and_inspect(rma, {1: {"intact": 1}})

    assert shopify_api.paths() == [f"GET {api}/refunds.json"]  # nothing created a second time
    assert ReturnRefund.objects.get(rma=rma).provider_reference == "777"
