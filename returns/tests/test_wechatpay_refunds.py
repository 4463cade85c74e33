"""Refunds of orders paid with WeChat Pay: POST /v3/refund/domestic/refunds through the outbox,
signed with the merchant key (the fake WeChat Pay checks it and signs its answers), and the refund
result notifications that settle the refund."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from core.models import Alert, OutboxMessage, OutboxState
from core.outbox import outbox_deliver
from finance.models import CallbackStatus, Payment, PaymentCallback, PaymentStatus
from finance.providers.wechatpay_client import certificates_refresh
from finance.services import payment_record
from finance.tests import fake_wechatpay as fake
from returns.models import RefundState, ReturnRefund, ReturnStatus
from returns.tests.conftest import delivered_order, receive_and_inspect, request_return

pytestmark = pytest.mark.django_db

D = Decimal
TRANSACTION = "4200001234202603011234567890"
NOTIFY_URL = "/finance/webhooks/wechatpay/"


@pytest.fixture(scope="module")
def merchant_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform():
    return fake.make_platform()


@pytest.fixture
def wechatpay(settings, merchant_key, platform):
    with fake.running(settings, merchant_key, platform) as stub:
        certificates_refresh()  # the periodic download ran before
        stub.requests.clear()
        yield stub


@pytest.fixture
def order():
    order = delivered_order()
    payment_record(
        order_number=order.number,
        provider="wechat_pay",
        transaction_id=TRANSACTION,
        amount=order.total,
        currency=order.currency,
        paid_at=timezone.now() - timedelta(days=3),
    )
    return order


def refund_one_unit(order, capture):
    with capture(execute=True):
        return receive_and_inspect(request_return(order, (1, 1)), {1: {"intact": 1}})


def test_a_wechat_pay_payment_is_refunded_with_a_signed_request(
    order, wechatpay, settings, django_capture_on_commit_callbacks
):
    settings.WECHATPAY_REFUND_NOTIFY_URL = "https://conduit.example.com/finance/webhooks/wechatpay/"

    rma = refund_one_unit(order, django_capture_on_commit_callbacks)

    [call] = wechatpay.requests
    assert (call["method"], call["path"], call["auth"]) == ("POST", "/v3/refund/domestic/refunds", "")
    body = json.loads(call["body"])
    assert body["transaction_id"] == TRANSACTION and body["out_refund_no"] == rma.number
    assert body["amount"] == {"refund": 5473, "total": 21280, "currency": "CNY"}  # fen
    assert body["notify_url"] == settings.WECHATPAY_REFUND_NOTIFY_URL
    refund = ReturnRefund.objects.get(rma=rma)
    assert (refund.provider, refund.state) == ("wechat_pay", RefundState.SUCCEEDED)
    assert refund.provider_reference == wechatpay.refunds[rma.number]["refund_id"]
    payment = Payment.objects.get()
    assert (payment.refunded_amount, payment.status) == (D("54.73"), PaymentStatus.PARTIALLY_REFUNDED)
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED


def test_an_outage_is_retried_with_the_same_out_refund_no_and_refunds_once(
    order, wechatpay, django_capture_on_commit_callbacks
):
    wechatpay.queue("/v3/refund/domestic/refunds", 500, {"code": "SYSTEM_ERROR", "message": "系统错误"})

    rma = refund_one_unit(order, django_capture_on_commit_callbacks)

    message = OutboxMessage.objects.get(idempotency_key=f"refund:{rma.number}")
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    outbox_deliver(message.pk, now=timezone.now() + timedelta(hours=1))
    # delivered again after it went through (at-least-once): nothing is sent
    outbox_deliver(message.pk, now=timezone.now() + timedelta(hours=2))

    assert ReturnRefund.objects.get(rma=rma).state == RefundState.SUCCEEDED
    numbers = [json.loads(r["body"])["out_refund_no"] for r in wechatpay.requests]
    assert numbers == [rma.number, rma.number]
    assert list(wechatpay.refunds) == [rma.number]  # one refund at WeChat Pay


def test_a_refund_still_processing_waits_for_the_notification(
    order, wechatpay, client, platform, django_capture_on_commit_callbacks
):
    wechatpay.refund_status = "PROCESSING"
    rma = refund_one_unit(order, django_capture_on_commit_callbacks)
    assert ReturnRefund.objects.get(rma=rma).state == RefundState.SENT

    envelope = fake.refund_notification(rma.number, TRANSACTION, 5473, status="SUCCESS")
    body = json.dumps(envelope, ensure_ascii=False).encode()
    headers = fake.signed_headers(platform, body)
    first = client.post(NOTIFY_URL, body, content_type="application/json", headers=headers)
    again = client.post(NOTIFY_URL, body, content_type="application/json", headers=headers)

    assert (first.status_code, again.status_code) == (200, 200)
    refund = ReturnRefund.objects.get(rma=rma)
    assert refund.state == RefundState.SUCCEEDED
    assert PaymentCallback.objects.get().status == CallbackStatus.PROCESSED  # the repeat: nothing new
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED


def test_an_abnormal_refund_notification_fails_the_refund_and_alerts_finance(
    order, wechatpay, client, platform, django_capture_on_commit_callbacks
):
    wechatpay.refund_status = "PROCESSING"
    rma = refund_one_unit(order, django_capture_on_commit_callbacks)

    body = json.dumps(fake.refund_notification(rma.number, TRANSACTION, 5473, status="ABNORMAL")).encode()
    response = client.post(
        NOTIFY_URL, body, content_type="application/json", headers=fake.signed_headers(platform, body)
    )

    assert response.status_code == 200
    refund = ReturnRefund.objects.get(rma=rma)
    assert refund.state == RefundState.FAILED and "ABNORMAL" in refund.error
    assert Alert.objects.filter(key=f"return_refund_failed:{rma.number}", role="finance").exists()


def test_a_refund_notification_with_another_amount_is_kept_as_failed(
    order, wechatpay, client, platform, django_capture_on_commit_callbacks
):
    wechatpay.refund_status = "PROCESSING"
    rma = refund_one_unit(order, django_capture_on_commit_callbacks)

    body = json.dumps(fake.refund_notification(rma.number, TRANSACTION, 9999)).encode()
    response = client.post(
        NOTIFY_URL, body, content_type="application/json", headers=fake.signed_headers(platform, body)
    )

    assert response.status_code >= 400 and response.json()["code"] == "FAIL"
    assert PaymentCallback.objects.get().status == CallbackStatus.FAILED
    assert ReturnRefund.objects.get(rma=rma).state == RefundState.SENT


def test_a_forged_refund_notification_changes_nothing(
    order, wechatpay, client, platform, django_capture_on_commit_callbacks
):
    wechatpay.refund_status = "PROCESSING"
    rma = refund_one_unit(order, django_capture_on_commit_callbacks)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    body = json.dumps(fake.refund_notification(rma.number, TRANSACTION, 5473)).encode()
    response = client.post(
        NOTIFY_URL,
        body,
        content_type="application/json",
        headers=fake.signed_headers(platform, body, key=stranger),
    )

    assert response.status_code == 401
    assert ReturnRefund.objects.get(rma=rma).state == RefundState.SENT


def test_an_answer_wechat_pay_did_not_sign_is_not_believed(
    order, wechatpay, django_capture_on_commit_callbacks
):
    wechatpay.answer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    rma = refund_one_unit(order, django_capture_on_commit_callbacks)

    assert ReturnRefund.objects.get(rma=rma).state == RefundState.PENDING
    message = OutboxMessage.objects.get(idempotency_key=f"refund:{rma.number}")
    assert message.state == OutboxState.DEAD and "bad signature" in message.last_error


def test_a_refusal_fails_the_refund(order, wechatpay, django_capture_on_commit_callbacks):
    wechatpay.queue("/v3/refund/domestic/refunds", 403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足"})

    rma = refund_one_unit(order, django_capture_on_commit_callbacks)

    refund = ReturnRefund.objects.get(rma=rma)
    assert refund.state == RefundState.FAILED and "NOT_ENOUGH" in refund.error
