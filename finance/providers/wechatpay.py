"""WeChat Pay (API v3) notifications: 支付成功通知 (TRANSACTION.SUCCESS) and 退款结果通知
(REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED), one JSON POST each:
{"id", "create_time", "event_type", "resource_type": "encrypt-resource", "summary",
 "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext", "associated_data", "nonce", "original_type"}}
signed with a platform certificate's key (finance.providers.wechatpay_signing) and the resource
encrypted with our APIv3 key.

Sources: 支付成功回调通知 / 退款结果回调通知 / 回调通知应答 (pay.weixin.qq.com/doc/v3/merchant);
wechatpay-go core/notify/notify_request.go (the envelope and resource fields),
core/notify/notify.go (verify, then decrypt); wechatpay-java service/refund/model/RefundNotification.java
(refund_id, out_refund_no, transaction_id, out_trade_no, refund_status, success_time,
amount{total, refund, payer_total, payer_refund}); the samples in finance/tests/payloads/wechatpay/.

The decrypted transaction: out_trade_no is our order number, transaction_id the transaction id,
amount.total the order amount in the currency's minor unit (fen) with amount.currency,
success_time RFC 3339 with +08:00. amount.payer_total (what the buyer paid after WeChat coupons)
stays in the raw payload. WeChat Pay retries until it gets 200/204; 4xx/5xx with
{"code": "FAIL", "message"} asks it to try again (finance.webhooks).
"""

import json
from datetime import datetime

from django.conf import settings
from django.utils.translation import gettext as _

from finance.models import PaymentProvider
from finance.providers import MalformedCallback, ProviderEvent, header
from finance.providers.stripe import from_minor_units
from finance.providers.wechatpay_client import platform_public_key, signature_problem
from finance.providers.wechatpay_signing import (
    AEAD,
    SCHEMA,
    SIGNATURE,
    SIGNATURE_TYPE,
    ResourceError,
    decrypt_resource,
)

PAYMENT_EVENT = "TRANSACTION.SUCCESS"
REFUND_EVENTS = ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED")


class WechatPayProvider:
    name = PaymentProvider.WECHAT_PAY
    # WeChat Pay resends a notification (same id) until it is acknowledged: the id makes a repeat
    # a no-op, whatever its signature.
    rejects_repeated_signature = False

    def verify(self, headers: dict, raw_body: bytes, *, now: float) -> str:
        if not (settings.WECHATPAY_API_V3_KEY and settings.WECHATPAY_MCHID):
            return _("WeChat Pay is not configured (WECHATPAY_MCHID, WECHATPAY_API_V3_KEY).")
        kind = header(headers, SIGNATURE_TYPE).strip()
        if kind and kind != SCHEMA:
            return _("Only %(schema)s signatures are accepted.") % {"schema": SCHEMA}
        problem = signature_problem(headers, raw_body, platform_public_key, now=now)
        return _("Refused: %(problem)s.") % {"problem": problem} if problem else ""

    def signature(self, headers: dict, raw_body: bytes) -> str:
        return header(headers, SIGNATURE)[:1024]

    def parse(self, headers: dict, raw_body: bytes) -> ProviderEvent:
        try:
            envelope = json.loads(raw_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedCallback(f"body: not UTF-8 JSON ({exc})") from exc
        if not isinstance(envelope, dict) or not isinstance(envelope.get("id"), str) or not envelope["id"]:
            raise MalformedCallback("id: missing")
        event_type = envelope.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            raise MalformedCallback("event_type: missing")
        if event_type != PAYMENT_EVENT and event_type not in REFUND_EVENTS:
            return ProviderEvent(envelope["id"], event_type, ignored_because="not a payment or refund event")
        original_type = "transaction" if event_type == PAYMENT_EVENT else "refund"
        data = _decrypted(envelope.get("resource"), original_type)
        if data.get("mchid") != settings.WECHATPAY_MCHID:
            raise MalformedCallback(f"mchid: {str(data.get('mchid'))[:32]!r} is not our merchant id")
        try:
            if event_type == PAYMENT_EVENT:
                return self._payment(envelope, data)
            return self._refund(envelope, data)
        except (AttributeError, TypeError, ValueError) as exc:
            raise MalformedCallback(f"resource: unexpected shape ({type(exc).__name__}: {exc})") from exc

    def _payment(self, envelope: dict, data: dict) -> ProviderEvent:
        if data.get("trade_state") != "SUCCESS":
            return ProviderEvent(
                envelope["id"],
                envelope["event_type"],
                ignored_because=f"trade_state {data.get('trade_state')}",
            )
        for name in ("out_trade_no", "transaction_id", "success_time"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise MalformedCallback(f"resource.{name}: missing")
        amount = data.get("amount")
        if not isinstance(amount, dict) or not isinstance(amount.get("currency"), str):
            raise MalformedCallback("resource.amount: missing")
        currency = amount["currency"].upper()
        return ProviderEvent(
            envelope["id"],
            envelope["event_type"],
            payment={
                "order_number": data["out_trade_no"].strip(),
                "transaction_id": data["transaction_id"].strip(),
                "amount": from_minor_units(amount.get("total"), currency),
                "currency": currency,
                "paid_at": _time(data["success_time"], "success_time"),
                "method": str(data.get("trade_type") or "wechat_pay")[:40],
                "raw": data,
            },
        )

    def _refund(self, envelope: dict, data: dict) -> ProviderEvent:
        for name in ("out_refund_no", "refund_id", "transaction_id", "refund_status"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise MalformedCallback(f"resource.{name}: missing")
        amount = data.get("amount")
        if not isinstance(amount, dict):
            raise MalformedCallback("resource.amount: missing")
        # The refund notification's amount carries no currency (RefundNotification.Amount): fen.
        return ProviderEvent(
            envelope["id"],
            envelope["event_type"],
            refund={
                "out_refund_no": data["out_refund_no"].strip(),
                "refund_id": data["refund_id"].strip(),
                "transaction_id": data["transaction_id"].strip(),
                "status": data["refund_status"].strip(),
                "amount": from_minor_units(amount.get("refund"), "CNY"),
                "detail": str(data.get("user_received_account") or "")[:200],
            },
        )


def _decrypted(resource, original_type: str) -> dict:
    if not isinstance(resource, dict):
        raise MalformedCallback("resource: missing")
    if resource.get("algorithm") != AEAD:
        raise MalformedCallback(f"resource.algorithm: {str(resource.get('algorithm'))[:40]!r} is not {AEAD}")
    if resource.get("original_type") != original_type:
        raise MalformedCallback(f"resource.original_type: expected {original_type!r}")
    fields = {name: resource.get(name) for name in ("nonce", "associated_data", "ciphertext")}
    if not isinstance(fields["nonce"], str) or not isinstance(fields["ciphertext"], str):
        raise MalformedCallback("resource: nonce or ciphertext missing")
    try:
        plain = decrypt_resource(
            settings.WECHATPAY_API_V3_KEY,
            nonce=fields["nonce"],
            associated_data=fields["associated_data"] or "",
            ciphertext=fields["ciphertext"],
        )
        data = json.loads(plain.decode("utf-8"))
    except ResourceError as exc:
        raise MalformedCallback(f"resource: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedCallback(f"resource: the decrypted text is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise MalformedCallback("resource: the decrypted text is not a JSON object")
    return data


def _time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise MalformedCallback(f"resource.{field}: not RFC 3339 ({value!r})") from exc
    if moment.tzinfo is None:
        raise MalformedCallback(f"resource.{field}: no UTC offset ({value!r})")
    return moment


PROVIDER = WechatPayProvider()
