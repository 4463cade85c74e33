from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from finance.models import CallbackStatus, Payment, PaymentCallback
from finance.providers.alipay import parse_form, sign_content
from finance.tests.conftest import alipay_params
from orders.models import OrderStatus

pytestmark = pytest.mark.django_db


def test_a_signed_trade_success_pays_the_order(post_alipay, pending_order):
    response = post_alipay(alipay_params(pending_order.number))

    assert (response.status_code, response.content) == (200, b"success")
    payment = Payment.objects.get()
    assert (payment.provider, payment.transaction_id) == ("alipay", "2026013122001400001")
    assert (payment.amount, payment.currency) == (Decimal("212.80"), "CNY")
    # gmt_payment is Beijing time: 23:59:58 on Jan 31 is still January's period
    assert payment.paid_at == datetime(2026, 1, 31, 15, 59, 58, tzinfo=UTC)
    assert str(payment.period) == "2026-01"
    assert "sign" not in payment.raw
    pending_order.refresh_from_db()
    assert pending_order.status == OrderStatus.PAID


def test_a_tampered_amount_is_rejected_with_an_audit_line_only(
    post_alipay, alipay_key, pending_order, client
):
    from finance.tests.conftest import alipay_body, alipay_sign

    signed = alipay_sign(alipay_params(pending_order.number, total_amount="0.01"), alipay_key)
    signed["total_amount"] = "212.80"

    response = client.post(
        "/finance/webhooks/alipay/", alipay_body(signed), content_type="application/x-www-form-urlencoded"
    )

    assert (response.status_code, response.content) == (401, b"failure")
    callback = PaymentCallback.objects.get()
    assert (callback.status, callback.body) == (CallbackStatus.REJECTED, "")
    assert Payment.objects.count() == 0


def test_a_notification_signed_with_another_key_is_rejected(post_alipay, pending_order):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    response = post_alipay(alipay_params(pending_order.number), key=stranger)

    assert response.status_code == 401
    assert Payment.objects.count() == 0


def test_an_unsigned_notification_is_rejected(post_alipay, pending_order):
    assert post_alipay(alipay_params(pending_order.number), sign=False).status_code == 401
    assert PaymentCallback.objects.get().error == "Missing signature."


def test_rsa1_is_not_accepted(post_alipay, alipay_key, pending_order, client):
    from finance.tests.conftest import alipay_body, alipay_sign

    signed = {**alipay_sign(alipay_params(pending_order.number), alipay_key), "sign_type": "RSA"}

    response = client.post(
        "/finance/webhooks/alipay/", alipay_body(signed), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 401


def test_a_notification_for_another_app_is_rejected(post_alipay, pending_order):
    response = post_alipay(alipay_params(pending_order.number, app_id="2021999999999999"))

    assert response.status_code == 401
    assert "app_id" in PaymentCallback.objects.get().error


def test_the_public_key_may_be_given_as_pem(post_alipay, alipay_settings, alipay_key, pending_order):
    alipay_settings.ALIPAY_PUBLIC_KEY = (
        alipay_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    assert post_alipay(alipay_params(pending_order.number)).content == b"success"


def test_a_gbk_notification_verifies_with_its_charset(post_alipay, pending_order):
    params = alipay_params(pending_order.number, charset="gbk", subject="测试订单 · 杭州")

    response = post_alipay(params, charset="gbk")

    assert response.content == b"success"
    assert Payment.objects.get().raw["subject"] == "测试订单 · 杭州"


def test_an_unpaid_trade_status_is_acknowledged_and_ignored(post_alipay, pending_order):
    response = post_alipay(alipay_params(pending_order.number, status="WAIT_BUYER_PAY"))

    assert response.content == b"success"
    assert PaymentCallback.objects.get().status == CallbackStatus.IGNORED
    assert Payment.objects.count() == 0


def test_trade_finished_after_trade_success_is_the_same_payment(post_alipay, pending_order):
    post_alipay(alipay_params(pending_order.number, status="TRADE_SUCCESS"))
    response = post_alipay(alipay_params(pending_order.number, status="TRADE_FINISHED"))

    assert response.content == b"success"
    assert Payment.objects.count() == 1
    assert PaymentCallback.objects.filter(status=CallbackStatus.PROCESSED).count() == 2


def test_the_same_notification_resent_is_answered_success_once_more(post_alipay, pending_order):
    params = alipay_params(pending_order.number, notify_id="n-1")

    first, again = post_alipay(params), post_alipay(params)

    assert (first.content, again.content) == (b"success", b"success")
    assert Payment.objects.count() == 1 and PaymentCallback.objects.count() == 1


def test_an_unknown_order_answers_failure_so_alipay_retries(post_alipay):
    response = post_alipay(alipay_params("SO-UNKNOWN"))

    assert (response.status_code, response.content) == (400, b"failure")
    assert PaymentCallback.objects.get().status == CallbackStatus.FAILED


def test_a_malformed_amount_is_kept_as_failed(post_alipay, pending_order):
    response = post_alipay(alipay_params(pending_order.number, total_amount="12.345"))

    assert response.status_code == 400
    assert "total_amount" in PaymentCallback.objects.get().error


def test_the_signed_string_sorts_the_parameters_and_leaves_out_the_signature():
    params = {"b": "2", "a": "x y", "sign": "zzz", "sign_type": "RSA2", "c": ""}

    assert sign_content(params) == "a=x y&b=2&c="
    assert sign_content(params, skip_empty=True) == "a=x y&b=2"


def test_form_parsing_refuses_repeated_keys_and_non_ascii_bodies():
    from finance.providers.alipay import FormError

    assert parse_form(b"a=1&b=%E6%B5%8B") == {"a": "1", "b": "测"}
    with pytest.raises(FormError):
        parse_form(b"a=1&a=2")
    with pytest.raises(FormError):
        parse_form("a=测".encode())
