"""Stripe webhooks: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…]`
with the endpoint's signing secret; deliveries older or newer than the tolerance are refused.

A payment is `payment_intent.succeeded` or a captured `charge.succeeded`; both name the
PaymentIntent, whose id is the transaction id, so the two events of one payment are one payment.
The order is `metadata.order_number`. Amounts are in the currency's minor unit.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils.translation import gettext as _

from core.money import CENT
from finance.models import PaymentProvider
from finance.providers import MalformedCallback, ProviderEvent, header

PAYMENT_EVENTS = ("payment_intent.succeeded", "charge.succeeded")
# Stripe's currencies without a minor unit, and those with three decimals.
ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}


def currency_exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def from_minor_units(value, currency: str) -> Decimal:
    """1999 USD → 19.99; 500 JPY → 500; 12340 KWD → 12.34. Amounts finer than a cent are refused
    (Stripe itself requires three-decimal amounts to end in 0)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedCallback(f"amount: expected a non-negative integer in minor units, got {value!r}")
    try:
        amount = Decimal(value).scaleb(-currency_exponent(currency))
        if amount != amount.quantize(CENT):
            raise MalformedCallback(f"amount: {amount} {currency} has more than two decimals")
        return amount.quantize(CENT)
    except InvalidOperation as exc:
        raise MalformedCallback("amount: out of range") from exc


def _dict(value, name: str) -> dict:
    """A JSON object, or {} when absent; anything else is a malformed delivery naming the field."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedCallback(f"{name}: expected an object, got {type(value).__name__}")
    return value


def parse_signature_header(value: str) -> tuple[int | None, list[str]]:
    timestamp, signatures = None, []
    for item in value.split(","):
        key, _sep, val = item.strip().partition("=")
        if key == "t" and val.isdigit():
            timestamp = int(val)
        elif key == "v1" and val:
            signatures.append(val)
    return timestamp, signatures


def compute_signature(secret: str, timestamp: int, raw_body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()


class StripeProvider:
    name = PaymentProvider.STRIPE
    rejects_repeated_signature = True

    def verify(self, headers: dict, raw_body: bytes, *, now: float) -> str:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            return _("The Stripe webhook secret is not configured (STRIPE_WEBHOOK_SECRET).")
        timestamp, signatures = parse_signature_header(header(headers, "Stripe-Signature"))
        if timestamp is None or not signatures:
            return _("Missing or malformed Stripe-Signature header.")
        expected = compute_signature(secret, timestamp, raw_body)
        # Every v1 is compared (constant time), so an early match tells nothing by its timing.
        matches = [hmac.compare_digest(expected, given) for given in signatures]
        if not any(matches):
            return _("Bad signature.")
        if abs(now - timestamp) > settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS:
            return _("Signature timestamp outside the tolerance: an old or replayed delivery.")
        return ""

    def signature(self, headers: dict, raw_body: bytes) -> str:
        return header(headers, "Stripe-Signature")[:1024]

    def parse(self, headers: dict, raw_body: bytes) -> ProviderEvent:
        try:
            event = json.loads(raw_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedCallback(f"body: not UTF-8 JSON ({exc})") from exc
        try:
            return self._parse(event)
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:
            # a shape the checks below did not foresee: still the sender's fault, never a 500
            raise MalformedCallback(f"event: unexpected shape ({type(exc).__name__}: {exc})") from exc

    def _parse(self, event) -> ProviderEvent:
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
            raise MalformedCallback("id: missing")
        event_type = event.get("type")
        if not isinstance(event_type, str):
            raise MalformedCallback("type: missing")
        if event_type not in PAYMENT_EVENTS:
            return ProviderEvent(event["id"], event_type, ignored_because="not a payment event")
        obj = _dict(event.get("data"), "data").get("object")
        if not isinstance(obj, dict):
            raise MalformedCallback("data.object: missing")
        if event_type == "charge.succeeded":
            return self._charge(event, obj)
        return self._payment(
            event,
            obj,
            transaction_id=obj.get("id"),
            minor=obj.get("amount_received", obj.get("amount")),
            method=_first(obj.get("payment_method_types")),
        )

    def _charge(self, event: dict, charge: dict) -> ProviderEvent:
        if charge.get("captured") is False:  # only authorised: no money has moved yet
            return ProviderEvent(event["id"], event["type"], ignored_because="charge not captured")
        intent = charge.get("payment_intent")
        if not _dict(charge.get("metadata"), "data.object.metadata").get("order_number") and intent:
            # PaymentIntent metadata is not copied to its charges: payment_intent.succeeded carries it.
            return ProviderEvent(event["id"], event["type"], ignored_because="reported by its PaymentIntent")
        details = charge.get("payment_method_details") or {}
        return self._payment(
            event,
            charge,
            transaction_id=intent or charge.get("id"),
            minor=charge.get("amount_captured", charge.get("amount")),
            method=details.get("type", "") if isinstance(details, dict) else "",
        )

    def _payment(self, event: dict, obj: dict, *, transaction_id, minor, method) -> ProviderEvent:
        if not isinstance(transaction_id, str) or not transaction_id:
            raise MalformedCallback("data.object.id: missing")
        currency = obj.get("currency")
        if not isinstance(currency, str) or len(currency) != 3:
            raise MalformedCallback("data.object.currency: missing")
        currency = currency.upper()
        order_number = _dict(obj.get("metadata"), "data.object.metadata").get("order_number")
        if not isinstance(order_number, str) or not order_number.strip():
            raise MalformedCallback("data.object.metadata.order_number: missing")
        created = event.get("created")
        if isinstance(created, bool) or not isinstance(created, int):
            raise MalformedCallback("created: missing")
        try:
            paid_at = datetime.fromtimestamp(created, UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise MalformedCallback(f"created: {created} is out of range") from exc
        return ProviderEvent(
            event["id"],
            event["type"],
            payment={
                "order_number": order_number.strip(),
                "transaction_id": transaction_id,
                "amount": from_minor_units(minor, currency),
                "currency": currency,
                "paid_at": paid_at,
                "method": str(method or "")[:40],
                "raw": obj,
            },
        )


def _first(values) -> str:
    return values[0] if isinstance(values, list) and values and isinstance(values[0], str) else ""


PROVIDER = StripeProvider()
