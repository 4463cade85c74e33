"""Issue #13: unsigned requests to a webhook URL each stored a row with every header (100 requests
of 90 × 8 KB headers grew the table by 75 MB). Now a refused request leaves a short audit line,
and past the per-minute limit of its caller nothing at all."""

import json

import pytest

from core import refusals
from integrations.models import InboundMessage, InboundStatus
from integrations.tests.conftest import payload, raw, sign
from orders.models import Order

pytestmark = pytest.mark.django_db

LIMIT = 10
HUGE_HEADERS = {f"HTTP_X_JUNK_{n}": "x" * 8192 for n in range(90)}


@pytest.fixture
def limit(settings, monkeypatch):
    settings.REJECTED_REQUESTS_PER_MINUTE = LIMIT
    minute = {"now": 29_000_000}
    monkeypatch.setattr(refusals, "_minute", lambda: minute["now"])
    return minute


def post(client, body: bytes, *, signature: str | None = None, **extra):
    """A delivery to shop-us (the shopify_channel fixture); signature None signs it correctly."""
    headers = {"HTTP_X_SHOPIFY_TOPIC": "orders/create", "HTTP_X_SHOPIFY_WEBHOOK_ID": "wh-1", **extra}
    headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = sign(body) if signature is None else signature
    url = "/integrations/webhooks/shopify/shop-us/"
    return client.post(url, data=body, content_type="application/json", **headers)


ORDER = raw(payload("shopify_orders_create"))


def stored_bytes(messages) -> int:
    return sum(len(json.dumps(m.headers)) + len(m.body) + len(m.error) for m in messages)


def test_a_flood_of_unsigned_requests_stores_a_bounded_audit_and_then_nothing(
    client, shopify_channel, limit, django_capture_on_commit_callbacks
):
    answers = [post(client, ORDER, signature="", **HUGE_HEADERS).status_code for _ in range(100)]

    assert answers == [401] * LIMIT + [429] * (100 - LIMIT)
    rejected = list(InboundMessage.objects.all())
    assert len(rejected) == LIMIT
    assert {m.status for m in rejected} == {InboundStatus.REJECTED}
    assert stored_bytes(rejected) < LIMIT * 2048  # was 720 KB of headers per request
    kept = rejected[0].headers
    assert not any(name.startswith("X-Junk") for name in kept)
    assert kept["X-Shopify-Topic"] == "orders/create" and kept["Conduit-Client-Address"] == "127.0.0.1"

    with django_capture_on_commit_callbacks(execute=True):
        genuine = post(client, ORDER, **HUGE_HEADERS)  # the same caller, correctly signed

    assert genuine.status_code == 202
    assert Order.objects.filter(channel__code="shop-us").count() == 1


def test_header_values_of_a_refused_request_are_cut_short(client, shopify_channel, limit):
    post(client, ORDER, signature="A" * 10_000, HTTP_USER_AGENT="b" * 10_000)

    kept = InboundMessage.objects.get().headers
    assert len(kept["X-Shopify-Hmac-Sha256"]) == refusals.AUDIT_VALUE_CHARS
    assert len(kept["User-Agent"]) == refusals.AUDIT_VALUE_CHARS


def test_the_limit_is_per_caller_and_per_minute(client, shopify_channel, limit, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # behind one proxy: X-Forwarded-For names the caller
    for _ in range(LIMIT + 1):
        post(client, ORDER, signature="", HTTP_X_FORWARDED_FOR="198.51.100.9")

    throttled = post(client, ORDER, signature="", HTTP_X_FORWARDED_FOR="198.51.100.9")
    other_caller = post(client, ORDER, signature="", HTTP_X_FORWARDED_FOR="192.0.2.44")
    limit["now"] += 1
    next_minute = post(client, ORDER, signature="", HTTP_X_FORWARDED_FOR="198.51.100.9")

    assert throttled.status_code == 429 and throttled["Retry-After"] == "60"
    assert (other_caller.status_code, next_minute.status_code) == (401, 401)
    callers = InboundMessage.objects.values_list("headers__Conduit-Client-Address", flat=True)
    assert sorted(set(callers)) == ["192.0.2.44", "198.51.100.9"]
    assert InboundMessage.objects.count() == LIMIT + 2


def test_unsigned_pings_share_the_limit_and_keep_few_headers(woo_channel, limit, client):
    url = "/integrations/webhooks/woocommerce/woo-cn/"
    answers = [
        client.post(url, b"webhook_id=7", content_type="application/x-www-form-urlencoded", **HUGE_HEADERS)
        for _ in range(LIMIT + 5)
    ]

    assert [a.status_code for a in answers] == [200] * LIMIT + [429] * 5
    pings = list(InboundMessage.objects.all())
    assert len(pings) == LIMIT and stored_bytes(pings) < LIMIT * 2048
