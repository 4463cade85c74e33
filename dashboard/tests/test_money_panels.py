"""The dashboard's money panels in the business currency (CNY): each rollup row (day, channel,
currency) converted at its day's rate and rounded once, the original currency kept in the
tooltip and the download, orders without a rate counted as not converted."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from core.roles import Role
from dashboard import panels
from dashboard.rollups import rollup_refresh
from finance.tests.currencies import order_in, rate
from finance.tests.test_rates import FRIDAY

pytestmark = pytest.mark.django_db
THURSDAY = FRIDAY - timedelta(days=1)


@pytest.fixture
def sold():
    rate(THURSDAY, "USD", "7.20")
    rate(FRIDAY, "USD", "7.25")
    rate(FRIDAY - timedelta(days=3), "EUR", "7.7748")  # Tuesday's: the latest on or before Friday
    order_in("USD", "10.00", THURSDAY)
    order_in("USD", "10.01", FRIDAY)
    order_in("USD", "10.01", FRIDAY)
    order_in("CNY", "212.80", FRIDAY)
    order_in("EUR", "99.99", FRIDAY)
    order_in("JPY", "1000.00", FRIDAY)  # no JPY rate
    rollup_refresh(full=True)
    return panels.from_rollups(THURSDAY, FRIDAY)


def test_sales_per_day_are_in_cny_per_original_currency_exact_to_the_cent(sold):
    panel = panels.sales_per_day(sold)

    assert panel.title == "Sales per day (CNY)" and panel.stacked
    assert panel.labels == [THURSDAY.isoformat(), FRIDAY.isoformat()]
    series = {s["label"]: s for s in panel.series}
    assert list(series) == ["CNY", "EUR", "JPY", "USD"]
    # Friday's USD: 20.02 × 7.25 = 145.145 → 145.15, converted once for the day
    assert series["USD"]["data"] == [Decimal("72.00"), Decimal("145.15")]
    assert series["USD"]["original"] == ["10.00 USD", "20.02 USD"]
    assert series["EUR"]["data"] == [None, Decimal("777.40")]  # 99.99 × 7.7748 = 777.402252
    assert series["CNY"]["data"] == [None, Decimal("212.80")]
    assert series["JPY"]["data"] == [None, None] and series["JPY"]["original"] == ["", "1,000.00 JPY"]
    assert panel.note == (
        "Sales: 1,207.35 CNY (212.80 CNY + 99.99 EUR + 1,000.00 JPY + 30.02 USD); "
        "not converted, no rate: 1 order, 1,000.00 JPY"
    )


def test_average_order_value_compares_currencies_in_cny_and_leaves_out_orders_without_a_rate(sold):
    panel = panels.average_order_value(sold)

    assert panel.labels == ["All", "CNY", "EUR", "JPY", "USD"]
    (series,) = panel.series
    # all: 1,207.35 CNY over the 5 orders with a rate = 241.47; USD: 217.15 / 3 = 72.383…
    assert series["data"] == [Decimal("241.47"), Decimal("212.80"), Decimal("777.40"), None, Decimal("72.38")]
    assert series["original"][1:] == ["212.80 CNY", "99.99 EUR", "1000.00 JPY", "10.01 USD"]
    assert "not converted, no rate: 1 order, 1,000.00 JPY" in panel.note


def test_panels_on_rollups_equal_panels_on_raw_tables(sold):
    raw = panels.from_raw(THURSDAY, FRIDAY)

    for build in (panels.sales_per_day, panels.average_order_value):
        from_rollups, from_raw = build(sold), build(raw)
        assert (from_rollups.labels, from_rollups.series, from_rollups.note) == (
            from_raw.labels,
            from_raw.series,
            from_raw.note,
        )


def test_the_page_and_download_keep_the_original_currency(client, make_user, sold):
    client.force_login(make_user(Role.MANAGER))
    query = {"date_from": THURSDAY.isoformat(), "date_to": FRIDAY.isoformat()}

    page = client.get(reverse("dashboard:home"), query)
    download = client.get(reverse("dashboard:download", args=["sales_per_day", "csv"]), query)

    charts = page.context["chart_data"]
    usd = next(s for s in charts["sales_per_day"]["series"] if s["label"] == "USD")
    assert charts["sales_per_day"]["stacked"] and usd["data"] == [72.0, 145.15]
    assert all(type(value) is float for value in usd["data"])  # numbers for Chart.js, not strings
    assert "20.02 USD" in page.content.decode()  # the tooltip's original amounts
    assert "not converted, no rate: 1 order, 1,000.00 JPY" in page.content.decode()
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "Label",
        "CNY",
        "CNY, original currency",
        "EUR",
        "EUR, original currency",
        "JPY",
        "JPY, original currency",
        "USD",
        "USD, original currency",
    ]
    assert rows[2] == [
        FRIDAY.isoformat(),
        "212.80",
        "212.80 CNY",
        "777.40",
        "99.99 EUR",
        "",
        "1,000.00 JPY",
        "145.15",
        "20.02 USD",
    ]
