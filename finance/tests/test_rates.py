"""Exchange rates: the rate of a day (latest on or before, bounded age), the rounding rule and the
exact cross rates made from the ECB's euro rates (sample: the ECB's eurofxref-daily.xml of
2024-06-28, finance/tests/fixtures/ecb)."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from finance.rates.conversion import Converted, convert_groups, to_business
from finance.rates.ecb import parse
from finance.rates.models import ExchangeRate, RateSource
from finance.rates.providers import PublishedRates, RateSourceError, cross_rates
from finance.rates.selectors import RateMissing, rate_on, rate_table

ECB_DAILY = Path(__file__).parent / "fixtures" / "ecb" / "eurofxref-daily-2024-06-28.xml"
FRIDAY = date(2024, 6, 28)


def stored(day, currency, rate, business="CNY"):
    return ExchangeRate.objects.create(
        date=day, currency=currency, business_currency=business, rate=Decimal(rate), source=RateSource.IMPORT
    )


@pytest.mark.django_db
def test_the_rate_of_a_day_is_the_latest_on_or_before_it():
    stored(FRIDAY - timedelta(days=1), "USD", "7.2000")
    stored(FRIDAY, "USD", "7.2625")
    stored(FRIDAY + timedelta(days=3), "USD", "7.3000")  # Monday
    stored(FRIDAY, "USD", "0.1377", business="EUR")  # another business currency: never used

    assert rate_on("USD", FRIDAY) == Decimal("7.2625")
    assert rate_on("USD", FRIDAY + timedelta(days=2)) == Decimal("7.2625")  # Sunday: Friday's rate
    assert rate_on("USD", FRIDAY + timedelta(days=3)) == Decimal("7.3000")
    assert rate_on("USD", FRIDAY - timedelta(days=1)) == Decimal("7.2000")
    assert rate_on("CNY", date(1999, 1, 1)) == Decimal(1)  # the business currency


@pytest.mark.django_db
def test_no_rate_is_a_domain_error_naming_currency_and_day(settings):
    settings.EXCHANGE_RATE_MAX_AGE_DAYS = 7
    stored(FRIDAY, "USD", "7.2625")

    with pytest.raises(RateMissing) as missing:
        rate_on("USD", FRIDAY - timedelta(days=1))
    assert "USD" in missing.value.message and "2024-06-27" in missing.value.message
    assert missing.value.field == "currency"
    with pytest.raises(RateMissing, match="2024-07-06"):
        rate_on("USD", FRIDAY + timedelta(days=8))  # older than EXCHANGE_RATE_MAX_AGE_DAYS
    assert rate_on("USD", FRIDAY + timedelta(days=7)) == Decimal("7.2625")
    with pytest.raises(RateMissing, match="GBP"):
        rate_on("GBP", FRIDAY)


@pytest.mark.django_db
def test_the_rate_table_of_a_report_agrees_with_rate_on_every_day(settings):
    settings.EXCHANGE_RATE_MAX_AGE_DAYS = 4
    for offset, rate in ((0, "7.10"), (1, "7.11"), (4, "7.15"), (12, "7.20")):
        stored(FRIDAY + timedelta(days=offset), "USD", rate)
    first, last = FRIDAY - timedelta(days=2), FRIDAY + timedelta(days=20)
    table = rate_table({"USD", "CNY", "EUR"}, first, last)

    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        for currency in ("USD", "CNY", "EUR"):
            try:
                expected = rate_on(currency, day)
            except RateMissing:
                expected = None
            assert table.rate(currency, day) == expected, (currency, day)


def test_amounts_convert_half_away_from_zero_to_the_cent():
    assert to_business(Decimal("0.10"), Decimal("7.25")) == Decimal("0.73")  # 0.725
    assert to_business(Decimal("-0.10"), Decimal("7.25")) == Decimal("-0.73")
    assert to_business(Decimal("0.30"), Decimal("7.25")) == Decimal("2.18")  # 2.175
    # the largest amount at a 12-place rate: 72625350266229999.92737464973377 → .93
    amount, rate = Decimal("9999999999999999.99"), Decimal("7.262535026623")
    exact = Fraction(amount) * Fraction(rate)
    assert exact == Fraction("72625350266229999.92737464973377")
    assert to_business(amount, rate) == Decimal("72625350266229999.93")


@pytest.mark.django_db
def test_sums_convert_once_per_day_and_currency_and_keep_what_has_no_rate():
    stored(FRIDAY, "USD", "7.25")
    groups = [
        ("shop", FRIDAY, "USD", Decimal("10.01"), 1),
        ("shop", FRIDAY, "USD", Decimal("10.01"), 1),  # same day and currency: one conversion
        ("shop", FRIDAY, "CNY", Decimal("100.00"), 1),
        ("shop", FRIDAY, "GBP", Decimal("5.00"), 2),
    ]

    (total,) = convert_groups(groups).values()

    # 20.02 × 7.25 = 145.145 → 145.15 (converting 10.01 twice would give 2 × 72.57 = 145.14)
    assert total.amount == Decimal("245.15")
    assert total.original == {"USD": Decimal("20.02"), "CNY": Decimal("100.00"), "GBP": Decimal("5.00")}
    assert total.missing == {"GBP": Decimal("5.00")} and total.missing_count == 2
    assert not total.complete and total.not_converted() == "5.00 GBP"
    assert Converted().complete


def exact_cross(business_per_euro: str, currency_per_euro: str) -> Decimal:
    """business ÷ currency as an exact fraction, rounded half-even to 12 places."""
    scaled = Fraction(business_per_euro) / Fraction(currency_per_euro) * 10**12
    return Decimal(round(scaled)).scaleb(-12)


def test_cross_rates_to_cny_from_the_ecb_sample_are_exact_to_twelve_places():
    published = PublishedRates("ECB", "EUR", parse(ECB_DAILY.read_bytes()))
    rates = {r.currency: r for r in cross_rates(published, "CNY")}

    assert set(rates) == set(published.days[FRIDAY]) - {"CNY"} | {"EUR"}  # 29 currencies + the euro
    assert rates["EUR"].rate == Decimal("7.774800000000")  # EUR/CNY as published
    assert rates["USD"].rate == exact_cross("7.7748", "1.0705") == Decimal("7.262774404484")
    assert rates["JPY"].rate == exact_cross("7.7748", "171.94")
    assert rates["IDR"].rate == exact_cross("7.7748", "17487.21")
    assert rates["USD"].basis == "EUR/CNY 7.7748 ÷ EUR/USD 1.0705"
    assert all(r.day == FRIDAY for r in rates.values())


def test_cross_rates_need_the_business_currency_in_the_file():
    published = PublishedRates("ECB", "EUR", {FRIDAY: {"USD": Decimal("1.0705")}})
    with pytest.raises(RateSourceError, match="CNY"):
        cross_rates(published, "CNY")
    (usd,) = cross_rates(published, "EUR")  # a business currency that is the base: 1 ÷ rate
    assert usd.rate == exact_cross("1", "1.0705")
