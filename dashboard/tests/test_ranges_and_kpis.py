"""The range in use and the headline figures: presets in the business time zone, the previous
period of the same length, KPI cards with their change, money in the business currency, partial
days that are marked and never drag a rate to 0, percent axes 0–100, "no data" states."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core.roles import Role
from core.timezones import business_date
from dashboard import kpis, panels, ranges
from dashboard.rollups import rollup_refresh
from finance.tests.currencies import at, earlier_today, order_in, rate
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """Stop the clock at a moment (the dashboard reads it through django.utils.timezone.now)."""

    def stop(moment: datetime):
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return stop


# --- presets and periods -------------------------------------------------------------------------


def test_presets_are_business_days_in_shanghai_not_utc(clock):
    # 17:30 UTC on 5 December is 01:30 on 6 December in Shanghai: "today" is the 6th
    clock(datetime(2026, 12, 5, 17, 30, tzinfo=UTC))
    assert ranges.preset_range("today") == (date(2026, 12, 6), date(2026, 12, 6))
    assert ranges.preset_range("7d") == (date(2026, 11, 30), date(2026, 12, 6))
    assert ranges.preset_range("30d") == (date(2026, 11, 7), date(2026, 12, 6))
    assert ranges.preset_range("month") == (date(2026, 12, 1), date(2026, 12, 6))
    assert ranges.preset_range("last_month") == (date(2026, 11, 1), date(2026, 11, 30))
    # last month of 1 March (a leap-free February), and of January (December the year before)
    assert ranges.preset_range("last_month", date(2027, 3, 1)) == (date(2027, 2, 1), date(2027, 2, 28))
    assert ranges.preset_range("last_month", date(2027, 1, 15)) == (date(2026, 12, 1), date(2026, 12, 31))


def test_previous_period_has_the_same_length_and_a_month_is_compared_with_the_month_before():
    assert ranges.previous_period(date(2026, 11, 30), date(2026, 12, 6)) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
    )
    assert ranges.previous_period(date(2026, 12, 6), date(2026, 12, 6)) == (
        date(2026, 12, 5),
        date(2026, 12, 5),
    )
    assert ranges.previous_period(date(2026, 3, 1), date(2026, 3, 31)) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )


def test_the_page_always_shows_the_range_in_use_and_lights_up_its_preset(client, make_user):
    make_order()  # the shop-cn channel
    client.force_login(make_user(Role.MANAGER))
    today = business_date()

    plain = client.get(reverse("dashboard:home")).content.decode()
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in plain  # From: 30 days back
    assert f'value="{today.isoformat()}"' in plain
    assert 'class="preset active" href="?preset=30d"' in plain

    week = client.get(reverse("dashboard:home"), {"preset": "7d", "channel": "shop-cn"})
    html = week.content.decode()
    assert f'value="{(today - timedelta(days=6)).isoformat()}"' in html
    assert 'class="preset active" href="?preset=7d&amp;channel=shop-cn"' in html  # the channel is kept
    assert 'href="?preset=today&amp;channel=shop-cn"' in html
    assert '<option value="shop-cn" selected>' in html
    # the downloads carry the effective dates, so they are what the page shows
    assert f"date_from={(today - timedelta(days=6)).isoformat()}" in week.context["query"]

    typed = client.get(
        reverse("dashboard:home"), {"date_from": today.isoformat(), "date_to": today.isoformat()}
    )
    assert (
        'class="preset active" href="?preset=today"' in typed.content.decode()
    )  # typed dates match a preset
    odd = client.get(reverse("dashboard:home"), {"date_from": "2026-01-03", "date_to": "2026-01-09"})
    assert "preset active" not in odd.content.decode()

    for bad in ({"preset": "yesterday"}, {"date_from": "2026-13-01"}, {"channel": "nope"}):
        refused = client.get(reverse("dashboard:home"), bad)
        assert refused.status_code == 200 and 'class="errorlist' in refused.content.decode(), bad


# --- KPI cards -----------------------------------------------------------------------------------


@pytest.fixture
def two_weeks(settings):
    """Three orders this week (CNY, USD with a rate, JPY without), two the week before (CNY)."""
    settings.SHIP_WITHIN_HOURS = 24
    today = business_date()
    this_week, last_week = today - timedelta(days=3), today - timedelta(days=10)
    rate(this_week, "USD", "7.00")
    order_in("CNY", "100.00", this_week)
    order_in("USD", "20.00", this_week)
    order_in("JPY", "1000.00", this_week)
    order_in("CNY", "50.00", last_week)
    order_in("CNY", "70.00", last_week)
    rollup_refresh(full=True)
    return today - timedelta(days=6), today


def _cards(first, last) -> dict[str, kpis.Kpi]:
    rows = panels.from_rollups(first, last)
    before = panels.from_rollups(*ranges.previous_period(first, last))
    return {card.key: card for card in kpis.kpis(rows, before)}


def test_kpi_cards_compare_with_the_previous_period_in_the_business_currency(two_weeks):
    cards = _cards(*two_weeks)

    assert (cards["orders"].value, cards["orders"].previous) == (3, 2)
    assert (cards["orders"].change, cards["orders"].arrow) == (50.0, "▲")
    # 100.00 CNY + 20.00 USD × 7.00; the JPY order has no rate: counted apart, never dropped
    assert cards["sales"].value == Decimal("240.00") and cards["sales"].unit == "CNY"
    assert cards["sales"].note == "1 order not converted (no rate)"
    assert cards["sales"].change == 100.0  # 240 against 120
    assert cards["aov"].value == Decimal("120.00")  # over the 2 converted orders
    assert cards["aov"].previous == Decimal("60.00") and cards["aov"].change == 100.0


def test_a_previous_period_without_data_shows_no_change(two_weeks, client, make_user):
    first, last = two_weeks
    cards = _cards(first - timedelta(days=7), last - timedelta(days=7))  # last week vs an empty week

    assert cards["orders"].value == 2 and cards["orders"].previous is None
    assert cards["orders"].change is None and cards["orders"].arrow == ""

    client.force_login(make_user(Role.MANAGER))
    page = client.get(
        reverse("dashboard:home"),
        {
            "date_from": (first - timedelta(days=7)).isoformat(),
            "date_to": (last - timedelta(days=7)).isoformat(),
        },
    )
    html = page.content.decode()
    assert 'id="kpi-orders"' in html and "no figure for the previous period" in html


def test_rates_change_in_points_and_fulfilment_counts_only_orders_due(settings):
    settings.SHIP_WITHIN_HOURS = 24
    today = business_date()
    # the week before: two paid orders, never shipped, long past their deadline → 0 % on time
    for _n in range(2):
        make_order(paid=True, placed_at=at(today - timedelta(days=10)).isoformat())
    # this week: one paid order overdue, one paid an hour ago (not due yet)
    make_order(paid=True, placed_at=at(today - timedelta(days=3)).isoformat())
    make_order(paid=True, placed_at=(timezone.now() - timedelta(hours=1)).isoformat())
    rollup_refresh(full=True)

    cards = _cards(today - timedelta(days=6), today)
    assert cards["fulfilment"].value == 0.0 and cards["fulfilment"].previous == 0.0
    assert cards["fulfilment"].change == 0.0 and cards["fulfilment"].direction == "flat"
    assert cards["late"].value == 1 and cards["late"].previous == 2 and cards["late"].change == -50.0
    assert cards["late"].arrow == "▼"


# --- partial days, axes, no data -----------------------------------------------------------------


def test_today_is_partial_and_its_fresh_orders_give_no_rate_instead_of_zero(settings, client, make_user):
    settings.SHIP_WITHIN_HOURS = 24
    make_order(paid=True, placed_at=earlier_today(timedelta(minutes=30)).isoformat())
    rollup_refresh()
    today = business_date()
    rows = panels.from_rollups(today - timedelta(days=2), today)

    fulfilment = panels.fulfilment_rate(rows)
    assert fulfilment.series[0]["data"] == [None, None, None]  # nothing due yet: no point, not 0 %
    assert fulfilment.partial == [False, False, True]
    assert panels.orders_per_day(rows).series[0]["data"] == [0, 0, 1]

    client.force_login(make_user(Role.MANAGER))
    page = client.get(reverse("dashboard:home"), {"preset": "7d"})
    html = page.content.decode()
    assert "Lighter bars: partial days" in html  # orders per day
    assert page.context["chart_data"]["orders_per_day"]["partial"][-1] is True
    assert page.context["partial"] == [today]
    assert page.context["kpis"][3].value is None  # the fulfilment card: no orders due, no rate


def test_days_after_the_last_rollup_refresh_are_partial(clock):
    make_order()
    rollup_refresh()
    today = business_date()
    clock(timezone.now() + timedelta(days=2))  # the refresh stopped two days ago
    rows = panels.from_rollups(today - timedelta(days=1), today + timedelta(days=2))
    assert panels.orders_per_day(rows).partial == [False, True, True, True]


def test_each_chart_has_one_unit_and_percent_axes_run_from_0_to_100(client, make_user, settings):
    settings.SHIP_WITHIN_HOURS = 24
    make_order(paid=True, placed_at=at(business_date() - timedelta(days=3)).isoformat())
    rollup_refresh()
    client.force_login(make_user(Role.MANAGER))

    charts = client.get(reverse("dashboard:home"), {"preset": "7d"}).context["chart_data"]

    for key in ("fulfilment_rate", "refund_rate", "health_index"):
        assert {k: charts[key]["axis"][k] for k in ("min", "max", "percent")} == {
            "min": 0,
            "max": 100,
            "percent": True,
        }, key
    assert charts["orders_per_day"]["axis"] == {"title": "Orders", "min": 0, "integer": True}
    assert charts["sales_per_day"]["axis"]["title"] == "CNY" and len(charts["sales_per_day"]["series"]) == 1
    assert len(charts["average_order_value"]["series"]) == 1
    # percent and minutes no longer share a chart: the logistics panels are two
    assert {"logistics_sync", "logistics_latency"} <= set(panels.PANELS)
    for chart in charts.values():
        assert chart["axis"].get("min", 0) >= 0  # never an axis from −1


def test_charts_without_data_say_so_instead_of_drawing_an_empty_canvas(client, make_user):
    client.force_login(make_user(Role.MANAGER))

    page = client.get(reverse("dashboard:home"), {"date_from": "2020-01-01", "date_to": "2020-01-31"})

    html = page.content.decode()
    assert page.context["chart_data"] == {}
    for key in ("orders_per_day", "sales_per_day", "fulfilment_rate", "refund_rate", "problem_carriers"):
        assert f'data-no-data="{key}"' in html
        assert f'data-panel="{key}"' not in html
    assert html.count("No data for this range.") == len(panels.PANELS)


def test_a_zero_refund_rate_is_a_figure_not_missing_data(settings):
    make_order(paid=True, placed_at=at(business_date() - timedelta(days=2)).isoformat())
    rollup_refresh()
    today = business_date()
    panel = panels.refund_rate(panels.from_rollups(today - timedelta(days=2), today))
    assert panel.series[0]["data"][0] == 0.0 and panel.has_data
