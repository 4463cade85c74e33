"""Pinduoduo's message service (integrations/pdd/messages.py, issue #16) against a fake WebSocket
service on localhost (fake_pdd_messages.py: the path signature checked with its own
implementation) and the fake PDD gateway (fake_pdd.py) for pdd.order.information.get. Frames are
the fixtures pdd_message_frame_*.json, the ack pdd_message_ack.json and the signature vector
pdd_message_ws_auth_vector.json (SOURCES.md §16). Orders go through the real inbound pipeline,
the sync and the intake."""

import copy
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.db.models import Sum

from core.http import RateLimited
from integrations.models import InboundMessage, InboundStatus, SyncCursor
from integrations.pdd import messages
from integrations.services import inbound_message_process
from integrations.sync import channel_sync
from integrations.tests import fake_pdd, fake_pdd_messages, fake_server
from integrations.tests.fake_pdd import sample
from orders.models import Order, OrderStatus
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

BEIJING = ZoneInfo("Asia/Shanghai")
SN_101 = "260512-100000000000101"
TRADE_FRAME = sample("pdd_message_frame_trade_confirmed")
REFUND_FRAME = sample("pdd_message_frame_refund_created")


def order_info(name: str = "pdd_order_information_get_response") -> dict:
    return copy.deepcopy(sample(name)["order_info_get_response"]["order_info"])


@pytest.fixture
def pdd():
    with fake_server.running(fake_pdd.serve) as gateway:
        yield gateway


@pytest.fixture
def service():
    server, thread = fake_pdd_messages.serve()
    try:
        yield server.fake
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def shop(db, pdd, service):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="TS-WHT-L"), 10)
    channel = ChannelFactory(
        code="pdd-1", platform="pdd", api_credentials=fake_pdd.credentials(pdd, ws_url=service.url)
    )
    SyncCursor.objects.create(channel=channel, cursor=datetime(2026, 5, 12, 10, 0, tzinfo=BEIJING))
    return channel


def listen(channel, *, connections: int = 1) -> messages.Counts:
    client = messages.PddMessageClient(channel, heartbeat_seconds=30, backoff_seconds=0.01)
    return client.run(max_connections=connections)


def reserved(code: str) -> int:
    return SKUFactory(code=code).balances.aggregate(total=Sum("reserved"))["total"] or 0


# --- the connection --------------------------------------------------------------------------------


def test_the_path_signature_matches_the_vector():
    vector = sample("pdd_message_ws_auth_vector")
    args = (vector["client_id"], vector["timestamp_ms"], vector["client_secret"])
    assert messages.ws_signature(*args) == vector["signature_base64"]
    assert (
        messages.ws_url(messages.DEFAULT_WS_URL, vector["client_id"], vector["client_secret"], 1700000000000)
        == (vector["url"])
    )
    # the fake's own implementation agrees
    assert fake_pdd_messages.signature("app", "1700000000000", "secret") == vector["signature_base64"]


def test_a_bad_signature_is_refused_by_the_service_and_nothing_is_stored(shop, service):
    service.frames = [TRADE_FRAME]
    shop.api_credentials = {**shop.api_credentials, "client_secret": "wrong"}

    counts = listen(shop)

    assert (counts.refused, counts.frames) == (1, 0)
    assert service.refused and service.sent == [] and service.acks == []
    assert not InboundMessage.objects.exists()


# --- trade messages ----------------------------------------------------------------------------------


def test_a_trade_message_is_stored_acked_and_makes_one_order_that_the_poll_keeps_one(
    shop, pdd, service, django_capture_on_commit_callbacks
):
    pdd.add_order(order_info())
    service.frames = [TRADE_FRAME]

    with django_capture_on_commit_callbacks(execute=True):
        counts = listen(shop)

    # the path the service accepted carries the signature of this client_id and secret
    (path,) = service.paths
    _, _, client_id, timestamp_ms, sig = path.split("/")
    assert sig == fake_pdd_messages.signature(client_id, timestamp_ms, fake_pdd.CLIENT_SECRET)
    # stored raw, then acknowledged in the fixture's shape
    frame = InboundMessage.objects.get(dedupe_id=f"ws:{TRADE_FRAME['id']}")
    assert (frame.channel, frame.topic, json.loads(frame.body)) == (
        shop,
        "pdd_trade_TradeConfirmed",
        TRADE_FRAME,
    )
    assert frame.status == InboundStatus.PROCESSED
    (ack,) = service.acks
    expected = sample("pdd_message_ack")
    assert {k: ack[k] for k in ("id", "commandType", "sendTime", "type", "mallID")} == {
        k: expected[k] for k in ("id", "commandType", "sendTime", "type", "mallID")
    }
    assert (counts.stored, counts.acked) == (1, 1)
    # the order read with pdd.order.information.get and ingested
    assert [r["order_sn"] for r in pdd.calls("pdd.order.information.get")] == [SN_101]
    order = Order.objects.get(channel=shop, external_id=SN_101)
    assert frame.order == order
    assert order.status not in (OrderStatus.ON_HOLD, OrderStatus.CANCELLED)
    assert str(order.paid_amount) == "104.80"
    assert reserved("TS-WHT-L") == 2

    # when: the poll reads the same version
    with django_capture_on_commit_callbacks(execute=True):
        polled = channel_sync(channel_id=shop.pk, now=datetime(2026, 5, 12, 10, 40, tzinfo=BEIJING))

    assert (polled.status, polled.orders_seen, polled.messages_stored) == ("ok", 1, 0)
    assert Order.objects.filter(channel=shop, external_id=SN_101).count() == 1
    assert InboundMessage.objects.filter(dedupe_id__startswith=f"poll:{SN_101}").count() == 1
    assert reserved("TS-WHT-L") == 2


def test_a_duplicate_frame_stores_nothing_new_but_is_acked(
    shop, pdd, service, django_capture_on_commit_callbacks
):
    pdd.add_order(order_info())
    service.frames = [TRADE_FRAME]
    service.after = [TRADE_FRAME]  # the same frame id delivered twice on the connection

    with django_capture_on_commit_callbacks(execute=True):
        counts = listen(shop)

    assert (counts.stored, counts.duplicates, counts.acked) == (1, 1, 2)
    assert [ack["id"] for ack in service.acks] == [TRADE_FRAME["id"]] * 2
    assert InboundMessage.objects.filter(dedupe_id=f"ws:{TRADE_FRAME['id']}").count() == 1
    assert len(pdd.calls("pdd.order.information.get")) == 1
    assert Order.objects.filter(channel=shop).count() == 1


def test_a_frame_that_could_not_be_stored_is_not_acked_and_is_taken_on_the_next_connection(
    shop, pdd, service, monkeypatch, django_capture_on_commit_callbacks
):
    pdd.add_order(order_info())
    service.frames = [TRADE_FRAME]
    real_store, failures = messages.frame_store, []

    def store_failing_once(channel, raw):
        if not failures:
            failures.append(raw)
            raise OperationalError("the database went away")
        return real_store(channel, raw)

    monkeypatch.setattr(messages, "frame_store", store_failing_once)

    with django_capture_on_commit_callbacks(execute=True):
        counts = listen(shop, connections=2)

    assert counts.not_stored == 1 and counts.connections == 2
    # the first delivery got no ack; the service sent it again, and that one was stored and acked
    assert service.sent == [TRADE_FRAME["id"], TRADE_FRAME["id"]]
    assert [ack["id"] for ack in service.acks] == [TRADE_FRAME["id"]]
    assert InboundMessage.objects.filter(dedupe_id=f"ws:{TRADE_FRAME['id']}").count() == 1
    assert Order.objects.filter(channel=shop, external_id=SN_101).count() == 1


def test_a_server_heartbeat_is_answered(shop, service):
    service.after = [{"id": 1, "commandType": "HeartBeat", "time": 1778551521000, "sendTime": 1778551521000}]

    counts = listen(shop)

    assert counts.heartbeats_answered == 1
    (beat,) = service.heartbeats
    assert (beat["commandType"], beat["version"]) == ("HeartBeat", messages.SDK_VERSION)
    assert not InboundMessage.objects.exists() and service.acks == []


def test_a_frame_of_a_mall_no_channel_names_is_stored_ignored_and_acked(shop, pdd, service):
    shop.api_credentials = {**shop.api_credentials, "mall_id": "999"}
    shop.save()
    service.frames = [TRADE_FRAME]  # mallID 171504183

    listen(shop)

    frame = InboundMessage.objects.get(dedupe_id=f"ws:{TRADE_FRAME['id']}")
    assert frame.status == InboundStatus.IGNORED and "171504183" in frame.error
    assert [ack["id"] for ack in service.acks] == [TRADE_FRAME["id"]]
    assert pdd.calls("pdd.order.information.get") == [] and not Order.objects.exists()


def test_a_frame_goes_to_the_channel_of_its_mall(shop, pdd, service, django_capture_on_commit_callbacks):
    shop.api_credentials = {**shop.api_credentials, "mall_id": "999"}
    shop.save()
    other = ChannelFactory(
        code="pdd-2",
        platform="pdd",
        api_credentials={**fake_pdd.credentials(pdd), "mall_id": str(TRADE_FRAME["message"]["mallID"])},
    )
    pdd.add_order(order_info())
    service.frames = [TRADE_FRAME]

    with django_capture_on_commit_callbacks(execute=True):
        listen(shop)

    assert InboundMessage.objects.get(dedupe_id=f"ws:{TRADE_FRAME['id']}").channel == other
    assert Order.objects.get(external_id=SN_101).channel == other


# --- refund messages ----------------------------------------------------------------------------------


def test_a_refund_message_ingests_the_refunded_order_and_asks_for_an_after_sales_poll(
    shop, pdd, service, monkeypatch, django_capture_on_commit_callbacks
):
    pdd.add_order(order_info())
    service.frames = [TRADE_FRAME]
    with django_capture_on_commit_callbacks(execute=True):
        listen(shop)
    assert reserved("TS-WHT-L") == 2
    polls = []
    monkeypatch.setattr(messages.sync_channel_after_sales, "delay", polls.append)
    pdd.add_order(order_info("pdd_order_information_get_refunded_response"))
    service.frames = [REFUND_FRAME]

    with django_capture_on_commit_callbacks(execute=True):
        listen(shop)

    refund = InboundMessage.objects.get(dedupe_id=f"ws:{REFUND_FRAME['id']}")
    assert (refund.topic, refund.status) == ("pdd_refund_RefundCreated", InboundStatus.PROCESSED)
    assert Order.objects.get(channel=shop, external_id=SN_101).status == OrderStatus.CANCELLED
    assert reserved("TS-WHT-L") == 0
    assert polls == [shop.pk]


def test_a_message_naming_an_order_pdd_does_not_know_fails_naming_the_error(
    shop, pdd, service, django_capture_on_commit_callbacks
):
    service.frames = [TRADE_FRAME]  # the gateway has no such order: 50001

    with django_capture_on_commit_callbacks(execute=True):
        listen(shop)

    frame = InboundMessage.objects.get(dedupe_id=f"ws:{TRADE_FRAME['id']}")
    assert frame.status == InboundStatus.FAILED and "50001" in frame.error
    assert [ack["id"] for ack in service.acks] == [TRADE_FRAME["id"]]  # stored: acknowledged
    assert not Order.objects.exists()


def test_a_rate_limited_order_read_leaves_the_message_for_the_sweeper(
    shop, pdd, service, django_capture_on_commit_callbacks
):
    pdd.add_order(order_info())
    pdd.faults = [("pdd.order.information.get", "pdd_error_rate_limited")]
    service.frames = [TRADE_FRAME]

    with pytest.raises(RateLimited), django_capture_on_commit_callbacks(execute=True):
        listen(shop)  # the eager task raises it; a worker would retry, the sweeper hands it over

    frame = InboundMessage.objects.get(dedupe_id=f"ws:{TRADE_FRAME['id']}")
    assert frame.status == InboundStatus.RECEIVED and not Order.objects.exists()
    assert [ack["id"] for ack in service.acks] == [TRADE_FRAME["id"]]
    assert inbound_message_process(frame.pk).status == InboundStatus.PROCESSED  # the sweeper's retry
    assert Order.objects.filter(channel=shop, external_id=SN_101).count() == 1


# --- the command --------------------------------------------------------------------------------------


def test_the_command_refuses_a_channel_that_is_not_a_pinduoduo_one(db):
    ChannelFactory(code="shop-1", platform="shopify")
    with pytest.raises(CommandError, match="No Pinduoduo channel"):
        call_command("pdd_messages", channel="shop-1")
    ChannelFactory(code="pdd-9", platform="pdd", api_credentials={"client_id": "x"})
    with pytest.raises(CommandError, match="client_secret"):
        call_command("pdd_messages", channel="pdd-9")
