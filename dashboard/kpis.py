"""The headline figures at the top of the dashboard, each with its change against the previous
period of the same length (dashboard.ranges.previous_period), from the same day rollups as the
charts. Rates change in percentage points, counts and amounts in percent; without a figure for
the previous period there is no change to show ("—")."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from dashboard import money, panels
from finance.rates.selectors import business_currency


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: Decimal | float | int | None
    previous: Decimal | float | int | None
    unit: str = ""  # "%" for rates, a currency code for money, "" for counts
    note: str = ""

    @property
    def is_rate(self) -> bool:
        return self.unit == "%"

    @property
    def change(self) -> float | None:
        """Points for a rate, percent for a count or amount; None when either side has no figure
        (or the previous count was 0: no percentage of nothing)."""
        if self.value is None or self.previous is None:
            return None
        if self.is_rate:
            return round(float(self.value) - float(self.previous), 1)
        if not self.previous:
            return 0.0 if not self.value else None  # 0 after 0 is no change; more than 0 has no %
        return round(100 * (float(self.value) - float(self.previous)) / float(self.previous), 1)

    @property
    def no_change_reason(self) -> str:
        """Why there is no change to show."""
        if self.previous is None:
            return _("no figure for the previous period")
        if self.value is None:
            return _("no figure for this period")
        return _("previous period: 0")

    @property
    def direction(self) -> str:
        change = self.change
        return "" if change is None else "up" if change > 0 else "down" if change < 0 else "flat"

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "flat": "＝"}.get(self.direction, "")


def _totals(rows: panels.DayRows) -> dict[str, int]:
    names = ("orders", "cancelled", "paid", "refunded", "shipped_on_time", "late")
    return {name: sum(row[name] or 0 for row in rows.orders) for name in names}


def _figures(rows: panels.DayRows) -> dict:
    """Every headline figure of one period; a period without a single rollup row has none."""
    if not rows.orders:
        return dict.fromkeys(("orders", "sales", "aov", "fulfilment", "refunds", "late"))
    totals = _totals(rows)
    sold = money.sales(rows.orders, rows.exchange_rates())
    return {
        "orders": totals["orders"],
        "sales": sold.total.amount,
        "aov": money.average(sold.total.amount, sold.converted_count),
        "fulfilment": panels.fulfilment_percent(totals["shipped_on_time"], totals["late"]),
        "refunds": panels.percent(totals["refunded"], totals["paid"]),
        "late": totals["late"],
        "sold": sold,
    }


def kpis(current: panels.DayRows, previous: panels.DayRows) -> list[Kpi]:
    now, before = _figures(current), _figures(previous)
    currency = business_currency()
    sold = now.get("sold")
    missing = sold.total.missing_count if sold else 0
    not_converted = (
        ngettext("%(n)s order not converted (no rate)", "%(n)s orders not converted (no rate)", missing)
        % {"n": missing}
        if missing
        else ""
    )
    return [
        Kpi("orders", _("Orders"), now["orders"], before["orders"]),
        Kpi("sales", _("Sales"), now["sales"], before["sales"], currency, not_converted),
        Kpi("aov", _("Average order value"), now["aov"], before["aov"], currency, not_converted),
        Kpi(
            "fulfilment",
            _("Fulfilment rate"),
            now["fulfilment"],
            before["fulfilment"],
            "%",
            _("Shipped on time among orders due"),
        ),
        Kpi("refunds", _("Refund rate"), now["refunds"], before["refunds"], "%", _("Of paid orders")),
        Kpi(
            "late",
            _("Late shipments"),
            now["late"],
            before["late"],
            note=_("Shipped late, or unshipped past the deadline"),
        ),
    ]
