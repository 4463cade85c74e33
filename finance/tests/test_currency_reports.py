"""Finance reports in the business currency (CNY): each (day, channel, currency) group converted
at its day's rate and rounded half away from zero once; the original currencies kept; orders in
a currency without a rate reported as not converted, with a count."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from core.timezones import business_date
from finance import reports
from finance.selectors import period_overview
from finance.tests.currencies import at, order_in, pay, rate
from finance.tests.test_rates import FRIDAY

pytestmark = pytest.mark.django_db
THURSDAY = FRIDAY - timedelta(days=1)


@pytest.fixture
def mixed_sales():
    """Today: 212.80 CNY, 2 × 10.01 USD, 99.99 EUR and 50.00 GBP (no GBP rate), each with a
    1.00 commission; USD at yesterday's rate (the latest on or before today), EUR at today's."""
    today = business_date()
    rate(today - timedelta(days=1), "USD", "7.25")
    rate(today, "EUR", "7.7748")
    for currency, total in (
        ("CNY", "212.80"),
        ("USD", "10.01"),
        ("USD", "10.01"),
        ("EUR", "99.99"),
        ("GBP", "50.00"),
    ):
        pay(order_in(currency, total, commission="1.00"))
    return today


def test_daily_sales_are_converted_per_day_and_currency_exact_to_the_cent(mixed_sales):
    report = reports.daily_sales(start=mixed_sales, end=mixed_sales)

    header = [str(h) for h in report.header]
    rows = {row[3]: dict(zip(header, row, strict=True)) for row in report.rows}
    assert header[-3:] == ["Rate to CNY", "Billed (CNY)", "Net (CNY)"]
    assert (rows["CNY"]["Rate to CNY"], rows["CNY"]["Billed (CNY)"], rows["CNY"]["Net (CNY)"]) == (
        1,
        Decimal("212.80"),
        Decimal("211.80"),
    )
    usd = rows["USD"]
    assert (usd["Billed"], usd["Net"], usd["Rate to CNY"]) == (
        Decimal("20.02"),
        Decimal("18.02"),
        Decimal("7.25"),
    )
    # one conversion for the day's USD: 20.02 × 7.25 = 145.145 → 145.15 (not 2 × 72.57 = 145.14);
    # 18.02 × 7.25 = 130.645 → 130.65 (half away from zero; half-even would give 130.64)
    assert (usd["Billed (CNY)"], usd["Net (CNY)"]) == (Decimal("145.15"), Decimal("130.65"))
    eur = rows["EUR"]  # 99.99 × 7.7748 = 777.402252; 98.99 × 7.7748 = 769.627452
    assert (eur["Billed (CNY)"], eur["Net (CNY)"]) == (Decimal("777.40"), Decimal("769.63"))
    gbp = rows["GBP"]
    assert (gbp["Billed"], gbp["Rate to CNY"], gbp["Billed (CNY)"]) == (
        Decimal("50.00"),
        "no rate",
        "not converted",
    )

    billed, net = report.summary
    assert billed == (
        "Billed: 1,135.35 CNY (212.80 CNY + 99.99 EUR + 50.00 GBP + 20.02 USD); "
        "not converted, no rate: 1 order, 50.00 GBP"
    )
    assert net.startswith("Net: 1,112.08 CNY (")


def test_receivables_convert_each_day_placed_at_its_rate_and_count_orders_without_one():
    rate(THURSDAY, "USD", "7.20")
    rate(FRIDAY, "USD", "7.25")
    pay(order_in("USD", "10.00", THURSDAY))
    pay(order_in("USD", "10.01", FRIDAY))
    pay(order_in("USD", "10.01", FRIDAY))
    pay(order_in("CNY", "212.80", FRIDAY))
    pay(order_in("JPY", "1000.00", FRIDAY))

    report = reports.receivables()

    rows = {row[2]: row for row in report.rows}
    assert rows["USD"][3:5] == [3, Decimal("30.02")]
    assert rows["USD"][-2:] == [Decimal("217.15"), 0]  # 10.00 × 7.20 = 72.00 + 20.02 × 7.25 = 145.15
    assert rows["CNY"][-2:] == [Decimal("212.80"), 0]
    assert rows["JPY"][3:5] == [1, Decimal("1000.00")] and rows["JPY"][-2:] == [Decimal("0.00"), 1]
    (line,) = report.summary
    assert line.startswith("Receivable: 429.95 CNY (212.80 CNY + 1,000.00 JPY + 30.02 USD)")
    assert line.endswith("not converted, no rate: 1 order, 1,000.00 JPY")


def test_payables_convert_overpayments_at_the_day_the_order_was_placed():
    rate(FRIDAY, "USD", "7.25")
    over = order_in("USD", "10.00", FRIDAY)
    pay(over, txn="FIRST")
    pay(over, txn="SECOND")  # 10.00 USD more than the order's total

    (row,) = reports.payables().rows

    assert row[2] == "USD" and row[7] == Decimal("10.00") and row[-2:] == [Decimal("72.50"), 0]


def test_the_report_page_and_its_export_show_the_business_currency(client, finance_user, mixed_sales):
    client.force_login(finance_user)
    url = reverse("finance:report-daily")

    page = client.get(url).content.decode()
    exported = client.get(url, {"format": "csv"})

    assert "Billed: 1,135.35 CNY" in page and "not converted, no rate: 1 order, 50.00 GBP" in page
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-3:] == ["Rate to CNY", "Billed (CNY)", "Net (CNY)"]
    (usd,) = [row for row in rows[1:] if row[3] == "USD"]
    assert usd[-3:] == ["7.25", "145.15", "130.65"]


def test_the_periods_page_sums_payments_at_their_fixed_rates():
    rate(FRIDAY, "USD", "7.25")
    pay(order_in("USD", "10.01", FRIDAY), FRIDAY)
    pay(order_in("CNY", "212.80", FRIDAY), FRIDAY)
    pay(order_in("GBP", "5.00", FRIDAY), FRIDAY)

    (june,) = [row for row in period_overview(now=at(FRIDAY)) if row.label == "2024-06"]

    assert june.payment_sums == {"USD": Decimal("10.01"), "CNY": Decimal("212.80"), "GBP": Decimal("5.00")}
    assert (june.business_total, june.unconverted) == (Decimal("285.37"), 1)  # 72.5725 → 72.57 + 212.80
