"""Kuaidi100 (R-F3, R-F4, R-X4): tracking pushes in, subscriptions, polls and waybills out.

Outbound calls go to a real local HTTP server playing Kuaidi100: it checks the signatures the way
Kuaidi100 documents them (query: MD5(param + key + customer); label order: MD5(param + t + key +
secret), upper-case hex) and answers with the shapes its documentation shows."""

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from core import refusals
from core.models import OutboxMessage, OutboxState
from fulfilment.models import Shipment, ShipmentStatus, TrackingEvent, TrackingStatus
from fulfilment.services import shipment_transition
from fulfilment.tests.shipping import allocated_shipment, carrier, ready_to_ship, shipped_shipment
from integrations import carriers
from integrations.carriers import kuaidi100
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_replay

pytestmark = pytest.mark.django_db

KEY, CUSTOMER, SECRET, SALT = "k100-key", "K100CUSTOMER", "k100-secret", "pepper"
CALLBACK = "https://conduit.example.com/integrations/carriers/kuaidi100/callback/"
TS = TrackingStatus


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


# --- the fake Kuaidi100 -------------------------------------------------------------------------


class Kuaidi100Stub:
    def __init__(self):
        self.base_url = ""
        self.requests: list[tuple[str, dict]] = []
        self.tracks: dict[str, list[dict]] = {}  # tracking number → data, newest first
        self.subscribe_answer = {"result": True, "returnCode": "200", "message": "提交成功"}
        self.subscribe_status = 200
        self.waybill_answer: dict | None = None
        self.lock = threading.Lock()

    def calls(self, path: str) -> list[dict]:
        return [form for request_path, form in self.requests if request_path == path]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        stub: Kuaidi100Stub = self.server.stub
        length = int(self.headers.get("Content-Length", "0"))
        form = {
            k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()
        }
        with stub.lock:
            stub.requests.append((self.path, form))
        if self.path == "/poll":
            return self.answer(stub.subscribe_answer, stub.subscribe_status)
        if self.path == "/poll/query.do":
            return self.query(stub, form)
        if self.path == "/label/order":
            return self.label(stub, form)
        return self.answer({"message": "not found"}, 404)

    def query(self, stub, form):
        if form.get("customer") != CUSTOMER or form.get("sign") != md5(form["param"] + KEY + CUSTOMER):
            return self.answer({"result": False, "returnCode": "503", "message": "验证签名失败"})
        param = json.loads(form["param"])
        data = stub.tracks.get(param["num"])
        if not data:
            return self.answer(
                {"result": False, "returnCode": "500", "message": "查询无结果，请隔段时间再查"}
            )
        state = data[0].get("statusCode", "0")[:1]
        return self.answer(
            {
                "message": "ok",
                "nu": param["num"],
                "ischeck": "0",
                "com": param["com"],
                "status": "200",
                "state": state,
                "data": data,
            }
        )

    def label(self, stub, form):
        expected = md5(form["param"] + form["t"] + KEY + SECRET)
        if form.get("method") != "order" or form.get("key") != KEY or form.get("sign") != expected:
            return self.answer({"success": False, "code": 30003, "message": "签名错误"})
        param = json.loads(form["param"])
        answer = stub.waybill_answer or {
            "success": True,
            "code": 200,
            "message": "success",
            "data": {
                "taskId": "T-1",
                "kuaidinum": f"ZT9{param['orderId'][-6:]}",
                "label": "https://api.kuaidi100.com/label/get?id=1",
                "bulkpen": "杭州 310",
            },
        }
        return self.answer(answer)

    def answer(self, body, status: int = 200):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def kuaidi(settings):
    stub = Kuaidi100Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.stub = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.KUAIDI100_KEY, settings.KUAIDI100_CUSTOMER = KEY, CUSTOMER
    settings.KUAIDI100_SECRET, settings.KUAIDI100_SALT = SECRET, SALT
    settings.KUAIDI100_CALLBACK_URL = CALLBACK
    settings.KUAIDI100_POLL_URL = settings.KUAIDI100_API_URL = stub.base_url
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()


def entry(ftime: str, code: str, text: str, place: str = "杭州市") -> dict:
    status = {"1": "揽收", "0": "在途", "5": "派件", "3": "签收", "2": "疑难"}[
        code[:1] if len(code) > 2 else code
    ]
    return {
        "context": text,
        "time": ftime,
        "ftime": ftime,
        "status": status,
        "statusCode": code,
        "areaName": place,
        "location": place,
    }


PICKED_UP = entry("2026-03-10 10:05:00", "103", "【杭州市】 中通快递 杭州西湖 已揽收")
LINE_HAUL = entry("2026-03-10 18:30:00", "1002", "【杭州市】 快件已发往 上海转运中心")
SIGNED = entry("2026-03-11 14:00:00", "301", "【上海市】 快件已签收, 签收人: 本人", "上海市")


def push_form(
    number: str, data: list[dict], *, company: str = "zhongtong", status: str = "polling", salt: str = SALT
):
    param = json.dumps(
        {
            "status": status,
            "billstatus": "",
            "message": "",
            "autoCheck": "0",
            "comOld": "",
            "comNew": "",
            "lastResult": {
                "message": "ok",
                "state": "0",
                "status": "200",
                "condition": "F00",
                "ischeck": "0",
                "com": company,
                "nu": number,
                "data": data,
            },
        },
        ensure_ascii=False,
    )
    return {"param": param, "sign": md5(param + salt)}


@pytest.fixture
def push(client, django_capture_on_commit_callbacks):
    def post(form: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("integrations:kuaidi100-callback"),
                urlencode(form),
                content_type="application/x-www-form-urlencoded",
            )

    return post


@pytest.fixture
def shipped(kuaidi):
    return shipped_shipment(tracking_number="ZT7001")


# --- mapping --------------------------------------------------------------------------------------


def test_states_and_sub_states_map_to_tracking_statuses():
    codes = {
        "0": TS.IN_TRANSIT,
        "1002": TS.IN_TRANSIT,
        "1": TS.ACCEPTED,
        "103": TS.ACCEPTED,
        "5": TS.OUT_FOR_DELIVERY,
        "501": TS.OUT_FOR_DELIVERY,
        "3": TS.DELIVERED,
        "304": TS.DELIVERED,
        "2": TS.EXCEPTION,
        "206": TS.EXCEPTION,
        "4": TS.RETURNED,
        "6": TS.RETURNED,
        "14": TS.RETURNED,
        "7": TS.IN_TRANSIT,
        "8": TS.IN_TRANSIT,
        "13": TS.EXCEPTION,
    }
    assert {code: kuaidi100.tracking_status(code) for code in codes} == codes
    assert kuaidi100.tracking_status(name="签收") == TS.DELIVERED
    assert kuaidi100.tracking_status(name="退回") == TS.RETURNED
    assert kuaidi100.tracking_status("999", "外星") is None


def test_scan_times_are_china_time_stored_as_utc():
    events = kuaidi100.parse_result({"state": "0", "data": [LINE_HAUL, PICKED_UP]}, where="r")

    assert [e.occurred_at.astimezone(UTC) for e in events] == [
        datetime(2026, 3, 10, 10, 30, tzinfo=UTC),
        datetime(2026, 3, 10, 2, 5, tzinfo=UTC),
    ]
    assert [(e.status, e.carrier_status, e.location) for e in events] == [
        (TS.IN_TRANSIT, "1002", "杭州市"),
        (TS.ACCEPTED, "103", "杭州市"),
    ]


def test_a_scan_without_a_known_status_borrows_the_parcel_state_only_when_newest():
    plain = [
        {"ftime": "2026-03-11 09:00:00", "context": "a"},
        {"ftime": "2026-03-10 09:00:00", "context": "b"},
    ]

    newest, older = kuaidi100.parse_result({"state": "3", "data": plain}, where="r")

    assert (newest.status, older.status) == (TS.DELIVERED, TS.IN_TRANSIT)


def test_a_bad_scan_time_names_the_field():
    with pytest.raises(ValueError, match=r"param.lastResult.data\[1\].ftime"):
        kuaidi100.parse_result({"data": [PICKED_UP, {"ftime": "yesterday"}]}, where="param.lastResult")


# --- pushes ---------------------------------------------------------------------------------------


def test_a_signed_push_is_stored_answered_and_applied(push, shipped):
    response = push(push_form("ZT7001", [LINE_HAUL, PICKED_UP]))

    assert response.status_code == 200
    assert response.json() == {"result": True, "returnCode": "200", "message": "成功"}
    message = InboundMessage.objects.get(platform="kuaidi100")
    assert (message.status, message.order, message.dedupe_id) == (
        InboundStatus.PROCESSED,
        shipped.order,
        "ZT7001",
    )
    assert "param=" in message.body  # the raw form body, kept for replay
    shipped.refresh_from_db()
    assert shipped.status == ShipmentStatus.IN_TRANSIT
    assert shipped.first_scan_at == datetime(2026, 3, 10, 2, 5, tzinfo=UTC)
    assert TrackingEvent.objects.filter(shipment=shipped, source="push").count() == 2


def test_a_bad_signature_is_refused_with_an_audit_row_only(push, shipped):
    response = push(push_form("ZT7001", [PICKED_UP], salt="wrong"))
    unsigned = push({"param": push_form("ZT7001", [PICKED_UP])["param"]})

    assert (response.status_code, unsigned.status_code) == (401, 401)
    assert response.json()["result"] is False
    rows = InboundMessage.objects.filter(platform="kuaidi100")
    assert [(m.status, m.body) for m in rows] == [(InboundStatus.REJECTED, "")] * 2
    assert not TrackingEvent.objects.exists()


def test_a_flood_of_unsigned_pushes_leaves_short_audit_rows_then_nothing(
    client, push, shipped, settings, monkeypatch
):
    settings.REJECTED_REQUESTS_PER_MINUTE = 3
    monkeypatch.setattr(refusals, "_minute", lambda: 29_000_000)
    forged = urlencode(push_form("ZT7001", [PICKED_UP], salt="guessed"))
    junk = {f"HTTP_X_JUNK_{n}": "x" * 8192 for n in range(40)}
    url = reverse("integrations:kuaidi100-callback")

    answers = [
        client.post(url, forged, content_type="application/x-www-form-urlencoded", **junk) for _ in range(6)
    ]

    assert [a.status_code for a in answers] == [401] * 3 + [429] * 3
    assert answers[-1].json()["result"] is False
    rows = list(InboundMessage.objects.filter(platform="kuaidi100"))
    assert len(rows) == 3
    assert all(len(json.dumps(row.headers)) < 1024 and row.body == "" for row in rows)
    assert push(push_form("ZT7001", [PICKED_UP])).status_code == 200  # the genuine one still lands
    assert TrackingEvent.objects.filter(shipment=shipped).exists()


def test_a_repeated_push_is_answered_and_changes_nothing(push, shipped):
    form = push_form("ZT7001", [LINE_HAUL, PICKED_UP])
    push(form)

    again = push(form)

    assert again.json()["result"] is True
    assert TrackingEvent.objects.filter(shipment=shipped).count() == 2
    assert shipped.order.events.filter(kind="tracking").count() == 1


def test_pushes_out_of_order_never_move_the_parcel_back(push, shipped):
    push(push_form("ZT7001", [SIGNED, LINE_HAUL, PICKED_UP]))
    # an older, partial push delivered late
    push(push_form("ZT7001", [LINE_HAUL, PICKED_UP]))

    shipped.refresh_from_db()
    assert shipped.status == ShipmentStatus.DELIVERED
    assert shipped.delivered_at == datetime(2026, 3, 11, 6, 0, tzinfo=UTC)


def test_a_push_for_an_unknown_number_is_kept_and_replayable(push, shipped):
    push(push_form("ZT404", [PICKED_UP]))
    message = InboundMessage.objects.get(platform="kuaidi100")
    assert message.status == InboundStatus.FAILED
    assert "ZT404" in message.error

    # the number was mistyped at shipping and corrected since
    Shipment.objects.filter(pk=shipped.pk).update(tracking_number="ZT404")
    replayed = inbound_message_replay(message.pk)

    assert replayed.status == InboundStatus.PROCESSED
    assert TrackingEvent.objects.filter(shipment=shipped).count() == 1


def test_a_signed_push_that_is_not_json_is_kept_as_failed(push, shipped):
    response = push({"param": "{not json", "sign": md5("{not json" + SALT)})

    assert response.status_code == 400
    message = InboundMessage.objects.get(platform="kuaidi100")
    assert message.status == InboundStatus.FAILED
    assert message.error.startswith("param:")


# --- subscription ----------------------------------------------------------------------------------


def test_shipping_subscribes_the_tracking_number_through_the_outbox(
    kuaidi, django_capture_on_commit_callbacks
):
    shipment = ready_to_ship()

    with django_capture_on_commit_callbacks(execute=True):
        shipment_transition(
            shipment=shipment, name="ship", args={"carrier": carrier(), "tracking_number": "ZT8001"}
        )

    (form,) = kuaidi.calls("/poll")
    param = json.loads(form["param"])
    assert form["schema"] == "json"
    assert (param["company"], param["number"], param["key"]) == ("zhongtong", "ZT8001", KEY)
    assert param["parameters"] == {
        "callbackurl": CALLBACK,
        "salt": SALT,
        "resultv2": "4",
        "phone": "13800000001",
    }
    message = OutboxMessage.objects.get(kind="carrier.kuaidi100.subscribe")
    assert message.state == OutboxState.DELIVERED


def test_a_refused_subscription_dead_letters(kuaidi, django_capture_on_commit_callbacks):
    kuaidi.subscribe_answer = {"result": False, "returnCode": "700", "message": "不支持此快递公司"}

    with django_capture_on_commit_callbacks(execute=True):
        shipped_shipment(tracking_number="ZT8002")

    message = OutboxMessage.objects.get(kind="carrier.kuaidi100.subscribe")
    assert message.state == OutboxState.DEAD
    assert "不支持此快递公司" in message.last_error


@pytest.mark.parametrize(("status", "state"), [(401, OutboxState.DEAD), (503, OutboxState.PENDING)])
def test_an_http_refusal_dead_letters_at_once_and_a_server_error_is_retried(
    kuaidi, django_capture_on_commit_callbacks, status, state
):
    kuaidi.subscribe_status = status

    with django_capture_on_commit_callbacks(execute=True):
        shipped_shipment(tracking_number="ZT8004")

    message = OutboxMessage.objects.get(kind="carrier.kuaidi100.subscribe")
    assert (message.state, message.attempts) == (state, 1)
    assert f"HTTP {status}" in message.last_error


def test_nothing_is_subscribed_without_a_company_code_or_configuration(kuaidi, settings):
    shipped_shipment(by=carrier("own-fleet", tracking_code=""), tracking_number="OWN-1")
    settings.KUAIDI100_SALT = ""
    shipped_shipment(tracking_number="ZT8003", external_id="T-NOSALT")

    assert not OutboxMessage.objects.filter(kind="carrier.kuaidi100.subscribe").exists()


# --- polling ---------------------------------------------------------------------------------------


def test_polling_reads_parcels_not_heard_of_and_applies_their_scans(kuaidi):
    hours = timedelta(hours=3)
    due = shipped_shipment(tracking_number="ZT9001", shipped_at=timezone.now() - hours)
    empty = shipped_shipment(tracking_number="ZT9002", shipped_at=timezone.now() - hours, external_id="T-P2")
    fresh = shipped_shipment(tracking_number="ZT9003", external_id="T-P3")  # just shipped: pushes first
    kuaidi.tracks = {"ZT9001": [LINE_HAUL, PICKED_UP]}

    polled = carriers.tracking_poll_due()

    assert polled == 2
    assert sorted(json.loads(form["param"])["num"] for form in kuaidi.calls("/poll/query.do")) == [
        "ZT9001",
        "ZT9002",
    ]
    due.refresh_from_db()
    empty.refresh_from_db()
    fresh.refresh_from_db()
    assert due.status == ShipmentStatus.IN_TRANSIT
    assert TrackingEvent.objects.filter(shipment=due, source="poll").count() == 2
    assert (empty.status, empty.last_tracking_at is not None) == (ShipmentStatus.SHIPPED, True)
    assert fresh.last_tracking_at is None

    # then: a second run finds nothing due
    assert carriers.tracking_poll_due() == 0
    assert len(kuaidi.calls("/poll/query.do")) == 2


def test_polling_is_off_without_a_customer_id(kuaidi, settings):
    settings.KUAIDI100_CUSTOMER = ""
    shipped_shipment(tracking_number="ZT9004", shipped_at=timezone.now() - timedelta(days=1))

    assert carriers.tracking_poll_due() == 0
    assert kuaidi.requests == []


# --- electronic waybills -----------------------------------------------------------------------------


def test_a_waybill_is_requested_through_the_outbox_and_kept_on_the_shipment(
    kuaidi, django_capture_on_commit_callbacks
):
    shipment = allocated_shipment()
    shipment.warehouse.default_carrier = carrier(
        waybill_credentials={"partnerId": "P-1", "senderMobile": "057188888888"}
    )
    shipment.warehouse.save()

    with django_capture_on_commit_callbacks(execute=True):
        carriers.request_waybill(shipment)

    (form,) = kuaidi.calls("/label/order")
    param = json.loads(form["param"])
    assert (param["kuaidicom"], param["partnerId"], param["orderId"]) == ("zhongtong", "P-1", shipment.number)
    assert param["recMan"]["mobile"] == "13800000001" and "西湖区" in param["recMan"]["printAddr"]
    assert param["sendMan"]["mobile"] == "057188888888"
    shipment.refresh_from_db()
    assert shipment.tracking_number == f"ZT9{shipment.number[-6:]}"
    assert shipment.carrier.code == "zto"
    assert shipment.waybill["label"] == "https://api.kuaidi100.com/label/get?id=1"
    assert shipment.waybill["bulkpen"] == "杭州 310"


def test_a_refused_waybill_dead_letters_and_shows_on_the_shipment(kuaidi, django_capture_on_commit_callbacks):
    kuaidi.waybill_answer = {"success": False, "code": 30004, "message": "电子面单余额不足"}
    shipment = allocated_shipment()
    shipment.warehouse.default_carrier = carrier()
    shipment.warehouse.save()

    with django_capture_on_commit_callbacks(execute=True):
        carriers.request_waybill(shipment)

    shipment.refresh_from_db()
    message = OutboxMessage.objects.get(kind="carrier.kuaidi100.waybill")
    assert message.state == OutboxState.DEAD
    assert "电子面单余额不足" in message.last_error
    assert "电子面单余额不足" in shipment.problem
    assert shipment.tracking_number == ""

    # the operator topped up the account: a new request goes out
    kuaidi.waybill_answer = None
    with django_capture_on_commit_callbacks(execute=True):
        carriers.request_waybill(shipment)
    shipment.refresh_from_db()
    assert shipment.tracking_number and shipment.problem == ""


def test_a_waybill_request_needs_a_carrier_with_a_company_code(kuaidi):
    shipment = allocated_shipment()
    shipment.warehouse.default_carrier = None
    shipment.warehouse.save()

    with pytest.raises(carriers.services.DomainError) as refused:
        carriers.request_waybill(shipment)

    assert refused.value.field == "carrier"
    assert not OutboxMessage.objects.filter(kind="carrier.kuaidi100.waybill").exists()
