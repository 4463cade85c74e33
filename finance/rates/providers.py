"""Where published rates come from: a provider fetches what its source published (rates against
the source's own base currency) and `cross_rates` turns them into rates to the business currency.
A provider raises RateSourceError for anything it cannot vouch for; nothing is stored then."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Protocol

from django.utils.translation import gettext as _

from core.errors import DomainError
from finance.rates.models import RATE_DECIMAL_PLACES

RATE_QUANTUM = Decimal(1).scaleb(-RATE_DECIMAL_PLACES)
DIVISION_PRECISION = 50


class RateSourceError(DomainError):
    """The source could not be read, or what it sent is not a rate table we understand."""


@dataclass(frozen=True)
class PublishedRates:
    """Per day, units of each currency for one unit of `base` (the ECB: per euro)."""

    source: str
    base: str
    days: dict[date, dict[str, Decimal]]


@dataclass(frozen=True)
class RateInput:
    day: date
    currency: str
    rate: Decimal  # units of the business currency for one `currency`
    basis: str = ""


class RateProvider(Protocol):
    source: str  # a finance.rates.models.RateSource value

    def fetch(self, *, history: bool = False) -> PublishedRates:
        """The latest published day, or every day the source keeps at hand when `history`."""
        ...


def cross_rates(published: PublishedRates, business_currency: str) -> list[RateInput]:
    """Rates to `business_currency` for every other currency published, each day on its own:
    business-per-base ÷ currency-per-base, computed in Decimal and rounded half-even to the rate's
    twelve places. A day without the business currency is an error (no rate could be made)."""
    rates = []
    for day, quotes in sorted(published.days.items()):
        quotes = {published.base: Decimal(1), **quotes}
        business_per_base = quotes.get(business_currency)
        if business_per_base is None:
            raise RateSourceError(
                _("%(source)s published no %(currency)s rate on %(day)s: no cross rates can be made.")
                % {"source": published.source, "currency": business_currency, "day": day.isoformat()}
            )
        for currency, per_base in sorted(quotes.items()):
            if currency == business_currency:
                continue
            with localcontext() as context:
                context.prec = DIVISION_PRECISION
                rate = (business_per_base / per_base).quantize(RATE_QUANTUM, rounding=ROUND_HALF_EVEN)
            if currency == published.base:
                basis = f"{published.base}/{business_currency} {business_per_base}"
            elif business_currency == published.base:
                basis = f"1 ÷ {published.base}/{currency} {per_base}"
            else:
                basis = (
                    f"{published.base}/{business_currency} {business_per_base} ÷ "
                    f"{published.base}/{currency} {per_base}"
                )
            rates.append(RateInput(day, currency, rate, basis))
    return rates
