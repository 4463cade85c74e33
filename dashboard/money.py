"""The money panels' figures in the business currency (settings.BUSINESS_CURRENCY).

Each rollup row is what one channel sold in one currency on one business day: it is converted
at that day's rate and rounded once (the rule of finance.rates.conversion), so the dashboard
and the finance reports convert alike. Rows whose currency has no rate for their day are not
converted: they are counted apart (orders and original amounts), never dropped."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from core.money import CENT, ZERO
from core.replica import reporting_database
from finance.rates.conversion import Converted, grand_total
from finance.rates.selectors import RateTable, rate_table


def rates_for(orders: list[dict], first: date, last: date) -> RateTable:
    """Every rate the rows of first…last need, in one query."""
    return rate_table({row["currency"] for row in orders}, first, last, using=reporting_database())


@dataclass
class Sales:
    """Gross sales (orders not cancelled) of the rows: per original currency, per day."""

    by_currency: dict[str, Converted] = field(default_factory=lambda: defaultdict(Converted))
    orders: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # live orders
    converted_orders: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # day → currency → [in the business currency (None: no rate), in the original currency]
    by_day: dict[date, dict[str, list]] = field(default_factory=lambda: defaultdict(dict))
    # day → the day's converted part: [amount in the business currency, live orders converted]
    day_converted: dict[date, list] = field(default_factory=lambda: defaultdict(lambda: [ZERO, 0]))
    day_missing: dict[date, int] = field(default_factory=lambda: defaultdict(int))  # orders, no rate

    @property
    def total(self) -> Converted:
        return grand_total(self.by_currency.values())

    @property
    def converted_count(self) -> int:
        return sum(self.converted_orders.values())

    def day_amount(self, day: date) -> Decimal | None:
        """The day's sales in the business currency; None when nothing of it could be converted."""
        amount, orders = self.day_converted.get(day, (ZERO, 0))
        return amount if orders or amount else None

    @property
    def currencies(self) -> list[str]:
        return sorted(self.by_currency)


def sales(orders: list[dict], rates: RateTable) -> Sales:
    result = Sales()
    for row in orders:
        currency, gross = row["currency"], row["gross"] or ZERO
        live = row["orders"] - row["cancelled"]
        converted = result.by_currency[currency].add(gross, currency, rates.rate(currency, row["day"]), live)
        result.orders[currency] += live
        if converted is not None:
            result.converted_orders[currency] += live
            result.day_converted[row["day"]][0] += converted
            result.day_converted[row["day"]][1] += live
        else:
            result.day_missing[row["day"]] += live
        cell = result.by_day[row["day"]].setdefault(currency, [ZERO, ZERO])
        cell[0] = None if converted is None or cell[0] is None else cell[0] + converted
        cell[1] += gross
    return result


def average(amount: Decimal, count: int) -> Decimal | None:
    """An average to the cent, half away from zero; None without orders."""
    return (amount / count).quantize(CENT, ROUND_HALF_UP) if count else None
