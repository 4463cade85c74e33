"""Taobao complete (issue #15): shipment write-back with taobao.logistics.offline.send, stock push
with taobao.item.quantity.update, TMC push messages by HTTP polling and taobao.trade.fullinfo.get
where the increment API leaves fields out — all against the fake TOP gateway of fake_top.py (real
HTTP on localhost, TOP's signature checked), answering with the published / SDK-constructed samples
named in payloads/SOURCES.md §6, §10 and §13. The last tests run end to end: the published 86.03
trade polled by the real sync, routed over two warehouses, its parcels shipped through the real
shipment services and written back by the outbox (integrations.writeback)."""

import copy
import json
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from django.utils import timezone

from config.beat import PERIODIC_TASKS
from core.http import PlatformError, RateLimited, outbox_outcome
from core.models import Alert, OutboxMessage, OutboxState
from core.outbox import PermanentFailure, RetryLater, outbox_deliver, outbox_sweep
from core.timezones import format_beijing_time
from integrations import writeback
from integrations.models import (
    CarrierCode,
    ChannelListing,
    InboundMessage,
    InboundStatus,
    ShipmentWriteBack,
    SyncCursor,
    WriteBackState,
)
from integrations.services import inbound_message_process
from integrations.sync import channel_sync
from integrations.taobao import mapping, tmc
from integrations.taobao.client import FULLINFO_FIELDS, TaobaoClient
from integrations.tasks import sync_taobao_messages
from integrations.tests import fake_server, fake_top
from integrations.tests.fake_top import SESSION, sample
from integrations.tests.parcels import live_parcels, ship, write_back_of
from integrations.writeback_contract import NoticeLine, ShipmentNotice, WriteBackResult
from inventory.models import ItemMapping, SafetyStock, Warehouse, WarehouseKind
from inventory.stock_push import push_pending_stock
from orders.models import Order
from orders.tests.factories import (
    CarrierFactory,
    ChannelFactory,
    SKUFactory,
    WarehouseFactory,
    ensure_master_data,
    receive,
)

TID = "1011032513941101325"  # taobao_trade_fullinfo_86_03.json (SOURCES.md §6)
OID_A008, OID_651 = "1011032513942101325", "1011032513943101325"  # num 4 and num 2
SEND = "taobao.logistics.offline.send"
FULLINFO = "taobao.trade.fullinfo.get"
QUANTITY = "taobao.item.quantity.update"
CONSUME, CONFIRM = "taobao.tmc.messages.consume", "taobao.tmc.messages.confirm"


def trade_86_03(**changes) -> dict:
    """TOP's own `trade` object of the published fullinfo sample (its proxy wrapper dropped)."""
    return {**copy.deepcopy(sample("taobao_trade_fullinfo_86_03")["result"]["trade"]), **changes}


@pytest.fixture
def top():
    with fake_server.running(fake_top.serve) as gateway:
        yield gateway


@pytest.fixture
def client(top):
    with httpx.Client(timeout=5) as http:
        yield TaobaoClient(
            SimpleNamespace(code="tmall-1", api_credentials=fake_top.credentials(top)), http=http
        )


def notice(
    *lines: tuple[str, int, int], tracking="SF1234567890", carrier_code="SF", tid=TID
) -> ShipmentNotice:
    """A parcel carrying (oid, units in the parcel, units sold) lines."""
    return ShipmentNotice(
        order_external_id=tid,
        shipment_number="SH0001",
        parcel_index=1,
        parcel_count=1,
        carrier_code=carrier_code,
        carrier_name="顺丰速运",
        tracking_number=tracking,
        lines=[
            NoticeLine(
                platform_line_id=oid,
                platform_item_id="",
                platform_sku_id="",
                seller_code="",
                quantity=quantity,
                line_quantity=sold,
            )
            for oid, quantity, sold in lines
        ],
    )


def sent(top) -> list[dict]:
    """The business parameters of every offline.send TOP received."""
    keys = ("tid", "out_sid", "company_code", "is_split", "sub_tid")
    return [{k: r[k] for k in keys if k in r} for r in top.calls(SEND)]


# --- write-back: taobao.logistics.offline.send ---------------------------------------------------


def test_a_parcel_with_the_whole_trade_is_sent_without_split_parameters(top, client):
    top.add_trade(trade_86_03())

    result = client.write_back_shipment(notice((OID_A008, 4, 4), (OID_651, 2, 2)))

    assert result == WriteBackResult(reference="", already_done=False)
    # the trade is read first (fullinfo), then shipped; TOP refuses is_split/sub_tid on a trade
    # that is not split (CD29), so none is sent
    assert [r["method"] for r in top.requests] == [FULLINFO, SEND]
    assert top.calls(FULLINFO)[0]["fields"] == "tid,status,orders"
    assert sent(top) == [{"tid": TID, "out_sid": "SF1234567890", "company_code": "SF"}]
    assert top.calls(SEND)[0]["session"] == SESSION
    shipped = top.sub_order(TID, OID_A008)
    assert (shipped["status"], shipped["invoice_no"], shipped["logistics_company"]) == (
        "WAIT_BUYER_CONFIRM_GOODS",
        "SF1234567890",
        "顺丰速运",
    )


def test_two_parcels_each_send_their_own_sub_order(top, client):
    top.add_trade(trade_86_03())

    first = client.write_back_shipment(notice((OID_A008, 4, 4), tracking="SF1000000001"))
    second = client.write_back_shipment(notice((OID_651, 2, 2), tracking="SF1000000002"))

    assert (first.already_done, second.already_done) == (False, False)
    assert sent(top) == [
        {"tid": TID, "out_sid": "SF1000000001", "company_code": "SF", "is_split": "1", "sub_tid": OID_A008},
        # the trade is split now (one sub-order shipped): the last one too goes with sub_tid
        {"tid": TID, "out_sid": "SF1000000002", "company_code": "SF", "is_split": "1", "sub_tid": OID_651},
    ]
    assert top.trades[TID]["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert top.sub_order(TID, OID_651)["invoice_no"] == "SF1000000002"


def test_a_sub_order_split_over_two_parcels_is_declared_with_the_first(top, client):
    """TOP has no quantity: 2 of the 4 units of oid …942 go first, under that parcel's waybill;
    the second parcel (the other 2 units and oid …943) declares only …943."""
    top.add_trade(trade_86_03())

    first = client.write_back_shipment(notice((OID_A008, 2, 4), tracking="SF1000000001"))
    second = client.write_back_shipment(notice((OID_A008, 2, 4), (OID_651, 2, 2), tracking="SF1000000002"))

    assert (first.already_done, second.already_done) == (False, False)
    assert [(s["out_sid"], s["sub_tid"]) for s in sent(top)] == [
        ("SF1000000001", OID_A008),
        ("SF1000000002", OID_651),
    ]
    # and a third parcel with nothing left to declare is already done, with no call
    third = client.write_back_shipment(notice((OID_A008, 0, 4), tracking="SF1000000003"))
    assert third.already_done and len(top.calls(SEND)) == 2


def test_the_same_parcel_twice_is_already_done_without_a_second_send(top, client):
    top.add_trade(trade_86_03())
    parcel = notice((OID_A008, 4, 4), (OID_651, 2, 2))

    client.write_back_shipment(parcel)
    again = client.write_back_shipment(parcel)

    assert again == WriteBackResult(reference="", already_done=True)
    assert len(top.calls(SEND)) == 1


def test_a_lost_answer_is_retried_and_found_done(top, client):
    """The send lands but its answer is lost (502): retryable; the retry reads the trade first,
    finds the sub-orders shipped with this waybill and sends nothing."""
    top.add_trade(trade_86_03())
    top.faults = [(SEND, "lost")]
    parcel = notice((OID_A008, 4, 4), (OID_651, 2, 2))

    with pytest.raises(PlatformError) as error:
        client.write_back_shipment(parcel)
    assert isinstance(outbox_outcome(error.value), RetryLater)

    assert client.write_back_shipment(parcel).already_done
    assert len(top.calls(SEND)) == 1


def test_b04_for_this_waybill_is_already_done(top, client):
    """The captured B04 body ("已经发货或者已关闭，不能重复发货") after another attempt landed
    meanwhile: the trade is read again and shows this waybill."""
    top.add_trade(trade_86_03())
    top.faults = [(SEND, "shipped_meanwhile")]

    result = client.write_back_shipment(notice((OID_A008, 4, 4), (OID_651, 2, 2)))

    assert result.already_done
    assert [r["method"] for r in top.requests] == [FULLINFO, SEND, FULLINFO]


def test_b04_for_another_waybill_is_refused(top, client):
    top.add_trade(trade_86_03())
    top.faults = [(SEND, "taobao_logistics_offline_send_error_b04")]

    with pytest.raises(PlatformError, match="B04") as error:
        client.write_back_shipment(notice((OID_A008, 4, 4)))

    assert isinstance(outbox_outcome(error.value), PermanentFailure)


def test_a_whole_sub_order_shipped_under_another_waybill_is_refused_naming_both(top, client):
    trade = top.add_trade(trade_86_03())
    trade["orders"]["order"][0].update(status="WAIT_BUYER_CONFIRM_GOODS", invoice_no="YT9999999999")

    with pytest.raises(PlatformError, match="YT9999999999.*SF1234567890") as error:
        client.write_back_shipment(notice((OID_A008, 4, 4)))

    assert isinstance(outbox_outcome(error.value), PermanentFailure)
    assert top.calls(SEND) == []


@pytest.mark.parametrize(
    ("fault", "temporary"),
    [
        ("taobao_error_remote_service_timeout", True),  # isp.remote-service-timeout
        ("http_502", True),
        ("taobao_logistics_offline_send_error_b60", False),  # 运单号不符合规则或已经被使用
        ("taobao_item_quantity_update_error_invalid_parameter", False),  # isv.invalid-parameter
    ],
)
def test_send_failures_are_retried_or_refused_by_tops_error_codes(top, client, fault, temporary):
    top.add_trade(trade_86_03())
    top.faults = [(SEND, fault)]

    with pytest.raises(PlatformError) as error:
        client.write_back_shipment(notice((OID_A008, 4, 4), (OID_651, 2, 2)))

    outcome = outbox_outcome(error.value)
    assert isinstance(outcome, RetryLater if temporary else PermanentFailure)
    assert top.sub_order(TID, OID_A008)["status"] == "WAIT_SELLER_SEND_GOODS"  # nothing shipped


@pytest.mark.parametrize(("code", "temporary"), [("S01", True), ("B150", True), ("B57", False)])
def test_logistics_codes_that_ask_to_try_again_are_retried(top, client, code, temporary):
    """Research notes §3.2 (TOP's logistics error table): S01 数据异常，稍后请重试 and B150
    发货异常，请稍等后重试 ask to try again; B57 (该物流公司不支持自己联系) does not."""
    top.add_trade(trade_86_03())
    body = fake_top.logistics_error(code, "…")
    top._logistics_offline_send = lambda params: body

    with pytest.raises(PlatformError, match=code) as error:
        client.write_back_shipment(notice((OID_A008, 4, 4)))

    assert isinstance(outbox_outcome(error.value), RetryLater if temporary else PermanentFailure)


def test_app_call_limited_is_a_rate_limit_with_the_ban_time(top, client):
    top.add_trade(trade_86_03())
    top.faults = [(FULLINFO, "taobao_error_app_call_limited")]

    with pytest.raises(RateLimited) as error:
        client.write_back_shipment(notice((OID_A008, 4, 4)))

    assert error.value.retry_after == 31062
    assert top.calls(SEND) == []


@pytest.mark.parametrize(
    ("parcel", "closed", "message"),
    [
        (notice((OID_A008, 4, 4), carrier_code=""), False, "no Taobao company code"),
        (notice((OID_A008, 4, 4), tracking=""), False, "no tracking number"),
        (notice(("", 1, 1)), False, "no line Taobao sold"),
        (notice(("999", 1, 1)), False, "no sub-order 999"),
        (notice((OID_A008, 4, 4), tid="T-1"), False, "not a number"),
        (notice((OID_A008, 4, 4)), True, "closed"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_any_send(top, client, parcel, closed, message):
    trade = top.add_trade(trade_86_03())
    if closed:
        trade["orders"]["order"][0]["refund_status"] = "SUCCESS"

    with pytest.raises(PlatformError, match=message) as error:
        client.write_back_shipment(parcel)

    assert isinstance(outbox_outcome(error.value), PermanentFailure)
    assert top.calls(SEND) == []


def test_a_closed_sub_order_is_left_out_of_a_parcel_that_ships_the_rest(top, client):
    trade = top.add_trade(trade_86_03())
    trade["orders"]["order"][1].update(status="TRADE_CLOSED", refund_status="SUCCESS")

    client.write_back_shipment(notice((OID_A008, 4, 4), (OID_651, 2, 2)))

    # …942 is the only sub-order left to ship: a whole-trade send
    assert sent(top) == [{"tid": TID, "out_sid": "SF1234567890", "company_code": "SF"}]


def test_the_client_says_taobao_takes_only_its_own_carrier_codes():
    assert TaobaoClient.writeback_requires_carrier_code is True


# --- stock push: taobao.item.quantity.update ----------------------------------------------------


@pytest.fixture
def tmall(db, top):
    ensure_master_data(stock=0)
    return ChannelFactory(code="tmall-1", platform="taobao", api_credentials=fake_top.credentials(top))


@pytest.fixture
def push(django_capture_on_commit_callbacks):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()

    return run


def map_item(channel, code: str, num_iid: str, sku_id: str = "") -> ItemMapping:
    return ItemMapping.objects.create(
        channel=channel, sku=SKUFactory(code=code), platform_item_id=num_iid, platform_sku_id=sku_id
    )


def test_stock_is_pushed_to_the_mapped_taobao_sku_after_safety_stock(tmall, top, push):
    # given: SKU A008 is Taobao item 549924403733, SKU 4120248730389 (the 86.03 trade's ids)
    map_item(tmall, "A008", "549924403733", "4120248730389")
    SafetyStock.objects.create(sku=SKUFactory(code="A008"), channel=tmall, quantity=4)

    receive(SKUFactory(code="A008"), 10)
    push()

    (request,) = top.calls(QUANTITY)
    assert {k: request[k] for k in ("num_iid", "sku_id", "quantity", "type", "session")} == {
        "num_iid": "549924403733",
        "sku_id": "4120248730389",
        "quantity": "6",  # on hand 10 − safety stock 4
        "type": "1",  # 全量: the absolute number, harmless when repeated
        "session": SESSION,
    }
    assert top.stock[("549924403733", "4120248730389")] == 6
    listing = ChannelListing.objects.get(channel=tmall)
    assert (listing.platform_item_id, listing.platform_sku_id, listing.last_pushed_quantity) == (
        "549924403733",
        "4120248730389",
        6,
    )
    assert OutboxMessage.objects.get(kind="stock_push").state == OutboxState.DELIVERED


def test_an_item_without_skus_is_pushed_by_num_iid_alone_and_the_same_number_once(tmall, top, push):
    map_item(tmall, "651", "587980015928")
    sku = SKUFactory(code="651")
    receive(sku, 5)
    push()
    push()  # nothing changed: nothing sent

    (request,) = top.calls(QUANTITY)
    assert "sku_id" not in request and request["quantity"] == "5"
    assert top.stock[("587980015928", "")] == 5

    receive(sku, 2)
    push()
    assert [r["quantity"] for r in top.calls(QUANTITY)] == ["5", "7"]


def test_a_temporary_top_failure_is_retried_and_a_refusal_dead_letters(tmall, top, push):
    map_item(tmall, "A008", "549924403733", "4120248730389")
    sku = SKUFactory(code="A008")
    top.faults = [(QUANTITY, "taobao_error_remote_service_timeout")]
    receive(sku, 3)

    push()

    message = OutboxMessage.objects.get(kind="stock_push")
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    outbox_sweep(now=timezone.now() + timedelta(minutes=5))
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED
    assert top.stock[("549924403733", "4120248730389")] == 3

    # when: TOP refuses (isv.invalid-parameter, the doc's example) the push dead-letters at once
    top.faults = [(QUANTITY, "taobao_item_quantity_update_error_invalid_parameter")]
    receive(sku, 1)
    push()
    dead = OutboxMessage.objects.exclude(pk=message.pk).get(kind="stock_push")
    assert dead.state == OutboxState.DEAD and "isv.invalid-parameter" in dead.last_error


def test_a_mapping_whose_ids_are_not_numbers_makes_no_listing(tmall, top, push):
    map_item(tmall, "A008", "TB-TEA", "")
    receive(SKUFactory(code="A008"), 3)

    push()

    assert not ChannelListing.objects.filter(channel=tmall).exists()
    assert top.calls(QUANTITY) == []


# --- fullinfo where the increment API leaves fields out -------------------------------------------


def recent(trade: dict, minutes_ago: int = 10) -> dict:
    """The trade modified a few minutes ago (Beijing time), inside the first polling window."""
    moment = format_beijing_time(timezone.now() - timedelta(minutes=minutes_ago))
    return {**trade, "created": moment, "pay_time": moment, "modified": moment}


def stock(*codes):
    for code in codes:
        receive(SKUFactory(code=code), 10)


def test_missing_detail_names_what_a_paid_trade_lacks():
    full = trade_86_03()
    assert mapping.missing_detail(full) == []
    bare = {k: v for k, v in copy.deepcopy(full).items() if not k.startswith("receiver_") and k != "payment"}
    for line in bare["orders"]["order"]:
        del line["divide_order_fee"]
    assert mapping.missing_detail(bare) == [
        "payment",
        "orders[0].divide_order_fee",
        "orders[1].divide_order_fee",
        "receiver",
    ]
    # an unpaid or closed trade is not read again: nothing of it ships
    assert mapping.missing_detail({**bare, "status": "WAIT_BUYER_PAY"}) == []
    assert mapping.missing_detail({**bare, "status": "TRADE_CLOSED"}) == []
    # part_mjz_discount is no sign (TOP leaves it out of lines without a shop discount)
    for line in full["orders"]["order"]:
        del line["part_mjz_discount"]
    assert mapping.missing_detail(full) == []


def test_a_paid_trade_polled_without_its_money_is_read_with_fullinfo(tmall, top):
    # given: the increment API answers the 86.03 trade without shares, paid amounts and address
    top.add_trade(recent(trade_86_03()))
    top.increment_omits = {"orders.divide_order_fee", "orders.part_mjz_discount", "receiver_state"}
    top.increment_omits |= {"receiver_city", "receiver_address", "receiver_district", "receiver_name"}
    stock("A008", "651")

    result = channel_sync(channel_id=tmall.pk)

    assert (result.status, result.error) == ("ok", "")
    (full,) = top.calls(FULLINFO)
    assert (full["tid"], full["fields"]) == (TID, FULLINFO_FIELDS)
    order = Order.objects.get(channel=tmall, external_id=TID)
    assert [line.paid_amount for line in order.lines.order_by("line_no")] == [
        Decimal("55.62"),
        Decimal("30.41"),
    ]
    assert (order.discount, order.total, order.paid_amount) == (
        Decimal("12.97"),
        Decimal("86.03"),
        Decimal("86.03"),
    )
    assert (order.ship_province, order.ship_city, order.ship_district) == ("湖南省", "长沙市", "雨花区")
    stored = InboundMessage.objects.get(channel=tmall, topic="taobao.trade.modified")
    assert "divide_order_fee" in stored.body  # the completed trade is what is stored raw


def test_a_trade_polled_with_everything_is_not_read_again(tmall, top):
    top.add_trade(recent(trade_86_03()))
    top.add_trade(
        recent(
            trade_86_03(tid="1011032513941101999", tid_str="1011032513941101999", status="WAIT_BUYER_PAY"), 5
        )
    )
    stock("A008", "651")

    assert channel_sync(channel_id=tmall.pk).status == "ok"

    assert top.calls(FULLINFO) == []
    messages = InboundMessage.objects.filter(channel=tmall, topic="taobao.trade.modified")
    assert [(m.status, m.error) for m in messages] == [(InboundStatus.PROCESSED, "")] * 2
    assert Order.objects.filter(channel=tmall).count() == 2


def test_a_rate_limit_on_fullinfo_leaves_the_window_to_be_read_again(tmall, top):
    top.add_trade(recent(trade_86_03()))
    top.increment_omits = {"orders.divide_order_fee"}
    top.faults = [(FULLINFO, "taobao_error_limited")]
    stock("A008", "651")

    result = channel_sync(channel_id=tmall.pk)

    assert result.status == "rate_limited"
    assert SyncCursor.objects.get(channel=tmall).cursor is None  # the window is read again
    assert not Order.objects.filter(channel=tmall).exists()  # never mapped without its money


# --- TMC: taobao.tmc.messages.consume / confirm --------------------------------------------------


def tmc_messages(name: str = "taobao_tmc_messages_consume_trades_response") -> list[dict]:
    return sample(name)["tmc_messages_consume_response"]["messages"]["tmc_message"]


@pytest.fixture
def tmc_shop(db, top):
    ensure_master_data(stock=0)
    stock("A008", "651")
    top.add_trade(trade_86_03())
    return ChannelFactory(
        code="tmall-1", platform="taobao", api_credentials=fake_top.credentials(top, tmc=True)
    )


def test_trade_messages_are_stored_raw_confirmed_and_their_trade_ingested_once(tmc_shop, top):
    top.publish(*tmc_messages())  # TradeCreate, TradeBuyerPay, RefundCreated, TradeClose of one trade

    run = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    assert (run.status, run.consumed, run.stored, run.confirmed, run.trades) == ("ok", 4, 4, 4, 1)
    # stored raw before the confirm, ids as text (they exceed 2^53)
    rows = InboundMessage.objects.filter(channel=tmc_shop, dedupe_id__startswith="tmc:").order_by("pk")
    assert [(r.dedupe_id, r.topic) for r in rows] == [
        ("tmc:7104300007405429301", "taobao_trade_TradeCreate"),
        ("tmc:7104300007405429302", "taobao_trade_TradeBuyerPay"),
        ("tmc:7104300007405429303", "taobao_refund_RefundCreated"),
        ("tmc:7104300007405429304", "taobao_trade_TradeClose"),
    ]
    assert json.loads(rows[0].body)["id"] == 7104300007405429301  # exactly as received
    (confirm,) = top.calls(CONFIRM)
    assert (
        confirm["s_message_ids"]
        == "7104300007405429301,7104300007405429302,7104300007405429303,7104300007405429304"
    )
    assert top.queue == []
    # app-level calls: no session (the doc's example calls them without one)
    assert all("session" not in r for r in top.calls(CONSUME) + top.calls(CONFIRM))
    # one fullinfo for the one trade the four messages name, ingested through the polling path
    assert [r["tid"] for r in top.calls(FULLINFO)] == [TID]
    order = Order.objects.get(channel=tmc_shop, external_id=TID)
    assert order.total == Decimal("86.03")
    poll = InboundMessage.objects.get(channel=tmc_shop, dedupe_id=f"poll:{TID}:2020-05-20 11:11:38")
    assert poll.status == InboundStatus.PROCESSED and poll.order == order
    assert {(r.status, r.order_id) for r in rows} == {(InboundStatus.PROCESSED, order.pk)}


def test_a_message_delivered_again_is_stored_once(tmc_shop, top):
    top.publish(*tmc_messages())
    top.faults = [(CONFIRM, "http_502")]

    first = tmc.channel_messages_consume(channel_id=tmc_shop.pk)
    top.redeliver()  # never confirmed: TMC hands them out again
    second = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    assert (first.status, first.stored, first.confirmed) == ("failed", 4, 0)
    assert (second.status, second.stored, second.confirmed) == ("ok", 0, 4)
    assert InboundMessage.objects.filter(dedupe_id__startswith="tmc:").count() == 4
    assert top.queue == []
    assert Order.objects.filter(channel=tmc_shop).count() == 1


def test_other_topics_are_stored_as_ignored_and_confirmed(tmc_shop, top):
    """The real ItemStockChanged body of alibaba/top's fixture (id 7104300007405429232 > 2^53)."""
    top.publish(*tmc_messages("taobao_tmc_messages_consume_response"))

    run = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    row = InboundMessage.objects.get(dedupe_id="tmc:7104300007405429232")
    assert (row.status, row.topic) == (InboundStatus.IGNORED, "taobao_item_ItemStockChanged")
    assert top.confirmed == ["7104300007405429232"]
    assert (run.trades, top.calls(FULLINFO)) == (0, [])


def test_a_trade_message_naming_no_trade_is_stored_failed_and_confirmed(tmc_shop, top):
    message = {**tmc_messages()[0], "content": json.dumps({"seller_nick": "爱美印家居旗舰店"})}
    top.publish(message)

    tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    row = InboundMessage.objects.get(dedupe_id=f"tmc:{message['id']}")
    assert (row.status, row.error) == (InboundStatus.FAILED, "The message names no trade (tid).")
    assert top.confirmed == [str(message["id"])] and top.calls(FULLINFO) == []


def test_a_full_batch_is_followed_by_another(tmc_shop, top):
    [stock_changed] = tmc_messages("taobao_tmc_messages_consume_response")
    top.publish(*({**stock_changed, "id": stock_changed["id"] + n} for n in range(150)))

    run = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    assert (run.consumed, run.stored, run.confirmed) == (150, 150, 150)
    assert [(r["method"], r.get("quantity")) for r in top.requests] == [
        (CONSUME, "100"),
        (CONFIRM, None),
        (CONSUME, "100"),
        (CONFIRM, None),
    ]
    assert [len(r["s_message_ids"].split(",")) for r in top.calls(CONFIRM)] == [100, 50]
    assert top.queue == []


def test_an_empty_queue_answers_without_messages(tmc_shop, top):
    run = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    assert (run.status, run.consumed) == ("ok", 0)
    assert top.calls(CONFIRM) == []


def test_a_rate_limit_on_fullinfo_leaves_the_messages_for_the_next_run(tmc_shop, top):
    top.publish(*tmc_messages())
    top.faults = [(FULLINFO, "taobao_error_limited")]

    first = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    assert first.status == "rate_limited" and first.confirmed == 4  # stored, so confirmed
    assert set(
        InboundMessage.objects.filter(dedupe_id__startswith="tmc:").values_list("status", flat=True)
    ) == {InboundStatus.RECEIVED}
    second = tmc.channel_messages_consume(channel_id=tmc_shop.pk)  # the queue is empty now
    assert (second.status, second.trades) == ("ok", 1)
    assert Order.objects.filter(channel=tmc_shop, external_id=TID).exists()


def test_the_sweeper_processes_a_message_left_received(tmc_shop, top):
    message = tmc_messages()[1]  # TradeBuyerPay
    row = InboundMessage.objects.create(
        channel=tmc_shop,
        platform="taobao",
        topic=message["topic"],
        dedupe_id=f"tmc:{message['id']}",
        body=json.dumps(message, ensure_ascii=False),
    )

    row = inbound_message_process(row.pk)

    assert row.status == InboundStatus.PROCESSED, row.error
    assert row.order.external_id == TID
    assert [r["tid"] for r in top.calls(FULLINFO)] == [TID]


def test_a_trade_taobao_does_not_know_fails_its_messages(tmc_shop, top):
    message = {**tmc_messages()[0], "content": json.dumps({"tid": 1011032513941109999, "seller_nick": "x"})}
    top.publish(message)

    run = tmc.channel_messages_consume(channel_id=tmc_shop.pk)

    row = InboundMessage.objects.get(dedupe_id=f"tmc:{message['id']}")
    assert run.status == "ok"
    assert row.status == InboundStatus.FAILED and "isv.invalid-parameter" in row.error


def test_messages_go_to_the_channel_that_names_their_seller(db, top):
    ensure_master_data(stock=0)
    stock("A008", "651")
    top.add_trade(trade_86_03())
    consumer = ChannelFactory(
        code="tmall-a",
        platform="taobao",
        api_credentials=fake_top.credentials(top, tmc=True, seller_nick="另一家店"),
    )
    owner = ChannelFactory(
        code="tmall-b",
        platform="taobao",
        api_credentials=fake_top.credentials(top, tmc=True, seller_nick="爱美印家居旗舰店"),
    )
    stranger = {**tmc_messages()[0], "id": 7104300007405429399, "user_nick": "nobody"}
    top.publish(tmc_messages()[0], stranger)

    tmc.channel_messages_consume(channel_id=consumer.pk)

    assert InboundMessage.objects.get(dedupe_id="tmc:7104300007405429301").channel == owner
    assert Order.objects.get(external_id=TID).channel == owner
    unclaimed = InboundMessage.objects.get(dedupe_id="tmc:7104300007405429399")
    assert (unclaimed.channel, unclaimed.status) == (consumer, InboundStatus.IGNORED)
    assert "nobody" in unclaimed.error
    assert top.queue == []  # both confirmed


def test_only_channels_that_switch_tmc_on_are_consumed_by_beat(db, top):
    on = ChannelFactory(
        code="tmall-on", platform="taobao", api_credentials=fake_top.credentials(top, tmc=True)
    )
    ChannelFactory(code="tmall-off", platform="taobao", api_credentials=fake_top.credentials(top))
    ChannelFactory(code="shop-x", platform="shopify", api_credentials={"tmc": True})

    assert tmc.tmc_channel_ids() == [on.pk]
    [schedule] = [t for t in PERIODIC_TASKS if t.task == "integrations.tasks.sync_taobao_messages"]
    assert schedule.every_seconds == 30
    off = ChannelFactory(code="tmall-off")
    assert tmc.channel_messages_consume(channel_id=off.pk).status == "not_consumed"

    # the beat task starts one run per channel that has TMC on (tasks run eagerly in tests)
    top.publish(*tmc_messages("taobao_tmc_messages_consume_response"))
    assert sync_taobao_messages() == 1
    assert [r["method"] for r in top.requests] == [CONSUME, CONFIRM]  # a short batch: the queue is empty
    assert InboundMessage.objects.get(dedupe_id="tmc:7104300007405429232").channel == on


# --- end to end: polled → routed → shipped in two parcels → written back -------------------------


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def shop(db, top):
    """Tmall shop on the fake TOP, SF mapped to Taobao's company code "SF", two empty warehouses."""
    ensure_master_data(stock=0)
    hangzhou = WarehouseFactory()
    shanghai = Warehouse.objects.create(
        code="WH-SH", name="Shanghai", kind=WarehouseKind.OWN, province="上海市", city="上海市"
    )
    channel = ChannelFactory(code="tmall-1", platform="taobao", api_credentials=fake_top.credentials(top))
    sf = CarrierFactory()
    CarrierCode.objects.create(platform="taobao", carrier=sf, code="SF")  # taobao.logistics.companies.get
    return SimpleNamespace(channel=channel, sf=sf, hangzhou=hangzhou, shanghai=shanghai)


def polled_order(capture, top, shop) -> Order:
    """The 86.03 trade, polled from the fake TOP by the real sync; routed on commit."""
    top.add_trade(recent(trade_86_03()))
    with capture(execute=True):
        result = channel_sync(channel_id=shop.channel.pk)
    assert (result.status, result.error) == ("ok", "")
    return Order.objects.get(channel=shop.channel, external_id=TID)


def deliver_again(row: ShipmentWriteBack) -> str:
    """The outbox's next attempt, once its backoff has passed."""
    attempts = OutboxMessage.objects.get(pk=row.outbox_message_id).attempts
    return outbox_deliver(row.outbox_message_id, now=timezone.now() + timedelta(hours=2 * (attempts + 1)))


def test_a_split_trade_ships_in_two_parcels_and_taobao_gets_each_sub_order_with_its_waybill(
    shop, top, capture
):
    # given: A008 only in Hangzhou, 651 only in Shanghai — no warehouse holds the whole trade
    receive(SKUFactory(code="A008"), 10, warehouse=shop.hangzhou)
    receive(SKUFactory(code="651"), 10, warehouse=shop.shanghai)

    order = polled_order(capture, top, shop)

    by_sku = {tuple(line.sku.code for line in p.order_lines): p for p in live_parcels(order)}
    assert set(by_sku) == {("A008",), ("651",)}  # routed: one parcel per warehouse

    ship(capture, by_sku[("A008",)], shop.sf, "SF1000000001")
    ship(capture, by_sku[("651",)], shop.sf, "SF1000000002")

    assert sent(top) == [
        {"tid": TID, "out_sid": "SF1000000001", "company_code": "SF", "is_split": "1", "sub_tid": OID_A008},
        {"tid": TID, "out_sid": "SF1000000002", "company_code": "SF", "is_split": "1", "sub_tid": OID_651},
    ]
    assert [top.sub_order(TID, oid)["invoice_no"] for oid in (OID_A008, OID_651)] == [
        "SF1000000001",
        "SF1000000002",
    ]
    assert top.trades[TID]["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    rows = [write_back_of(by_sku[key]) for key in (("A008",), ("651",))]
    assert [(row.state, row.attempts, row.already_done) for row in rows] == [
        (WriteBackState.SENT, 1, False)
    ] * 2


def test_a_write_back_failing_twice_then_ships_the_trade_exactly_once(shop, top, capture):
    receive(SKUFactory(code="A008"), 10, warehouse=shop.hangzhou)
    receive(SKUFactory(code="651"), 10, warehouse=shop.hangzhou)
    order = polled_order(capture, top, shop)
    [parcel] = live_parcels(order)
    # TOP's captured isp.remote-service-timeout body, then a 502 from the gateway
    top.faults = [(SEND, "taobao_error_remote_service_timeout"), (SEND, "http_502")]

    ship(capture, parcel, shop.sf, "SF2000000001")

    row = write_back_of(parcel)
    assert (row.state, row.attempts) == (WriteBackState.PENDING, 1)
    assert "isp.remote-service-timeout" in row.last_error
    assert deliver_again(row) == "retry"
    row.refresh_from_db()
    assert (row.state, row.attempts) == (WriteBackState.PENDING, 2) and "502" in row.last_error
    assert top.sub_order(TID, OID_A008)["status"] == "WAIT_SELLER_SEND_GOODS"

    assert deliver_again(row) == "delivered"

    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_error) == (WriteBackState.SENT, 3, "")
    # one whole-trade send went through: both sub-orders under the one waybill
    assert len(top.calls(SEND)) == 3 and len(top.waybills) == 1
    assert sent(top)[-1] == {"tid": TID, "out_sid": "SF2000000001", "company_code": "SF"}
    assert {top.sub_order(TID, oid)["invoice_no"] for oid in (OID_A008, OID_651)} == {"SF2000000001"}

    # the outbox delivers it once more (a lease that ran out): TOP is read, nothing is sent
    ShipmentWriteBack.objects.filter(pk=row.pk).update(state=WriteBackState.PENDING)
    OutboxMessage.objects.filter(pk=row.outbox_message_id).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    assert outbox_deliver(row.outbox_message_id) == "delivered"
    row.refresh_from_db()
    assert row.state == WriteBackState.SENT and row.already_done
    assert len(top.calls(SEND)) == 3


def test_a_send_whose_answer_was_lost_is_not_sent_twice(shop, top, capture):
    receive(SKUFactory(code="A008"), 10, warehouse=shop.hangzhou)
    receive(SKUFactory(code="651"), 10, warehouse=shop.hangzhou)
    [parcel] = live_parcels(polled_order(capture, top, shop))
    top.faults = [(SEND, "lost")]  # shipped on TOP, the answer a 502

    ship(capture, parcel, shop.sf, "SF3000000001")

    assert write_back_of(parcel).state == WriteBackState.PENDING
    assert deliver_again(write_back_of(parcel)) == "delivered"
    row = write_back_of(parcel)
    assert row.state == WriteBackState.SENT and row.already_done
    assert len(top.calls(SEND)) == 1


def test_a_carrier_without_a_taobao_code_fails_with_an_alert_and_sends_nothing(shop, top, capture):
    receive(SKUFactory(code="A008"), 10, warehouse=shop.hangzhou)
    receive(SKUFactory(code="651"), 10, warehouse=shop.hangzhou)
    [parcel] = live_parcels(polled_order(capture, top, shop))
    zto = CarrierFactory(code="zto", name="ZTO", tracking_code="zhongtong")  # not in the code map

    ship(capture, parcel, zto, "ZT4000000001")

    row = write_back_of(parcel)
    assert row.state == WriteBackState.FAILED and "ZTO" in row.last_error
    assert Alert.objects.filter(kind=writeback.ALERT_KIND).exists()
    assert top.calls(SEND) == []
