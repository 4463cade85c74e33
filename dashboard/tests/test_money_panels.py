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


def test_sales_per_day_are_one_cny_series_exact_to_the_cent(sold):
    panel = panels.sales_per_day(sold)

    assert panel.title == "Sales per day (CNY)" and panel.axis["title"] == "CNY"
    assert panel.labels == [THURSDAY.isoformat(), FRIDAY.isoformat()]
    (series,) = panel.series  # one unit on the axis: the business currency only
    # Thursday: 10.00 USD × 7.20. Friday: USD 20.02 × 7.25 = 145.145 → 145.15 (converted once for
    # the day) + EUR 99.99 × 7.7748 = 777.402252 → 777.40 + CNY 212.80; JPY has no rate
    assert series["data"] == [Decimal("72.00"), Decimal("1135.35")]
    assert series["original"] == ["10.00 USD", "212.80 CNY + 99.99 EUR + 1,000.00 JPY + 20.02 USD"]
    assert panel.note == (
        "Sales: 1,207.35 CNY (212.80 CNY + 99.99 EUR + 1,000.00 JPY + 30.02 USD); "
        "not converted, no rate: 1 order, 1,000.00 JPY"
    )


def test_average_order_value_per_day_in_cny_leaves_out_orders_without_a_rate(sold):
    panel = panels.average_order_value(sold)

    assert panel.labels == [THURSDAY.isoformat(), FRIDAY.isoformat()]
    (series,) = panel.series
    # Friday: 1,135.35 CNY over the 4 orders with a rate (the JPY one is left out) = 283.8375
    assert series["data"] == [Decimal("72.00"), Decimal("283.84")]
    assert panel.axis == {"title": "CNY", "min": 0}
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


def test_the_page_draws_cny_and_the_download_keeps_the_original_currencies(client, make_user, sold):
    client.force_login(make_user(Role.MANAGER))
    query = {"date_from": THURSDAY.isoformat(), "date_to": FRIDAY.isoformat()}

    page = client.get(reverse("dashboard:home"), query)
    download = client.get(reverse("dashboard:download", args=["sales_per_day", "csv"]), query)

    charts = page.context["chart_data"]
    (sales,) = charts["sales_per_day"]["series"]
    assert sales["label"] == "Sales (CNY)" and sales["data"] == [72.0, 1135.35]
    assert all(type(value) is float for value in sales["data"])  # numbers for Chart.js, not strings
    assert "20.02 USD" in page.content.decode()  # the tooltip's original amounts
    assert "not converted, no rate: 1 order, 1,000.00 JPY" in page.content.decode()
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "Label",
        "Sales (CNY)",
        "Sales (CNY), original currency",
        "CNY, original currency",
        "EUR, original currency",
        "JPY, original currency",
        "USD, original currency",
        "Orders not converted (no rate)",
        "Partial",
    ]
    assert rows[2] == [
        FRIDAY.isoformat(),
        "1135.35",
        "212.80 CNY + 99.99 EUR + 1,000.00 JPY + 20.02 USD",
        "212.80",
        "99.99",
        "1000.00",
        "20.02",
        "1",
        "",
    ]
