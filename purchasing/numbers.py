"""Document numbers for purchasing: a prefix, the business date and a 6-digit daily sequence,
like order numbers (PO20261206000001, ASN…, GR…). Each prefix has its own gap-tolerant daily
sequence (core.sequences): unique under concurrency, never blocking another buyer for long."""

import re
from datetime import datetime

from core.sequences import next_values
from core.timezones import business_date

PURCHASE_ORDER = "PO"
SHIPMENT_NOTICE = "ASN"
GOODS_RECEIPT = "GR"

_PREFIX = re.compile(r"^[A-Z]{2,6}$")


def next_numbers(prefix: str, count: int, moment: datetime | None = None) -> list[str]:
    """`count` new numbers for documents of this prefix (upper-case letters, e.g. "PO")."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"invalid document prefix {prefix!r}")
    day = business_date(moment)
    values = next_values(name=f"purchasing_{prefix.lower()}", day=day, count=count)
    return [f"{prefix}{day:%Y%m%d}{value:06d}" for value in values]


def next_number(prefix: str, moment: datetime | None = None) -> str:
    """One new number, e.g. next_number("ASN") → "ASN20261206000001"."""
    return next_numbers(prefix, 1, moment)[0]
