"""Cloud warehouse (Qimen WMS API) end to end, against a real local HTTP server playing the WMS.

The fake WMS checks every request the way a Qimen endpoint does (system parameters in the query
string, MD5 signature over secret + sorted parameters + body + secret, XML body), keeps the
delivery orders it accepted (idempotent by deliveryOrderCode, as the standard asks) and answers
with <response><flag/><code/><message/>. Callbacks are signed the same way and posted to our
endpoint through the Django test client."""

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree as ET

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core import refusals
from core.models import Alert, AlertState, OutboxMessage, OutboxState
from core.outbox import DEAD, DELIVERED, RETRY, outbox_deliver, outbox_replay
from core.timezones import parse_beijing_time
from fulfilment.models import Carrier, Shipment, ShipmentStatus
from fulfilment.services import shipment_transition
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_replay
from integrations.wms import cancel_shipment, push_shipment
from integrations.wms.qimen import callbacks as qimen_callbacks
from integrations.wms.qimen import outbound, protocol
from integrations.wms.qimen.client import DEFAULT_RETRY_AFTER
from inventory.models import Reservation
from orders import services
from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus
from orders.tests.factories import WarehouseFactory, order_in_state

pytestmark = pytest.mark.django_db

SECRET = "qimen-test-secret"
APP_KEY = "23456789"
CUSTOMER_ID = "c1700000001"
OWNER = "OWNER-CONDUIT"


# --- the fake WMS ---------------------------------------------------------------------------------------


class FakeQimenWms:
    def __init__(self):
        self.base_url = ""
        self.requests: list[dict] = []  # method, params, root, headers
        self.delivery_orders: dict[str, str] = {}  # deliveryOrderCode → deliveryOrderId
        self.cancelled: list[str] = []
        self.stock: list[tuple[str, int, str]] = []  # (itemCode, quantity, inventoryType)
        self.answers: list[tuple] = []  # queued misbehaviour: ("http", status) or ("failure", code, message)
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/router/qimen/service"

    def methods(self) -> list[str]:
        return [request["method"] for request in self.requests]

    def respond(self, params: dict, body: bytes, headers: dict) -> tuple[int, bytes]:
        with self.lock:
            root = ET.fromstring(body)
            self.requests.append(
                {"method": params.get("method"), "params": params, "root": root, "headers": headers}
            )
            if not protocol.verify(params, body, SECRET):
                return 200, protocol.response(
                    success=False, code="sign-check-failure", message="Illegal request"
                )
            if self.answers:
                answer = self.answers.pop(0)
                if answer[0] == "http":
                    return answer[1], b"<html>Internal Server Error</html>"
                return 200, protocol.response(success=False, code=answer[1], message=answer[2])
            method = params["method"]
            if method == protocol.DELIVERY_ORDER_CREATE:
                code = root.findtext("deliveryOrder/deliveryOrderCode")
                order_id = self.delivery_orders.setdefault(code, f"WMS-{len(self.delivery_orders) + 1}")
                return 200, _answer({"deliveryOrderId": order_id, "createTime": params["timestamp"]})
            if method == protocol.ORDER_CANCEL:
                self.cancelled.append(root.findtext("orderCode"))
                return 200, _answer({})
            if method == protocol.INVENTORY_QUERY:
                asked = {criteria.findtext("itemCode") for criteria in root.iterfind("criteriaList/criteria")}
                items = ET.Element("items")
                for code, quantity, kind in self.stock:
                    if code in asked:
                        item = ET.SubElement(items, "item")
                        for tag, value in (
                            ("itemCode", code),
                            ("inventoryType", kind),
                            ("quantity", quantity),
                        ):
                            ET.SubElement(item, tag).text = str(value)
                return 200, _answer({}, items)
            return 200, protocol.response(success=False, code="invalid-method", message=method)


def _answer(fields: dict, *children: ET.Element) -> bytes:
    root = ET.Element("response")
    for tag, value in {"flag": "success", "code": "0", "message": "ok", **fields}.items():
        ET.SubElement(root, tag).text = value
    root.extend(children)
    return protocol.to_bytes(root)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        params = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status, data = self.server.wms.respond(params, body, dict(self.headers))
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def wms():
    fake = FakeQimenWms()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.wms = fake
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


# --- shipments to work with -----------------------------------------------------------------------------


def routed_shipment(**order_fields) -> Shipment:
    """An order routed (by the real routing) to WH-HZ: its one shipment, pushed in that transaction."""
    return order_in_state("allocated", **order_fields).shipments.get()


def make_cloud_warehouse(wms: FakeQimenWms, **fields):
    """WH-HZ (where the test stock is) run by the fake WMS."""
    warehouse = WarehouseFactory()
    values = {
        "wms_protocol": "qimen",
        "wms_endpoint": wms.endpoint,
        "wms_app_key": APP_KEY,
        "wms_customer_id": CUSTOMER_ID,
        "wms_owner_code": OWNER,
        "wms_secret": SECRET,
        "kind": "3pl",
        "address_line": "余杭区仓前街道 1 号",
        **fields,
    }
    for name, value in values.items():
        setattr(warehouse, name, value)
    warehouse.save()
    return warehouse


@pytest.fixture
def cloud_warehouse(wms):
    return make_cloud_warehouse(wms)


@pytest.fixture
def shipment(cloud_warehouse):
    return routed_shipment()


def push_message(shipment) -> OutboxMessage:
    return OutboxMessage.objects.get(idempotency_key=f"wms-push:{shipment.number}")


def later(**kwargs):
    return timezone.now() + timedelta(**kwargs)


# --- push -----------------------------------------------------------------------------------------------


def test_routing_pushes_the_shipment_on_commit_signed_and_the_wms_accepts_it(
    wms, cloud_warehouse, django_capture_on_commit_callbacks
):
    # when an order is routed to the cloud warehouse (the push is delivered once that commits)
    with django_capture_on_commit_callbacks(execute=True):
        shipment = routed_shipment()
    shipment.refresh_from_db()

    # then the WMS got one signed deliveryorder.create with the documented system parameters
    assert wms.methods() == [protocol.DELIVERY_ORDER_CREATE]
    request = wms.requests[0]
    params = request["params"]
    assert {key: params[key] for key in ("app_key", "customerId", "format", "sign_method", "v")} == {
        "app_key": APP_KEY,
        "customerId": CUSTOMER_ID,
        "format": "xml",
        "sign_method": "md5",
        "v": "2.0",
    }
    sent_at = parse_beijing_time(params["timestamp"])
    assert abs(sent_at - timezone.now()) < timedelta(minutes=1)  # Beijing wall-clock time
    assert request["headers"]["Idempotency-Key"] == f"wms-push:{shipment.number}"
    root = request["root"]
    assert root.findtext("deliveryOrder/deliveryOrderCode") == shipment.number
    assert root.findtext("deliveryOrder/warehouseCode") == "WH-HZ"
    assert root.findtext("deliveryOrder/orderType") == "JYCK"
    assert root.findtext("deliveryOrder/receiverInfo/province") == "浙江省"
    assert root.findtext("deliveryOrder/receiverInfo/detailAddress") == "文三路 90 号"
    assert root.findtext("deliveryOrder/senderInfo/detailAddress") == "余杭区仓前街道 1 号"
    assert sorted(
        (line.findtext("itemCode"), line.findtext("planQty"), line.findtext("ownerCode"))
        for line in root.iterfind("orderLines/orderLine")
    ) == [("SKU-1", "2", OWNER), ("SKU-2", "1", OWNER)]
    # and the shipment is with the warehouse, under the WMS's reference
    assert shipment.status == ShipmentStatus.SENT_TO_WAREHOUSE
    assert shipment.external_ref == "WMS-1"
    assert shipment.sent_at is not None
    assert push_message(shipment).state == OutboxState.DELIVERED


def test_batch_routing_pushes_a_cloud_warehouses_parcels_once_written(
    wms, cloud_warehouse, django_capture_on_commit_callbacks
):
    """Batch routing writes an own warehouse's parcels already released; a cloud warehouse's
    are written `created` and pushed like a single routing's, one message each."""
    from fulfilment.routing import route_orders

    orders = [order_in_state("paid") for _ in range(2)]

    with django_capture_on_commit_callbacks(execute=True):
        route_orders([order.pk for order in orders])

    shipments = list(Shipment.objects.filter(order__in=orders).order_by("pk"))
    assert len(shipments) == 2
    assert {s.status for s in shipments} == {ShipmentStatus.SENT_TO_WAREHOUSE}  # the WMS accepted each
    assert [push_message(s).state for s in shipments] == [OutboxState.DELIVERED] * 2
    assert sorted(r["root"].findtext("deliveryOrder/deliveryOrderCode") for r in wms.requests) == sorted(
        s.number for s in shipments
    )


def test_a_business_refusal_is_dead_lettered_with_an_alert_and_can_be_replayed(wms, shipment, manager):
    # given the WMS refuses the order (e.g. it does not know an item yet)
    wms.answers.append(("failure", "ITEM_NOT_EXIST", "itemCode SKU-2 does not exist"))
    message = push_message(shipment)

    # when it is delivered
    assert outbox_deliver(message.pk) == DEAD

    # then it is dead at once, an operator is alerted, and the shipment has not moved
    message.refresh_from_db()
    assert message.attempts == 1
    assert "ITEM_NOT_EXIST" in message.last_error
    assert Alert.objects.get(key=f"outbox:{message.pk}").state == AlertState.OPEN
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED

    # when the item is set up at the WMS and the operator replays it
    outbox_replay(message.pk, actor=manager)
    assert outbox_deliver(message.pk) == DELIVERED

    # then the shipment is sent
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SENT_TO_WAREHOUSE
    assert wms.methods() == [protocol.DELIVERY_ORDER_CREATE] * 2


def test_a_server_error_is_retried_later(wms, shipment):
    wms.answers.append(("http", 500))
    message = push_message(shipment)

    assert outbox_deliver(message.pk) == RETRY
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert "500" in message.last_error
    assert message.next_attempt_at > timezone.now()

    assert outbox_deliver(message.pk, now=later(minutes=5)) == DELIVERED
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SENT_TO_WAREHOUSE
    assert len(wms.delivery_orders) == 1


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_a_temporary_http_failure_is_retried_later(wms, shipment, status):
    # the one rule (core.http): timeouts, rate limits and server errors go away by themselves
    wms.answers.append(("http", status))
    message = push_message(shipment)

    assert outbox_deliver(message.pk) == RETRY
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert message.next_attempt_at > timezone.now()
    assert not Alert.objects.filter(key=f"outbox:{message.pk}").exists()

    assert outbox_deliver(message.pk, now=later(minutes=5)) == DELIVERED
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SENT_TO_WAREHOUSE


def test_a_rate_limit_waits_as_long_as_the_wms_asks(wms, shipment):
    wms.answers.append(("http", 429))
    message = push_message(shipment)
    before = timezone.now()

    assert outbox_deliver(message.pk) == RETRY
    message.refresh_from_db()
    assert message.next_attempt_at >= before + timedelta(seconds=DEFAULT_RETRY_AFTER)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_an_http_refusal_is_dead_lettered_with_an_alert(wms, shipment, status):
    wms.answers.append(("http", status))
    message = push_message(shipment)

    assert outbox_deliver(message.pk) == DEAD
    message.refresh_from_db()
    assert message.attempts == 1
    assert f"HTTP {status}" in message.last_error
    assert Alert.objects.get(key=f"outbox:{message.pk}").state == AlertState.OPEN
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED


def test_a_wms_that_cannot_be_reached_is_retried(shipment):
    shipment.warehouse.wms_endpoint = "http://127.0.0.1:9/unreachable"
    shipment.warehouse.save()

    assert outbox_deliver(push_message(shipment).pk) == RETRY
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED


def test_a_warehouse_without_credentials_dead_letters_naming_them(shipment):
    shipment.warehouse.wms_secret = ""
    shipment.warehouse.save()
    message = push_message(shipment)

    assert outbox_deliver(message.pk) == DEAD
    message.refresh_from_db()
    assert "wms_secret" in message.last_error


def test_cancelling_the_order_cancels_the_pushed_shipment_at_the_wms(
    wms, shipment, django_capture_on_commit_callbacks
):
    outbox_deliver(push_message(shipment).pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.order_transition(order=shipment.order, name="cancel", reason="customer cancelled")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    assert wms.methods() == [protocol.DELIVERY_ORDER_CREATE, protocol.ORDER_CANCEL]
    cancel = wms.requests[1]["root"]
    assert (cancel.findtext("orderCode"), cancel.findtext("orderId"), cancel.findtext("orderType")) == (
        shipment.number,
        "WMS-1",
        "JYCK",
    )
    assert "customer cancelled" in cancel.findtext("cancelReason")


def test_a_shipment_cancelled_before_its_push_left_is_never_sent(wms, shipment):
    with transaction.atomic():
        shipment = shipment_transition(shipment=shipment, name="cancel", args={"problem": "changed mind"})
        cancel_shipment(shipment)

    for message in OutboxMessage.objects.filter(kind__startswith="wms.").order_by("-pk"):  # cancel, then push
        assert outbox_deliver(message.pk) == DELIVERED

    assert wms.requests == []


def test_pushing_twice_is_one_message(shipment):
    with transaction.atomic():
        push_shipment(shipment)
    assert OutboxMessage.objects.filter(kind="wms.qimen.deliveryorder_create").count() == 1


# --- callbacks --------------------------------------------------------------------------------------------


def callback(client, method: str, body: str, *, warehouse="WH-HZ", secret=SECRET, tamper=False):
    data = body.encode("utf-8")
    params = protocol.system_params(method=method, app_key=APP_KEY, customer_id=CUSTOMER_ID)
    params["sign"] = protocol.sign(params, data, secret)
    if tamper:
        data = data.replace(b"SF", b"ZTO")
    url = reverse("integrations:wms-qimen", args=[warehouse]) + "?" + urlencode(params)
    response = client.post(url, data=data, content_type="text/xml; charset=utf-8")
    root = ET.fromstring(response.content)
    return response.status_code, root.findtext("flag"), root.findtext("message")


def process_report(number: str, status: str, *, info: str = "") -> str:
    return (
        f"<request><order><orderCode>{number}</orderCode><orderId>WMS-9</orderId><orderType>JYCK</orderType>"
        f"<warehouseCode>WH-HZ</warehouseCode></order><process><processStatus>{status}</processStatus>"
        f"<operateTime>2026-03-10 10:00:00</operateTime><operateInfo>{info}</operateInfo></process></request>"
    )


def delivery_confirm(
    number: str, *, logistics="SF", express="SF1234567890", confirmed="2026-03-10 18:30:00"
) -> str:
    return (
        f"<request><deliveryOrder><deliveryOrderCode>{number}</deliveryOrderCode><deliveryOrderId>WMS-9</deliveryOrderId>"
        f"<warehouseCode>WH-HZ</warehouseCode><orderType>JYCK</orderType><status>DELIVERED</status>"
        f"<orderConfirmTime>{confirmed}</orderConfirmTime></deliveryOrder>"
        f"<packages><package><logisticsCode>{logistics}</logisticsCode><expressCode>{express}</expressCode>"
        f"<items><item><itemCode>SKU-1</itemCode><quantity>2</quantity></item>"
        f"<item><itemCode>SKU-2</itemCode><quantity>1</quantity></item></items></package></packages>"
        f"</request>"
    )


@pytest.fixture
def sf(db):
    return Carrier.objects.create(code="sf", name="SF Express", tracking_code="shunfeng")


def shipment_events(shipment) -> list[tuple[str, str]]:
    return [
        (event.payload["from"], event.payload["to"])
        for event in OrderEvent.objects.filter(
            kind=OrderEventKind.SHIPMENT, payload__shipment=shipment.number
        ).order_by("pk")
    ]


def test_process_reports_move_the_shipment_forward(client, shipment):
    assert callback(client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "ACCEPT")) == (
        200,
        "success",
        "ok",
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.external_ref) == (ShipmentStatus.SENT_TO_WAREHOUSE, "WMS-9")

    callback(client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "PICK"))
    callback(client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "PACKAGE"))

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PACKED
    assert shipment_events(shipment) == [
        ("created", "sent_to_warehouse"),
        ("sent_to_warehouse", "picking"),
        ("picking", "packed"),
    ]
    message = InboundMessage.objects.filter(topic=protocol.ORDER_PROCESS_REPORT).order_by("pk").last()
    assert (message.platform, message.status, message.order_id) == (
        "qimen",
        InboundStatus.PROCESSED,
        shipment.order_id,
    )
    assert "<processStatus>PACKAGE</processStatus>" in message.body


def test_delivery_confirmation_ships_through_the_missing_steps(client, shipment, sf):
    # given the WMS skipped the process reports and confirms straight away
    assert callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number))[:2] == (
        200,
        "success",
    )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SHIPPED
    assert (shipment.carrier, shipment.tracking_number) == (sf, "SF1234567890")
    assert shipment.shipped_at == datetime(2026, 3, 10, 10, 30, tzinfo=UTC)  # 18:30 Beijing
    assert shipment.packed_at is not None
    assert shipment_events(shipment) == [
        ("created", "sent_to_warehouse"),
        ("sent_to_warehouse", "picking"),
        ("picking", "packed"),
        ("packed", "shipped"),
    ]
    order = Order.objects.get(pk=shipment.order_id)
    assert order.status == OrderStatus.SHIPPED
    # the shipped units left the shelf
    assert not Reservation.objects.filter(shipment=shipment, state__in=["active", "committed"]).exists()


def test_the_carrier_is_found_by_its_tracking_company_code_too(client, shipment, sf):
    callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number, logistics="SHUNFENG"))
    shipment.refresh_from_db()
    assert shipment.carrier == sf


def test_duplicate_and_late_callbacks_are_recorded_and_change_nothing(client, shipment, sf):
    callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number))
    events_before = shipment_events(shipment)

    # the same confirmation again, a late PICK, and a confirmation with another waybill
    assert callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number))[:2] == (
        200,
        "success",
    )
    assert callback(client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "PICK"))[:2] == (
        200,
        "success",
    )
    callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number, express="SF999"))

    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_number) == (ShipmentStatus.SHIPPED, "SF1234567890")
    assert shipment_events(shipment) == events_before
    statuses = list(
        InboundMessage.objects.filter(platform="qimen").order_by("pk").values_list("status", flat=True)
    )
    assert statuses == [
        InboundStatus.PROCESSED,
        InboundStatus.IGNORED,
        InboundStatus.IGNORED,
        InboundStatus.IGNORED,
    ]


def test_a_bad_signature_is_refused_with_only_an_audit_row(client, shipment, sf):
    for kwargs in ({"secret": "guessed"}, {"tamper": True}):
        status, flag, message = callback(
            client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number), **kwargs
        )
        assert (status, flag) == (401, "failure")
        assert "sign" in message

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED
    rows = InboundMessage.objects.filter(platform="qimen")
    assert [(row.status, row.body) for row in rows] == [(InboundStatus.REJECTED, "")] * 2


def test_a_flood_of_unsigned_callbacks_leaves_short_audit_rows_then_nothing(
    client, shipment, sf, settings, monkeypatch
):
    settings.REJECTED_REQUESTS_PER_MINUTE = 2
    monkeypatch.setattr(refusals, "_minute", lambda: 29_000_000)
    params = protocol.system_params(
        method=protocol.DELIVERY_ORDER_CONFIRM, app_key=APP_KEY, customer_id=CUSTOMER_ID
    )
    url = reverse("integrations:wms-qimen", args=["WH-HZ"]) + "?" + urlencode({**params, "sign": "0" * 32})
    junk = {f"HTTP_X_JUNK_{n}": "x" * 8192 for n in range(40)}
    body = delivery_confirm(shipment.number).encode()

    statuses = [
        client.post(url, data=body, content_type="text/xml; charset=utf-8", **junk).status_code
        for _ in range(5)
    ]

    assert statuses == [401, 401, 429, 429, 429]
    rows = list(InboundMessage.objects.filter(platform="qimen"))
    assert len(rows) == 2
    for row in rows:  # no body, no query, none of the junk: a few short headers
        assert row.body == "" and "Conduit-Query" not in row.headers
        assert row.headers[qimen_callbacks.WAREHOUSE_HEADER] == "WH-HZ"
        assert not any(name.startswith("X-Junk") for name in row.headers)
    assert callback(client, protocol.DELIVERY_ORDER_CONFIRM, body.decode())[:2] == (200, "success")


def test_an_unsupported_method_is_kept_and_refused(client, shipment):
    body = "<request><items><item><itemCode>SKU-1</itemCode></item></items></request>"
    assert callback(client, "taobao.qimen.stockchange.report", body) == (
        200,
        "failure",
        "method: taobao.qimen.stockchange.report is not supported.",
    )
    assert InboundMessage.objects.get(platform="qimen").status == InboundStatus.IGNORED


def test_an_unknown_warehouse_is_not_found(client, shipment):
    status, flag, _message = callback(
        client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "ACCEPT"), warehouse="WH-NOPE"
    )
    assert (status, flag) == (404, "failure")
    assert not InboundMessage.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            "<request><order><orderCode>SH-NOPE</orderCode></order><process><processStatus>PICK</processStatus></process></request>",
            "order.orderCode",
        ),
        (
            "<request><order><orderCode>{number}</orderCode></order><process></process></request>",
            "process.processStatus",
        ),
        ("<request><order><orderCode>{number}", "body"),
        ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><request>&x;</request>', "body"),
    ],
)
def test_a_bad_callback_is_kept_as_failed_and_answered_naming_the_field(client, shipment, body, field):
    status, flag, message = callback(
        client, protocol.ORDER_PROCESS_REPORT, body.replace("{number}", shipment.number)
    )

    assert (status, flag) == (200, "failure")
    assert message.startswith(f"{field}:")
    row = InboundMessage.objects.get(platform="qimen")
    assert (row.status, row.error) == (InboundStatus.FAILED, message)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED


def test_a_confirmation_with_an_unknown_carrier_fails_and_is_replayed_once_the_carrier_exists(
    client, shipment
):
    status, flag, message = callback(
        client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number)
    )
    assert (status, flag) == (200, "failure")
    assert message.startswith("packages.package.logisticsCode:")
    row = InboundMessage.objects.get(platform="qimen")
    assert row.order_id == shipment.order_id  # on the order's log, even though it failed

    Carrier.objects.create(code="sf", name="SF Express")
    assert inbound_message_replay(row.pk).status == InboundStatus.PROCESSED
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SHIPPED


def test_a_tracking_number_already_used_is_refused(client, shipment, sf):
    other = routed_shipment()
    callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(other.number))

    status, flag, message = callback(
        client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number)
    )

    assert (status, flag) == (200, "failure")
    assert message.startswith("packages.package.expressCode:") and other.number in message
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED  # nothing half-done


def test_a_waybill_taken_at_the_same_moment_fails_the_message_instead_of_crashing(
    client, shipment, sf, monkeypatch
):
    other = routed_shipment()
    real_transition = qimen_callbacks.run_shipment_transition

    def racing_transition(shipment_, orders, name, *args, **kwargs):
        if name == "ship":  # a concurrent confirmation takes the waybill after our duplicate check
            Shipment.objects.filter(pk=other.pk).update(carrier=sf, tracking_number="SF1234567890")
        return real_transition(shipment_, orders, name, *args, **kwargs)

    monkeypatch.setattr(qimen_callbacks, "run_shipment_transition", racing_transition)

    status, flag, message = callback(
        client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number)
    )

    assert (status, flag) == (200, "failure")
    assert message.startswith("packages.package.expressCode:")
    row = InboundMessage.objects.get(platform="qimen")
    assert (row.status, row.error) == (InboundStatus.FAILED, message)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED  # nothing half-done


def test_a_rejection_hands_the_shipment_back_to_routing(client, shipment):
    result = callback(
        client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "REJECT", info="out of stock")
    )

    assert result[:2] == (200, "success")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    assert shipment.problem == "WMS REJECT: out of stock"
    # routing never sends the order back to the warehouse that refused it
    assert not shipment.order.shipments.exclude(pk=shipment.pk).filter(warehouse=shipment.warehouse).exists()

    # a repeated rejection changes nothing
    callback(client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "REJECT"))
    assert (
        InboundMessage.objects.filter(platform="qimen").order_by("pk").last().status == InboundStatus.IGNORED
    )


def test_a_rejection_after_shipping_is_ignored(client, shipment, sf):
    callback(client, protocol.DELIVERY_ORDER_CONFIRM, delivery_confirm(shipment.number))

    assert callback(client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "EXCEPTION"))[
        :2
    ] == (
        200,
        "success",
    )
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.SHIPPED
    assert (
        InboundMessage.objects.filter(platform="qimen").order_by("pk").last().status == InboundStatus.IGNORED
    )


def test_a_shipment_of_another_warehouse_cannot_be_moved(client, shipment):
    other = WarehouseFactory(code="WH-SH", name="Shanghai", wms_protocol="qimen", wms_secret=SECRET)
    status, flag, message = callback(
        client, protocol.ORDER_PROCESS_REPORT, process_report(shipment.number, "PICK"), warehouse=other.code
    )
    assert (status, flag) == (200, "failure")
    assert message.startswith("order.orderCode:")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED


def test_outbound_requests_are_built_from_the_shipment(shipment):
    root = outbound.deliveryorder_request(shipment)
    assert root.findtext("deliveryOrder/senderInfo/detailAddress") == "余杭区仓前街道 1 号"
    body = protocol.to_bytes(root)
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?><request>')
    assert protocol.parse(body).findtext("deliveryOrder/deliveryOrderCode") == shipment.number
