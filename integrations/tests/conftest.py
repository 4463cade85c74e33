import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from django.db.models import Sum

from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "shpss_test_secret"
WOO_SECRET = "woo-test-secret"


def payload(name: str, **changes) -> dict:
    return {**json.loads((PAYLOADS / f"{name}.json").read_text()), **changes}


def raw(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def reserved(code: str) -> int:
    return SKUFactory(code=code).balances.aggregate(total=Sum("reserved"))["total"] or 0


@pytest.fixture
def shopify_channel(db):
    ensure_master_data()
    for code in ("IPOD2008PINK", "IPOD2008BLACK"):
        receive(SKUFactory(code=code), 10)
    return ChannelFactory(
        code="shop-us",
        platform="shopify",
        webhook_secret=SECRET,
        currency="USD",
        time_zone="America/New_York",
    )


@pytest.fixture
def woo_channel(db):
    ensure_master_data()
    for code in ("WOO-1", "WOO-2"):
        receive(SKUFactory(code=code), 10)
    return ChannelFactory(code="woo-cn", platform="woocommerce", webhook_secret=WOO_SECRET)


@pytest.fixture
def post_shopify(client, shopify_channel):
    def post(body, *, topic="orders/create", webhook_id="wh-1", signature=None, channel="shop-us"):
        body = body if isinstance(body, bytes) else raw(body)
        headers = {
            "HTTP_X_SHOPIFY_TOPIC": topic,
            "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id,
            "HTTP_X_SHOPIFY_SHOP_DOMAIN": "conduit-demo.myshopify.com",
            "HTTP_X_SHOPIFY_HMAC_SHA256": sign(body) if signature is None else signature,
        }
        if signature == "":
            del headers["HTTP_X_SHOPIFY_HMAC_SHA256"]
        url = f"/integrations/webhooks/shopify/{channel}/"
        return client.post(url, data=body, content_type="application/json", **headers)

    return post


@pytest.fixture
def post_woo(client, woo_channel):
    def post(body, *, topic="order.created", delivery_id="d-1", signature=None):
        body = body if isinstance(body, bytes) else raw(body)
        headers = {
            "HTTP_X_WC_WEBHOOK_TOPIC": topic,
            "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id,
            "HTTP_X_WC_WEBHOOK_SOURCE": "https://shop.example.com/",
            "HTTP_X_WC_WEBHOOK_SIGNATURE": sign(body, WOO_SECRET) if signature is None else signature,
        }
        url = "/integrations/webhooks/woocommerce/woo-cn/"
        return client.post(url, data=body, content_type="application/json", **headers)

    return post
