"""JD (京东 JOS), issue #16: signing, the polling client, mapping with exact money, protected
receiver, stock push and shipment write-back — against fake_jd.py, a local JOS gateway that checks
every signature. Responses are the fixtures payloads/jd_*.json (SOURCES.md §15: built from JD's
Java / .NET / PHP SDK classes and the JOS field definitions; the money rules are JOS's)."""

import copy
import json
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from django.utils import timezone

from core.http import PlatformError, RateLimited
from core.models import OutboxMessage, OutboxState
from core.outbox import outbox_deliver
from core.timezones import BEIJING, format_beijing_time, parse_beijing_time
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import ShipmentStatus
from integrations.adapters import get_adapter
from integrations.jd import mapping, signing
from integrations.jd.client import ORDER_FIELDS, ORDER_STATES, JdClient, windows
from integrations.models import (
    CarrierCode,
    ChannelListing,
    InboundMessage,
    ShipmentWriteBack,
    SyncCursor,
    WriteBackState,
)
from integrations.protected_data import DecryptionRefused, receiver_plain
from integrations.sync import channel_sync
from integrations.tests import fake_jd, fake_server
from integrations.tests.conftest import reserved
from integrations.tests.fake_jd import order_of, orders_of, sample
from integrations.tests.parcels import ship
from integrations.writeback_contract import ShipmentNotice
from inventory.models import ItemMapping
from inventory.stock_push import push_pending_stock
from orders.canonical import CanonicalOrderInput
from orders.models import Order, ReceiverDecryption
from orders.tests.factories import (
    CarrierFactory,
    ChannelFactory,
    SKUFactory,
    WarehouseFactory,
    ensure_master_data,
    receive,
)

SEARCH, GET = "jingdong.pop.order.enSearch", "jingdong.pop.order.enGet"
SHIPMENT, STOCK = "jingdong.pop.order.shipment", "jingdong.stock.write.updateSkuStock"
DECRYPT = "jingdong.jos.order.oaid.decrypt"
ORDER_1, ORDER_2, ORDER_3 = "300000000001", "300000000002", "300000000003"
WS = WriteBackState
SKUS = ("TS-WHT-L", "BAG-BEI", "CUP-BLU-500", "TIS-3")


@pytest.fixture
def jos():
    with fake_server.running(fake_jd.serve) as gateway:
        yield gateway


def client_for(jos, **more) -> JdClient:
    return JdClient(
        SimpleNamespace(code="jd-1", api_credentials=fake_jd.credentials(jos, **more)),
        http=httpx.Client(timeout=5),
    )


def recent(info: dict, minutes_ago: int) -> dict:
    """The order modified a few minutes ago (Beijing time): inside the first polling window."""
    moment = format_beijing_time(timezone.now() - timedelta(minutes=minutes_ago))
    return {**copy.deepcopy(info), "modified": moment}


# --- (1) signing and the signed client ------------------------------------------------------------


def test_sign_matches_the_vector_computed_with_the_sdk_rule():
    vector = sample("jd_sign_vector_computed")
    assert (
        vector["app_secret"] + signing.string_to_sign(vector["params"]) + vector["app_secret"]
        == (vector["sign_source"])
    )
    assert signing.sign(vector["params"], vector["app_secret"]) == vector["sign"]
    assert signing.verify({**vector["params"], "sign": vector["sign"]}, "testSecret")
    assert not signing.verify({**vector["params"], "sign": vector["sign"], "v": "2.1"}, "testSecret")
    # an empty parameter is not signed
    assert signing.sign({**vector["params"], "format": ""}, "testSecret") == vector["sign"]


def test_a_search_sends_the_documented_parameters_signed_in_beijing_time(jos):
    client = client_for(jos, page_size=2)
    start = parse_beijing_time("2026-05-12 10:00:00")

    client._search_page(start, start + timedelta(minutes=30), 1)

    (request,) = jos.calls(SEARCH)
    documented = sample("jd_pop_order_ensearch_request_page1")
    # the business parameters are exactly the documented request's, as one JSON text
    assert request["360buy_param_json"] == documented["360buy_param_json"]
    assert {k: request[k] for k in ("method", "app_key", "access_token", "v", "format")} == {
        k: documented[k] for k in ("method", "app_key", "access_token", "v", "format")
    }
    sent = parse_beijing_time(request["timestamp"])  # Beijing wall-clock time, whatever the host's zone
    assert abs(sent - timezone.now()) < timedelta(seconds=30)
    assert request["sign"] == fake_jd.jos_sign(request, fake_jd.APP_SECRET)


def test_a_wrong_secret_is_refused_by_the_gateway_signature_check(jos):
    client = client_for(jos, app_secret="not-the-secret")

    with pytest.raises(PlatformError) as refused:
        client.set_stock(sku_id=100000000101, quantity=1)

    assert (refused.value.code, refused.value.en_desc) == ("12", "Invalid Signature")
    assert refused.value.temporary is False and jos.stock == {}


def test_app_call_limited_is_a_rate_limit_and_a_token_error_asks_to_authorise_again(jos):
    client = client_for(jos)
    jos.faults = [(STOCK, "jd_error_app_call_limited")]
    with pytest.raises(RateLimited):
        client.set_stock(sku_id=100000000101, quantity=1)

    with pytest.raises(PlatformError) as refused:
        client_for(jos, access_token="expired").set_stock(sku_id=100000000101, quantity=1)
    assert refused.value.token_error and "authorise the shop again" in str(refused.value)
    assert refused.value.temporary is False


def test_windows_are_cut_at_the_platform_limit_in_beijing_time():
    since = timezone.now() - timedelta(days=60)
    cut = windows(since, timezone.now())
    assert len(cut) == 3 and all(end - start <= timedelta(days=28) for start, end in cut)
    assert cut[0][0].tzinfo == BEIJING and cut[-1][1] > cut[0][1]


# --- (2) mapping: money to the cent, status, Beijing times -------------------------------------------


def test_an_order_maps_every_money_field_and_validates():
    info = orders_of("jd_pop_order_ensearch_page1")[0]
    canonical = get_adapter("jd").to_canonical(info, SimpleNamespace(code="jd-1"))

    assert {k: canonical[k] for k in ("external_id", "placed_at", "updated_at", "paid_at")} == {
        "external_id": ORDER_1,
        "placed_at": "2026-05-12T10:05:11+08:00",
        "updated_at": "2026-05-12T10:05:18+08:00",
        "paid_at": "2026-05-12T10:05:18+08:00",
    }
    tee, bag = canonical["lines"]
    assert (tee["unit_price"], tee["quantity"], tee["platform_sku_id"], tee["platform_item_id"]) == (
        "59.90",
        2,
        "100000000101",
        "10000000010",
    )
    # the 单品促销 coupon names the T-shirt's skuId: that line's own, seller-funded discount
    assert tee["discount_allocations"] == [
        {"amount": "10.00", "funded_by": "merchant", "title": "30-单品促销优惠"}
    ]
    assert "discount_allocations" not in bag and bag["unit_price"] == "29.00"
    # order-wide: 店铺优惠 5.00 (seller: sellerDiscount 15.00 − the line's 10.00) + 京东券 8.00 (JD)
    assert (canonical["discount"], canonical["platform_discount"]) == ("13.00", "8.00")
    assert (canonical["shipping_fee"], canonical["paid_amount"]) == ("6.00", "131.80")
    assert (canonical["paid"], canonical["cancelled"]) == (True, False)


@pytest.mark.django_db
def test_amounts_add_up_to_what_jd_says_was_paid(jos):
    ensure_master_data(stock=0)
    channel = ChannelFactory(code="jd-1", platform="jd", api_credentials=fake_jd.credentials(jos))
    for code in SKUS:
        receive(SKUFactory(code=code), 10)
    for info in orders_of("jd_pop_order_ensearch_page1") + orders_of("jd_pop_order_ensearch_page2"):
        jos.add_order(recent(info, 10))

    assert channel_sync(channel_id=channel.pk).status == "ok"

    orders = {o.external_id: o for o in Order.objects.filter(channel=channel)}
    one = orders[ORDER_1]
    assert (one.goods_amount, one.line_discount_amount, one.discount, one.platform_discount_amount) == (
        Decimal("148.80"),
        Decimal("10.00"),
        Decimal("13.00"),
        Decimal("8.00"),
    )
    assert (one.shipping_fee, one.total, one.paid_amount) == (
        Decimal("6.00"),
        Decimal("131.80"),
        Decimal("131.80"),
    )
    assert one.status == "paid" and one.hold_reason == ""
    assert one.placed_at == parse_beijing_time("2026-05-12 10:05:11")  # 02:05:11 UTC
    # 119.70 less 京豆 1.00 (JD's) = 118.70; 199.00 shipped, no discount
    assert (orders[ORDER_3].total, orders[ORDER_3].paid_amount, orders[ORDER_3].platform_discount_amount) == (
        Decimal("118.70"),
        Decimal("118.70"),
        Decimal("1.00"),
    )
    assert (orders[ORDER_2].total, orders[ORDER_2].paid_amount) == (Decimal("199.00"), Decimal("199.00"))


def test_balance_used_is_paid_and_states_map_or_are_refused():
    info = orders_of("jd_pop_order_ensearch_page1")[0]
    channel = SimpleNamespace(code="jd-1")
    # 余额 10.00: orderPayment is what was left to pay; the buyer paid both
    with_balance = mapping.order_to_canonical(
        {**info, "balanceUsed": "10.00", "orderPayment": "121.80"}, channel
    )
    assert with_balance["paid_amount"] == "131.80"

    cancelled = mapping.order_to_canonical(order_of("jd_pop_order_enget_cancelled_response"), channel)
    assert (cancelled["paid"], cancelled["cancelled"], "paid_at" in cancelled) == (False, True, False)
    locked = mapping.order_to_canonical({**info, "orderState": "LOCKED"}, channel)
    assert (locked["paid"], locked["tags"]) == (True, ["jd:locked"])
    cod = mapping.order_to_canonical({**info, "payType": "1-货到付款"}, channel)
    assert cod["tags"] == ["cod"]
    with pytest.raises(ValueError, match="Unknown JD order state"):
        mapping.order_to_canonical({**info, "orderState": "SOMETHING_NEW"}, channel)
    # JD's "not set" times are no times
    assert mapping.beijing_time("0001-01-01 00:00:00") is None


@pytest.mark.django_db
def test_the_canonical_order_passes_validation():
    ensure_master_data(stock=0)
    ChannelFactory(code="jd-1", platform="jd")
    canonical = mapping.order_to_canonical(
        orders_of("jd_pop_order_ensearch_page1")[0], SimpleNamespace(code="jd-1")
    )
    serializer = CanonicalOrderInput(data=canonical)
    assert serializer.is_valid(), serializer.errors


# --- (2) polling: pages, the cursor, a later version cancelling ----------------------------------------


@pytest.fixture
def shop(db, jos):
    ensure_master_data(stock=0)
    channel = ChannelFactory(
        code="jd-1", platform="jd", api_credentials=fake_jd.credentials(jos, page_size=2)
    )
    for code in SKUS:
        receive(SKUFactory(code=code), 10)
    return channel


def test_a_paginated_poll_across_a_cursor_boundary_makes_each_order_once(shop, jos):
    page1 = orders_of("jd_pop_order_ensearch_page1")
    jos.add_order(recent(page1[0], 30))
    jos.add_order(recent(page1[1], 20))

    first = channel_sync(channel_id=shop.pk)

    assert (first.status, first.orders_seen, first.messages_stored, first.pages_fetched) == ("ok", 2, 2, 1)
    cursor = SyncCursor.objects.get(channel=shop).cursor
    assert cursor == parse_beijing_time(jos.orders[ORDER_2]["modified"])  # the newest version seen
    assert reserved("TS-WHT-L") == 2

    # later: order 3 arrives, and order 1 is cancelled (the enGet fixture's later version)
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page2")[0], 5))
    jos.add_order(recent(order_of("jd_pop_order_enget_cancelled_response"), 1))

    second = channel_sync(channel_id=shop.pk, now=timezone.now())

    # the overlap reads order 2 again (page 1), then 3 and the cancelled 1 (pages 1–2 of size 2)
    assert (second.status, second.orders_seen, second.messages_stored, second.pages_fetched) == (
        "ok",
        3,
        2,
        2,
    )
    requests = jos.business(SEARCH)[1:]
    assert [r["page"] for r in requests] == ["1", "2"]
    assert requests[0]["start_date"] <= jos.orders[ORDER_2]["modified"]  # the window overlaps the cursor
    assert Order.objects.filter(channel=shop).count() == 3
    cancelled = Order.objects.get(channel=shop, external_id=ORDER_1)
    assert cancelled.status == "cancelled"
    assert reserved("TS-WHT-L") == 0 and reserved("BAG-BEI") == 0  # its stock released
    assert reserved("TIS-3") == 3
    assert InboundMessage.objects.filter(channel=shop, topic="jd.order.modified").count() == 4


def test_a_rate_limit_stops_the_run_and_the_retry_reads_the_window(shop, jos):
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page1")[0], 10))
    jos.faults = [(SEARCH, "jd_error_app_call_limited")]

    limited = channel_sync(channel_id=shop.pk)

    assert limited.status == "rate_limited"
    state = SyncCursor.objects.get(channel=shop)
    assert state.cursor is None and state.next_run_at is not None
    assert channel_sync(channel_id=shop.pk).status == "waiting"  # backing off

    retried = channel_sync(channel_id=shop.pk, now=state.next_run_at + timedelta(seconds=1))

    assert (retried.status, retried.orders_seen) == ("ok", 1)
    assert Order.objects.filter(channel=shop, external_id=ORDER_1).exists()


def test_the_search_asks_for_every_field_the_mapping_reads(shop, jos):
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page1")[0], 10))
    channel_sync(channel_id=shop.pk)
    (request,) = jos.business(SEARCH)
    assert (request["optional_fields"], request["order_state"]) == (ORDER_FIELDS, ORDER_STATES)
    assert (request["sortType"], request["dateType"]) == (0, 0)  # ascending, by modification time


# --- (3) protected receiver ---------------------------------------------------------------------------


def test_the_masked_receiver_is_stored_and_decrypted_only_through_jd(shop, jos, manager):
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page1")[0], 10))
    channel_sync(channel_id=shop.pk)
    order = Order.objects.get(channel=shop, external_id=ORDER_1)

    # stored as JD gives it: ciphertext, masked phone, the index, the oaid; never plain text
    assert order.receiver_protected == {
        "name": {"masked": "", "cipher": "TESTCIPHER-fullname-300000000001", "index": ""},
        "phone": {"masked": "138****5678", "cipher": "", "index": "TESTINDEX-mobile-300000000001"},
        "address": {"masked": "***", "cipher": "TESTCIPHER-fullAddress-300000000001", "index": ""},
        "oaid": {"value": "TESTOAID-300000000001"},
    }
    assert (order.ship_name, order.ship_line1, order.ship_city, order.ship_district) == (
        "",
        "***",
        "上海市",
        "长宁区",
    )
    assert "5678" in order.ship_phone and "138****" in order.ship_phone.replace(" ", "")
    assert order.customer is None  # a masked phone is no identity
    assert jos.calls(DECRYPT) == []

    plain = receiver_plain(order=order, purpose="waybill", actor=manager)

    assert plain == {"name": "张三", "phone": "13800005678", "address": "上海上海市长宁区娄山关路533号"}
    (request,) = jos.calls(DECRYPT)
    assert request["360buy_param_json"] == sample("jd_jos_order_oaid_decrypt_request")["360buy_param_json"]
    audit = ReceiverDecryption.objects.get(order=order)
    assert (audit.purpose, audit.fields, audit.actor, audit.succeeded) == (
        "waybill",
        ["name", "address"],
        manager,
        True,
    )


def test_a_decrypt_jd_does_not_answer_for_the_order_is_refused_and_audited(shop, jos, manager):
    info = recent(orders_of("jd_pop_order_ensearch_page1")[0], 10)
    info["consigneeInfo"] = {**info["consigneeInfo"], "oaid": "SOME-OTHER-OAID"}
    jos.add_order(info)
    channel_sync(channel_id=shop.pk)
    order = Order.objects.get(channel=shop, external_id=ORDER_1)

    with pytest.raises(DecryptionRefused):
        receiver_plain(order=order, purpose="waybill", actor=manager)
    audit = ReceiverDecryption.objects.get(order=order)
    assert audit.succeeded is False and "did not decrypt" in audit.error


# --- (4) stock push -----------------------------------------------------------------------------------


def test_stock_is_pushed_to_the_mapped_jd_sku(shop, jos, django_capture_on_commit_callbacks):
    sku = SKUFactory(code="TS-WHT-L")
    ItemMapping.objects.create(
        channel=shop, sku=sku, platform_item_id="10000000010", platform_sku_id="100000000101"
    )
    receive(sku, 27)  # 10 + 27 on hand

    with django_capture_on_commit_callbacks(execute=True):
        push_pending_stock()

    (request,) = jos.calls(STOCK)
    assert (
        request["360buy_param_json"] == sample("jd_stock_write_update_sku_stock_request")["360buy_param_json"]
    )
    assert jos.stock == {"100000000101": 37}
    listing = ChannelListing.objects.get(channel=shop, sku=sku)
    assert (listing.platform_sku_id, listing.last_pushed_quantity) == ("100000000101", 37)
    assert OutboxMessage.objects.get(kind="stock_push").state == OutboxState.DELIVERED


# --- (5) write-back, end to end through integrations.writeback ------------------------------------------


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def jd_shop(db, jos):
    """JD shop on the fake JOS; SF mapped to JD's logistics id 467 (third-party map, SOURCES.md §15)."""
    ensure_master_data(stock=0)
    warehouse = WarehouseFactory()
    channel = ChannelFactory(code="jd-1", platform="jd", api_credentials=fake_jd.credentials(jos))
    sf = CarrierFactory()
    CarrierCode.objects.create(platform="jd", carrier=sf, code="467")
    receive(SKUFactory(code="TS-WHT-L"), 10, warehouse=warehouse)
    receive(SKUFactory(code="BAG-BEI"), 10, warehouse=warehouse)
    return SimpleNamespace(channel=channel, sf=sf)


def polled_parcel(capture, jos, jd_shop):
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page1")[0], 10))
    with capture(execute=True):
        assert channel_sync(channel_id=jd_shop.channel.pk).status == "ok"
    order = Order.objects.get(channel=jd_shop.channel, external_id=ORDER_1)
    [parcel] = [
        s for s in fulfilment_selectors.order_shipments(order) if s.status != ShipmentStatus.CANCELLED
    ]
    return parcel


def test_a_shipped_parcel_is_written_back_once_with_jds_carrier_id(jd_shop, jos, capture):
    parcel = polled_parcel(capture, jos, jd_shop)
    jos.faults = [(SHIPMENT, "http_502")]  # the first attempt fails on the way

    ship(capture, parcel, jd_shop.sf, "TEST000000000003")

    row = ShipmentWriteBack.objects.get(shipment=parcel)
    assert (row.state, row.attempts) == (WS.PENDING, 1) and "502" in row.last_error
    attempts = OutboxMessage.objects.get(pk=row.outbox_message_id).attempts
    later = timezone.now() + timedelta(hours=2 * (attempts + 1))
    assert outbox_deliver(row.outbox_message_id, now=later) == "delivered"

    row.refresh_from_db()
    assert (row.state, row.already_done) == (WS.SENT, False)
    documented = json.loads(sample("jd_pop_order_shipment_request")["360buy_param_json"])
    assert jos.business(SHIPMENT) == [documented, documented]  # the 502 one, then the one that landed
    assert (jos.orders[ORDER_1]["orderState"], jos.orders[ORDER_1]["waybill"]) == (
        "WAIT_GOODS_RECEIVE_CONFIRM",
        "TEST000000000003",
    )

    # the outbox delivers it once more: JD is read, nothing is sent again
    ShipmentWriteBack.objects.filter(pk=row.pk).update(state=WS.PENDING)
    OutboxMessage.objects.filter(pk=row.outbox_message_id).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    assert outbox_deliver(row.outbox_message_id) == "delivered"
    row.refresh_from_db()
    assert row.state == WS.SENT and row.already_done
    assert len(jos.calls(SHIPMENT)) == 2


def test_a_cancelled_order_is_refused_and_nothing_is_sent(jd_shop, jos, capture):
    parcel = polled_parcel(capture, jos, jd_shop)
    jos.orders[ORDER_1]["orderState"] = "TRADE_CANCELED"  # cancelled on JD meanwhile

    ship(capture, parcel, jd_shop.sf, "TEST000000000004")

    row = ShipmentWriteBack.objects.get(shipment=parcel)
    assert row.state == WS.FAILED and "TRADE_CANCELED" in row.last_error
    assert jos.calls(SHIPMENT) == []


def notice(tracking: str, *, parcel_count: int = 1, carrier_code: str = "467") -> ShipmentNotice:
    return ShipmentNotice(
        order_external_id=ORDER_1,
        shipment_number="SH0001",
        parcel_index=parcel_count,
        parcel_count=parcel_count,
        carrier_code=carrier_code,
        carrier_name="顺丰速运",
        tracking_number=tracking,
    )


def test_an_order_shipped_under_another_waybill_is_refused_unless_the_order_has_several_parcels(jos):
    client = client_for(jos)
    jos.add_order({**orders_of("jd_pop_order_ensearch_page1")[0], "orderState": "WAIT_GOODS_RECEIVE_CONFIRM"})
    jos.orders[ORDER_1]["waybill"] = "TEST000000000001,TEST000000000002|JDV000000000001"

    # JD's waybill list: "|" between carriers, "," within one — each of them counts as written back
    assert client.write_back_shipment(notice("JDV000000000001")).already_done
    assert client.write_back_shipment(notice("TEST000000000002")).already_done
    with pytest.raises(PlatformError) as refused:
        client.write_back_shipment(notice("TEST000000000009"))
    assert refused.value.temporary is False and "TEST000000000009" in str(refused.value)
    # JD ships the whole order at once: the first parcel of a split order declared it
    assert client.write_back_shipment(notice("TEST000000000009", parcel_count=2)).already_done
    assert jos.calls(SHIPMENT) == []


@pytest.mark.parametrize("state", ["TRADE_CANCELED", "LOCKED", "POP_ORDER_PAUSE"])
def test_an_order_that_may_not_ship_is_refused_before_any_send(jos, state):
    client = client_for(jos)
    jos.add_order({**orders_of("jd_pop_order_ensearch_page1")[0], "orderState": state})

    with pytest.raises(PlatformError, match=state) as refused:
        client.write_back_shipment(notice("TEST000000000003"))

    assert refused.value.temporary is False and jos.calls(SHIPMENT) == []


def test_what_cannot_be_sent_is_refused_without_a_call(jos):
    client = client_for(jos)
    with pytest.raises(PlatformError, match="no JD logistics id"):
        client.write_back_shipment(notice("TEST000000000003", carrier_code=""))
    with pytest.raises(PlatformError, match="no tracking number"):
        client.write_back_shipment(notice(""))
    assert jos.requests == []


def test_an_order_changed_between_two_pages_makes_the_window_read_again(shop, jos):
    # given: orders 1, 2, 3 in the window, two a page; while page 1 is read, order 1 is cancelled
    # (its modified moves past the window's end, so order 3 moves up onto page 1)
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page1")[0], 30))
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page1")[1], 20))
    jos.add_order(recent(orders_of("jd_pop_order_ensearch_page2")[0], 10))

    def cancel_order_1_once(fake):
        fake.after_search = None
        cancelled = order_of("jd_pop_order_enget_cancelled_response")
        fake.orders[ORDER_1] = {
            **cancelled,
            "modified": format_beijing_time(timezone.now() + timedelta(hours=1)),
        }

    jos.after_search = cancel_order_1_once

    result = channel_sync(channel_id=shop.pk)

    assert result.status == "ok"
    assert [r["page"] for r in jos.business(SEARCH)] == ["1", "2", "1"]  # page 2 said 2, not 3: again
    assert set(Order.objects.filter(channel=shop).values_list("external_id", flat=True)) == {
        ORDER_1,
        ORDER_2,
        ORDER_3,
    }


def test_a_business_failure_inside_a_gateway_success_is_a_refusal():
    from integrations.jd.client import _business

    body = sample("jd_pop_order_ensearch_page1")
    api = body["jingdong_pop_order_enSearch_responce"]["searchorderinfo_result"]["apiResult"]
    assert _business(body, SEARCH, "searchorderinfo_result")["orderTotal"] == 3
    api.update(success=False, chineseErrCode="参数错误", numberCode=1)  # keys of the SDK's apiResult

    with pytest.raises(PlatformError, match="参数错误") as refused:
        _business(body, SEARCH, "searchorderinfo_result")
    assert refused.value.temporary is False
    with pytest.raises(PlatformError, match="without jingdong_pop_order_enGet_responce"):
        _business(body, GET, "orderDetailInfo")


# --- a later cancelled version ------------------------------------------------------------------------


def test_a_later_cancelled_version_cancels_the_order_and_releases_its_stock(shop, jos):
    paid = recent(orders_of("jd_pop_order_ensearch_page1")[0], 30)
    jos.add_order(paid)
    assert channel_sync(channel_id=shop.pk).status == "ok"
    order = Order.objects.get(channel=shop, external_id=ORDER_1)
    held_before = (reserved("TS-WHT-L"), reserved("BAG-BEI"))
    assert held_before[0] == 2 and order.status != "cancelled"

    # when: JD's later version is TRADE_CANCELED (the enGet fixture, modified later)
    jos.add_order(recent(order_of("jd_pop_order_enget_cancelled_response"), 1))
    result = channel_sync(channel_id=shop.pk, now=timezone.now())

    assert (result.status, result.messages_stored) == ("ok", 1)
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "Cancelled on the platform")
    assert (reserved("TS-WHT-L"), reserved("BAG-BEI")) == (0, 0)  # its stock released
    assert Order.objects.filter(channel=shop, external_id=ORDER_1).count() == 1

    # an older paid version showing up late in the overlap changes nothing
    jos.orders[ORDER_1] = recent(paid, 3)
    late = channel_sync(channel_id=shop.pk, now=timezone.now() + timedelta(seconds=10))
    assert (late.status, late.messages_stored) == ("ok", 1)  # read and stored, then found older
    order.refresh_from_db()
    assert order.status == "cancelled" and reserved("TS-WHT-L") == 0


def test_an_order_first_seen_cancelled_reserves_nothing(shop, jos):
    jos.add_order(recent(order_of("jd_pop_order_enget_cancelled_response"), 1))

    assert channel_sync(channel_id=shop.pk).status == "ok"

    assert Order.objects.get(channel=shop, external_id=ORDER_1).status == "cancelled"
    assert (reserved("TS-WHT-L"), reserved("BAG-BEI")) == (0, 0)
