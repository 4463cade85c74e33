"""Xiaohongshu (issue #16) against the fake gateway of fake_xiaohongshu.py (real HTTP on localhost,
the sign checked on the fake's side) answering with the fixtures of payloads/SOURCES.md §18:
signing (xhs_signing_vectors.json), tokens, errors and the chosen (unpublished) rate-limit rule,
polling order.getOrderList last page first with order.getOrderDetail per order, the money of each
order to the cent, a later closed version releasing stock, push messages through the webhook
framework (sign over URL + headers), protected receiver data decrypted with
order.getOrderReceiverInfo + data.batchDecrypt, stock with inventory.syncSkuStock and parcels
written back with order.orderDeliver through the outbox."""

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest

from core.http import PlatformError, RateLimited
from integrations.models import InboundMessage, InboundStatus, SyncCursor
from integrations.sync import channel_sync
from integrations.tests import fake_server, fake_xiaohongshu
from integrations.tests.fake_xiaohongshu import detail, sample, unpaid_detail
from integrations.tests.parcels import live_parcels, ship, write_back_of
from integrations.xiaohongshu import XiaohongshuAdapter, mapping, signing
from integrations.xiaohongshu import client as client_module
from integrations.xiaohongshu.client import XiaohongshuClient
from inventory.models import StockBalance
from orders.models import Order, OrderStatus
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

VECTORS = sample("xhs_signing_vectors")
PAID_ID, POSTAGE_ID, UNPAID_ID = "P781234567890123401", "P781234567890123402", "P781234567890123403"
LIST, DETAIL = "order.getOrderList", "order.getOrderDetail"
SHIRT_SKU, SOCK_SKU = "66ee733f265f590001ee873d", "670517bc29b37600015127d1"
WINDOW_START = datetime.fromtimestamp(1768441500, tz=UTC)  # 09:45 +08:00 (the fixtures' startTime)
NOW = datetime.fromtimestamp(1768443305, tz=UTC)  # the window ends 5 s (SETTLE) before: 10:15 +08:00


@pytest.fixture
def xhs():
    with fake_server.running(fake_xiaohongshu.serve) as gateway:
        yield gateway


@pytest.fixture
def xhs_client(xhs):
    with httpx.Client(timeout=5) as http:
        yield XiaohongshuClient(
            SimpleNamespace(code="xhs-1", api_credentials=fake_xiaohongshu.credentials(xhs)), http=http
        )


# --- (1) signing, tokens, errors -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api_sdk_test_vector", "api_computed"])
def test_the_api_sign_matches_the_vectors(name):
    v = VECTORS[name]
    args = {"method": v["method"], "app_id": v["appId"], "timestamp": v["timestamp"], "version": v["version"]}
    assert signing.sign_plain(**args, app_secret=v["appSecret"]) == v["sign_plain"]
    assert signing.sign(**args, app_secret=v["appSecret"]) == v["sign"]


@pytest.mark.parametrize("name", ["push_doc_vector", "push_computed"])
def test_the_push_sign_matches_the_published_digest_and_covers_the_url(name):
    v = VECTORS[name]
    args = {"url": v["url"], "app_key": v["headers"]["app-key"], "timestamp": v["headers"]["timestamp"]}
    assert signing.push_sign_plain(**args, app_secret=v["app_secret"]) == v["sign_plain"]
    assert signing.push_sign_valid(**args, app_secret=v["app_secret"], given=v["sign"])
    assert not signing.push_sign_valid(
        **{**args, "url": args["url"] + "x"}, app_secret=v["app_secret"], given=v["sign"]
    )
    assert not signing.push_sign_valid(
        **{**args, "timestamp": "1"}, app_secret=v["app_secret"], given=v["sign"]
    )
    assert not signing.push_sign_valid(**args, app_secret="other", given=v["sign"])


def test_a_signed_call_is_one_flat_body_accepted_by_the_gateway(xhs_client, xhs):
    xhs.add_order(detail())
    assert xhs_client.order_detail(PAID_ID)["totalPayAmount"] == 12470
    (call,) = xhs.calls(DETAIL)
    body = call["body"]
    assert set(body) == {"method", "appId", "timestamp", "version", "sign", "accessToken", "orderId"}
    assert {k: body[k] for k in ("method", "orderId")} == sample("xhs_order_get_order_detail_request")
    assert (body["version"], body["accessToken"], body["appId"]) == (
        "2.0",
        fake_xiaohongshu.ACCESS_TOKEN,
        fake_xiaohongshu.APP_ID,
    )


def test_a_wrong_secret_is_refused_by_the_gateway_as_a_bad_sign(xhs):
    credentials = fake_xiaohongshu.credentials(xhs, app_secret="wrong")
    with httpx.Client(timeout=5) as http:
        client = XiaohongshuClient(SimpleNamespace(code="x", api_credentials=credentials), http=http)
        with pytest.raises(PlatformError, match="签名错误") as caught:
            client.order_detail(PAID_ID)
    assert caught.value.temporary is False


@pytest.mark.parametrize("fault", ["http_429", "busy"])
def test_the_chosen_rate_limit_rule_raises_rate_limited(xhs_client, xhs, fault):
    """The rate-limit body is NOT published: HTTP 429 or 频繁/限流 in error_msg is taken as one."""
    xhs.faults.append((DETAIL, fault))
    with pytest.raises(RateLimited):
        xhs_client.order_detail(PAID_ID)


def test_an_access_token_about_to_expire_is_refreshed_first_and_kept(xhs, db):
    xhs.add_order(detail())
    soon = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp() * 1000)
    channel = ChannelFactory(
        code="xhs-1",
        platform="xiaohongshu",
        api_credentials=fake_xiaohongshu.credentials(xhs, access_token_expires_at=soon),
    )
    with httpx.Client(timeout=5) as http:
        client = XiaohongshuClient(channel, http=http)
        assert client.order_detail(PAID_ID)["orderId"] == PAID_ID
    assert [r["method"] for r in xhs.requests] == ["oauth.refreshToken", DETAIL]
    refresh = xhs.calls("oauth.refreshToken")[0]["body"]
    request = sample("xhs_oauth_refresh_token_request")
    assert set(refresh) == set(request)  # method, appId, timestamp, version, sign, refreshToken
    assert "accessToken" not in refresh and refresh["refreshToken"] == fake_xiaohongshu.REFRESH_TOKEN
    channel.refresh_from_db()
    kept = channel.api_credentials
    assert (kept["access_token"], kept["refresh_token"], kept["seller_id"]) == (
        "token-ACCESS-2",
        "refresh-REFRESH-2",
        sample("xhs_oauth_refresh_token_response")["data"]["sellerId"],
    )
    assert kept["access_token_expires_at"] > soon


def test_an_error_naming_the_token_expired_refreshes_once(xhs_client, xhs):
    xhs.add_order(detail())
    xhs.expired_tokens.add(xhs.access_token)
    assert xhs_client.order_detail(PAID_ID)["orderId"] == PAID_ID
    assert [r["method"] for r in xhs.requests] == [DETAIL, "oauth.refreshToken", DETAIL]
    xhs.faults += [(DETAIL, "token_expired")] * 2
    with pytest.raises(PlatformError, match="过期"):
        xhs_client.order_detail(PAID_ID)
    assert len(xhs.calls("oauth.refreshToken")) == 2  # one more, not two


def test_an_html_502_is_a_temporary_platform_error(xhs_client, xhs):
    xhs.faults.append((None, "http_502"))
    with pytest.raises(PlatformError) as caught:
        xhs_client.order_detail(PAID_ID)
    assert caught.value.status_code == 502


def test_windows_are_at_most_thirty_minutes():
    since = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
    found = client_module.windows(since, since + timedelta(minutes=75))
    assert [end - start for start, end in found] == [1800, 1800, 900]
    assert all(a[1] == b[0] for a, b in zip(found, found[1:], strict=False))


# --- (2) polling and the money --------------------------------------------------------------------

RECEIVER = sample("xhs_order_get_order_receiver_info_response")["data"]["receiverInfos"][0]
OPEN_ADDRESS_ID = "7f1c2a9e0b5d4c3a8e6f1d2c3b4a5e6f"


@pytest.fixture
def shop(db, xhs):
    ensure_master_data(stock=0)
    for code in ("TS-BLU-M", "SOCK-W-3", "MUG-350"):
        receive(SKUFactory(code=code), 10)
    channel = ChannelFactory(
        code="xhs-1", platform="xiaohongshu", api_credentials=fake_xiaohongshu.credentials(xhs)
    )
    SyncCursor.objects.create(channel=channel, cursor=WINDOW_START, overlap_seconds=0)
    return channel


def all_orders(xhs):
    xhs.add_order(detail())
    xhs.add_receiver(PAID_ID, OPEN_ADDRESS_ID, RECEIVER)
    xhs.add_order(detail("xhs_order_get_order_detail_shipping_response"))
    xhs.add_order(unpaid_detail())


def reserved(code: str) -> int:
    return sum(StockBalance.objects.filter(sku__code=code).values_list("reserved", flat=True))


def test_a_poll_reads_the_last_page_first_and_makes_each_order_once(shop, xhs, monkeypatch):
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)  # the fixtures' page size: 3 orders, 2 pages
    all_orders(xhs)

    result = channel_sync(channel_id=shop.pk, now=NOW)

    assert (result.status, result.orders_seen, result.messages_stored) == ("ok", 3, 3)
    pages = xhs.calls(LIST)
    # page 1 tells maxPageNo, then the last page first, down to page 1
    assert [p["params"]["pageNo"] for p in pages] == [1, 2, 1]
    for page, name in zip(pages, ["page1", "page2", "page1"], strict=True):
        request = sample(f"xhs_order_get_order_list_{name}_request")
        assert {k: page["body"][k] for k in request} == request
    assert sorted(c["params"]["orderId"] for c in xhs.calls(DETAIL)) == [PAID_ID, POSTAGE_ID, UNPAID_ID]
    (receivers,) = xhs.calls("order.getOrderReceiverInfo")  # one per page with orders 待发货
    assert receivers["params"]["receiverQueries"] == [
        {"orderId": POSTAGE_ID, "openAddressId": "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"},
        sample("xhs_order_get_order_receiver_info_request")["receiverQueries"][0],
    ]
    assert result.cursor == datetime.fromtimestamp(1768442820, tz=UTC)  # the newest updateTime

    paid = Order.objects.get(channel=shop, external_id=PAID_ID)
    assert paid.status in (OrderStatus.PAID, OrderStatus.ALLOCATED)
    assert paid.placed_at == datetime.fromtimestamp(1768442400, tz=UTC)
    assert paid.paid_at == datetime.fromtimestamp(1768442472, tz=UTC)
    assert (paid.currency, paid.total, paid.paid_amount, paid.shipping_fee) == (
        "CNY",
        Decimal("124.70"),
        Decimal("124.70"),
        Decimal("0.00"),
    )
    assert paid.platform_discount_amount == Decimal("5.00")
    shirt, socks = paid.lines.order_by("line_no")
    assert (shirt.platform_line_id, shirt.quantity, shirt.unit_price, shirt.discount, shirt.paid_amount) == (
        SHIRT_SKU,
        2,
        Decimal("59.90"),
        Decimal("10.00"),
        Decimal("109.80"),
    )
    assert shirt.discount_allocations == [
        {"amount": "10.00", "funded_by": "merchant", "title": "totalMerchantDiscount"}
    ]
    assert (shirt.adjustment, shirt.sku.code, shirt.platform_item_id) == (
        Decimal("0.00"),
        "TS-BLU-M",
        SHIRT_SKU,
    )
    assert (socks.unit_price, socks.discount, socks.platform_discount, socks.paid_amount) == (
        Decimal("19.90"),
        Decimal("5.00"),
        Decimal("5.00"),
        Decimal("14.90"),
    )
    assert paid.hold_reason == ""

    postage = Order.objects.get(channel=shop, external_id=POSTAGE_ID)
    (mug,) = postage.lines.all()
    assert (postage.shipping_fee, postage.total, postage.paid_amount) == (
        Decimal("10.00"),
        Decimal("90.00"),
        Decimal("90.00"),
    )
    assert (mug.unit_price, mug.discount, mug.paid_amount) == (
        Decimal("88.00"),
        Decimal("8.00"),
        Decimal("80.00"),
    )

    unpaid = Order.objects.get(channel=shop, external_id=UNPAID_ID)
    assert unpaid.status == OrderStatus.PENDING_PAYMENT
    assert (unpaid.total, unpaid.paid_at) == (Decimal("59.90"), None)
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3"), reserved("MUG-350")) == (3, 1, 1)


def test_a_rate_limited_poll_keeps_its_cursor_and_the_retry_reads_the_window(shop, xhs):
    all_orders(xhs)
    xhs.faults.append((LIST, "busy"))

    limited = channel_sync(channel_id=shop.pk, now=NOW)

    assert (limited.status, limited.cursor) == ("rate_limited", WINDOW_START)
    assert not Order.objects.filter(channel=shop).exists()
    state = SyncCursor.objects.get(channel=shop)
    assert state.cursor == WINDOW_START and state.next_run_at > NOW

    retried = channel_sync(channel_id=shop.pk, now=state.next_run_at + timedelta(seconds=1))

    assert retried.status == "ok" and retried.updated_since == WINDOW_START
    assert Order.objects.filter(channel=shop).count() == 3
    assert retried.cursor == datetime.fromtimestamp(1768442820, tz=UTC)


def test_a_later_closed_version_cancels_the_order_and_releases_its_stock(shop, xhs):
    xhs.add_order(detail())
    channel_sync(channel_id=shop.pk, now=NOW)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (2, 1)

    xhs.add_order(detail("xhs_order_get_order_detail_closed_response"))  # updateTime 14:30:05 +08:00
    result = channel_sync(channel_id=shop.pk, now=datetime(2026, 1, 15, 6, 45, tzinfo=UTC))

    assert (result.status, result.messages_stored) == ("ok", 1)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (0, 0)
    assert Order.objects.filter(channel=shop, external_id=PAID_ID).count() == 1


def test_a_paid_order_still_processed_by_xiaohongshu_is_held_until_it_reaches_to_ship(
    shop, xhs, django_capture_on_commit_callbacks
):
    processing = detail()
    xhs.add_order({**processing, "orderStatus": 2})
    with django_capture_on_commit_callbacks(execute=True):
        channel_sync(channel_id=shop.pk, now=NOW)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)
    assert (order.status, order.held_from) == (OrderStatus.ON_HOLD, OrderStatus.PAID)
    assert order.hold_reason.startswith("Xiaohongshu is still processing the payment")
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (2, 1) and not order.shipments.exists()

    xhs.add_order({**processing, "orderStatus": 4, "updateTime": processing["updateTime"] + 60_000})
    with django_capture_on_commit_callbacks(execute=True):
        channel_sync(channel_id=shop.pk, now=NOW + timedelta(minutes=5))

    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED and order.hold_reason == ""
    assert order.shipments.exists()


def test_status_mapping_and_an_unknown_status():
    channel = SimpleNamespace(code="xhs-1")
    order = detail()
    for status, paid, cancelled, tagged in [
        (1, False, False, False),
        (2, True, False, True),  # paid, held by the platform (platform_hold)
        (3, True, False, True),
        (4, True, False, False),
        (5, True, False, False),
        (6, True, False, False),
        (7, True, False, False),
        (8, False, True, False),
        (9, False, True, False),
        (10, True, False, False),
    ]:
        canonical = mapping.order_to_canonical({**order, "orderStatus": status}, channel)
        assert (canonical["paid"], canonical["cancelled"]) == (paid, cancelled), status
        assert (mapping.PROCESSING_TAG in canonical.get("tags", [])) == tagged
        assert bool(canonical.get("platform_hold")) == tagged
    with pytest.raises(ValueError, match="orderStatus"):
        mapping.order_to_canonical({**order, "orderStatus": 11}, channel)


def test_fen_and_ms_are_exact():
    assert mapping.fen(12470) == Decimal("124.70")
    assert mapping.fen("1") == Decimal("0.01")
    with pytest.raises(ValueError):
        mapping.fen(12.5)
    assert mapping.ms_time(1768442472000) == "2026-01-15T02:01:12+00:00"
    assert mapping.ms_time(0) is None


def test_a_price_change_is_the_lines_adjustment_and_the_money_still_adds_up():
    order = detail()
    order["skuList"][0]["totalPaidAmount"] = 10880  # the seller took 1.00 off the shirts (改价)
    order["totalPayAmount"] = 12370
    canonical = mapping.order_to_canonical(order, SimpleNamespace(code="xhs-1"))
    shirt = canonical["lines"][0]
    assert (shirt["unit_price"], shirt["adjustment"], shirt["paid_amount"]) == ("59.90", "-1.00", "108.80")
    assert canonical["paid_amount"] == "123.70"


def test_the_adapter_reads_the_version_of_a_polled_order():
    order = detail()
    adapter = XiaohongshuAdapter()
    assert adapter.poll_updated_at(order) == datetime.fromtimestamp(1768442520, tz=UTC)
    assert adapter.poll_dedupe_id(order) == f"poll:{PAID_ID}:1768442520000"


# --- (3) push messages through the webhook framework -----------------------------------------------

PUSH_URL = "/integrations/webhooks/xiaohongshu/xhs-1/"


@pytest.fixture
def pushed_shop(shop):
    shop.webhook_secret = fake_xiaohongshu.APP_SECRET  # the app secret signs the pushes
    shop.save(update_fields=["webhook_secret"])
    return shop


def push_body(name: str) -> bytes:
    return json.dumps(sample(name), ensure_ascii=False, separators=(",", ":")).encode()


def post_push(
    client, body: bytes, *, url: str = PUSH_URL, sign: str | None = None, app_key=fake_xiaohongshu.APP_ID
):
    timestamp = str(int(datetime.now(UTC).timestamp()))
    sign = sign or signing.push_sign(
        url=url, app_key=app_key, timestamp=timestamp, app_secret=fake_xiaohongshu.APP_SECRET
    )
    return client.post(
        url,
        data=body,
        content_type="application/json",
        headers={"timestamp": timestamp, "app-key": app_key, "sign": sign},
    )


def test_a_signed_push_is_stored_raw_answered_success_and_its_order_fetched_and_ingested(
    pushed_shop, xhs, client, django_capture_on_commit_callbacks
):
    xhs.add_order(detail())
    body = push_body("xhs_push_fulfillment_status_change")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(client, body)

    assert (response.status_code, response.json()) == (200, sample("xhs_push_success_response"))
    push = InboundMessage.objects.get(channel=pushed_shop, topic="xiaohongshu.push")
    assert push.body == body.decode() and push.status == InboundStatus.PROCESSED
    assert push.dedupe_id == "push:sha256:" + hashlib.sha256(body).hexdigest()  # the body is not signed
    assert [c["params"] for c in xhs.calls(DETAIL)] == [{"orderId": PAID_ID}]
    order = Order.objects.get(channel=pushed_shop, external_id=PAID_ID)
    assert push.order == order and order.paid_amount == Decimal("124.70")


def test_a_redelivered_push_is_a_duplicate_answered_success(
    pushed_shop, xhs, client, django_capture_on_commit_callbacks
):
    xhs.add_order(detail())
    body = push_body("xhs_push_fulfillment_status_change")
    with django_capture_on_commit_callbacks(execute=True):
        answers = [post_push(client, body).json() for _ in range(3)]
    assert answers == [sample("xhs_push_success_response")] * 3
    assert InboundMessage.objects.filter(topic="xiaohongshu.push").count() == 1
    assert len(xhs.calls(DETAIL)) == 1


def test_a_bad_sign_or_another_url_is_refused_and_nothing_kept(pushed_shop, xhs, client):
    body = push_body("xhs_push_fulfillment_status_change")
    assert post_push(client, body, sign="0" * 32).status_code == 401
    # signed for the bare URL, posted with a query parameter the sign does not cover
    timestamp = str(int(datetime.now(UTC).timestamp()))
    sign = signing.push_sign(
        url=PUSH_URL,
        app_key=fake_xiaohongshu.APP_ID,
        timestamp=timestamp,
        app_secret=fake_xiaohongshu.APP_SECRET,
    )
    response = client.post(
        PUSH_URL + "?x=1",
        data=body,
        content_type="application/json",
        headers={
            "timestamp": timestamp,
            "app-key": fake_xiaohongshu.APP_ID,
            "sign": sign,
            "Conduit-Path": PUSH_URL,
        },
    )
    assert response.status_code == 401
    rows = InboundMessage.objects.all()
    assert [(r.status, r.body) for r in rows] == [(InboundStatus.REJECTED, "")] * 2
    assert xhs.requests == [] and not Order.objects.exists()


def test_a_query_parameter_of_the_push_url_is_signed_with_it(
    pushed_shop, xhs, client, django_capture_on_commit_callbacks
):
    xhs.add_order(detail())
    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(
            client, push_body("xhs_push_fulfillment_status_change"), url=PUSH_URL + "?canshu=test"
        )
    assert response.json() == sample("xhs_push_success_response")
    assert Order.objects.filter(external_id=PAID_ID).exists()


def test_the_same_order_by_push_and_by_poll_is_one_order(
    pushed_shop, xhs, client, django_capture_on_commit_callbacks
):
    xhs.add_order(detail())
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, push_body("xhs_push_fulfillment_status_change"))
    result = channel_sync(channel_id=pushed_shop.pk, now=NOW)

    assert (result.status, result.orders_seen, result.messages_stored) == ("ok", 1, 0)
    assert Order.objects.filter(channel=pushed_shop, external_id=PAID_ID).count() == 1
    assert InboundMessage.objects.filter(dedupe_id=f"poll:{PAID_ID}:1768442520000").count() == 1


def test_a_closed_push_cancels_the_order_and_releases_its_stock(
    pushed_shop, xhs, client, django_capture_on_commit_callbacks
):
    xhs.add_order(detail())
    channel_sync(channel_id=pushed_shop.pk, now=NOW)
    assert reserved("SOCK-W-3") == 1
    xhs.add_order(detail("xhs_order_get_order_detail_closed_response"))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(client, push_body("xhs_push_fulfillment_status_closed"))

    assert response.json() == sample("xhs_push_success_response")
    assert Order.objects.get(channel=pushed_shop, external_id=PAID_ID).status == OrderStatus.CANCELLED
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (0, 0)


def test_the_probe_is_answered_success_and_ignored(pushed_shop, xhs, client):
    response = client.post(PUSH_URL, data=b'{"test": true}', content_type="application/json")
    assert (response.status_code, response.json()) == (200, sample("xhs_push_success_response"))
    assert InboundMessage.objects.get().topic == "ping"
    assert xhs.requests == []


def test_a_push_from_another_app_fails_naming_the_app(
    pushed_shop, xhs, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, push_body("xhs_push_fulfillment_status_change"), app_key="other-app")
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.FAILED and "other-app" in message.error
    assert xhs.requests == []


# --- (4) protected receiver -----------------------------------------------------------------------


def test_the_receiver_is_kept_as_ciphertext_and_decrypted_through_the_platform(shop, xhs):
    from integrations.protected_data import receiver_plain
    from orders.models import ReceiverDecryption

    xhs.add_order(detail())
    xhs.add_receiver(PAID_ID, OPEN_ADDRESS_ID, RECEIVER)
    for info in sample("xhs_data_batch_decrypt_response")["data"]["dataInfoList"]:
        xhs.plain[info["encryptedData"]] = info["decryptedData"]
    channel_sync(channel_id=shop.pk, now=NOW)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)

    assert (order.ship_name, order.ship_phone, order.ship_line1, order.ship_district) == (
        "",
        "",
        "***",
        "黄浦区",
    )
    assert order.ship_city == "上海市"
    assert order.receiver_protected == {
        "name": {
            "masked": "",
            "cipher": RECEIVER["receiverName"],
            "index": "jj3kfKd57af2Od3/VNCPa9viUkAcpDxT4D7DtaFXQDo=",
        },
        "phone": {
            "masked": "",
            "cipher": RECEIVER["receiverPhone"],
            "index": "jj3kfKd57af2Od3/VNCPa3SjBDZ+1NE60wT3AEdmF5s=",
        },
        "address": {
            "masked": "",
            "cipher": RECEIVER["receiverAddress"],
            "index": RECEIVER["receiverAddress"].split("#")[1],
        },
        "open_address_id": {"value": OPEN_ADDRESS_ID},
    }
    # the search indexes are the ones data.batchIndex gives for the plain text (XHS-DOC 051)
    indexes = {
        i["plainText"]: i["searchIndex"]
        for i in sample("xhs_data_batch_index_response")["data"]["indexInfoList"]
    }
    assert order.receiver_protected["phone"]["index"] == indexes["13918812345"]
    assert order.receiver_protected["name"]["index"] == indexes["王小二"]
    xhs.requests.clear()

    plain = receiver_plain(order=order, purpose="waybill")

    assert plain == {"name": "王小二", "phone": "13918812345", "address": "上海市黄浦区马当路388号C座2楼"}
    assert [r["method"] for r in xhs.requests] == ["order.getOrderReceiverInfo", "data.batchDecrypt"]
    request = sample("xhs_data_batch_decrypt_request")
    assert {"method": "data.batchDecrypt", **xhs.calls("data.batchDecrypt")[0]["params"]} == request
    assert ReceiverDecryption.objects.get(order=order).succeeded
    order.refresh_from_db()
    assert order.ship_name == "" and "王小二" not in json.dumps(order.receiver_protected, ensure_ascii=False)


def test_a_per_item_decrypt_error_is_a_refusal_naming_the_field_and_audited(shop, xhs):
    from integrations.protected_data import DecryptionRefused, receiver_plain
    from orders.models import ReceiverDecryption

    xhs.add_order(detail())
    xhs.add_receiver(PAID_ID, OPEN_ADDRESS_ID, RECEIVER)
    channel_sync(channel_id=shop.pk, now=NOW)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)
    with pytest.raises(DecryptionRefused, match="name"):
        receiver_plain(order=order, purpose="waybill")
    audit = ReceiverDecryption.objects.get()
    assert not audit.succeeded and "解密限额" in audit.error


# --- (5) stock push and shipment write-back ---------------------------------------------------------


@pytest.fixture
def push_stock(django_capture_on_commit_callbacks):
    from inventory.stock_push import push_pending_stock

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()

    return run


def test_stock_is_pushed_to_the_mapped_sku_with_sync_sku_stock(db, xhs, push_stock):
    from core.models import OutboxMessage, OutboxState
    from integrations.models import ChannelListing
    from inventory.models import ItemMapping, SafetyStock

    ensure_master_data(stock=0)
    channel = ChannelFactory(
        code="xhs-1", platform="xiaohongshu", api_credentials=fake_xiaohongshu.credentials(xhs)
    )
    sku = SKUFactory(code="TS-BLU-M")
    ItemMapping.objects.create(
        channel=channel, sku=sku, platform_item_id=SHIRT_SKU, platform_sku_id=SHIRT_SKU
    )
    SafetyStock.objects.create(sku=sku, channel=channel, quantity=3)
    receive(sku, 40)

    push_stock()

    (call,) = xhs.calls("inventory.syncSkuStock")
    expected = sample("xhs_inventory_sync_sku_stock_request")
    assert {"method": "inventory.syncSkuStock", **call["params"]} == {**expected, "qty": 37}  # 40 − 3 safety
    assert xhs.stock[SHIRT_SKU] == 37
    assert ChannelListing.objects.get(channel=channel).last_pushed_quantity == 37
    assert OutboxMessage.objects.get(kind="stock_push").state == OutboxState.DELIVERED  # -9028 is a success

    xhs.faults.append(("inventory.syncSkuStock", "busy"))
    receive(sku, 1)
    push_stock()
    retried = OutboxMessage.objects.filter(kind="stock_push").order_by("-pk").first()
    assert retried.state == OutboxState.PENDING  # rate limited: retried later, not dead


def test_a_refused_stock_response_is_a_refusal(xhs_client, xhs, monkeypatch):
    answer = sample("xhs_inventory_sync_sku_stock_response")
    answer["data"]["response"] = {"success": False, "message": "多仓库存商品不支持", "code": -1}
    monkeypatch.setattr(xhs, "do_inventory_syncSkuStock", lambda params: answer)
    with pytest.raises(PlatformError, match="多仓库存商品不支持") as caught:
        xhs_client.sync_stock(sku_id=SHIRT_SKU, qty=5)
    assert caught.value.temporary is False
    with pytest.raises(PlatformError, match="negative"):
        xhs_client.sync_stock(sku_id=SHIRT_SKU, qty=-1)


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def dispatch(db, xhs):
    """An XHS shop, SF mapped to XHS's express company code "shunfeng", two empty warehouses."""
    from integrations.models import CarrierCode
    from inventory.models import Warehouse, WarehouseKind
    from orders.tests.factories import CarrierFactory, WarehouseFactory

    ensure_master_data(stock=0)
    hangzhou = WarehouseFactory()
    shanghai = Warehouse.objects.create(
        code="WH-SH", name="Shanghai", kind=WarehouseKind.OWN, province="上海市", city="上海市"
    )
    channel = ChannelFactory(
        code="xhs-1", platform="xiaohongshu", api_credentials=fake_xiaohongshu.credentials(xhs)
    )
    sf = CarrierFactory()
    # common.getExpressCompanyList
    code = sample("xhs_common_get_express_company_list_response")["data"]["expressCompanyInfos"][0]
    CarrierCode.objects.create(platform="xiaohongshu", carrier=sf, code=code["expressCompanyCode"])
    return SimpleNamespace(channel=channel, sf=sf, hangzhou=hangzhou, shanghai=shanghai)


def polled_recent_order(capture, xhs, dispatch, order: dict) -> Order:
    """An order updated a few minutes ago, polled by the real sync, routed on commit."""
    from django.utils import timezone

    moment = int((timezone.now() - timedelta(minutes=10)).timestamp()) * 1000
    xhs.add_order({**order, "createdTime": moment - 60000, "paidTime": moment - 30000, "updateTime": moment})
    with capture(execute=True):
        result = channel_sync(channel_id=dispatch.channel.pk)
    assert (result.status, result.error) == ("ok", "")
    return Order.objects.get(channel=dispatch.channel, external_id=order["orderId"])


def test_a_whole_order_in_one_parcel_is_delivered_once(dispatch, xhs, capture):
    from integrations.models import WriteBackState

    receive(SKUFactory(code="MUG-350"), 10, warehouse=dispatch.hangzhou)
    [parcel] = live_parcels(
        polled_recent_order(capture, xhs, dispatch, detail("xhs_order_get_order_detail_shipping_response"))
    )

    ship(capture, parcel, dispatch.sf, "SF1234567890125")

    (call,) = xhs.calls("order.orderDeliver")
    expected = sample("xhs_order_order_deliver_request")
    assert {"method": "order.orderDeliver", **call["params"], "deliveringTime": 0} == {
        **expected,
        "deliveringTime": 0,
    }
    assert abs(call["params"]["deliveringTime"] / 1000 - datetime.now(UTC).timestamp()) < 120  # ms
    assert xhs.orders[POSTAGE_ID]["orderStatus"] == 6
    row = write_back_of(parcel)
    assert (row.state, row.attempts, row.already_done) == (WriteBackState.SENT, 1, False)


def test_a_split_order_ships_each_parcel_unpacked_with_its_skus(dispatch, xhs, capture):
    from integrations.models import WriteBackState

    receive(SKUFactory(code="TS-BLU-M"), 10, warehouse=dispatch.hangzhou)
    receive(SKUFactory(code="SOCK-W-3"), 10, warehouse=dispatch.shanghai)
    order = polled_recent_order(capture, xhs, dispatch, detail())
    by_sku = {tuple(line.sku.code for line in p.order_lines): p for p in live_parcels(order)}
    assert set(by_sku) == {("TS-BLU-M",), ("SOCK-W-3",)}

    ship(capture, by_sku[("TS-BLU-M",)], dispatch.sf, "SF1234567890124")
    ship(capture, by_sku[("SOCK-W-3",)], dispatch.sf, "SF1234567890126")

    calls = [c["params"] for c in xhs.calls("order.orderDeliver")]
    unpack = sample("xhs_order_order_deliver_unpack_request")  # zto / 中通 there; SF here
    assert [set(c) for c in calls] == [set(unpack) - {"method", "expressCompanyName"}] * 2
    assert [(c["unpack"], c["skuIdList"], c["expressNo"], c["expressCompanyCode"]) for c in calls] == [
        (True, [SHIRT_SKU], "SF1234567890124", "shunfeng"),
        (True, [SOCK_SKU], "SF1234567890126", "shunfeng"),
    ]
    assert xhs.orders[PAID_ID]["orderStatus"] == 6
    rows = [write_back_of(by_sku[key]) for key in (("TS-BLU-M",), ("SOCK-W-3",))]
    assert [row.state for row in rows] == [WriteBackState.SENT] * 2


def test_a_write_back_whose_answer_was_lost_is_not_sent_twice(dispatch, xhs, capture):
    from django.utils import timezone

    from core.models import OutboxMessage
    from core.outbox import outbox_deliver
    from integrations.models import WriteBackState

    receive(SKUFactory(code="MUG-350"), 10, warehouse=dispatch.hangzhou)
    [parcel] = live_parcels(
        polled_recent_order(capture, xhs, dispatch, detail("xhs_order_get_order_detail_shipping_response"))
    )
    xhs.faults.append(("order.orderDeliver", "lost"))

    ship(capture, parcel, dispatch.sf, "SF1234567890125")

    row = write_back_of(parcel)
    assert row.state == WriteBackState.PENDING and "502" in row.last_error
    attempts = OutboxMessage.objects.get(pk=row.outbox_message_id).attempts
    later = timezone.now() + timedelta(hours=2 * (attempts + 1))
    assert outbox_deliver(row.outbox_message_id, now=later) == "delivered"
    row = write_back_of(parcel)
    assert row.state == WriteBackState.SENT and row.already_done
    assert len(xhs.calls("order.orderDeliver")) == 1
    assert len(xhs.orders[POSTAGE_ID]["simpleDeliveryOrderList"]) == 1


def test_a_carrier_without_an_xhs_code_fails_and_sends_nothing(dispatch, xhs, capture):
    from integrations.models import WriteBackState
    from orders.tests.factories import CarrierFactory

    receive(SKUFactory(code="MUG-350"), 10, warehouse=dispatch.hangzhou)
    [parcel] = live_parcels(
        polled_recent_order(capture, xhs, dispatch, detail("xhs_order_get_order_detail_shipping_response"))
    )
    zto = CarrierFactory(code="zto", name="ZTO", tracking_code="zhongtong")

    ship(capture, parcel, zto, "ZT4000000001")

    row = write_back_of(parcel)
    assert row.state == WriteBackState.FAILED and "ZTO" in row.last_error
    assert xhs.calls("order.orderDeliver") == []


def test_a_closed_order_is_not_delivered(xhs_client, xhs):
    from integrations.writeback_contract import NoticeLine, ShipmentNotice

    xhs.add_order(detail("xhs_order_get_order_detail_closed_response"))
    notice = ShipmentNotice(
        order_external_id=PAID_ID,
        shipment_number="SH1",
        parcel_index=1,
        parcel_count=1,
        carrier_code="shunfeng",
        carrier_name="SF",
        tracking_number="SF1",
        lines=[NoticeLine(SHIRT_SKU, SHIRT_SKU, SHIRT_SKU, "TS-BLU-M", 2, 2)],
    )
    with pytest.raises(PlatformError, match="closed"):
        xhs_client.write_back_shipment(notice)
    assert xhs.calls("order.orderDeliver") == []


# --- (6) after-sales (integrations.after_sales contract) -------------------------------------------

RETURNS_ID = "R6242141112658161"


def xhs_after_sale(**changes) -> dict:
    info = copy.deepcopy(sample("xhs_after_sale_get_after_sale_info_response")["data"]["afterSaleInfo"])
    info.update(changes)
    return info


def test_an_after_sale_request_becomes_an_rma_then_refunded_to_the_cent(shop, xhs):
    from integrations.after_sales import after_sales_sync
    from integrations.models import AfterSaleCursor
    from returns.models import R, ReturnKind, ReturnRefund, ReturnRequest

    xhs.add_order(detail("xhs_order_get_order_detail_shipping_response"))  # …402, the mug, 90.00
    channel_sync(channel_id=shop.pk, now=NOW)
    xhs.after_sales[RETURNS_ID] = xhs_after_sale()  # 未发货仅退款, 待审核, updatedAt 11:00 +08:00
    at = datetime.fromtimestamp(1768446000, UTC)
    AfterSaleCursor.objects.create(channel=shop, cursor=at - timedelta(minutes=10), overlap_seconds=0)

    result = after_sales_sync(channel_id=shop.pk, now=at + timedelta(seconds=30))

    assert (result.status, result.orders_seen) == ("ok", 1)
    (listed,) = xhs.calls("afterSale.listAfterSaleInfos")
    request = sample("xhs_after_sale_list_after_sale_infos_request")
    assert set(listed["body"]) >= set(request) and listed["params"]["timeType"] == 2
    assert listed["params"]["endTime"] - listed["params"]["startTime"] <= 1800 * 1000  # ms, ≤ 30 min
    assert {
        "method": "afterSale.getAfterSaleInfo",
        **xhs.calls("afterSale.getAfterSaleInfo")[0]["params"],
    } == (sample("xhs_after_sale_get_after_sale_info_request"))
    rma = ReturnRequest.objects.get(order__channel=shop, external_ref=f"xiaohongshu:{RETURNS_ID}")
    assert (rma.status, rma.kind) == (R.REQUESTED, ReturnKind.REFUND_ONLY)
    assert [(line.sku.code, line.quantity) for line in rma.lines.all()] == [("MUG-350", 1)]

    xhs.after_sales[RETURNS_ID] = xhs_after_sale(
        status=4, refundStatus=2, refundAmountYuan=90.0, refundTime=1768447000000, updatedAt=1768447000000
    )
    later = datetime.fromtimestamp(1768447000, UTC)
    assert after_sales_sync(channel_id=shop.pk, now=later + timedelta(seconds=30)).status == "ok"

    rma.refresh_from_db()
    assert rma.status == R.CLOSED
    assert ReturnRefund.objects.get(rma=rma).amount == Decimal("90.00")  # yuan 90.0 → 90.00 exactly


def test_after_sale_money_is_yuan_to_the_cent_and_states_are_placed_or_refused():
    from integrations.xiaohongshu import after_sales
    from integrations.xiaohongshu.client import AFTER_SALE_DETAIL

    listed = sample("xhs_after_sale_list_after_sale_infos_response")["data"]["afterSaleBasicInfos"][0]
    record = {**listed, AFTER_SALE_DETAIL: {"afterSaleInfo": xhs_after_sale(), "logisticsInfo": {}}}
    canonical = after_sales.after_sale_to_canonical(record, SimpleNamespace(code="xhs-1"))
    assert (canonical["kind"], canonical["state"], canonical["refund_amount"]) == (
        "refund_only",
        "requested",
        Decimal("90.00"),
    )
    assert canonical["lines"] == [
        {
            "platform_line_id": "67064f2b980e2f00016052bc",
            "platform_sku_id": "67064f2b980e2f00016052bc",
            "seller_code": "MUG-350",
            "quantity": 1,
        }
    ]
    assert canonical["updated_at"] == datetime.fromtimestamp(1768446000, UTC)
    assert after_sales._yuan(19.9) == Decimal("19.90") and after_sales._yuan(90) == Decimal("90.00")
    for not_exact in (19.999, 0.1 + 0.2, "1e400"):  # more than cents, float noise: refused, never rounded
        with pytest.raises(ValueError, match="yuan"):
            after_sales._yuan(not_exact)
    with pytest.raises(ValueError, match="status"):
        after_sales.after_sale_to_canonical(
            {**record, AFTER_SALE_DETAIL: {"afterSaleInfo": xhs_after_sale(status=77)}}, None
        )
    with pytest.raises(ValueError, match="expectedRefundAmountYuan"):
        after_sales.after_sale_to_canonical({**record, "expectedRefundAmountYuan": 80.0}, None)
