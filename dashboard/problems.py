"""Which SKUs caused the most trouble in a range of business days: orders put on hold short of
them (the hold's timeline event names the SKUs short, `payload["short"]`) and units returned
(return lines of RMAs opened in the range). Both read a time-bounded slice through an index on
the time column (order events' `created_at`, RMAs' `created_at`), never the whole orders table."""

from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.db.models import Sum

from core.replica import reporting_database
from dashboard.rollups import day_bounds
from inventory.models import SKU
from orders.models import OrderEvent, OrderStatus
from returns.models import ReturnLine


@dataclass(frozen=True)
class ProblemSku:
    code: str
    name: str
    short_holds: int
    returned_units: int

    @property
    def trouble(self) -> int:
        return self.short_holds + self.returned_units


def short_holds(first: date, last: date) -> Counter:
    """{SKU code: orders held short of it} for holds put on in first…last."""
    start, _end = day_bounds(first)
    _start, end = day_bounds(last)
    payloads = (
        OrderEvent.objects.using(reporting_database())
        .filter(
            created_at__gte=start, created_at__lt=end, to_status=OrderStatus.ON_HOLD, payload__has_key="short"
        )
        .values_list("payload", flat=True)
    )
    counts: Counter = Counter()
    for payload in payloads.iterator(chunk_size=2000):
        counts.update(set(payload.get("short") or []))
    return counts


def returned_units(first: date, last: date) -> dict[str, int]:
    """{SKU code: units on return requests opened in first…last}."""
    start, _end = day_bounds(first)
    _start, end = day_bounds(last)
    return dict(
        ReturnLine.objects.using(reporting_database())
        .filter(rma__created_at__gte=start, rma__created_at__lt=end)
        .values("sku__code")
        .annotate(units=Sum("quantity"))
        .values_list("sku__code", "units")
    )


def problem_skus(first: date, last: date, *, limit: int = 10) -> list[ProblemSku]:
    held, returned = short_holds(first, last), returned_units(first, last)
    codes = set(held) | set(returned)
    names = dict(SKU.objects.using(reporting_database()).filter(code__in=codes).values_list("code", "name"))
    found = [
        ProblemSku(code, names.get(code, ""), held.get(code, 0), returned.get(code, 0)) for code in codes
    ]
    found.sort(key=lambda row: (-row.trouble, row.code))
    return found[:limit]
