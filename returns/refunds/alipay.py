"""Refunds through Alipay's alipay.trade.refund, an outbox handler: RSA2-signed requests and
verified answers."""

import base64
import binascii
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key
from django.conf import settings
from django.utils import timezone

from core.models import OutboxMessage
from core.outbox import PermanentFailure, outbox_failure
from core.timezones import format_beijing_time
from finance.providers.alipay import load_public_key
from returns.models import RefundState
from returns.refunds.delivery import call_provider, fail_refund, load_refund
from returns.refunds.lifecycle import refund_record_outcome


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    """The app's private key as configured: PEM, or the bare base64 DER Alipay's key tool prints."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = load_pem_private_key(value.encode(), password=None)
    else:
        key = load_der_private_key(base64.b64decode("".join(value.split())), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def alipay_request_content(params: dict[str, str]) -> str:
    """What a request's RSA2 signature covers: every non-empty parameter but `sign`, sorted by
    name, as k=v&k=v (unlike notifications, a request's sign_type is signed too)."""
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")


def alipay_sign(params: dict[str, str], private_key: rsa.RSAPrivateKey) -> str:
    """RSA2: SHA256withRSA, base64."""
    content = alipay_request_content(params).encode("utf-8")
    return base64.b64encode(private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()


def _alipay_response_node(raw: str, name: str) -> tuple[dict, str]:
    """The response node and its exact text: Alipay signs the node's JSON as sent."""
    marker = f'"{name}"'
    start = raw.find(marker)
    if start < 0:
        raise ValueError(f"{name} missing")
    start = raw.index(":", start + len(marker)) + 1
    while raw[start].isspace():
        start += 1
    node, end = json.JSONDecoder().raw_decode(raw, start)
    return node, raw[start:end]


# Alipay answers that are worth retrying (busy or a system error on its side).
ALIPAY_RETRY_SUB_CODES = {"ACQ.SYSTEM_ERROR", "ACQ.TRADE_HAS_FINISHED_RETRY", "aop.ACQ.SYSTEM_ERROR"}


def refund_via_alipay(message: OutboxMessage) -> None:
    """alipay.trade.refund (https://opendocs.alipay.com/open/02e7go): an RSA2-signed form POST to
    the gateway; out_request_no (the RMA number) makes a repeated request refund once."""
    refund = load_refund(message)
    if refund is None:
        return
    if not (settings.ALIPAY_APP_ID and settings.ALIPAY_APP_PRIVATE_KEY):
        raise PermanentFailure("ALIPAY_APP_ID / ALIPAY_APP_PRIVATE_KEY are not configured")
    if refund.payment is None:
        raise fail_refund(refund, "no Alipay payment to refund")
    try:
        private_key = load_private_key(settings.ALIPAY_APP_PRIVATE_KEY)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise PermanentFailure(f"ALIPAY_APP_PRIVATE_KEY is not an RSA private key: {exc}") from exc
    biz = {
        "trade_no": refund.payment.transaction_id,
        "out_trade_no": refund.order.number,
        "refund_amount": f"{refund.amount:.2f}",
        "out_request_no": refund.rma.number,
        "refund_reason": refund.rma.get_reason_display()[:256],
    }
    params = {
        "app_id": settings.ALIPAY_APP_ID,
        "method": "alipay.trade.refund",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": format_beijing_time(timezone.now()),
        "version": "1.0",
        "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
    }
    params["sign"] = alipay_sign(params, private_key)
    response = call_provider(
        refund, "Alipay", lambda http: http.post(settings.ALIPAY_GATEWAY_URL, data=params)
    )
    try:
        node, node_text = _alipay_response_node(response.text, "alipay_trade_refund_response")
        signature = json.loads(response.text).get("sign", "")
    except (ValueError, IndexError) as exc:
        raise outbox_failure(f"Alipay: unreadable answer: {exc}", temporary=True) from exc
    if settings.ALIPAY_PUBLIC_KEY and not _alipay_verifies(node_text, signature):
        raise outbox_failure("Alipay: the answer's signature does not verify", temporary=False)
    code, sub_code = str(node.get("code", "")), str(node.get("sub_code", ""))
    if code == "10000":
        reference = str(node.get("trade_no") or refund.payment.transaction_id)
        refund_record_outcome(refund_id=refund.pk, state=RefundState.SUCCEEDED, reference=reference)
        return
    detail = f"Alipay {code} {sub_code}: {node.get('sub_msg') or node.get('msg') or ''}".strip()
    if code == "20000" or sub_code in ALIPAY_RETRY_SUB_CODES:  # a refusal in a 200 body, Alipay's codes
        raise outbox_failure(detail, temporary=True)
    raise fail_refund(refund, detail)


def _alipay_verifies(content: str, signature: str) -> bool:
    """Whether Alipay signed this response node (RSA2, with Alipay's public key)."""
    try:
        key = load_public_key(settings.ALIPAY_PUBLIC_KEY)
        key.verify(base64.b64decode(signature), content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True
