"""Platform after-sales requests polled into the returns desk (issue #16 part 6): JD, Pinduoduo and
Douyin against their fake gateways (real HTTP on localhost, each platform's signature checked by
the fake), answering with the after-sale fixtures of payloads/ (SOURCES.md §16). Orders come in
through the real order sync; after-sales through integrations.after_sales and the returns service."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.timezones import parse_beijing_time
from finance.models import RevenueKind, RevenueLine
from integrations.after_sales import AFTER_SALE_TOPIC, after_sale_channel_ids, after_sales_sync
from integrations.models import AfterSaleCursor, InboundMessage, InboundStatus, SyncCursor
from integrations.services import inbound_message_replay
from integrations.sync import channel_sync
from integrations.tests import fake_douyin, fake_jd, fake_pdd
from integrations.tests.fake_pdd import sample
from orders.models import Order
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive
from returns.models import (
    R,
    RefundProvider,
    RefundState,
    ReturnKind,
    ReturnRefund,
    ReturnRequest,
    ReturnSource,
)

SN_101 = "260512-100000000000101"
JD_ORDER = "300000000001"
DY_ORDER = "6921446093102489901"


@pytest.fixture
def pdd():
    server, thread = fake_pdd.serve()
    yield server.pdd
    server.shutdown(), server.server_close(), thread.join(timeout=5)


@pytest.fixture
def jos():
    server, thread = fake_jd.serve()
    yield server.jos
    server.shutdown(), server.server_close(), thread.join(timeout=5)


@pytest.fixture
def douyin():
    server, thread = fake_douyin.serve()
    yield server.douyin
    server.shutdown(), server.server_close(), thread.join(timeout=5)


def poll_orders(channel, at: datetime):
    """The order sync over a window around `at`."""
    SyncCursor.objects.update_or_create(channel=channel, defaults={"cursor": at - timedelta(minutes=5)})
    result = channel_sync(channel_id=channel.pk, now=at + timedelta(minutes=5))
    assert result.status == "ok", result.error


def poll_after_sales(channel, at: datetime, *, since: datetime | None = None):
    """One after-sales run whose window ends just after `at`."""
    if since is not None:
        AfterSaleCursor.objects.update_or_create(channel=channel, defaults={"cursor": since})
    return after_sales_sync(channel_id=channel.pk, now=at + timedelta(seconds=30))


def rma_of(channel, ref: str) -> ReturnRequest:
    return ReturnRequest.objects.get(order__channel=channel, external_ref=ref)


def refund_booked(order: Order) -> Decimal:
    lines = RevenueLine.objects.filter(order=order, kind=RevenueKind.REFUND)
    return -sum((line.amount for line in lines), Decimal("0.00"))


def beijing(text: str) -> datetime:
    return parse_beijing_time(text).astimezone(UTC)


# --- Pinduoduo ------------------------------------------------------------------------------------


@pytest.fixture
def pdd_shop(db, pdd):
    ensure_master_data(stock=0)
    for code in ("TS-WHT-L", "BAG-BEI", "CUP-BLU-500"):
        receive(SKUFactory(code=code), 10)
    channel = ChannelFactory(code="pdd-1", platform="pdd", api_credentials=fake_pdd.credentials(pdd))
    for order in sample("pdd_order_increment_page1")["order_sn_increment_get_response"]["order_sn_list"]:
        pdd.add_order(order)
    poll_orders(channel, beijing("2026-05-12 10:05:20"))
    return channel


def pdd_refund(status: int, updated: str) -> tuple[dict, dict]:
    record = copy.deepcopy(
        sample("pdd_refund_list_increment_response")["refund_increment_get_response"]["refund_list"][0]
    )
    detail = copy.deepcopy(sample("pdd_refund_information_get_response"))
    record.update(after_sales_status=status, updated_time=updated)
    detail.update(after_sales_status=status, updated_time=updated)
    return record, detail


def test_pdd_refund_request_becomes_an_rma_then_refunded_and_closed(pdd_shop, pdd):
    # given: a refund-only request (after_sales_status 2) on order …101
    record, detail = pdd_refund(2, "2026-05-12 15:31:44")
    pdd.refunds["9000000000001"], pdd.refund_details["9000000000001"] = record, detail
    at = beijing("2026-05-12 15:31:44")

    first = poll_after_sales(pdd_shop, at, since=at - timedelta(minutes=10))

    assert first.status == "ok" and first.orders_seen == 1 and first.messages_stored == 1
    rma = rma_of(pdd_shop, "pdd:9000000000001")
    assert (rma.status, rma.kind, rma.source) == (R.REQUESTED, ReturnKind.REFUND_ONLY, ReturnSource.PLATFORM)
    assert [(line.sku.code, line.quantity) for line in rma.lines.all()] == [("TS-WHT-L", 2)]
    assert not ReturnRefund.objects.filter(rma=rma).exists()
    # every call signed and accepted by the fake: list per status, then the detail
    assert {r["type"] for r in pdd.requests} >= {
        "pdd.refund.list.increment.get",
        "pdd.refund.information.get",
    }
    assert all(r["sign"] == fake_pdd.pdd_sign(r, fake_pdd.CLIENT_SECRET) for r in pdd.requests)

    # when: PDD refunded it (status 10) a little later
    record, detail = pdd_refund(10, "2026-05-12 15:40:02")
    pdd.refunds["9000000000001"], pdd.refund_details["9000000000001"] = record, detail
    second = poll_after_sales(pdd_shop, beijing("2026-05-12 15:40:02"))

    # then: refunded and closed, 104.80 refunded by the platform, booked once
    assert second.status == "ok"
    rma.refresh_from_db()
    assert rma.status == R.CLOSED and rma.external_state == "refunded"
    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.amount, refund.provider, refund.state) == (
        Decimal("104.80"),
        RefundProvider.PLATFORM,
        RefundState.SUCCEEDED,
    )
    assert refund_booked(rma.order) == Decimal("104.80")

    # the same version read again (the overlap) is the same message, the same RMA, no second booking
    again = poll_after_sales(pdd_shop, beijing("2026-05-12 15:40:30"), since=beijing("2026-05-12 15:35:00"))
    assert (again.status, again.orders_seen, again.messages_stored) == ("ok", 1, 0)
    assert ReturnRequest.objects.filter(external_ref="pdd:9000000000001").count() == 1
    assert refund_booked(rma.order) == Decimal("104.80")
    assert InboundMessage.objects.filter(channel=pdd_shop, topic=AFTER_SALE_TOPIC).count() == 2


def test_pdd_list_and_detail_money_that_disagree_fail_the_message(pdd_shop, pdd):
    record, detail = pdd_refund(10, "2026-05-12 15:40:02")
    detail["refund_amount"] = 9990  # fen: 99.90, the list says 104.80 yuan
    pdd.refunds["9000000000001"], pdd.refund_details["9000000000001"] = record, detail
    at = beijing("2026-05-12 15:40:02")

    assert poll_after_sales(pdd_shop, at, since=at - timedelta(minutes=10)).status == "ok"

    message = InboundMessage.objects.get(channel=pdd_shop, topic=AFTER_SALE_TOPIC)
    assert message.status == InboundStatus.FAILED and "refund_amount" in message.error
    assert not ReturnRequest.objects.filter(external_ref="pdd:9000000000001").exists()
    assert refund_booked(Order.objects.get(external_id=SN_101)) == Decimal("0.00")


# --- JD ---------------------------------------------------------------------------------------------


@pytest.fixture
def jd_shop(db, jos):
    ensure_master_data(stock=0)
    for code in ("TS-WHT-L", "BAG-BEI", "CUP-BLU-500", "TIS-3"):
        receive(SKUFactory(code=code), 10)
    return ChannelFactory(code="jd-1", platform="jd", api_credentials=fake_jd.credentials(jos))


def jd_apply(**changes) -> dict:
    body = fake_jd.sample("jd_refundapply_query_page_list_response")
    record = body["jingdong_pop_afs_soa_refundapply_queryPageList_responce"]["queryResult"]["result"][0]
    return {**record, **changes}


def test_jd_refund_request_for_an_unknown_order_fails_naming_it_then_replays(jd_shop, jos):
    # given: a refund request (status 0 未审核) on order 300000000001, not polled yet
    jos.refund_applies["8000000001"] = jd_apply()
    at = beijing("2026-05-12 15:31:44")

    result = poll_after_sales(jd_shop, at, since=at - timedelta(minutes=10))

    assert result.status == "ok"
    message = InboundMessage.objects.get(channel=jd_shop, topic=AFTER_SALE_TOPIC)
    assert message.status == InboundStatus.FAILED and JD_ORDER in message.error
    assert all(r["sign"] == fake_jd.jos_sign(r, fake_jd.APP_SECRET) for r in jos.requests)

    # when: the order comes in and the message is replayed
    jos.add_order(fake_jd.orders_of("jd_pop_order_ensearch_page1")[0])
    poll_orders(jd_shop, beijing("2026-05-12 10:05:18"))
    replayed = inbound_message_replay(message.pk)

    # then: a refund-only RMA, waiting for the seller, nothing refunded
    assert replayed.status == InboundStatus.PROCESSED
    rma = rma_of(jd_shop, "jd:8000000001")
    assert (rma.status, rma.kind) == (R.REQUESTED, ReturnKind.REFUND_ONLY)
    assert rma.lines.count() == 0  # JD names no lines: the whole order


def test_jd_withdrawn_request_cancels_the_rma_and_an_older_version_changes_nothing(jd_shop, jos):
    jos.add_order(fake_jd.orders_of("jd_pop_order_ensearch_page1")[0])
    poll_orders(jd_shop, beijing("2026-05-12 10:05:18"))
    jos.refund_applies["8000000001"] = jd_apply()
    at = beijing("2026-05-12 15:31:44")
    poll_after_sales(jd_shop, at, since=at - timedelta(minutes=10))
    rma = rma_of(jd_shop, "jd:8000000001")
    assert rma.status == R.REQUESTED

    # the buyer withdraws it (status 11 用户撤销), checked at 15:50
    jos.refund_applies["8000000001"] = jd_apply(status=11, checkTime="2026-05-12 15:50:00")
    assert poll_after_sales(jd_shop, beijing("2026-05-12 15:50:00")).status == "ok"

    rma.refresh_from_db()
    assert rma.status == R.CANCELLED and rma.external_state == "closed"
    assert not ReturnRefund.objects.filter(rma=rma).exists()

    # an older version delivered late (stored as a message, processed) leaves it cancelled
    jos.refund_applies["8000000001"] = jd_apply(status=1, checkTime="2026-05-12 15:40:00")
    poll_after_sales(jd_shop, beijing("2026-05-12 15:40:00"), since=beijing("2026-05-12 15:35:00"))
    rma.refresh_from_db()
    assert rma.status == R.CANCELLED
    assert rma.external_updated_at == beijing("2026-05-12 15:50:00")


# --- Douyin ---------------------------------------------------------------------------------------


@pytest.fixture
def dy_shop(db, douyin):
    ensure_master_data(stock=0)
    for code in ("TS-BLU-M", "SOCK-W-3", "MUG-350"):
        receive(SKUFactory(code=code), 10)
    channel = ChannelFactory(code="dy-1", platform="douyin", api_credentials=fake_douyin.credentials(douyin))
    for order in fake_douyin.sample("douyin_order_search_list_page0_response")["data"]["shop_order_list"]:
        douyin.add_order(order)
    poll_orders(channel, datetime.fromtimestamp(1768442791, UTC))
    return channel


def dy_after_sale(**changes) -> dict:
    item = copy.deepcopy(fake_douyin.sample("douyin_after_sale_list_response")["data"]["items"][0])
    item["aftersale_info"].update(changes)
    return item


def test_douyin_refund_only_request_then_refunded_to_the_cent(dy_shop, douyin):
    douyin.after_sales["7301224466880011223"] = dy_after_sale()
    at = datetime.fromtimestamp(1768446000, UTC)

    assert poll_after_sales(dy_shop, at, since=at - timedelta(minutes=10)).status == "ok"

    rma = rma_of(dy_shop, "douyin:7301224466880011223")
    assert (rma.status, rma.kind) == (R.REQUESTED, ReturnKind.REFUND_ONLY)
    assert [(line.sku.code, line.quantity) for line in rma.lines.all()] == [("MUG-350", 1)]
    assert douyin.calls("afterSale.List")  # signed: the fake answered, not a signature error

    douyin.after_sales["7301224466880011223"] = dy_after_sale(
        aftersale_status=12, refund_status=3, update_time=1768447000
    )
    assert poll_after_sales(dy_shop, datetime.fromtimestamp(1768447000, UTC)).status == "ok"

    rma.refresh_from_db()
    assert rma.status == R.CLOSED
    assert ReturnRefund.objects.get(rma=rma).amount == Decimal("90.00")  # 80.00 + 10.00 postage
    assert refund_booked(rma.order) == Decimal("90.00")


def test_douyin_rate_limit_stops_the_run_and_the_retry_reads_the_window(dy_shop, douyin):
    douyin.after_sales["7301224466880011223"] = dy_after_sale()
    at = datetime.fromtimestamp(1768446000, UTC)
    start = at - timedelta(minutes=10)
    douyin.faults = [("afterSale.List", "douyin_error_traffic_limited")]

    limited = poll_after_sales(dy_shop, at, since=start)

    assert limited.status == "rate_limited"
    state = AfterSaleCursor.objects.get(channel=dy_shop)
    assert state.cursor == start and state.next_run_at is not None
    assert not ReturnRequest.objects.filter(order__channel=dy_shop).exists()
    assert after_sales_sync(channel_id=dy_shop.pk, now=at).status == "waiting"

    retried = after_sales_sync(channel_id=dy_shop.pk, now=state.next_run_at + timedelta(seconds=1))

    assert (retried.status, retried.orders_seen) == ("ok", 1)
    assert rma_of(dy_shop, "douyin:7301224466880011223").status == R.REQUESTED
    retried_request = douyin.calls("afterSale.List")[-1]
    assert str(int(start.timestamp()) - 600) in retried_request["body"]  # the window read again, with overlap


def test_only_channels_of_after_sales_platforms_are_polled(dy_shop, jd_shop):
    ChannelFactory(code="shop-1", platform="shopify", api_credentials={"token": "x"})
    assert after_sale_channel_ids() == sorted([dy_shop.pk, jd_shop.pk])
