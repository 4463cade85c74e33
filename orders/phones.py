"""Buyers' phone numbers: E.164 when they parse as a valid number, so that "138 0000 0001",
"+86 138-0000-0001" and "0086 13800000001" are one buyer. Platforms that mask numbers
("136********", "138****1234") send them for display only: such a number is kept as given and is
never an identity (many buyers share one mask)."""

from functools import lru_cache

import phonenumbers
from django.conf import settings

MASK_CHARACTERS = frozenset("*＊●•×")
MAX_LENGTH = 32  # Order.customer_phone / ship_phone, Customer.phone


def is_masked(raw: str) -> bool:
    return any(ch in MASK_CHARACTERS for ch in raw or "")


def e164(raw: str, region: str = "") -> str | None:
    """The number in E.164, or None when it is masked, does not parse or is not a valid number.
    `region` (ISO 3166 alpha-2) reads numbers written without a country code."""
    raw = (raw or "").strip()
    if not raw or is_masked(raw):
        return None
    return _e164(raw, (region or settings.PHONE_DEFAULT_REGION).upper())


@lru_cache(maxsize=65536)  # bulk intake sees the same numbers often; parsing costs ~30 µs each
def _e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display(raw: str, region: str = "") -> str:
    """What an order shows: E.164 when valid, a masked number verbatim, otherwise the digits and
    "+" as given (a number we cannot read is still worth showing)."""
    raw = (raw or "").strip()
    if is_masked(raw):
        return raw[:MAX_LENGTH]
    return e164(raw, region) or "".join(ch for ch in raw if ch.isdigit() or ch == "+")[:MAX_LENGTH]


def domestic(value: str) -> str:
    """A stored number as Chinese carriers and warehouses expect it: mainland numbers without
    +86 (they validate 11-digit mobiles); others, masked or unreadable ones as stored."""
    if not (value or "").startswith("+86"):
        return value or ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.national_significant_number(number)
