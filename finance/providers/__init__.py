"""Payment-provider notifications: each provider module verifies a delivery's signature and reads
it into a `ProviderEvent` (what finance.callbacks stores and turns into a payment)."""

from dataclasses import dataclass, field
from typing import Any, Protocol


class MalformedCallback(Exception):
    """Correctly signed, but not a notification we can read; the message names the field."""


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    event_type: str
    # Keyword arguments for finance.services.payment_record, or None: not a payment (ignored).
    payment: dict[str, Any] | None = None
    # Keyword arguments for the provider's refund-notification handler (finance.callbacks), or None.
    refund: dict[str, Any] | None = None
    ignored_because: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    name: str
    # Reject a delivery whose exact signature was seen before (Stripe signs every attempt anew).
    rejects_repeated_signature: bool

    def verify(self, headers: dict, raw_body: bytes, *, now: float) -> str:
        """An empty string when the signature is good, otherwise why it is not."""

    def signature(self, headers: dict, raw_body: bytes) -> str: ...

    def parse(self, headers: dict, raw_body: bytes) -> ProviderEvent: ...


def get_provider(name: str) -> Provider:
    from finance.providers import alipay, stripe, unionpay, wechatpay

    providers = {
        provider.name: provider
        for provider in (stripe.PROVIDER, alipay.PROVIDER, wechatpay.PROVIDER, unionpay.PROVIDER)
    }
    try:
        return providers[name]
    except KeyError:
        raise LookupError(name) from None


def header(headers: dict, name: str) -> str:
    """A request header by name, whatever its case."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""
