"""WeChat Pay (API v3) notifications signed and encrypted the way WeChat Pay does it (a generated
platform key and certificate, finance/tests/fake_wechatpay.py), and its platform certificates."""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection

from config.beat import PERIODIC_TASKS
from finance.models import CallbackStatus, Payment, PaymentCallback, WechatPayCertificate
from finance.providers.wechatpay_client import CertificateError, certificates_refresh
from finance.providers.wechatpay_signing import (
    authorization,
    certificate_serial,
    parse_authorization,
    request_message,
    rsa_verifies,
)
from finance.tasks import refresh_wechatpay_certificates
from finance.tests import fake_wechatpay as fake
from orders.models import OrderStatus

pytestmark = pytest.mark.django_db

URL = "/finance/webhooks/wechatpay/"


@pytest.fixture(scope="session")
def merchant_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def platform():
    return fake.make_platform()


@pytest.fixture
def wechatpay(settings, merchant_key, platform):
    """WeChat Pay configured for our merchant, its API played by a local server."""
    with fake.running(settings, merchant_key, platform) as stub:
        yield stub


@pytest.fixture
def known_platform(wechatpay, platform):
    """The platform certificate downloaded before (the periodic refresh)."""
    certificates_refresh()
    wechatpay.requests.clear()
    return platform


@pytest.fixture
def post(client):
    def post(envelope, platform, *, body=None, **sign):
        body = body if body is not None else json.dumps(envelope, ensure_ascii=False).encode()
        headers = fake.signed_headers(platform, body, **sign)
        return client.post(URL, body, content_type="application/json", headers=headers)

    return post


def paid(order, **changes):
    fields = {
        "transaction_id": "4200001234202603011234567890",
        "amount": {"total": 21280, "payer_total": 21280, "currency": "CNY", "payer_currency": "CNY"},
        "success_time": "2026-03-01T00:00:05+08:00",
        "trade_type": "JSAPI",
        **changes,
    }
    return fake.transaction_notification(order.number, **fields)[0]


# --- payment notifications -----------------------------------------------------------------------


def test_a_signed_encrypted_payment_notification_pays_the_order(post, known_platform, pending_order):
    response = post(paid(pending_order), known_platform)

    assert response.status_code == 200
    assert response.json()["code"] == "SUCCESS"
    payment = Payment.objects.get()
    assert (payment.provider, payment.transaction_id) == ("wechat_pay", "4200001234202603011234567890")
    assert (payment.amount, payment.currency, payment.method) == (Decimal("212.80"), "CNY", "JSAPI")
    # success_time is +08:00: five seconds past midnight on March 1 in Beijing is still February in UTC
    assert payment.paid_at == datetime(2026, 2, 28, 16, 0, 5, tzinfo=UTC)
    assert payment.raw["payer"]["openid"]  # the decrypted transaction is kept
    callback = PaymentCallback.objects.get()
    assert callback.status == CallbackStatus.PROCESSED and callback.event_type == "TRANSACTION.SUCCESS"
    assert '"ciphertext"' in callback.body and "Wechatpay-Signature" in callback.headers  # kept as received
    pending_order.refresh_from_db()
    assert pending_order.status == OrderStatus.PAID


def test_a_notification_signed_with_another_key_is_refused_with_an_audit_line_only(
    post, known_platform, pending_order
):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    response = post(paid(pending_order), known_platform, key=stranger)

    assert response.status_code == 401
    assert response.json()["code"] == "FAIL" and len(response.json()["message"]) <= 64
    callback = PaymentCallback.objects.get()
    assert (callback.status, callback.body, callback.event_id) == (CallbackStatus.REJECTED, "", None)
    assert "bad signature" in callback.error
    assert Payment.objects.count() == 0


def test_a_body_changed_after_signing_is_refused(client, known_platform, pending_order):
    signed = json.dumps(paid(pending_order)).encode()
    headers = fake.signed_headers(known_platform, signed)
    forged = signed.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')

    response = client.post(URL, forged, content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert Payment.objects.count() == 0


def test_a_stale_timestamp_is_refused_before_any_certificate_download(
    post, wechatpay, platform, pending_order
):
    response = post(paid(pending_order), platform, timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert "tolerance" in PaymentCallback.objects.get().error
    assert Payment.objects.count() == 0
    assert wechatpay.requests == []  # an old message does not make us call WeChat Pay


def test_an_unknown_serial_downloads_the_certificates_once_then_is_accepted(
    post, wechatpay, platform, pending_order
):
    assert not WechatPayCertificate.objects.exists()

    response = post(paid(pending_order), platform)

    assert response.status_code == 200
    assert wechatpay.paths() == ["GET /v3/certificates"]
    assert wechatpay.requests[0]["auth"] == ""  # the fake verified our Authorization signature
    assert Payment.objects.get().transaction_id == "4200001234202603011234567890"
    assert WechatPayCertificate.objects.get().serial_no == platform.serial


def test_a_serial_wechat_pay_does_not_publish_is_refused_after_one_download(post, wechatpay, pending_order):
    impostor = fake.make_platform()

    first = post(paid(pending_order), impostor)
    second = post(paid(pending_order), impostor)

    assert (first.status_code, second.status_code) == (401, 401)
    assert "unknown platform certificate serial" in PaymentCallback.objects.first().error
    assert wechatpay.paths() == ["GET /v3/certificates"]  # at most one download a minute
    assert Payment.objects.count() == 0


def test_a_new_certificate_is_found_by_refreshing(post, wechatpay, known_platform, pending_order):
    rotated = fake.make_platform()
    wechatpay.published = [known_platform, rotated]

    response = post(paid(pending_order), rotated)

    assert response.status_code == 200
    assert set(WechatPayCertificate.objects.values_list("serial_no", flat=True)) == {
        known_platform.serial,
        rotated.serial,
    }


def test_the_same_notification_again_is_acknowledged_and_ignored(post, known_platform, pending_order):
    envelope = paid(pending_order)

    first = post(envelope, known_platform)
    again = post(envelope, known_platform)  # WeChat Pay's retry: signed anew, same id

    assert (first.status_code, again.status_code) == (200, 200)
    assert Payment.objects.count() == 1 and PaymentCallback.objects.count() == 1


def test_a_second_notification_of_the_same_transaction_is_the_same_payment(
    post, known_platform, pending_order
):
    post(paid(pending_order), known_platform)
    response = post(paid(pending_order), known_platform)  # another notification id

    assert response.status_code == 200
    assert Payment.objects.count() == 1
    assert PaymentCallback.objects.filter(status=CallbackStatus.PROCESSED).count() == 2


def test_a_resource_encrypted_with_another_key_is_kept_as_failed(post, known_platform, pending_order):
    envelope, transaction = fake.transaction_notification(pending_order.number)
    envelope["resource"] = fake.encrypted(
        transaction, original_type="transaction", associated_data="transaction", key="x" * 32
    )

    response = post(envelope, known_platform)

    assert response.status_code == 400 and response.json()["code"] == "FAIL"
    callback = PaymentCallback.objects.get()
    assert callback.status == CallbackStatus.FAILED and "APIv3 key" in callback.error
    assert Payment.objects.count() == 0


def test_a_payment_to_another_merchant_is_not_recorded(post, known_platform, pending_order):
    response = post(paid(pending_order, mchid="1900000999"), known_platform)

    assert response.status_code == 400
    assert "mchid" in PaymentCallback.objects.get().error
    assert Payment.objects.count() == 0


def test_an_unknown_order_answers_fail_so_wechat_pay_notifies_again(post, known_platform):
    envelope = fake.transaction_notification("SO-NOT-HERE")[0]

    response = post(envelope, known_platform)

    assert response.status_code >= 400 and response.json()["code"] == "FAIL"
    assert PaymentCallback.objects.get().status == CallbackStatus.FAILED


def test_nothing_is_accepted_while_wechat_pay_is_not_configured(post, platform, pending_order, settings):
    settings.WECHATPAY_API_V3_KEY = ""

    assert post(paid(pending_order), platform).status_code == 401


# --- platform certificates ---------------------------------------------------------------------------


def test_certificates_are_downloaded_decrypted_and_stored_encrypted(wechatpay, platform):
    assert certificates_refresh() == [platform.serial]

    stored = WechatPayCertificate.objects.get()
    assert stored.certificate == platform.pem
    assert stored.expires_at == platform.certificate.not_valid_after_utc
    with connection.cursor() as cursor:
        cursor.execute("SELECT certificate FROM finance_wechatpaycertificate")
        [(column,)] = cursor.fetchall()
    assert "BEGIN CERTIFICATE" not in column  # encrypted at rest
    assert certificates_refresh() == [platform.serial]  # idempotent
    assert WechatPayCertificate.objects.count() == 1


def test_a_certificates_answer_signed_by_a_stranger_is_not_stored(wechatpay):
    wechatpay.answer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(CertificateError, match="not signed by WeChat Pay"):
        certificates_refresh()
    assert not WechatPayCertificate.objects.exists()


def test_a_certificate_listed_under_another_serial_is_not_stored(wechatpay, platform):
    wechatpay.queue(
        "/v3/certificates",
        200,
        {
            "data": [
                {
                    **wechatpay._certificate_item(platform),
                    "serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
                }
            ]
        },
    )

    with pytest.raises(CertificateError, match="serial_no"):
        certificates_refresh()
    assert not WechatPayCertificate.objects.exists()


def test_the_periodic_refresh_is_scheduled_and_downloads(wechatpay, platform):
    assert any(s.task == "finance.tasks.refresh_wechatpay_certificates" for s in PERIODIC_TASKS)

    assert refresh_wechatpay_certificates() == 1
    assert wechatpay.paths() == ["GET /v3/certificates"]


def test_the_certificate_serial_is_written_as_wechat_pay_writes_it():
    platform = fake.make_platform(serial_number=0x0157F09EFDC096DE15EBE81A47057A7232F1B8E1)

    # the serial number's bytes in hex: a leading zero nibble is kept
    assert certificate_serial(platform.certificate) == "0157F09EFDC096DE15EBE81A47057A7232F1B8E1"


def test_our_authorization_header_signs_method_path_time_nonce_and_body(merchant_key):
    value = authorization(
        mchid="1900009191",
        serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        private_key=merchant_key,
        method="POST",
        url="/v3/refund/domestic/refunds?x=1",
        body='{"a":1}',
        timestamp=1554208460,
        nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
    )

    assert value.startswith(
        'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242"'
    )
    items = parse_authorization(value)
    message = (
        b'POST\n/v3/refund/domestic/refunds?x=1\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{"a":1}\n'
    )
    assert (
        request_message("POST", "/v3/refund/domestic/refunds?x=1", 1554208460, items["nonce_str"], '{"a":1}')
        == message
    )
    assert rsa_verifies(merchant_key.public_key(), message, items["signature"])
    assert not rsa_verifies(merchant_key.public_key(), message.replace(b"POST", b"GET"), items["signature"])
