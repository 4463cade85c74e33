"""Reading exchange rates. The rate of a day is the latest one on or before it, at most
settings.EXCHANGE_RATE_MAX_AGE_DAYS old (the ECB publishes none on weekends and TARGET holidays;
finance may import monthly rates); the business currency is worth 1 of itself."""

from bisect import bisect_right
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import DomainError
from finance.rates.models import ExchangeRate

ONE = Decimal(1)


class RateMissing(DomainError):
    """No rate of the currency on or before the day (within the allowed age)."""

    def __init__(self, currency: str, day: date):
        super().__init__(
            _(
                "No exchange rate from %(currency)s to %(business)s on or before %(day)s "
                "(at most %(days)s days old): import one or fetch the ECB rates."
            )
            % {
                "currency": currency,
                "business": business_currency(),
                "day": day.isoformat(),
                "days": max_age().days,
            },
            field="currency",
        )
        self.currency = currency
        self.day = day


def business_currency() -> str:
    return settings.BUSINESS_CURRENCY


def max_age() -> timedelta:
    return timedelta(days=settings.EXCHANGE_RATE_MAX_AGE_DAYS)


def rate_row(currency: str, day: date, *, using: str = "default") -> ExchangeRate | None:
    """The stored rate a conversion on `day` uses, or None (also None for the business currency)."""
    return (
        ExchangeRate.objects.using(using)
        .filter(
            business_currency=business_currency(),
            currency=currency,
            date__lte=day,
            date__gte=day - max_age(),
        )
        .order_by("-date")
        .first()
    )


def rate_on(currency: str, day: date, *, using: str = "default") -> Decimal:
    """Units of the business currency for one `currency` on `day`; RateMissing names both."""
    if currency == business_currency():
        return ONE
    row = rate_row(currency, day, using=using)
    if row is None:
        raise RateMissing(currency, day)
    return row.rate


class RateTable:
    """Rates of a few currencies over a span of days, read in one query, for reports that
    convert many (day, currency) sums."""

    def __init__(self, rows: dict[str, list[tuple[date, Decimal]]]):
        self.business_currency = business_currency()
        self._days = {currency: [day for day, _rate in pairs] for currency, pairs in rows.items()}
        self._rates = {currency: [rate for _day, rate in pairs] for currency, pairs in rows.items()}
        self._max_age = max_age()

    def rate(self, currency: str, day: date) -> Decimal | None:
        if currency == self.business_currency:
            return ONE
        days = self._days.get(currency, [])
        index = bisect_right(days, day) - 1
        if index < 0 or day - days[index] > self._max_age:
            return None
        return self._rates[currency][index]


def rate_table(currencies, first: date, last: date, *, using: str = "default") -> RateTable:
    """Every rate `RateTable.rate` may need for the currencies on the days first…last."""
    wanted = {c for c in currencies if c and c != business_currency()}
    rows: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    if wanted:
        found = (
            ExchangeRate.objects.using(using)
            .filter(
                business_currency=business_currency(),
                currency__in=wanted,
                date__gte=first - max_age(),
                date__lte=last,
            )
            .order_by("currency", "date")
            .values_list("currency", "date", "rate")
        )
        for currency, day, rate in found:
            rows[currency].append((day, rate))
    return RateTable(rows)
