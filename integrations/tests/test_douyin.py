"""Douyin shop (issue #16) against the fake gateway of fake_douyin.py (real HTTP on localhost, the
signature checked on the fake's side) answering with the fixtures of payloads/SOURCES.md §17:
signing (the computed vectors of douyin_signing_vectors.json), tokens, errors, polling
order.searchList across a page boundary, the money of each order to the cent, a later cancelled
version releasing stock, push messages through the webhook framework, protected receiver data
decrypted with order.batchDecrypt, stock with sku.syncStock and parcels written back with
order.logisticsAdd / logisticsAddMultiPack through the outbox."""

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest

from catalog.models import Channel
from core.errors import TransitionRefused
from core.http import PlatformError, RateLimited
from integrations.douyin import DouyinAdapter, mapping, signing
from integrations.douyin import client as client_module
from integrations.douyin.client import DouyinClient
from integrations.models import InboundMessage, InboundStatus, SyncCursor
from integrations.sync import channel_sync
from integrations.tests import fake_douyin, fake_server
from integrations.tests.fake_douyin import sample
from integrations.tests.parcels import live_parcels, ship, write_back_of
from inventory.models import StockBalance
from orders.models import Order, OrderStatus
from orders.services import order_transition
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

VECTORS = sample("douyin_signing_vectors")
PAID_ID, POSTAGE_ID, UNPAID_ID = "6921446093102487771", "6921446093102489901", "6921446093102491202"
SEARCH = "order.searchList"


def orders_of(name: str) -> list[dict]:
    return copy.deepcopy(sample(name)["data"]["shop_order_list"])


@pytest.fixture
def douyin():
    with fake_server.running(fake_douyin.serve) as gateway:
        yield gateway


@pytest.fixture
def dy_client(douyin):
    with httpx.Client(timeout=5) as http:
        yield DouyinClient(
            SimpleNamespace(code="dy-1", api_credentials=fake_douyin.credentials(douyin)), http=http
        )


# --- (1) signing, tokens, errors -------------------------------------------------------------------


def test_param_json_and_sign_match_the_computed_vectors():
    api = VECTORS["api"]
    body = signing.param_json(sample("douyin_order_search_list_page0_request"))
    assert body == api["param_json"]
    args = {
        "app_key": VECTORS["app_key"],
        "app_secret": VECTORS["app_secret"],
        "method": api["method"],
        "param_json": body,
        "timestamp": api["timestamp"],
    }
    assert signing.sign_pattern(**args) == api["sign_pattern"]
    assert signing.sign(**args) == api["md5"]
    assert signing.sign(**args, sign_method="hmac-sha256") == api["hmac_sha256"]


def test_param_json_sorts_nested_keys_keeps_chinese_and_drops_none():
    assert signing.param_json({"b": {"z": 1, "a": "圆通"}, "a": None, "c": [{"y": 1, "x": 2}]}) == (
        '{"b":{"a":"圆通","z":1},"c":[{"x":2,"y":1}]}'
    )
    assert signing.param_json(None) == "{}"


def test_event_sign_matches_the_vectors_and_refuses_a_changed_body():
    push = VECTORS["push"]
    body = push["body"].encode()
    key, secret = VECTORS["app_key"], VECTORS["app_secret"]
    assert signing.event_sign(app_key=key, app_secret=secret, raw_body=body) == push["event_sign_md5"]
    assert (
        signing.event_sign(app_key=key, app_secret=secret, raw_body=body, sign_method="hmac-sha256")
        == push["event_sign_hmac_sha256"]
    )
    third = VECTORS["third_party_check"]
    assert (
        signing.event_sign(
            app_key=third["app_id"],
            app_secret=third["app_secret"],
            raw_body=third["body"].encode(),
            sign_method="hmac-sha256",
        )
        == third["event_sign_hmac_sha256"]
    )
    valid = {"app_key": key, "app_secret": secret, "given": push["event_sign_md5"], "sign_method": "md5"}
    assert signing.event_sign_valid(raw_body=body, **valid)
    assert not signing.event_sign_valid(raw_body=body + b" ", **valid)
    assert not signing.event_sign_valid(raw_body=body, **{**valid, "app_secret": "other"})
    assert not signing.event_sign_valid(raw_body=body, **{**valid, "sign_method": "sha1"})


@pytest.mark.parametrize("sign_method", ["md5", "hmac-sha256"])
def test_a_signed_call_is_accepted_by_the_gateway(douyin, sign_method):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    with httpx.Client(timeout=5) as http:
        credentials = fake_douyin.credentials(douyin, sign_method=sign_method)
        detail = DouyinClient(
            SimpleNamespace(code="dy", api_credentials=credentials), http=http
        ).order_detail(PAID_ID)
    assert detail["order_id"] == PAID_ID
    (call,) = douyin.calls("order.orderDetail")
    assert call["query"]["sign_method"] == sign_method
    assert (call["query"]["v"], call["query"]["access_token"], call["body"]) == (
        "2",
        fake_douyin.ACCESS_TOKEN,
        '{"shop_order_id":"6921446093102487771"}',
    )


def test_a_wrong_secret_is_refused_by_the_gateway_as_a_bad_signature(douyin):
    credentials = fake_douyin.credentials(douyin, app_secret="wrong")
    with httpx.Client(timeout=5) as http:
        client = DouyinClient(SimpleNamespace(code="dy", api_credentials=credentials), http=http)
        with pytest.raises(PlatformError, match="isv.signature-invalid") as caught:
            client.order_detail(PAID_ID)
    assert caught.value.temporary is False


def test_traffic_limited_is_rate_limited(dy_client, douyin):
    douyin.faults.append((SEARCH, "douyin_error_traffic_limited"))
    now = datetime.now(UTC)
    with pytest.raises(RateLimited):
        list(dy_client.iter_orders(updated_since=now - timedelta(minutes=30), updated_until=now))


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(douyin, db):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    channel = ChannelFactory(code="dy-1", platform="douyin", api_credentials=fake_douyin.credentials(douyin))
    douyin.expire_token()
    with httpx.Client(timeout=5) as http:
        client = DouyinClient(channel, http=http)
        assert client.order_detail(PAID_ID)["order_id"] == PAID_ID
    assert [r["method"] for r in douyin.requests] == [
        "order.orderDetail",
        "token.refresh",
        "order.orderDetail",
    ]
    refresh = douyin.calls("token.refresh")[0]
    assert refresh["params"] == sample("douyin_token_refresh_request") | {"refresh_token": "REFRESH_TOKEN"}
    assert "access_token" not in refresh["query"]
    channel.refresh_from_db()
    assert (channel.api_credentials["access_token"], channel.api_credentials["refresh_token"]) == (
        "ACCESS_TOKEN_2",
        "REFRESH_TOKEN_2",
    )
    assert client.refreshes == 1


def test_a_token_still_expired_after_the_refresh_is_refused_not_refreshed_again(dy_client, douyin):
    douyin.faults += [("order.orderDetail", "douyin_error_access_token_expired")] * 2
    with pytest.raises(PlatformError, match="isv.access-token-expired"):
        dy_client.order_detail(PAID_ID)
    assert len(douyin.calls("token.refresh")) == 1


def test_token_create_keeps_the_tokens(dy_client, douyin):
    data = dy_client.token_create(code="", grant_type="authorization_self", shop_id="77977")
    assert data["shop_id"] == 77977
    assert douyin.calls("token.create")[0]["params"] == {
        "code": "",
        "grant_type": "authorization_self",
        "shop_id": "77977",
    }
    assert dy_client.channel.api_credentials["access_token"] == fake_douyin.ACCESS_TOKEN


def test_an_html_502_is_a_temporary_platform_error(dy_client, douyin):
    douyin.faults.append((None, "http_502"))
    with pytest.raises(PlatformError) as caught:
        dy_client.order_detail(PAID_ID)
    assert caught.value.status_code == 502


# --- (2) polling and the money --------------------------------------------------------------------


@pytest.fixture
def shop(db, douyin):
    ensure_master_data(stock=0)
    for code in ("TS-BLU-M", "SOCK-W-3", "MUG-350"):
        receive(SKUFactory(code=code), 10)
    return ChannelFactory(code="dy-1", platform="douyin", api_credentials=fake_douyin.credentials(douyin))


def all_orders(douyin):
    for order in orders_of("douyin_order_search_list_page0_response") + orders_of(
        "douyin_order_search_list_page1_response"
    ):
        douyin.add_order(order)


BEIJING_1045 = datetime(2026, 1, 15, 2, 45, tzinfo=UTC)  # 10:45 +08:00, after the three orders


def reserved(code: str) -> int:
    return sum(StockBalance.objects.filter(sku__code=code).values_list("reserved", flat=True))


def test_a_poll_pages_across_the_boundary_and_maps_every_amount(shop, douyin, monkeypatch):
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)  # the fixtures' page size: 3 orders, 2 pages
    all_orders(douyin)

    result = channel_sync(channel_id=shop.pk, now=BEIJING_1045)

    assert (result.status, result.pages_fetched, result.orders_seen, result.messages_stored) == (
        "ok",
        2,
        3,
        3,
    )
    pages = douyin.calls(SEARCH)
    assert [(p["params"]["page"], p["params"]["size"]) for p in pages] == [(0, 2), (1, 2)]
    request = sample("douyin_order_search_list_page0_request")
    assert {k: pages[0]["params"][k] for k in ("order_asc", "order_by")} == {
        k: request[k] for k in ("order_asc", "order_by")
    }
    assert pages[0]["params"]["update_time_end"] == int((BEIJING_1045 - timedelta(seconds=5)).timestamp())
    assert result.cursor == datetime.fromtimestamp(1768443600, tz=UTC)  # the newest update_time

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
    shirt, socks = paid.lines.order_by("platform_line_id")
    assert (shirt.platform_line_id, shirt.quantity, shirt.unit_price, shirt.discount, shirt.paid_amount) == (
        "6921446093102487772",
        2,
        Decimal("59.90"),
        Decimal("10.00"),
        Decimal("109.80"),
    )
    assert shirt.discount_allocations == [
        {"amount": "10.00", "funded_by": "merchant", "title": "promotion_shop_amount"}
    ]
    assert (shirt.platform_item_id, shirt.platform_sku_id, shirt.sku.code) == (
        "3473196049974326153",
        "3254535",
        "TS-BLU-M",
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
    assert unpaid.total == Decimal("59.90")
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3"), reserved("MUG-350")) == (
        3,
        1,
        1,
    )  # the unpaid one reserves too


def test_a_later_cancelled_version_cancels_the_order_and_releases_its_stock(shop, douyin):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    channel_sync(channel_id=shop.pk, now=BEIJING_1045)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (2, 1)

    douyin.add_order(orders_of("douyin_order_search_list_cancelled_response")[0])  # update_time 14:30:05
    result = channel_sync(channel_id=shop.pk, now=datetime(2026, 1, 15, 6, 45, tzinfo=UTC))

    assert result.messages_stored == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (0, 0)
    assert Order.objects.filter(channel=shop, external_id=PAID_ID).count() == 1


def test_status_mapping_and_unknown_status():
    channel = SimpleNamespace(code="dy-1")
    order = orders_of("douyin_order_search_list_page0_response")[0]
    for status, paid, cancelled in [
        (1, False, False),
        (105, True, False),  # paid, held (platform_hold) until Douyin releases it
        (2, True, False),
        (101, True, False),
        (3, True, False),
        (4, False, True),
        (5, True, False),
    ]:
        canonical = mapping.order_to_canonical({**order, "order_status": status}, channel)
        assert (canonical["paid"], canonical["cancelled"]) == (paid, cancelled), status
        assert (mapping.RISK_TAG in canonical.get("tags", [])) == (status == 105)
        assert bool(canonical.get("platform_hold")) == (status == 105), status
    with pytest.raises(ValueError, match="order_status"):
        mapping.order_to_canonical({**order, "order_status": 7}, channel)


def test_a_risk_checked_order_105_is_paid_and_held_until_douyin_moves_it_on(
    shop, douyin, manager, django_capture_on_commit_callbacks
):
    order = orders_of("douyin_order_search_list_page0_response")[1]
    douyin.add_order({**order, "order_status": 105})

    with django_capture_on_commit_callbacks(execute=True):
        channel_sync(channel_id=shop.pk, now=BEIJING_1045)

    # paid: its money and stock taken as a paid order, but held and never routed
    taken = Order.objects.get(channel=shop, external_id=POSTAGE_ID)
    assert (taken.status, taken.held_from) == (OrderStatus.ON_HOLD, OrderStatus.PAID)
    assert taken.hold_reason == "Douyin risk check: do not ship until Douyin releases it"
    assert taken.paid_at == datetime.fromtimestamp(order["pay_time"], tz=UTC)
    assert (taken.paid_amount, reserved("MUG-350")) == (Decimal("90.00"), 1)
    assert mapping.RISK_TAG in taken.tags
    assert not taken.shipments.exists()
    # a person cannot release it while Douyin holds it
    with pytest.raises(TransitionRefused, match="platform still holds"):
        order_transition(order=taken, name="release", actor=manager, reason="looks fine")
    # a later version still at 105 keeps it held
    douyin.add_order({**order, "order_status": 105, "update_time": order["update_time"] + 30})
    with django_capture_on_commit_callbacks(execute=True):
        channel_sync(channel_id=shop.pk, now=BEIJING_1045 + timedelta(minutes=2))
    taken.refresh_from_db()
    assert taken.status == OrderStatus.ON_HOLD and not taken.shipments.exists()

    # when: Douyin moves it on to 2 备货中
    douyin.add_order({**order, "update_time": order["update_time"] + 60})
    with django_capture_on_commit_callbacks(execute=True):
        channel_sync(channel_id=shop.pk, now=BEIJING_1045 + timedelta(minutes=5))

    taken.refresh_from_db()
    assert taken.status == OrderStatus.ALLOCATED and taken.shipments.exists()  # routed now
    assert (taken.hold_reason, reserved("MUG-350")) == ("", 1)
    assert mapping.RISK_TAG not in taken.tags
    assert taken.events.filter(reason="Released on the platform", from_status=OrderStatus.ON_HOLD).exists()


def test_fen_is_exact_and_refuses_what_is_not_an_amount():
    assert mapping.fen(12470) == Decimal("124.70")
    assert mapping.fen("1") == Decimal("0.01")
    assert mapping.fen(-500) == Decimal("-5.00")
    with pytest.raises(ValueError):
        mapping.fen("12.5")


def test_an_order_that_cannot_be_mapped_fails_its_message_naming_why(shop, douyin):
    douyin.add_order({**orders_of("douyin_order_search_list_page0_response")[1], "order_status": 77})
    channel_sync(channel_id=shop.pk, now=BEIJING_1045)
    message = InboundMessage.objects.get(channel=shop)
    assert message.status == InboundStatus.FAILED
    assert "order_status" in message.error


def test_the_adapter_reads_the_version_of_a_polled_order():
    order = orders_of("douyin_order_search_list_page0_response")[0]
    adapter = DouyinAdapter()
    assert adapter.poll_updated_at(order) == datetime.fromtimestamp(1768442475, tz=UTC)
    assert adapter.poll_dedupe_id(order) == "poll:6921446093102487771:1768442475"
    assert json.loads(json.dumps(order))["order_id"] == PAID_ID


# --- (3) push messages through the webhook framework -----------------------------------------------

PUSH_URL = "/integrations/webhooks/douyin/dy-1/"


@pytest.fixture
def pushed_shop(shop):
    shop.webhook_secret = fake_douyin.APP_SECRET  # the app secret signs the pushes
    shop.save(update_fields=["webhook_secret"])
    return shop


def post_push(client, body: bytes, *, sign: str | None = None, app_id: str = fake_douyin.APP_KEY):
    sign = sign or signing.event_sign(app_key=app_id, app_secret=fake_douyin.APP_SECRET, raw_body=body)
    return client.post(
        PUSH_URL, data=body, content_type="application/json", headers={"event-sign": sign, "app-id": app_id}
    )


def push_body(name: str) -> bytes:
    return json.dumps(sample(name), ensure_ascii=False, separators=(",", ":")).encode()


def test_a_signed_push_is_stored_raw_answered_success_and_its_order_fetched_and_ingested(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    body = VECTORS["push"]["body"].encode()  # TradeCreate 100 + TradePaid 101 of order …771

    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(client, body, sign=VECTORS["push"]["event_sign_md5"])

    assert (response.status_code, response.json()) == (200, sample("douyin_push_success_response"))
    push = InboundMessage.objects.get(channel=pushed_shop, topic="douyin.push")
    assert push.body == body.decode() and push.status == InboundStatus.PROCESSED
    assert push.dedupe_id == "push:6921446093102487771:100:1768442400:1,6921446093102487771:101:1768442472:1"
    assert [c["params"] for c in douyin.calls("order.orderDetail")] == [sample("douyin_order_detail_request")]
    order = Order.objects.get(channel=pushed_shop, external_id=PAID_ID)
    assert push.order == order and order.paid_amount == Decimal("124.70")


def test_a_redelivered_push_is_a_duplicate_answered_success(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    body = VECTORS["push"]["body"].encode()
    with django_capture_on_commit_callbacks(execute=True):
        answers = [post_push(client, body).json() for _ in range(3)]
    assert answers == [{"code": 0, "msg": "success"}] * 3
    assert InboundMessage.objects.filter(topic="douyin.push").count() == 1
    assert len(douyin.calls("order.orderDetail")) == 1


def test_a_bad_event_sign_is_refused_and_nothing_kept(pushed_shop, douyin, client):
    body = VECTORS["push"]["body"].encode()
    response = post_push(client, body, sign="0" * 32)
    assert response.status_code == 401
    row = InboundMessage.objects.get()
    assert (row.status, row.body) == (InboundStatus.REJECTED, "")
    assert douyin.requests == [] and not Order.objects.exists()


def test_the_same_order_by_push_and_by_poll_is_one_order(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, VECTORS["push"]["body"].encode())
    result = channel_sync(channel_id=pushed_shop.pk, now=BEIJING_1045)

    assert result.messages_stored == 0  # the poll read the version the push already stored
    assert Order.objects.filter(channel=pushed_shop, external_id=PAID_ID).count() == 1
    assert InboundMessage.objects.filter(dedupe_id="poll:6921446093102487771:1768442475").count() == 1


def test_a_push_reads_its_orders_outside_any_transaction_and_keeps_a_refreshed_token(
    pushed_shop, douyin, client, monkeypatch, django_capture_on_commit_callbacks
):
    """The platform is called with no transaction open beyond the test's own (no savepoint): no
    stock or order lock is held while Douyin answers, and tokens it rotated are not rolled back."""
    from django.db import connection

    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    douyin.expire_token()  # the read refreshes the token first
    depths = []
    read = DouyinClient.order_detail

    def order_detail(self, order_id):
        depths.append(len(connection.savepoint_ids))
        return read(self, order_id)

    monkeypatch.setattr(DouyinClient, "order_detail", order_detail)
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, VECTORS["push"]["body"].encode())

    assert depths == [0]
    pushed_shop.refresh_from_db()
    assert pushed_shop.api_credentials["access_token"] == "ACCESS_TOKEN_2"
    assert Order.objects.filter(channel=pushed_shop, external_id=PAID_ID).count() == 1


def test_a_token_kept_by_one_client_never_overwrites_a_key_changed_meanwhile(pushed_shop):
    from integrations.clients import credentials_write_back

    stale = Channel.objects.get(pk=pushed_shop.pk)  # what a running task loaded earlier
    rotated = {**pushed_shop.api_credentials, "app_secret": "rotated-in-the-desk"}
    Channel.objects.filter(pk=pushed_shop.pk).update(api_credentials=rotated)

    credentials_write_back(stale, {"access_token": "new-token"})

    pushed_shop.refresh_from_db()
    assert pushed_shop.api_credentials["app_secret"] == "rotated-in-the-desk"
    assert pushed_shop.api_credentials["access_token"] == "new-token"


def test_a_cancel_push_cancels_the_order_and_releases_its_stock(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    channel_sync(channel_id=pushed_shop.pk, now=BEIJING_1045)
    assert reserved("SOCK-W-3") == 1
    douyin.add_order(orders_of("douyin_order_search_list_cancelled_response")[0])

    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(client, push_body("douyin_push_trade_canceled"))

    assert response.json() == {"code": 0, "msg": "success"}
    assert Order.objects.get(channel=pushed_shop, external_id=PAID_ID).status == OrderStatus.CANCELLED
    assert (reserved("TS-BLU-M"), reserved("SOCK-W-3")) == (0, 0)


def test_the_probe_is_answered_success_and_ignored(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(client, push_body("douyin_push_probe"))
    assert response.json() == {"code": 0, "msg": "success"}
    assert InboundMessage.objects.get().status == InboundStatus.IGNORED
    assert douyin.requests == []
    # unsigned too: it carries nothing to act on, and Douyin must get its success answer
    response = client.post(PUSH_URL, data=push_body("douyin_push_probe"), content_type="application/json")
    assert (response.status_code, response.json()) == (200, {"code": 0, "msg": "success"})
    assert InboundMessage.objects.filter(topic="ping").count() == 2


def test_a_push_from_another_app_fails_naming_the_app(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, VECTORS["push"]["body"].encode(), app_id="7000000000000000001")
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.FAILED and "7000000000000000001" in message.error
    assert douyin.requests == []


def test_a_push_naming_an_order_douyin_does_not_know_fails_with_its_error(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, push_body("douyin_push_refund_created"))  # order …89901, not in the shop
    message = InboundMessage.objects.get(topic="douyin.push")
    assert message.status == InboundStatus.FAILED and "订单不存在" in message.error


def test_a_push_that_is_not_an_array_of_messages_fails_naming_it(
    pushed_shop, douyin, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_push(client, b'[{"tag": "101", "msg_id": "1", "data": "{\\"p_id\\": \\"x\\"}"}]')
    assert response.status_code == 200
    assert "p_id" in InboundMessage.objects.get().error


# --- (4) protected receiver -----------------------------------------------------------------------


def test_the_receiver_is_kept_masked_and_ciphered_and_decrypted_by_batch_decrypt(shop, douyin):
    from integrations.protected_data import receiver_plain
    from orders.models import ReceiverDecryption

    listed = orders_of("douyin_order_search_list_page0_response")[0]
    douyin.add_order(listed)
    for info in sample("douyin_order_batch_decrypt_response")["data"]["decrypt_infos"]:
        douyin.plain[info["cipher_text"]] = info["decrypt_text"]
    channel_sync(channel_id=shop.pk, now=BEIJING_1045)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)

    assert (order.ship_name, order.ship_phone, order.ship_province, order.ship_city) == (
        "张*",
        "1*********8",
        "北京市",
        "北京市",  # 市辖区 of a municipality, normalised by core.divisions
    )
    assert "丹棱街**号" in order.ship_line1
    assert order.receiver_protected == {
        "name": {"masked": "张*", "cipher": listed["encrypt_post_receiver"]},
        "phone": {"masked": "1*********8", "cipher": listed["encrypt_post_tel"]},
        "address": {"masked": "丹棱街**号", "cipher": listed["post_addr"]["encrypt_detail"]},
    }

    plain = receiver_plain(order=order, purpose="waybill")

    assert plain == {"name": "张三", "phone": "13117428564", "address": "丹棱街1号"}
    (call,) = douyin.calls("order.batchDecrypt")
    assert call["params"] == sample("douyin_order_batch_decrypt_request")
    assert ReceiverDecryption.objects.get(order=order).succeeded
    order.refresh_from_db()
    assert order.ship_phone == "1*********8"


def test_a_per_item_decrypt_error_is_a_refusal_naming_the_field(shop, douyin):
    from integrations.protected_data import DecryptionRefused, receiver_plain
    from orders.models import ReceiverDecryption

    douyin.add_order(orders_of("douyin_order_search_list_page0_response")[0])
    channel_sync(channel_id=shop.pk, now=BEIJING_1045)
    order = Order.objects.get(channel=shop, external_id=PAID_ID)
    with pytest.raises(DecryptionRefused, match="name"):
        receiver_plain(order=order, purpose="waybill")
    assert not ReceiverDecryption.objects.get().succeeded


# --- (5) stock push and shipment write-back ---------------------------------------------------------


@pytest.fixture
def push_stock(django_capture_on_commit_callbacks):
    from inventory.stock_push import push_pending_stock

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()

    return run


def test_stock_is_pushed_to_the_mapped_douyin_sku_with_sync_stock(db, douyin, push_stock):
    from core.models import OutboxMessage, OutboxState
    from integrations.models import ChannelListing
    from inventory.models import ItemMapping, SafetyStock

    ensure_master_data(stock=0)
    channel = ChannelFactory(code="dy-1", platform="douyin", api_credentials=fake_douyin.credentials(douyin))
    sku = SKUFactory(code="TS-BLU-M")
    ItemMapping.objects.create(
        channel=channel, sku=sku, platform_item_id="3473196049974326153", platform_sku_id="3254535"
    )
    SafetyStock.objects.create(sku=sku, channel=channel, quantity=3)
    receive(sku, 40)

    push_stock()

    (call,) = douyin.calls("sku.syncStock")
    expected = sample("douyin_sku_sync_stock_request")
    del expected["code"]  # the listing names the product and SKU ids; the seller code is not needed
    assert call["params"] == expected  # stock_num 37 = 40 on hand − 3 safety stock, incremental false
    assert douyin.stock[("3473196049974326153", "3254535")] == 37
    assert ChannelListing.objects.get(channel=channel).last_pushed_quantity == 37
    assert OutboxMessage.objects.get(kind="stock_push").state == OutboxState.DELIVERED

    douyin.faults.append(("sku.syncStock", "douyin_error_traffic_limited"))
    receive(sku, 1)
    push_stock()
    retried = OutboxMessage.objects.filter(kind="stock_push").order_by("-pk").first()
    assert retried.state == OutboxState.PENDING  # rate limited: retried later, not dead


def test_a_negative_stock_number_is_refused_before_any_call(dy_client, douyin):
    with pytest.raises(PlatformError, match="negative"):
        dy_client.sync_stock(product_id="1", sku_id="2", stock_num=-1)
    assert douyin.requests == []


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def dispatch(db, douyin):
    """A Douyin shop, SF mapped to Douyin's company code "shunfeng", two empty warehouses."""
    from integrations.models import CarrierCode
    from inventory.models import Warehouse, WarehouseKind
    from orders.tests.factories import CarrierFactory, WarehouseFactory

    ensure_master_data(stock=0)
    hangzhou = WarehouseFactory()
    shanghai = Warehouse.objects.create(
        code="WH-SH", name="Shanghai", kind=WarehouseKind.OWN, province="上海市", city="上海市"
    )
    channel = ChannelFactory(code="dy-1", platform="douyin", api_credentials=fake_douyin.credentials(douyin))
    sf = CarrierFactory()
    CarrierCode.objects.create(platform="douyin", carrier=sf, code="shunfeng")  # order.logisticsCompanyList
    return SimpleNamespace(channel=channel, sf=sf, hangzhou=hangzhou, shanghai=shanghai)


def polled_recent_order(capture, douyin, dispatch) -> Order:
    """Order …771 updated a few minutes ago, polled by the real sync, routed on commit."""
    from django.utils import timezone

    moment = int((timezone.now() - timedelta(minutes=10)).timestamp())
    order = orders_of("douyin_order_search_list_page0_response")[0]
    douyin.add_order({**order, "create_time": moment - 60, "pay_time": moment - 30, "update_time": moment})
    with capture(execute=True):
        result = channel_sync(channel_id=dispatch.channel.pk)
    assert (result.status, result.error) == ("ok", "")
    return Order.objects.get(channel=dispatch.channel, external_id=PAID_ID)


def test_one_parcel_of_the_whole_order_is_written_back_with_logistics_add(dispatch, douyin, capture):
    from integrations.models import WriteBackState

    receive(SKUFactory(code="TS-BLU-M"), 10, warehouse=dispatch.hangzhou)
    receive(SKUFactory(code="SOCK-W-3"), 10, warehouse=dispatch.hangzhou)
    [parcel] = live_parcels(polled_recent_order(capture, douyin, dispatch))

    ship(capture, parcel, dispatch.sf, "SF1234567890123")

    (call,) = douyin.calls("order.logisticsAdd")
    assert call["params"] == {**sample("douyin_order_logistics_add_request"), "order_id": PAID_ID}
    assert douyin.orders[PAID_ID]["order_status"] == 3
    row = write_back_of(parcel)
    assert (row.state, row.attempts, row.already_done) == (WriteBackState.SENT, 1, False)
    assert douyin.calls("order.logisticsAddMultiPack") == []


def test_a_split_order_ships_each_parcel_with_logistics_add_multi_pack(dispatch, douyin, capture):
    from integrations.models import WriteBackState

    receive(SKUFactory(code="TS-BLU-M"), 10, warehouse=dispatch.hangzhou)
    receive(SKUFactory(code="SOCK-W-3"), 10, warehouse=dispatch.shanghai)
    order = polled_recent_order(capture, douyin, dispatch)
    by_sku = {tuple(line.sku.code for line in p.order_lines): p for p in live_parcels(order)}
    assert set(by_sku) == {("TS-BLU-M",), ("SOCK-W-3",)}

    ship(capture, by_sku[("TS-BLU-M",)], dispatch.sf, "SF1234567890124")
    ship(capture, by_sku[("SOCK-W-3",)], dispatch.sf, "SF1234567890125")

    calls = douyin.calls("order.logisticsAddMultiPack")
    assert [c["params"]["pack_list"] for c in calls] == [
        [
            {
                "company_code": "shunfeng",
                "logistics_code": "SF1234567890124",
                "shipped_order_info": [{"shipped_order_id": "6921446093102487772", "shipped_num": 2}],
            }
        ],
        [
            {
                "company_code": "shunfeng",
                "logistics_code": "SF1234567890125",
                "shipped_order_info": [{"shipped_order_id": "6921446093102487773", "shipped_num": 1}],
            }
        ],
    ]
    assert [c["params"]["request_id"] for c in calls] == [
        f"conduit-{by_sku[key].number}" for key in (("TS-BLU-M",), ("SOCK-W-3",))
    ]
    assert douyin.orders[PAID_ID]["order_status"] == 3
    rows = [write_back_of(by_sku[key]) for key in (("TS-BLU-M",), ("SOCK-W-3",))]
    assert [row.state for row in rows] == [WriteBackState.SENT] * 2
    assert all(row.platform_reference for row in rows)  # Douyin's pack_id


def test_a_write_back_whose_answer_was_lost_is_not_sent_twice(dispatch, douyin, capture):
    from django.utils import timezone

    from core.models import OutboxMessage
    from core.outbox import outbox_deliver
    from integrations.models import WriteBackState

    receive(SKUFactory(code="TS-BLU-M"), 10, warehouse=dispatch.hangzhou)
    receive(SKUFactory(code="SOCK-W-3"), 10, warehouse=dispatch.hangzhou)
    [parcel] = live_parcels(polled_recent_order(capture, douyin, dispatch))
    douyin.faults.append(("order.logisticsAdd", "lost"))

    ship(capture, parcel, dispatch.sf, "SF1234567890123")

    row = write_back_of(parcel)
    assert row.state == WriteBackState.PENDING and "502" in row.last_error
    attempts = OutboxMessage.objects.get(pk=row.outbox_message_id).attempts
    later = timezone.now() + timedelta(hours=2 * (attempts + 1))
    assert outbox_deliver(row.outbox_message_id, now=later) == "delivered"
    row = write_back_of(parcel)
    assert row.state == WriteBackState.SENT and row.already_done
    assert len(douyin.calls("order.logisticsAdd")) == 1


def test_a_carrier_without_a_douyin_code_fails_and_sends_nothing(dispatch, douyin, capture):
    from integrations.models import WriteBackState
    from orders.tests.factories import CarrierFactory

    receive(SKUFactory(code="TS-BLU-M"), 10, warehouse=dispatch.hangzhou)
    receive(SKUFactory(code="SOCK-W-3"), 10, warehouse=dispatch.hangzhou)
    [parcel] = live_parcels(polled_recent_order(capture, douyin, dispatch))
    zto = CarrierFactory(code="zto", name="ZTO", tracking_code="zhongtong")

    ship(capture, parcel, zto, "ZT4000000001")

    row = write_back_of(parcel)
    assert row.state == WriteBackState.FAILED and "ZTO" in row.last_error
    assert douyin.calls("order.logisticsAdd") == [] and douyin.calls("order.logisticsAddMultiPack") == []


def test_shipping_discount_and_a_refunded_line_are_exact():
    channel = SimpleNamespace(code="dy-1")
    order = orders_of("douyin_order_search_list_page0_response")[1]  # post 10.00, pay 90.00
    # a 5.00 postage discount: post_origin 15.00 = post_amount 10.00 + post_promotion_amount 5.00
    canonical = mapping.order_to_canonical({**order, "post_promotion_amount": 500}, channel)
    assert (canonical["shipping_fee"], canonical["shipping_discount"], canonical["paid_amount"]) == (
        "15.00",
        "5.00",
        "90.00",
    )
    two = orders_of("douyin_order_search_list_page0_response")[0]
    two["sku_order_list"][1]["after_sale_info"] = {
        "after_sale_status": 12,
        "after_sale_type": 2,
        "refund_status": 3,
    }
    canonical = mapping.order_to_canonical(two, channel)
    assert [line["platform_line_id"] for line in canonical["lines"]] == ["6921446093102487772"]
    assert canonical["paid_amount"] == "109.80"  # 124.70 less the refunded line's 14.90
    assert not canonical["cancelled"]


def test_the_doc_detail_sample_with_numbers_as_strings_maps_without_guessing():
    """The doc sample's numbers are JSON strings (SOURCES.md §17); its amounts do not add up, so
    only that each field is read as the platform gives it is checked."""
    detail = sample("douyin_order_detail_doc_response")["data"]["shop_order_detail"]
    canonical = mapping.order_to_canonical(detail, SimpleNamespace(code="dy-1"))
    line, item = canonical["lines"][0], detail["sku_order_list"][0]
    assert line["unit_price"] == str(mapping.fen(item["origin_amount"]))
    assert line["quantity"] == int(item["item_num"])
    assert canonical["paid_amount"] == str(mapping.fen(detail["pay_amount"]))


# --- a rate limit in the middle of a poll ------------------------------------------------------------


def test_a_traffic_limit_stops_the_run_keeps_the_cursor_and_the_retry_reads_the_window(shop, douyin):
    all_orders(douyin)
    cursor = datetime(2026, 1, 15, 1, 55, tzinfo=UTC)  # before the three orders' update_time
    SyncCursor.objects.create(channel=shop, cursor=cursor)
    douyin.faults.append((SEARCH, "douyin_error_traffic_limited"))  # code 60000

    limited = channel_sync(channel_id=shop.pk, now=BEIJING_1045)

    assert limited.status == "rate_limited"
    state = SyncCursor.objects.get(channel=shop)
    assert state.cursor == cursor and state.next_run_at is not None
    assert not Order.objects.filter(channel=shop).exists()
    assert channel_sync(channel_id=shop.pk, now=BEIJING_1045 + timedelta(seconds=1)).status == "waiting"

    retried = channel_sync(channel_id=shop.pk, now=state.next_run_at + timedelta(seconds=1))

    assert (retried.status, retried.orders_seen, retried.messages_stored) == ("ok", 3, 3)
    first, second = douyin.calls(SEARCH)[0], douyin.calls(SEARCH)[1]
    # the retry reads the same window start as the limited run
    assert second["params"]["update_time_start"] == first["params"]["update_time_start"]
    assert Order.objects.filter(channel=shop).count() == 3
    assert SyncCursor.objects.get(channel=shop).cursor == datetime.fromtimestamp(1768443600, tz=UTC)
