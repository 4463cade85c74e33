"""The rounding rule for amounts in the business currency, and sums that keep their origins.

- A payment is converted once, when it is recorded (or, without a rate then, when the repair job
  finds one): amount × the rate of its business day, rounded half away from zero to the cent
  (core.money.quantize, the same as PostgreSQL's round). The figure is stored, never recomputed.
- Reports and the dashboard convert sums: what one channel took in one currency on one business
  day (everything in such a group shares one rate) is converted and rounded once; a total in the
  business currency is the sum of those rounded groups. A group whose currency has no rate for
  its day is not converted: it is counted apart, never dropped.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext

from core.money import ZERO, quantize
from core.timezones import business_date
from finance.rates.selectors import ONE, business_currency, rate_row, rate_table

# amount (18 digits) × rate (24 digits) fits in 42 digits: multiply without an early rounding.
PRODUCT_PRECISION = 50


def to_business(amount: Decimal, rate: Decimal) -> Decimal:
    """`amount` in the business currency at `rate`, rounded half away from zero to the cent."""
    with localcontext() as context:
        context.prec = PRODUCT_PRECISION
        return quantize(amount * rate)


@dataclass(frozen=True)
class FixedRate:
    rate: Decimal
    rate_date: date  # the day of the rate used (the latest on or before the payment's day)
    amount: Decimal  # in the business currency
    currency: str  # the business currency


def fix_rate(amount: Decimal, currency: str, moment: datetime) -> FixedRate | None:
    """The rate and converted amount of a payment made at `moment`; None when no rate is known yet."""
    day = business_date(moment)
    if currency == business_currency():
        return FixedRate(ONE, day, amount, currency)
    row = rate_row(currency, day)
    if row is None:
        return None
    return FixedRate(row.rate, row.date, to_business(amount, row.rate), business_currency())


@dataclass
class Converted:
    """A total in the business currency with what it was made of: each original currency's
    total (converted or not), and the part without a rate (its amounts and how many documents)."""

    currency: str = field(default_factory=business_currency)
    amount: Decimal = ZERO
    original: dict[str, Decimal] = field(default_factory=dict)
    missing: dict[str, Decimal] = field(default_factory=dict)
    missing_count: int = 0

    def add(self, amount: Decimal, currency: str, rate: Decimal | None, count: int = 1) -> Decimal | None:
        """Add one group (a sum in `currency` that shares `rate`); returns its converted amount,
        or None when there is no rate (the group is then counted as not converted)."""
        amount = amount or ZERO
        self.original[currency] = self.original.get(currency, ZERO) + amount
        if rate is None:
            self.missing[currency] = self.missing.get(currency, ZERO) + amount
            self.missing_count += count
            return None
        converted = to_business(amount, rate)
        self.amount += converted
        return converted

    def merge(self, other: "Converted") -> None:
        self.amount += other.amount
        self.missing_count += other.missing_count
        for mine, theirs in ((self.original, other.original), (self.missing, other.missing)):
            for currency, amount in theirs.items():
                mine[currency] = mine.get(currency, ZERO) + amount

    @property
    def complete(self) -> bool:
        return not self.missing_count and not self.missing

    def originals(self) -> str:
        """The original currencies, e.g. "1,200.00 CNY + 35.50 USD"."""
        return " + ".join(f"{amount:,} {currency}" for currency, amount in sorted(self.original.items()))

    def not_converted(self) -> str:
        """The part without a rate, e.g. "35.50 USD"; empty when everything was converted."""
        return " + ".join(f"{amount:,} {currency}" for currency, amount in sorted(self.missing.items()))


def convert_groups(groups, *, using: str = "default") -> dict:
    """`groups` yields (key, day, currency, amount, documents); amounts of the same key, day and
    currency are summed first (they share one rate), then converted into a Converted per key."""
    sums: dict[tuple, list] = {}
    for key, day, currency, amount, documents in groups:
        entry = sums.setdefault((key, day, currency), [ZERO, 0])
        entry[0] += amount or ZERO
        entry[1] += documents
    days = [day for _key, day, _currency in sums]
    currencies = {currency for _key, _day, currency in sums}
    rates = rate_table(currencies, min(days, default=None), max(days, default=None), using=using)
    totals: dict = {}
    for (key, day, currency), (amount, documents) in sums.items():
        totals.setdefault(key, Converted()).add(amount, currency, rates.rate(currency, day), documents)
    return totals


def grand_total(parts) -> Converted:
    total = Converted()
    for part in parts:
        total.merge(part)
    return total
