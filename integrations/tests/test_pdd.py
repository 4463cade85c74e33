"""Pinduoduo (issue #16) against the fake PDD gateway of fake_pdd.py (real HTTP on localhost, PDD's
md5 signature checked by the fake's own implementation), answering with the PDD fixtures of
payloads/ (SOURCES.md §16: the doc's sign vector "API调用指南", captured error bodies, and orders
constructed on the official Java SDK's classes). Orders go through the real sync and intake;
write-backs through the real shipment services and the outbox (integrations.writeback)."""

import copy
import json
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.db.models import Sum
from django.utils import timezone

from core.http import PlatformError, RateLimited, is_temporary
from core.models import OutboxMessage, OutboxState
from integrations import protected_data
from integrations.models import (
    CarrierCode,
    ChannelListing,
    InboundMessage,
    ShipmentWriteBack,
    SyncCursor,
    WriteBackState,
)
from integrations.pdd import PddAdapter, mapping, signing
from integrations.pdd import client as pdd_client
from integrations.pdd.client import PddClient
from integrations.protected_data import DecryptionRefused, receiver_plain
from integrations.sync import channel_sync
from integrations.tests import fake_pdd, fake_server
from integrations.tests.fake_pdd import sample
from integrations.tests.parcels import live_parcels, ship
from integrations.writeback_contract import NoticeLine, ShipmentNotice, WriteBackResult
from inventory.models import ItemMapping, SafetyStock
from inventory.stock_push import push_pending_stock
from orders.models import Order, OrderStatus, ReceiverDecryption
from orders.tests.factories import CarrierFactory, ChannelFactory, SKUFactory, ensure_master_data, receive

BEIJING = ZoneInfo("Asia/Shanghai")
SN_101, SN_102, SN_103 = "260512-100000000000101", "260512-100000000000102", "260512-100000000000103"
INCREMENT = "pdd.order.number.list.increment.get"
INFO = "pdd.order.information.get"
SEND = "pdd.logistics.online.send"
QUANTITY = "pdd.goods.quantity.update"
DECRYPT = "pdd.open.decrypt.batch"


def increment_orders(name: str) -> list[dict]:
    return copy.deepcopy(sample(name)["order_sn_increment_get_response"]["order_sn_list"])


def order_info(name: str = "pdd_order_information_get_response") -> dict:
    return copy.deepcopy(sample(name)["order_info_get_response"]["order_info"])


def all_orders() -> dict[str, dict]:
    orders = increment_orders("pdd_order_increment_page1") + increment_orders("pdd_order_increment_page2")
    return {o["order_sn"]: o for o in orders}


@pytest.fixture
def pdd():
    with fake_server.running(fake_pdd.serve) as gateway:
        yield gateway


@pytest.fixture
def client(pdd):
    with httpx.Client(timeout=5) as http:
        yield PddClient(SimpleNamespace(code="pdd-1", api_credentials=fake_pdd.credentials(pdd)), http=http)


# --- (1) the signed client ------------------------------------------------------------------------


def test_the_docs_published_sign_vector():
    """PDD doc "API调用指南": secret testSecret and its parameters give E4DE3ED2…6775."""
    vector = sample("pdd_sign_doc_example")
    assert signing.sign_source(vector["params"], vector["client_secret"]) == vector["sign_source"]
    assert signing.sign(vector["params"], vector["client_secret"]) == "E4DE3ED21002510DED352819E7AE6775"
    # the doc's JSON body (numbers unquoted) signs the same: values are signed as their text
    body = vector["request_body_json"]
    assert signing.verify(body, vector["client_secret"])
    assert not signing.verify({**body, "page": 2}, vector["client_secret"])
    assert not signing.verify(body, "otherSecret")


def test_every_call_carries_the_public_parameters_and_a_signature_the_gateway_accepts(pdd, client):
    pdd.add_order(order_info())

    assert client.order_information(SN_101)["pay_amount"] == 104.8

    (request,) = pdd.calls(INFO)
    assert {k: request[k] for k in ("type", "client_id", "access_token", "data_type", "version")} == {
        "type": INFO,
        "client_id": fake_pdd.CLIENT_ID,
        "access_token": fake_pdd.ACCESS_TOKEN,
        "data_type": "JSON",
        "version": "V1",
    }
    assert abs(int(request["timestamp"]) - timezone.now().timestamp()) < 60  # UNIX seconds
    assert request["sign"] == fake_pdd.pdd_sign(request, fake_pdd.CLIENT_SECRET)


def test_a_wrong_secret_is_refused_with_pdds_signature_error(pdd):
    creds = fake_pdd.credentials(pdd, client_secret="wrong")
    with httpx.Client(timeout=5) as http:
        wrong = PddClient(SimpleNamespace(code="pdd-1", api_credentials=creds), http=http)
        with pytest.raises(PlatformError, match="20004") as error:
            wrong.order_information(SN_101)
    assert error.value.code == 20004 and not is_temporary(error.value)


@pytest.mark.parametrize("fault", ["pdd_error_rate_limited", "pdd_error_too_frequent"])
def test_throttling_52101_and_70031_is_a_rate_limit(pdd, client, fault):
    pdd.add_order(order_info())
    pdd.faults = [(INFO, fault)]
    with pytest.raises(RateLimited):
        client.order_information(SN_101)
    assert client.order_information(SN_101)["order_sn"] == SN_101  # the retry goes through


def test_an_expired_token_is_a_refusal_that_says_to_authorise_again(pdd, client):
    pdd.expired_tokens = {fake_pdd.ACCESS_TOKEN}
    with pytest.raises(PlatformError, match="authorise the shop again") as error:
        client.order_information(SN_101)
    assert error.value.code == 10019 and not is_temporary(error.value)


def test_permission_refusals_are_final_and_gateway_errors_temporary(pdd, client):
    pdd.faults = [(INFO, "pdd_error_no_permission"), (INFO, "http_502")]
    with pytest.raises(PlatformError) as refused:
        client.order_information(SN_101)
    assert refused.value.code == 20031 and not is_temporary(refused.value)
    with pytest.raises(PlatformError) as gateway:
        client.order_information(SN_101)
    assert is_temporary(gateway.value)


def test_missing_credentials_are_named():
    with pytest.raises(PlatformError, match="client_secret, access_token"):
        PddClient(SimpleNamespace(code="pdd-1", api_credentials={"client_id": "x"}))


# --- (2) orders in: mapping -----------------------------------------------------------------------


def test_money_is_exact_to_the_cent():
    channel = SimpleNamespace(code="pdd-1")
    orders = all_orders()
    first = mapping.order_to_canonical(orders[SN_101], channel)
    assert first["lines"] == [
        {
            "sku": "TS-WHT-L",
            "platform_line_id": "1200000000001",
            "platform_item_id": "400000000001",
            "platform_sku_id": "1200000000001",
            "seller_code": "TS-WHT-L",
            "title": "纯棉T恤 白色,L",
            "quantity": 2,
            "unit_price": "59.90",
            "adjustment": "0.00",
            "gift": False,
        }
    ]
    assert (first["discount"], first["platform_discount"], first["shipping_fee"], first["paid_amount"]) == (
        "15.00",  # platform 5.00 + seller 10.00 + 团长免单 0.00
        "5.00",
        "0.00",
        "104.80",  # 119.80 − 15.00 + 0.00
    )
    second = mapping.order_to_canonical(orders[SN_102], channel)
    assert (second["discount"], second["shipping_fee"], second["paid_amount"]) == ("2.00", "3.00", "20.90")
    third = mapping.order_to_canonical(orders[SN_103], channel)  # 39.00 − 改价 4.00
    assert (third["lines"][0]["unit_price"], third["lines"][0]["adjustment"]) == ("39.00", "-4.00")
    assert third["paid_amount"] == "35.00"
    # Beijing times read as UTC+8
    assert first["placed_at"] == "2026-05-12T10:05:11+08:00"
    assert (first["paid"], first["cancelled"], first["paid_at"]) == (True, False, "2026-05-12T10:05:18+08:00")


def test_a_price_change_over_several_lines_adds_up_to_the_cent():
    order = all_orders()[SN_101]
    extra = {**order["item_list"][0], "sku_id": 1200000000009, "outer_id": "TS-BLK-L", "goods_price": 10.0}
    extra["goods_count"] = 1
    order.update(item_list=[*order["item_list"], extra], order_change_amount=1.0, goods_amount=128.8)
    lines = mapping.order_to_canonical(order, SimpleNamespace(code="pdd-1"))["lines"]
    # 119.80 : 10.00 → −0.92 and −0.08
    assert [line["adjustment"] for line in lines] == ["-0.92", "-0.08"]
    with pytest.raises(ValueError, match="goods_amount 130.00 differs"):
        mapping.order_to_canonical({**order, "goods_amount": 130.0}, SimpleNamespace(code="pdd-1"))


@pytest.mark.parametrize(
    ("changes", "paid", "cancelled", "tags"),
    [
        ({"refund_status": 2}, True, False, ["pdd-after-sale"]),
        ({"refund_status": 3}, True, False, ["pdd-refunding"]),
        ({"refund_status": 4, "after_sales_status": 10}, False, True, ["pdd-refunded"]),
        ({"confirm_status": 0}, False, False, []),
        ({"confirm_status": 2}, False, True, []),
    ],
)
def test_status_mapping(changes, paid, cancelled, tags):
    canonical = mapping.order_to_canonical({**all_orders()[SN_101], **changes}, SimpleNamespace(code="p"))
    assert (canonical["paid"], canonical["cancelled"], canonical["tags"]) == (paid, cancelled, tags)
    with pytest.raises(ValueError, match="refund_status"):
        mapping.order_to_canonical({**all_orders()[SN_101], "refund_status": 9}, SimpleNamespace(code="p"))


# --- (2) orders in: polling through the real sync --------------------------------------------------


def beijing(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)


@pytest.fixture
def shop(db, pdd):
    ensure_master_data(stock=0)
    for code in ("TS-WHT-L", "BAG-BEI", "CUP-BLU-500"):
        receive(SKUFactory(code=code), 10)
    channel = ChannelFactory(code="pdd-1", platform="pdd", api_credentials=fake_pdd.credentials(pdd))
    SyncCursor.objects.create(channel=channel, cursor=beijing("2026-05-12 10:00:00"))
    return channel


def reserved(code: str) -> int:
    return SKUFactory(code=code).balances.aggregate(total=Sum("reserved"))["total"] or 0


def test_a_paginated_poll_across_a_cursor_boundary_and_a_refund_cancelling_the_order(
    shop, pdd, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(pdd_client, "PAGE_SIZE", 2)  # three orders make two pages
    for order in all_orders().values():
        pdd.add_order(order)

    with django_capture_on_commit_callbacks(execute=True):
        first = channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00"))

    assert (first.status, first.error, first.orders_seen, first.messages_stored) == ("ok", "", 3, 3)
    # window [cursor − 5 min overlap, now − 5 s) in 30-minute slices, UNIX seconds
    windows = [(int(r["start_updated_at"]), int(r["end_updated_at"])) for r in pdd.calls(INCREMENT)]
    assert windows[0] == (
        int(beijing("2026-05-12 09:55:00").timestamp()),
        int(beijing("2026-05-12 10:25:00").timestamp()),
    )
    assert all(end - start <= 1800 for start, end in windows)
    # the first slice: total_count first, then the pages from the last back to the first
    first_slice = [(r["page"], r["use_has_next"]) for r in pdd.calls(INCREMENT)[:3]]
    assert first_slice == [("1", "false"), ("2", "true"), ("1", "true")]
    assert SyncCursor.objects.get(channel=shop).cursor == beijing("2026-05-12 10:21:30")  # newest seen

    orders = {o.external_id: o for o in Order.objects.filter(channel=shop)}
    assert set(orders) == {SN_101, SN_102, SN_103}
    o101 = orders[SN_101]
    assert (o101.goods_amount, o101.discount, o101.platform_discount_amount, o101.shipping_fee) == (
        Decimal("119.80"),
        Decimal("15.00"),
        Decimal("5.00"),
        Decimal("0.00"),
    )
    assert (o101.total, o101.paid_amount, o101.currency) == (Decimal("104.80"), Decimal("104.80"), "CNY")
    (line,) = o101.lines.all()
    assert (line.sku.code, line.platform_item_id, line.platform_sku_id, line.quantity) == (
        "TS-WHT-L",
        "400000000001",
        "1200000000001",
        2,
    )
    assert (line.unit_price, line.order_discount_share, line.paid_amount) == (
        Decimal("59.90"),
        Decimal("15.00"),
        Decimal("104.80"),
    )
    assert (orders[SN_102].total, orders[SN_102].paid_amount) == (Decimal("20.90"), Decimal("20.90"))
    assert (orders[SN_103].adjustment_amount, orders[SN_103].total) == (Decimal("-4.00"), Decimal("35.00"))
    assert o101.placed_at == beijing("2026-05-12 10:05:11")
    assert o101.status not in (OrderStatus.ON_HOLD, OrderStatus.CANCELLED)
    assert reserved("TS-WHT-L") == 2

    # when: the buyer is refunded (a later version) and the next run starts at the cursor
    pdd.add_order(order_info("pdd_order_information_get_refunded_response"))
    pdd.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        second = channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 15:45:00"))

    assert (second.status, second.error) == ("ok", "")
    assert int(pdd.calls(INCREMENT)[0]["start_updated_at"]) == int(beijing("2026-05-12 10:16:30").timestamp())
    # …103 is read again in the overlap: the same version stored once
    assert second.messages_stored == 1
    assert InboundMessage.objects.filter(channel=shop, dedupe_id__startswith=f"poll:{SN_103}").count() == 1
    o101.refresh_from_db()
    assert o101.status == OrderStatus.CANCELLED
    assert reserved("TS-WHT-L") == 0  # its stock released
    assert Order.objects.filter(channel=shop).count() == 3


def test_a_rate_limit_stops_the_run_the_cursor_stays_and_the_retry_reads_the_window(shop, pdd):
    pdd.add_order(all_orders()[SN_101])
    pdd.faults = [(INCREMENT, "pdd_error_rate_limited")]

    result = channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00"))

    assert result.status == "rate_limited"
    assert SyncCursor.objects.get(channel=shop).cursor == beijing("2026-05-12 10:00:00")
    assert not Order.objects.filter(channel=shop).exists()
    # before the back-off has passed the channel waits; after it, the window is read
    assert channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:30")).status == "waiting"
    retry = channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:42:00"))
    assert (retry.status, retry.orders_seen) == ("ok", 1)
    assert Order.objects.get(channel=shop).paid_amount == Decimal("104.80")


def test_an_order_polled_without_its_money_is_read_with_order_information(shop, pdd):
    pdd.add_order(all_orders()[SN_101])
    pdd.add_order(all_orders()[SN_102])
    pdd.increment_omits = {"pay_amount", "item_list"}

    assert channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00")).status == "ok"

    assert sorted(r["order_sn"] for r in pdd.calls(INFO)) == [SN_101, SN_102]
    assert Order.objects.get(external_id=SN_101).paid_amount == Decimal("104.80")
    stored = InboundMessage.objects.get(dedupe_id__startswith=f"poll:{SN_102}")
    assert "item_list" in stored.body  # the completed order is what is stored raw
    pdd.increment_omits = set()
    assert mapping.missing_detail(all_orders()[SN_101]) == []


def test_the_adapter_reads_versions_in_beijing_time():
    adapter = PddAdapter()
    order = all_orders()[SN_101]
    assert adapter.poll_updated_at(order) == beijing("2026-05-12 10:05:20")
    assert adapter.poll_dedupe_id(order) == f"poll:{SN_101}:2026-05-12 10:05:20"
    assert adapter.verify({}, b"{}", "secret") is False


# --- (3) the protected receiver --------------------------------------------------------------------


def test_the_masked_receiver_is_stored_and_the_ciphertext_kept_never_an_identity(shop, pdd):
    pdd.add_order(all_orders()[SN_101])
    assert channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00")).status == "ok"

    order = Order.objects.get(channel=shop, external_id=SN_101)
    assert (order.ship_name, order.ship_phone, order.ship_line1) == ("张*", "138****5678", "********")
    assert (order.ship_province, order.ship_city, order.ship_district) == ("上海市", "上海市", "长宁区")
    assert order.receiver_protected == {
        "name": {"masked": "张*", "cipher": f"TESTCIPHER-name-{SN_101}", "index": ""},
        "phone": {"masked": "138****5678", "cipher": f"TESTCIPHER-phone-{SN_101}", "index": ""},
        "address": {"masked": "********", "cipher": f"TESTCIPHER-address-{SN_101}", "index": ""},
    }
    assert order.customer is None  # a masked phone is no identity


def test_a_later_version_without_ciphertext_keeps_the_stored_one(shop, pdd):
    """PDD empties receiver_* once the order is under risk review or shipped (FAQ: "收件人信息请在订单
    待发货状态获取后密文保存"): the ciphertext stored at first sight stays."""
    pdd.add_order(all_orders()[SN_101])
    channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00"))
    later = {**all_orders()[SN_101], "risk_control_status": 1, "updated_at": "2026-05-12 11:00:00"}
    later.update(receiver_name="", receiver_phone="", receiver_address="", receiver_phone_mask="138****9999")
    pdd.add_order(later)

    assert channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 11:10:00")).status == "ok"

    order = Order.objects.get(channel=shop, external_id=SN_101)
    assert order.platform_updated_at == beijing("2026-05-12 11:00:00")
    assert order.receiver_protected["phone"] == {
        "masked": "138****9999",
        "cipher": f"TESTCIPHER-phone-{SN_101}",
        "index": "",
    }
    assert order.receiver_protected["name"]["cipher"] == f"TESTCIPHER-name-{SN_101}"


def test_decrypting_goes_through_pdd_open_decrypt_batch_and_is_audited(shop, pdd, manager):
    pdd.add_order(all_orders()[SN_101])
    channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00"))
    order = Order.objects.get(channel=shop, external_id=SN_101)
    for item in sample("pdd_open_decrypt_batch_response")["open_decrypt_batch_response"]["data_decrypt_list"]:
        pdd.plaintext[item["encrypted_data"]] = item["decrypted_data"]

    plain = receiver_plain(order=order, purpose="waybill", actor=manager)

    assert plain == {"name": "张三", "phone": "13800005678", "address": "娄山关路533号"}
    (request,) = pdd.calls(DECRYPT)
    expected = sample("pdd_open_decrypt_batch_request")["data_list"]
    assert json.loads(request["data_list"]) == expected
    audit = ReceiverDecryption.objects.get()
    assert (audit.succeeded, audit.fields, audit.actor) == (True, ["name", "phone", "address"], manager)
    order.refresh_from_db()
    assert order.ship_phone == "138****5678"  # never stored


def test_a_refused_decryption_is_audited_and_said(shop, pdd):
    pdd.add_order(all_orders()[SN_101])
    channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00"))
    order = Order.objects.get(channel=shop, external_id=SN_101)
    pdd.plaintext = {f"TESTCIPHER-name-{SN_101}": "张三"}  # phone and address refused per item

    with pytest.raises(DecryptionRefused, match="phone"):
        receiver_plain(order=order, purpose="wms_push")

    assert ReceiverDecryption.objects.get().succeeded is False
    pdd.faults = [(DECRYPT, "pdd_error_too_frequent")]
    with pytest.raises(DecryptionRefused):
        protected_data.receiver_plain(order=order, purpose="wms_push")
    assert ReceiverDecryption.objects.filter(succeeded=False).count() == 2


# --- (4) stock push ----------------------------------------------------------------------------------


@pytest.fixture
def push(django_capture_on_commit_callbacks):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()

    return run


def test_stock_is_pushed_to_the_mapped_pdd_sku_with_update_type_1(db, pdd, push):
    ensure_master_data(stock=0)
    channel = ChannelFactory(code="pdd-1", platform="pdd", api_credentials=fake_pdd.credentials(pdd))
    sku = SKUFactory(code="TS-WHT-L")
    ItemMapping.objects.create(
        channel=channel, sku=sku, platform_item_id="400000000001", platform_sku_id="1200000000001"
    )
    SafetyStock.objects.create(sku=sku, channel=channel, quantity=3)

    receive(sku, 40)
    push()

    (request,) = pdd.calls(QUANTITY)
    doc = sample("pdd_goods_quantity_update_request")
    assert {k: request[k] for k in ("goods_id", "sku_id", "quantity", "update_type")} == {
        "goods_id": str(doc["goods_id"]),
        "sku_id": str(doc["sku_id"]),
        "quantity": str(doc["quantity"]),  # 40 − safety stock 3 = 37, the fixture's number
        "update_type": "1",
    }
    assert pdd.stock[("400000000001", "1200000000001")] == 37
    assert ChannelListing.objects.get(channel=channel).last_pushed_quantity == 37
    assert OutboxMessage.objects.get(kind="stock_push").state == OutboxState.DELIVERED

    pdd.faults = [(QUANTITY, "pdd_error_rate_limited")]
    receive(sku, 1)
    push()
    retried = OutboxMessage.objects.filter(kind="stock_push").latest("pk")
    assert (retried.state, retried.attempts) == (OutboxState.PENDING, 1)  # retried later


def test_a_mapping_without_a_numeric_sku_id_makes_no_listing(db, pdd, push):
    ensure_master_data(stock=0)
    channel = ChannelFactory(code="pdd-1", platform="pdd", api_credentials=fake_pdd.credentials(pdd))
    sku = SKUFactory(code="TS-WHT-L")
    ItemMapping.objects.create(channel=channel, sku=sku, platform_item_id="400000000001", platform_sku_id="")
    receive(sku, 5)
    push()
    assert not ChannelListing.objects.filter(channel=channel).exists() and pdd.calls(QUANTITY) == []


# --- (5) write-back -----------------------------------------------------------------------------------


def notice(sn=SN_102, tracking="TEST000000000002", logistics_id="1", parcel_index=1) -> ShipmentNotice:
    return ShipmentNotice(
        order_external_id=sn,
        shipment_number="SH0001",
        parcel_index=parcel_index,
        parcel_count=parcel_index,
        carrier_code=logistics_id,
        carrier_name="申通快递",
        tracking_number=tracking,
        lines=[NoticeLine("", "400000000002", "1200000000002", "BAG-BEI", 1, 1)],
    )


def test_write_back_sends_the_documented_request_once(pdd, client):
    pdd.add_order(all_orders()[SN_102])

    assert client.write_back_shipment(notice()) == WriteBackResult(reference="", already_done=False)
    (request,) = pdd.calls(SEND)
    doc = sample("pdd_logistics_online_send_request")
    assert {k: request[k] for k in ("order_sn", "logistics_id", "tracking_number")} == {
        "order_sn": doc["order_sn"],
        "logistics_id": str(doc["logistics_id"]),
        "tracking_number": doc["tracking_number"],
    }
    # the same parcel again (an outbox retry): PDD is read, nothing sent
    assert client.write_back_shipment(notice()).already_done
    assert len(pdd.calls(SEND)) == 1


def test_a_lost_answer_is_retried_and_found_done(pdd, client):
    pdd.add_order(all_orders()[SN_102])
    pdd.faults = [(SEND, "lost")]
    with pytest.raises(PlatformError) as error:
        client.write_back_shipment(notice())
    assert is_temporary(error.value)
    assert client.write_back_shipment(notice()).already_done and len(pdd.calls(SEND)) == 1


def test_what_cannot_be_sent_is_refused(pdd, client):
    pdd.add_order(all_orders()[SN_102])
    pdd.add_order({**all_orders()[SN_101], "refund_status": 4})
    with pytest.raises(PlatformError, match="logistics id"):
        client.write_back_shipment(notice(logistics_id="SF"))
    with pytest.raises(PlatformError, match="refunded or cancelled") as refunded:
        client.write_back_shipment(notice(sn=SN_101))
    assert not is_temporary(refunded.value)
    client.write_back_shipment(notice())
    with pytest.raises(PlatformError, match="already shipped with waybill TEST000000000002, not X9"):
        client.write_back_shipment(notice(tracking="X9"))
    assert client.write_back_shipment(notice(tracking="X9", parcel_index=2)).already_done
    assert len(pdd.calls(SEND)) == 1


def test_a_polled_order_shipped_here_is_written_back_through_the_outbox(
    shop, pdd, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    sto = CarrierFactory(code="sto", name="申通快递", tracking_code="shentong")
    CarrierCode.objects.create(platform="pdd", carrier=sto, code="1")  # pdd.logistics.companies.get id
    pdd.add_order(all_orders()[SN_102])
    pdd.faults = [(SEND, "pdd_error_rate_limited")]
    with capture(execute=True):
        assert channel_sync(channel_id=shop.pk, now=beijing("2026-05-12 10:40:00")).status == "ok"
    order = Order.objects.get(channel=shop, external_id=SN_102)
    [parcel] = live_parcels(order)

    ship(capture, parcel, sto, "TEST000000000002")

    row = ShipmentWriteBack.objects.get(shipment=parcel)
    assert (row.state, row.attempts) == (WriteBackState.PENDING, 1)  # 52101: retried later
    from core.outbox import outbox_deliver

    assert outbox_deliver(row.outbox_message_id, now=timezone.now() + timedelta(hours=2)) == "delivered"
    row.refresh_from_db()
    assert (row.state, row.attempts, row.already_done) == (WriteBackState.SENT, 2, False)
    sent = pdd.calls(SEND)[-1]
    assert (sent["order_sn"], sent["logistics_id"], sent["tracking_number"]) == (
        SN_102,
        "1",
        "TEST000000000002",
    )
    assert pdd.orders[SN_102]["order_status"] == 2
