"""Alipay asynchronous notifications (trade_status_sync): a form POST signed with RSA2 —
SHA256withRSA over the parameters except `sign` and `sign_type`, sorted by name and joined as
`k=v&k=v` (values URL-decoded), verified with Alipay's public key.

out_trade_no is our order number, trade_no the transaction id, total_amount yuan (CNY), and
TRADE_SUCCESS / TRADE_FINISHED mean paid. Alipay retries until it reads the body "success".
"""

import base64
import binascii
from datetime import datetime
from decimal import Decimal, InvalidOperation

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
from django.conf import settings
from django.utils.translation import gettext as _

from core.money import CENT
from core.timezones import parse_beijing_time
from finance.models import PaymentProvider
from finance.providers import MalformedCallback, ProviderEvent
from finance.providers.form_bodies import FormError, form_params

PAID_STATUSES = ("TRADE_SUCCESS", "TRADE_FINISHED")
UNSIGNED = ("sign", "sign_type")


def parse_form(raw_body: bytes) -> dict[str, str]:
    """The notification's parameters, decoded with the charset it declares (utf-8 or gbk)."""
    return form_params(raw_body, charset_field="charset")


def sign_content(params: dict[str, str], *, skip_empty: bool = False) -> str:
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in UNSIGNED and not (skip_empty and params[key] == "")
    )


def load_public_key(value: str) -> rsa.RSAPublicKey:
    """Alipay hands out its key as bare base64 (SubjectPublicKeyInfo); PEM works too."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = load_pem_public_key(value.encode())
    else:
        key = load_der_public_key(base64.b64decode("".join(value.split())))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


class AlipayProvider:
    name = PaymentProvider.ALIPAY
    # Alipay resends the same signed notification until it reads "success": not a replay attack,
    # and idempotency on notify_id / trade_no makes a repeat harmless.
    rejects_repeated_signature = False

    def verify(self, headers: dict, raw_body: bytes, *, now: float) -> str:
        if not settings.ALIPAY_PUBLIC_KEY:
            return _("The Alipay public key is not configured (ALIPAY_PUBLIC_KEY).")
        try:
            params = parse_form(raw_body)
        except FormError as exc:
            return _("Unreadable notification: %(error)s.") % {"error": exc}
        if params.get("sign_type", "RSA2") != "RSA2":
            return _("Only RSA2 signatures are accepted.")
        try:
            signature = base64.b64decode(params.get("sign", ""), validate=True)
        except (binascii.Error, ValueError):
            return _("Bad signature.")
        if not signature:
            return _("Missing signature.")
        try:
            key = load_public_key(settings.ALIPAY_PUBLIC_KEY)
        except (ValueError, TypeError, binascii.Error):
            return _("The configured ALIPAY_PUBLIC_KEY is not an RSA public key.")
        charset = params.get("charset", "utf-8") or "utf-8"
        # Alipay signs every parameter it sends; some SDKs leave out empty ones, so both are tried.
        contents = {sign_content(params), sign_content(params, skip_empty=True)}
        if not any(_verifies(key, signature, content, charset) for content in contents):
            return _("Bad signature.")
        app_id = settings.ALIPAY_APP_ID
        if app_id and params.get("app_id") != app_id:
            return _("Signed for another app_id.")
        return ""

    def signature(self, headers: dict, raw_body: bytes) -> str:
        try:
            return parse_form(raw_body).get("sign", "")[:1024]
        except FormError:
            return ""

    def parse(self, headers: dict, raw_body: bytes) -> ProviderEvent:
        try:
            params = parse_form(raw_body)
        except FormError as exc:
            raise MalformedCallback(str(exc)) from exc
        notify_id = params.get("notify_id", "").strip()
        if not notify_id:
            raise MalformedCallback("notify_id: missing")
        status = params.get("trade_status", "")
        event_type = f"{params.get('notify_type', 'trade_status_sync')}:{status or '-'}"
        if status not in PAID_STATUSES:
            return ProviderEvent(notify_id, event_type, ignored_because=f"trade_status {status or 'missing'}")
        for name in ("out_trade_no", "trade_no", "total_amount"):
            if not params.get(name, "").strip():
                raise MalformedCallback(f"{name}: missing")
        try:
            amount = Decimal(params["total_amount"].strip())
        except InvalidOperation as exc:
            raise MalformedCallback(f"total_amount: not a number ({params['total_amount']!r})") from exc
        if not amount.is_finite() or amount != amount.quantize(CENT):
            raise MalformedCallback(f"total_amount: {params['total_amount']!r} is not an amount in yuan")
        raw = {key: value for key, value in params.items() if key not in UNSIGNED}
        return ProviderEvent(
            notify_id,
            event_type,
            payment={
                "order_number": params["out_trade_no"].strip(),
                "transaction_id": params["trade_no"].strip(),
                "amount": amount.quantize(CENT),
                "currency": "CNY",
                "paid_at": _beijing_time(
                    params.get("gmt_payment") or params.get("notify_time"), "gmt_payment"
                ),
                "method": "alipay",
                "raw": raw,
            },
        )


def _verifies(key: rsa.RSAPublicKey, signature: bytes, content: str, charset: str) -> bool:
    try:
        key.verify(signature, content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, LookupError, UnicodeEncodeError):
        return False
    return True


def _beijing_time(value: str | None, field: str) -> datetime:
    """gmt_payment and notify_time are Beijing time."""
    try:
        return parse_beijing_time(value or "")
    except ValueError as exc:
        raise MalformedCallback(f"{field}: expected 'YYYY-MM-DD HH:MM:SS', got {value!r}") from exc


PROVIDER = AlipayProvider()
