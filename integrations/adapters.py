"""Platform webhook adapters: each one verifies a platform's signature, reads its headers and maps
its order payload to the canonical order (SPEC §7). New platforms plug in with `register`."""

import base64
import hashlib
import hmac
from abc import ABC, abstractmethod
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_registry: dict[str, type["WebhookAdapter"]] = {}

CENT = Decimal("0.01")
# The request's path and query, set by the webhook view for platforms that sign the URL
# (Xiaohongshu's push sign covers path + query, not the body); a sender's own value is overwritten.
REQUEST_PATH_HEADER = "Conduit-Path"


def register(adapter_cls: type["WebhookAdapter"]) -> type["WebhookAdapter"]:
    """Register an adapter class under its `platform` (usable as a class decorator)."""
    _registry[adapter_cls.platform] = adapter_cls
    return adapter_cls


def get_adapter(platform: str) -> "WebhookAdapter":
    """The adapter of a platform; LookupError when none is registered."""
    try:
        return _registry[platform]()
    except KeyError:
        raise LookupError(f"no webhook adapter for platform {platform!r}") from None


def header(headers: dict, name: str) -> str | None:
    """A header value, whatever the case of its name (HTTP header names are case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def money(value: Any) -> Decimal:
    """A platform amount (string, number or null) as an exact Decimal to the cent."""
    if value in (None, ""):
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price(amount: Decimal, quantity: int) -> tuple[Decimal, Decimal]:
    """A line amount a platform states for `quantity` units as (unit price to the cent,
    remainder): unit × quantity + remainder == amount exactly. The remainder (under half a cent
    per unit, either sign) is kept on the line as a seller adjustment, so neither the goods nor
    the discounts carry a rounding cent the platform never stated."""
    unit = (amount / quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    return unit, amount - unit * quantity


class WebhookAdapter(ABC):
    """Base for platforms that sign the raw body with base64(HMAC-SHA256(secret, body))."""

    platform: str = ""
    signature_header: str = ""
    topic_header: str = ""
    dedupe_header: str = ""
    order_topics: frozenset[str] = frozenset()  # topics whose payload is a whole order
    client_class = None  # an integrations.clients.OrderClient when the platform can be polled
    supports_stock_push = False  # True when integrations.stock_sync can push stock to it

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        given = header(request_headers, self.signature_header)
        if not secret or not given:
            return False
        digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
        # Constant-time comparison of bytes (a str with non-ASCII characters would raise).
        return hmac.compare_digest(base64.b64encode(digest), given.strip().encode("utf-8", "replace"))

    def dedupe_id(self, headers: dict) -> str | None:
        value = (header(headers, self.dedupe_header) or "").strip()
        return value[:255] or None

    def topic(self, headers: dict) -> str:
        return (header(headers, self.topic_header) or "").strip()[:100]

    def is_ping(self, headers: dict, raw_body: bytes) -> bool:
        """An unsigned set-up ping that must be answered 200 (WooCommerce sends one)."""
        return False

    # A platform whose signed body is a JSON array (Douyin's push messages) says so.
    accepts_json_array = False

    def message_keys(self, headers: dict, raw_body: bytes) -> tuple[str, str | None]:
        """(topic, dedupe id) of a signed delivery; from the headers unless the platform puts
        them in the body."""
        return self.topic(headers), self.dedupe_id(headers)

    def answer(self, outcome: str) -> tuple[int, dict] | None:
        """(HTTP status, JSON body) a platform requires for an outcome (integrations.services
        Outcome), or None for Conduit's own answer."""
        return None

    @abstractmethod
    def to_canonical(self, payload: dict, channel) -> dict | None:
        """The canonical order (as POST /api/v1/orders/ takes it), or None for a topic without one."""
