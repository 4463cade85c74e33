"""Taobao / Tmall: TOP signing, trade mapping (Beijing time), and the polling client against a real
local HTTP server that checks every request the way TOP does."""

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.http import PlatformError, RateLimited
from integrations.adapters import get_adapter
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_process
from integrations.taobao import signing
from integrations.taobao.client import TRADE_FIELDS, TaobaoClient, day_slices
from integrations.tests.conftest import payload
from orders.canonical import CanonicalOrderInput
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

CHANNEL = SimpleNamespace(code="tmall-1")
APP_KEY, APP_SECRET, SESSION = "12345678", "helloworld", "6100e2c5-test-session"
BEIJING = ZoneInfo("Asia/Shanghai")
TAOBAO_SKUS = ("TB-TEA-250", "TB-CUP")


# --- signing -----------------------------------------------------------------------------------

VECTOR_PARAMS = {
    "method": "taobao.trades.sold.increment.get",
    "app_key": "12345678",
    "session": "test-session",
    "timestamp": "2026-02-16 09:30:00",
    "format": "json",
    "v": "2.0",
    "fields": "tid,status",
    "page_no": 1,
    "buyer_nick": "张三",
    "status": "",  # empty: not signed
    "sign": "IGNORED",  # never signs itself
}
# Sorted by name, name+value, no separators, empty values and `sign` left out:
VECTOR_STRING = (
    "app_key12345678"
    "buyer_nick张三"
    "fieldstid,status"
    "formatjson"
    "methodtaobao.trades.sold.increment.get"
    "page_no1"
    "sessiontest-session"
    "sign_method{method}"
    "timestamp2026-02-16 09:30:00"
    "v2.0"
)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # MD5("helloworld" + string + "helloworld"), upper-case hex
        ("md5", "B6F38C0D2825B3E2955867C9B457D83A"),
        # HMAC-MD5(key="helloworld", string); TOP calls this method "hmac"
        ("hmac", "4961BCB84CD2655213E162859EAAAFD2"),
        # HMAC-SHA256(key="helloworld", string)
        ("hmac-sha256", "514C6D3886929078929F14A4B1901FE2AF2CA59114D73A30A840C98D77863F72"),
    ],
)
def test_sign_matches_hand_computed_vectors(method, expected):
    params = {**VECTOR_PARAMS, "sign_method": method}

    assert signing.string_to_sign(params) == VECTOR_STRING.format(method=method)
    assert signing.sign(params, "helloworld", method) == expected


def test_sign_accepts_hmac_md5_as_an_alias_and_refuses_unknown_methods():
    params = {**VECTOR_PARAMS, "sign_method": "hmac"}

    assert signing.sign(params, "helloworld", "hmac-md5") == "4961BCB84CD2655213E162859EAAAFD2"
    with pytest.raises(ValueError):
        signing.sign(params, "helloworld", "sha1")


def test_booleans_are_signed_as_top_writes_them():
    assert signing.string_to_sign({"use_has_next": True, "b": False}) == "bfalseuse_has_nexttrue"


def test_verify_checks_the_sign_for_the_named_method():
    params = {**VECTOR_PARAMS, "sign_method": "hmac-sha256"}
    params["sign"] = signing.sign(params, "helloworld", "hmac-sha256")

    assert signing.verify(params, "helloworld")
    assert signing.verify({**params, "sign": params["sign"].lower()}, "helloworld")  # hex is hex
    assert not signing.verify({**params, "page_no": 2}, "helloworld")
    assert not signing.verify(params, "other-secret")
    assert not signing.verify({**params, "sign": "签名"}, "helloworld")
    assert not signing.verify({**params, "sign": ""}, "helloworld")
    assert not signing.verify(params, "")


# --- mapping -----------------------------------------------------------------------------------


def test_adapter_is_registered_for_polling_only():
    adapter = get_adapter("taobao")
    trade = payload("taobao_trade_paid")

    assert adapter.client_class is TaobaoClient
    assert adapter.poll_topic == "taobao.trade.modified" and adapter.poll_topic in adapter.order_topics
    assert adapter.poll_dedupe_id(trade) == "poll:3827461950123456789:2026-02-16 01:02:05"
    assert adapter.verify({}, json.dumps(trade).encode(), "any-secret") is False


def test_paid_trade_maps_every_field():
    canonical = get_adapter("taobao").to_canonical(payload("taobao_trade_paid"), CHANNEL)

    assert canonical == {
        "channel": "tmall-1",
        "external_id": "3827461950123456789",
        # TOP writes Beijing wall-clock time without an offset; the offset is added, never assumed UTC
        "placed_at": "2026-02-16T01:00:00+08:00",
        "updated_at": "2026-02-16T01:02:05+08:00",
        "paid_at": "2026-02-16T01:02:03+08:00",
        "currency": "CNY",
        "customer": {"name": "t**8", "email": "", "phone": ""},
        "shipping_address": {
            "name": "王芳",
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "line1": "文三路 90 号 3 单元 501 室",
            "line2": "",
            "postcode": "310000",
            "phone": "13800000001",  # the mobile before the landline
        },
        "lines": [
            {
                "sku": "TB-TEA-250",
                "platform_line_id": "3827461950123456790",  # oid
                "platform_item_id": "689012345678",  # num_iid
                "platform_sku_id": "5012345678901",  # sku_id
                "seller_code": "TB-TEA-250",  # outer_sku_id
                "title": "西湖龙井 明前特级 250g",
                "quantity": 2,
                "unit_price": "59.90",
                "adjustment": "0.00",
                "discount": "5.00",
            },
            {
                "sku": "TB-CUP",
                "platform_line_id": "3827461950123456791",
                "platform_item_id": "689012345679",
                "platform_sku_id": "",
                "seller_code": "TB-CUP",  # no outer_sku_id: outer_iid
                "title": "青瓷盖碗",
                "quantity": 1,
                "unit_price": "100.00",
                "adjustment": "0.00",
                "discount": "0.00",
            },
        ],
        # No line states part_mjz_discount or divide_order_fee: the order discount is the trade's
        # discount_fee 15.00 minus the 5.00 already on a line, spread by the intake, and the lines'
        # `payment` (before that discount on a trade of several lines) is not what they were paid.
        "shipping_fee": "8.00",
        "discount": "10.00",
        "paid_amount": "212.80",  # trade payment
        "paid": True,
        "cancelled": False,
        "note": "请尽快发货，谢谢",
    }


def test_beijing_time_is_utc_minus_eight_hours():
    canonical = get_adapter("taobao").to_canonical(
        payload("taobao_trade_paid", created="2026-02-16 01:00:00"), CHANNEL
    )

    placed_at = datetime.fromisoformat(canonical["placed_at"])
    assert placed_at.astimezone(UTC) == datetime(2026, 2, 15, 17, 0, tzinfo=UTC)


def test_unpaid_trade_uses_the_landline_when_there_is_no_mobile():
    canonical = get_adapter("taobao").to_canonical(payload("taobao_trade_wait_pay"), CHANNEL)

    assert (canonical["paid"], canonical["cancelled"]) == (False, False)
    assert "paid_at" not in canonical
    assert canonical["shipping_address"]["phone"] == "010-66667777"
    assert canonical["shipping_address"]["province"] == "北京"
    assert (canonical["shipping_fee"], canonical["discount"], canonical["note"]) == ("0.00", "0.00", "")


def test_closed_trade_is_cancelled_even_though_it_was_paid():
    canonical = get_adapter("taobao").to_canonical(payload("taobao_trade_closed"), CHANNEL)

    assert (canonical["paid"], canonical["cancelled"]) == (False, True)
    assert "paid_at" not in canonical
    # every line was refunded: they stay, so the cancelled order can still be recorded
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in canonical["lines"]] == [
        ("TB-CUP", 1, "100.00")
    ]
    assert canonical["paid_amount"] == "100.00"  # what was paid before the refund


@pytest.mark.parametrize(
    ("status", "paid", "cancelled"),
    [
        ("TRADE_NO_CREATE_PAY", False, False),
        ("WAIT_BUYER_PAY", False, False),
        ("WAIT_SELLER_SEND_GOODS", True, False),
        ("SELLER_CONSIGNED_PART", True, False),
        ("WAIT_BUYER_CONFIRM_GOODS", True, False),
        ("TRADE_BUYER_SIGNED", True, False),
        ("TRADE_FINISHED", True, False),
        ("TRADE_CLOSED", False, True),
        ("TRADE_CLOSED_BY_TAOBAO", False, True),
    ],
)
def test_trade_status_means_paid_or_cancelled(status, paid, cancelled):
    canonical = get_adapter("taobao").to_canonical(payload("taobao_trade_paid", status=status), CHANNEL)

    assert (canonical["paid"], canonical["cancelled"]) == (paid, cancelled)
    assert canonical.get("paid_at") == ("2026-02-16T01:02:03+08:00" if paid else None)


def test_unknown_trade_status_is_refused_not_guessed():
    with pytest.raises(ValueError, match="NEW_STATUS"):
        get_adapter("taobao").to_canonical(payload("taobao_trade_paid", status="NEW_STATUS"), CHANNEL)


def test_refunded_line_is_left_out_and_its_discount_not_counted_twice():
    trade = payload("taobao_trade_paid")
    trade["orders"]["order"][0]["refund_status"] = "SUCCESS"
    trade["orders"]["order"][1]["refund_status"] = "WAIT_SELLER_AGREE"  # asked for, not refunded

    canonical = get_adapter("taobao").to_canonical(trade, CHANNEL)

    assert [(line["sku"], line["unit_price"], line["discount"]) for line in canonical["lines"]] == [
        ("TB-CUP", "100.00", "0.00")
    ]
    assert canonical["discount"] == "10.00"  # 15.00 − the refunded line's own 5.00
    # the trade's payment 212.80 still counts the refunded line, paid 2 × 59.90 − 5.00 = 114.80
    assert canonical["paid_amount"] == "98.00"  # = 100.00 − 10.00 + 8.00 postage
    assert (canonical["paid"], canonical["cancelled"]) == (True, False)


def test_all_lines_refunded_cancels_a_finished_trade():
    trade = payload("taobao_trade_paid", status="TRADE_FINISHED")
    for item in trade["orders"]["order"]:
        item["refund_status"] = "SUCCESS"

    canonical = get_adapter("taobao").to_canonical(trade, CHANNEL)

    assert (canonical["paid"], canonical["cancelled"]) == (False, True)
    assert len(canonical["lines"]) == 2


def test_order_level_discount_is_never_negative():
    canonical = get_adapter("taobao").to_canonical(payload("taobao_trade_paid", discount_fee="0.00"), CHANNEL)

    assert canonical["discount"] == "0.00"


def test_trade_without_lines_carries_no_order():
    assert get_adapter("taobao").to_canonical({"tid": 1, "status": "WAIT_BUYER_PAY"}, CHANNEL) is None


@pytest.fixture
def tmall_channel(db):
    for code in TAOBAO_SKUS:
        SKUFactory(code=code)
    return ChannelFactory(
        code="tmall-1",
        platform="taobao",
        api_credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "session": SESSION},
    )


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/New_York"])
def test_canonical_trade_passes_the_api_input_in_any_channel_zone(tmall_channel, zone):
    tmall_channel.time_zone = zone
    tmall_channel.save()
    canonical = get_adapter("taobao").to_canonical(payload("taobao_trade_paid"), tmall_channel)

    data = CanonicalOrderInput(data=canonical)

    assert data.is_valid(), data.errors
    assert data.validated_data["placed_at"] == datetime(2026, 2, 15, 17, 0, tzinfo=UTC)
    assert data.validated_data["paid_at"] == datetime(2026, 2, 15, 17, 2, 3, tzinfo=UTC)
    assert [line["sku"].code for line in data.validated_data["lines"]] == ["TB-TEA-250", "TB-CUP"]


def test_polled_trade_becomes_one_order_through_the_pipeline(tmall_channel):
    # given: stock, and a trade stored the way the polling sync stores it
    ensure_master_data(stock=0)
    for code in TAOBAO_SKUS:
        receive(SKUFactory(code=code), 10)
    adapter, trade = get_adapter("taobao"), payload("taobao_trade_paid")
    message = InboundMessage.objects.create(
        channel=tmall_channel,
        platform="taobao",
        topic=adapter.poll_topic,
        dedupe_id=adapter.poll_dedupe_id(trade),
        body=json.dumps(trade, ensure_ascii=False),
    )

    # when
    message = inbound_message_process(message.pk)

    # then
    assert message.status == InboundStatus.PROCESSED, message.error
    assert message.order.external_id == "3827461950123456789"
    assert message.order.placed_at == datetime(2026, 2, 15, 17, 0, tzinfo=UTC)


def test_webhook_posts_for_taobao_are_rejected(client, tmall_channel):
    response = client.post(
        "/integrations/webhooks/taobao/tmall-1/",
        data=json.dumps(payload("taobao_trade_paid")),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert InboundMessage.objects.get().status == InboundStatus.REJECTED


# --- client against a local TOP ------------------------------------------------------------------


def top_sign(params: dict, secret: str) -> str:
    """The server's own md5 / hmac-sha256 signature, written independently of integrations.taobao."""
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    if params.get("sign_method") == "hmac-sha256":
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()


class FakeTop:
    """What the handler saw and what it answers: `pages` maps page_no to a response body (or to
    a function of the request's parameters giving it). taobao.trade.fullinfo.get answers a trade
    the pages served as they served it (the client reads a paid trade again when it lacks detail:
    integrations/tests/test_taobao_complete.py tests that with a fuller fake)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.pages: dict[int, dict] = {1: {"trades_sold_increment_get_response": {"has_next": False}}}
        self.status = 200
        self.served: dict[str, dict] = {}

    def answer(self, params: dict) -> dict:
        if params["method"] == "taobao.trade.fullinfo.get":
            return {"trade_fullinfo_get_response": {"trade": self.served[params["tid"]]}}
        body = self.pages[int(params["page_no"])]
        if callable(body):  # an answer built from the request (e.g. only the fields asked for)
            body = body(params)
        page = body.get("trades_sold_increment_get_response") or {}
        for trade in (page.get("trades") or {}).get("trade") or []:
            self.served[str(trade["tid"])] = trade
        return body


class TopHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        top: FakeTop = self.server.top
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        top.requests.append(params)
        sent_at = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        if not hmac.compare_digest(params.get("sign", ""), top_sign(params, APP_SECRET)):
            body = {"error_response": {"code": 25, "msg": "Invalid signature", "request_id": "x1"}}
        elif abs(datetime.now(UTC) - sent_at) > timedelta(minutes=10):
            body = {"error_response": {"code": 31, "msg": "Invalid timestamp", "request_id": "x2"}}
        else:
            body = top.answer(params)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(top.status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def top_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), TopHandler)
    server.top = FakeTop()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def channel_for(server, **credentials) -> SimpleNamespace:
    host, port = server.server_address
    return SimpleNamespace(
        code="tmall-1",
        api_credentials={
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "session": SESSION,
            "base_url": f"http://{host}:{port}/router/rest",
            **credentials,
        },
    )


def poll(server, since, until, **credentials) -> list[dict]:
    with httpx.Client(timeout=5) as http:
        client = TaobaoClient(channel_for(server, **credentials), http=http)
        return list(client.iter_orders(updated_since=since, updated_until=until))


SINCE = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
UNTIL = datetime(2026, 2, 16, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize("sign_method", ["md5", "hmac-sha256"])
def test_client_sends_signed_top_parameters_in_beijing_time(top_server, sign_method):
    trades = poll(top_server, SINCE, UNTIL, sign_method=sign_method)

    assert trades == []
    (request,) = top_server.top.requests
    assert request["sign"] == top_sign(request, APP_SECRET)
    assert {key: value for key, value in request.items() if key not in ("sign", "timestamp")} == {
        "method": "taobao.trades.sold.increment.get",
        "app_key": APP_KEY,
        "session": SESSION,
        "format": "json",
        "v": "2.0",
        "sign_method": sign_method,
        "fields": TRADE_FIELDS,
        "start_modified": "2026-02-16 10:00:00",
        "end_modified": "2026-02-16 10:30:00",
        "use_has_next": "true",
        "page_no": "1",
        "page_size": "100",
    }


def test_server_rejects_a_bad_signature(top_server):
    with pytest.raises(PlatformError, match="Invalid signature") as error:
        poll(top_server, SINCE, UNTIL, app_secret="wrong-secret")

    assert error.value.code == 25
    assert len(top_server.top.requests) == 1


def test_client_follows_has_next_over_two_pages(top_server):
    top_server.top.pages = {1: payload("taobao_increment_page1"), 2: payload("taobao_increment_page2")}

    trades = poll(top_server, SINCE, UNTIL)

    assert [trade["tid"] for trade in trades] == [
        3827461950123500002,
        3827461950123500001,
        3827461950123500000,
    ]
    pages = [r for r in top_server.top.requests if r["method"] == "taobao.trades.sold.increment.get"]
    assert [request["page_no"] for request in pages] == ["1", "2"]
    assert {request["start_modified"] for request in pages} == {"2026-02-16 10:00:00"}
    canonical = [get_adapter("taobao").to_canonical(trade, CHANNEL) for trade in trades]
    assert [(c["paid"], c["cancelled"]) for c in canonical] == [(True, False), (False, False), (False, True)]


def test_client_splits_a_three_day_window_into_day_slices(top_server):
    since = datetime(2026, 2, 13, 16, 0, tzinfo=UTC)  # 2026-02-14 00:00 in Beijing
    until = since + timedelta(days=3)

    poll(top_server, since, until)

    assert [(r["start_modified"], r["end_modified"]) for r in top_server.top.requests] == [
        ("2026-02-14 00:00:00", "2026-02-15 00:00:00"),
        ("2026-02-15 00:00:00", "2026-02-16 00:00:00"),
        ("2026-02-16 00:00:00", "2026-02-17 00:00:00"),
    ]


def test_day_slices_end_on_the_window_and_refuse_naive_times():
    since = datetime(2026, 2, 16, 0, 0, 0, 500, tzinfo=UTC)

    slices = day_slices(since, since + timedelta(hours=30))

    assert [(a.isoformat(), b.isoformat()) for a, b in slices] == [
        ("2026-02-16T08:00:00+08:00", "2026-02-17T08:00:00+08:00"),
        ("2026-02-17T08:00:00+08:00", "2026-02-17T14:00:00+08:00"),
    ]
    assert day_slices(since, since) == []
    with pytest.raises(ValueError):
        day_slices(datetime(2026, 2, 16), datetime(2026, 2, 17))


def test_app_call_limited_is_rate_limited_with_the_ban_time(top_server):
    top_server.top.pages = {1: payload("taobao_error_limited")}

    with pytest.raises(RateLimited) as error:
        poll(top_server, SINCE, UNTIL)

    assert error.value.retry_after == 71


def test_rate_limit_without_a_ban_time_waits_a_minute(top_server):
    limited = payload("taobao_error_limited")
    limited["error_response"].update(code=15, sub_code="isv.call-limited", sub_msg="")
    top_server.top.pages = {1: limited}

    with pytest.raises(RateLimited) as error:
        poll(top_server, SINCE, UNTIL)

    assert error.value.retry_after == 60


def test_other_errors_are_platform_errors_with_code_and_message(top_server):
    top_server.top.pages = {
        1: {
            "error_response": {
                "code": 27,
                "msg": "Invalid session",
                "sub_code": "invalid-sessionkey",
                "request_id": "r1",
            }
        }
    }

    with pytest.raises(PlatformError, match="27: Invalid session") as error:
        poll(top_server, SINCE, UNTIL)

    assert (error.value.code, error.value.msg) == (27, "Invalid session")


def test_an_http_error_page_is_a_platform_error(top_server):
    top_server.top.status = 502
    top_server.top.pages = {1: {"trades_sold_increment_get_response": {"has_next": False}}}

    with pytest.raises(PlatformError, match="502"):
        poll(top_server, SINCE, UNTIL)


def test_missing_credentials_are_refused_before_any_call(top_server):
    with pytest.raises(PlatformError, match="session"):
        TaobaoClient(channel_for(top_server, session=""))
