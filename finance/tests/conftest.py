import base64
import json
import time
from itertools import count
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from rest_framework.test import APIClient

from finance.providers.alipay import sign_content
from finance.providers.stripe import compute_signature
from orders.tests.factories import make_order

STRIPE_SECRET = "whsec_test_secret"
ALIPAY_APP_ID = "2021000000000001"
_ids = count(1)


@pytest.fixture
def finance_settings(settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    settings.ALIPAY_APP_ID = ALIPAY_APP_ID
    return settings


@pytest.fixture(scope="session")
def alipay_key():
    """Alipay's key pair as the tests play Alipay: the private half signs, the public half is
    what the merchant configures (bare base64 SubjectPublicKeyInfo, as Alipay shows it)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_base64(private_key) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture
def alipay_settings(finance_settings, alipay_key):
    finance_settings.ALIPAY_PUBLIC_KEY = public_key_base64(alipay_key)
    return finance_settings


@pytest.fixture
def pending_order(db):
    return make_order()  # total 212.80 CNY, commission 3.20


@pytest.fixture
def finance_api(finance_user):
    client = APIClient()
    client.force_authenticate(finance_user)
    return client


# --- Stripe ------------------------------------------------------------------------------------


def stripe_intent_event(
    order_number, *, amount=21280, currency="cny", intent_id="pi_1", event_id=None, created=None
):
    return {
        "id": event_id or f"evt_{next(_ids)}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": created or int(time.time()),
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "currency": currency,
                "status": "succeeded",
                "latest_charge": "ch_1",
                "payment_method_types": ["card"],
                "metadata": {"order_number": order_number},
            }
        },
    }


def stripe_charge_event(
    order_number, *, amount=21280, currency="cny", intent_id="pi_1", captured=True, event_id=None
):
    return {
        "id": event_id or f"evt_{next(_ids)}",
        "object": "event",
        "type": "charge.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"ch_{next(_ids)}",
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if captured else 0,
                "captured": captured,
                "currency": currency,
                "payment_intent": intent_id,
                "payment_method_details": {"type": "card"},
                "metadata": {"order_number": order_number} if order_number else {},
            }
        },
    }


def stripe_headers(body: bytes, *, timestamp=None, secret=STRIPE_SECRET) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"Stripe-Signature": f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"}


@pytest.fixture
def post_stripe(client, finance_settings):
    def post(event, *, body=None, headers=None, **sign_options):
        body = body if body is not None else json.dumps(event).encode()
        headers = headers if headers is not None else stripe_headers(body, **sign_options)
        django_headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        return client.post(
            "/finance/webhooks/stripe/", body, content_type="application/json", **django_headers
        )

    return post


# --- Alipay ------------------------------------------------------------------------------------


def alipay_params(
    order_number,
    *,
    trade_no="2026013122001400001",
    total_amount="212.80",
    status="TRADE_SUCCESS",
    notify_id=None,
    **extra,
):
    params = {
        "notify_time": "2026-01-31 23:59:59",
        "notify_type": "trade_status_sync",
        "notify_id": notify_id or f"ac05099524730693a8b330c5ecf72da{next(_ids)}",
        "charset": "utf-8",
        "version": "1.0",
        "app_id": ALIPAY_APP_ID,
        "trade_no": trade_no,
        "out_trade_no": order_number,
        "seller_id": "2088101106499364",
        "trade_status": status,
        "total_amount": total_amount,
        "receipt_amount": total_amount,
        "buyer_pay_amount": total_amount,
        "subject": "Conduit 订单",
        "gmt_create": "2026-01-31 23:59:30",
        "gmt_payment": "2026-01-31 23:59:58",
    }
    params.update(extra)
    return params


def alipay_sign(params: dict, private_key, *, charset="utf-8") -> dict:
    content = sign_content(params).encode(charset)
    signature = private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
    return {**params, "sign": base64.b64encode(signature).decode(), "sign_type": "RSA2"}


def alipay_body(params: dict, *, charset="utf-8") -> bytes:
    return urlencode(params, encoding=charset).encode("ascii")


@pytest.fixture
def post_alipay(client, alipay_settings, alipay_key):
    def post(params, *, key=None, sign=True, charset="utf-8"):
        signed = alipay_sign(params, key or alipay_key, charset=charset) if sign else params
        return client.post(
            "/finance/webhooks/alipay/",
            alipay_body(signed, charset=charset),
            content_type=f"application/x-www-form-urlencoded; charset={charset}",
        )

    return post
