"""Customer notifications (R-X6): once per event and medium, through the outbox, with the outcome
recorded. E-mail goes through Django's locmem backend; SMS and WeCom to a real local HTTP server."""

import json
import smtplib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse

from core.errors import DomainError, NotPermitted
from core.models import OutboxMessage, OutboxState
from fulfilment.models import Notification, NotificationState
from fulfilment.notifications import notification_resend, notify_customer
from fulfilment.tests.shipping import shipped_shipment
from orders.intake import order_ingest_batch
from orders.models import OrderEventKind
from orders.tests.factories import (
    ChannelFactory,
    canonical_payload,
    ensure_master_data,
    make_order,
    validated,
)

pytestmark = pytest.mark.django_db

S = NotificationState


class Gateway:
    def __init__(self):
        self.base_url = ""
        self.requests: list[tuple[str, dict, dict]] = []  # (path, headers, json body)
        self.sms = (200, {"ok": True, "id": "m-1"})
        self.wecom = (200, {"errcode": 0, "errmsg": "ok"})


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        gateway: Gateway = self.server.gateway
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        gateway.requests.append((self.path, dict(self.headers), body))
        status, answer = gateway.sms if self.path == "/sms" else gateway.wecom
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def gateway():
    stub = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.gateway = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def sms(settings, gateway):
    settings.SMS_GATEWAY_URL = f"{gateway.base_url}/sms"
    settings.SMS_GATEWAY_KEY = "sms-key"
    return gateway


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    """Run the block and deliver what it enqueued (the outbox delivers after commit)."""

    class Sent:
        def __enter__(self):
            self.capture = django_capture_on_commit_callbacks(execute=True)
            return self.capture.__enter__()

        def __exit__(self, *exc):
            return self.capture.__exit__(*exc)

    return Sent


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"fang@example.com": (550, b"no such user")})


def test_a_new_order_tells_the_customer_once_by_email(sent):
    with sent():
        order = make_order()

    (notification,) = Notification.objects.filter(order=order)
    assert (notification.event, notification.medium, notification.recipient) == (
        "placed",
        "email",
        "fang@example.com",
    )
    assert notification.state == S.SENT and notification.sent_at is not None
    (email,) = mail.outbox
    assert email.to == ["fang@example.com"]
    assert order.number in email.subject and order.number in email.body
    assert email.extra_headers["Message-ID"].startswith(f"<notify.{order.pk}.placed.email@")

    # when: the same event again
    assert notify_customer(order=order, event="placed") == []
    assert Notification.objects.filter(order=order).count() == 1
    assert len(mail.outbox) == 1


def test_an_order_without_contact_details_gets_nothing():
    order = make_order(customer={"name": "匿名"})

    assert not Notification.objects.filter(order=order).exists()


def test_orders_created_in_bulk_are_notified_set_based(sent):
    ensure_master_data()
    items = [
        validated(canonical_payload(customer={"name": f"C{i}", "email": f"c{i}@example.com"}))
        for i in range(3)
    ]

    with sent():
        results = order_ingest_batch(items=items)

    orders = [order for order, _created in results]
    rows = Notification.objects.filter(order__in=orders, event="placed")
    assert sorted(rows.values_list("recipient", flat=True)) == [
        "c0@example.com",
        "c1@example.com",
        "c2@example.com",
    ]
    assert set(rows.values_list("state", flat=True)) == {S.SENT}
    assert OutboxMessage.objects.filter(kind="notification.send", state=OutboxState.DELIVERED).count() == 3
    assert sorted(m.to[0] for m in mail.outbox) == ["c0@example.com", "c1@example.com", "c2@example.com"]


def test_shipped_names_the_carrier_and_tracking_number(sent):
    with sent():
        shipment = shipped_shipment(tracking_number="ZT5566")

    notification = Notification.objects.get(order=shipment.order, event="shipped")
    assert notification.shipment == shipment
    assert "ZT5566" in notification.body and shipment.carrier.name in notification.body
    assert notification.state == S.SENT


def test_sms_goes_to_the_gateway_with_the_idempotency_key(sms, sent):
    with sent():
        order = make_order()

    notification = Notification.objects.get(order=order, medium="sms")
    assert (notification.recipient, notification.state) == ("13800000001", S.SENT)
    (path, headers, body) = sms.requests[0]
    assert path == "/sms"
    assert headers["Authorization"] == "Bearer sms-key"
    assert headers["Idempotency-Key"] == body["reference"] == notification.idempotency_key
    assert body["to"] == "13800000001" and order.number in body["text"]


def test_no_sms_to_a_masked_number(sms, sent):
    with sent():
        order = make_order(customer={"name": "王芳", "phone": "138****1234"})

    assert order.customer_phone == "138****1234"
    assert not Notification.objects.filter(order=order, medium="sms").exists()
    assert sms.requests == []


def test_a_refused_sms_is_failed_and_dead_lettered(sms, sent):
    sms.sms = (400, {"ok": False, "error": "invalid number"})

    with sent():
        order = make_order()

    notification = Notification.objects.get(order=order, medium="sms")
    assert notification.state == S.FAILED
    assert "400" in notification.error
    assert OutboxMessage.objects.get(idempotency_key=notification.idempotency_key).state == OutboxState.DEAD


@pytest.mark.parametrize("status", [503, 408])
def test_a_busy_sms_gateway_is_retried_and_the_notification_waits(sms, sent, status):
    sms.sms = (status, {"error": "busy"})

    with sent():
        order = make_order()

    notification = Notification.objects.get(order=order, medium="sms")
    assert notification.state == S.QUEUED
    assert str(status) in notification.error
    message = OutboxMessage.objects.get(idempotency_key=notification.idempotency_key)
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)


def test_the_channel_wecom_robot_gets_markdown_and_its_errcode_is_checked(gateway, sent):
    ensure_master_data()
    channel = ChannelFactory()
    channel.api_credentials = {"wecom_robot_url": f"{gateway.base_url}/wecom?key=robot-1"}
    channel.save()

    with sent():
        order = make_order()
    gateway.wecom = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    with sent():
        refused = make_order()

    ok = Notification.objects.get(order=order, medium="wecom")
    bad = Notification.objects.get(order=refused, medium="wecom")
    assert (ok.recipient, ok.state) == ("wecom-robot:shop-cn", S.SENT)
    path, _headers, body = gateway.requests[0]
    assert path == "/wecom?key=robot-1"
    assert body["msgtype"] == "markdown" and order.number in body["markdown"]["content"]
    assert bad.state == S.FAILED and "93000" in bad.error


def test_a_refused_email_is_recorded_as_failed(settings, sent):
    settings.EMAIL_BACKEND = "fulfilment.tests.test_notifications.RefusingBackend"

    with sent():
        order = make_order()

    notification = Notification.objects.get(order=order)
    assert notification.state == S.FAILED
    assert "recipient refused" in notification.error


def test_resending_makes_a_new_notification_and_is_audited(agent, sent):
    with sent():
        order = make_order()
    first = Notification.objects.get(order=order)

    with sent():
        again = notification_resend(notification=first, actor=agent)
        third = notification_resend(notification=first, actor=agent)

    again.refresh_from_db()
    assert again.idempotency_key == f"{first.idempotency_key}:resend1"
    assert third.idempotency_key == f"{first.idempotency_key}:resend2"
    assert (again.requested_by, again.state) == (agent, S.SENT)
    assert len(mail.outbox) == 3
    event = order.events.filter(kind=OrderEventKind.NOTIFICATION).first()
    assert (event.actor, event.payload["resend_of"]) == (agent, first.pk)


def test_resending_needs_the_permission_and_a_recipient(warehouse_user, agent):
    order = make_order()
    notification = Notification.objects.get(order=order)

    with pytest.raises(NotPermitted):
        notification_resend(notification=notification, actor=warehouse_user)
    with pytest.raises(DomainError) as no_sms:
        notify_customer(order=order, event="placed", medium="sms", actor=agent, resend=True)
    with pytest.raises(DomainError) as bad_event:
        notify_customer(order=order, event="birthday")

    assert (no_sms.value.field, bad_event.value.field) == ("medium", "event")


def test_an_agent_resends_a_notification_from_the_order_page(client, agent):
    order = make_order()
    first = Notification.objects.get(order=order, event="placed", medium="email")
    client.force_login(agent)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Customer notifications" in page and "Resend" in page
    client.post(reverse("orders:notification-resend", args=[order.number]), {"notification": first.pk})
    assert Notification.objects.filter(order=order, event="placed", medium="email").count() == 2
    client.post(reverse("orders:notification-resend", args=[order.number]), {"notification": "nonsense"})
    assert Notification.objects.filter(order=order).count() == 2
