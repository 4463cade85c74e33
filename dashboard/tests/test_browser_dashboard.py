"""The manager dashboard in a real browser (Chromium via Playwright), in Chinese and in English:
the 7-day preset sets and shows the range, the KPI cards and the order-health view render, and
every chart panel draws a canvas or says it has no data. Screenshots in both languages."""

from datetime import timedelta

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from core.tests.test_browser_desk import sign_in
from core.timezones import business_date
from dashboard import panels
from dashboard.rollups import rollup_refresh
from finance.tests.currencies import order_in, rate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sales():
    today = business_date()
    rate(today - timedelta(days=3), "USD", "7.25")
    for days_ago, currency, total in (
        (3, "USD", "10.00"),
        (3, "CNY", "212.80"),
        (1, "CNY", "99.00"),
        (10, "CNY", "50.00"),
    ):
        order_in(currency, total, today - timedelta(days=days_ago))
    order_in("CNY", "30.00")  # two hours ago: today, a partial day
    rollup_refresh()


def _check_the_dashboard(desk, language: str) -> None:
    with desk.expect_navigation():
        desk.click("a[data-preset='7d']")
    desk.wait_for_selector("a[data-preset='7d'].active")
    desk.wait_for_selector("body[data-charts-ready=true]")
    today = business_date()
    assert desk.input_value("input[name=date_from]") == (today - timedelta(days=6)).isoformat()
    assert desk.input_value("input[name=date_to]") == today.isoformat()
    assert "preset=7d" in desk.url

    cards = desk.locator(".kpi")
    assert cards.count() == 6
    assert desk.locator("#kpi-orders .kpi-value").inner_text().strip() == "4"  # this week's orders
    assert "▲" in desk.locator("#kpi-orders .kpi-change").inner_text()  # 4 against 1 the week before
    assert desk.locator("#order-health .big-number").is_visible()

    for key in panels.PANELS:
        section = desk.locator(f"#panel-{key}")
        drawn = section.locator("canvas").count() + section.locator(".no-data").count()
        drawn += section.locator("table, .big-number").count()
        assert drawn >= 1, key
    # the orders chart: today's bar is marked partial; a percent axis runs 0–100
    chart = desk.evaluate(
        """() => {
          const orders = Chart.getChart(document.querySelector("canvas[data-panel=orders_per_day]"));
          const health = Chart.getChart(document.querySelector("canvas[data-panel=health_index]"));
          const colours = orders.data.datasets[0].backgroundColor;
          return {
            partialLighter: colours[colours.length - 1] !== colours[0],
            healthAxis: [health.options.scales.y.min, health.options.scales.y.max],
          };
        }"""
    )
    assert chart == {"partialLighter": True, "healthAxis": [0, 100]}
    # unpaid orders only: no refund rate to draw, and the page says so
    assert desk.locator("#panel-refund_rate .no-data").is_visible()
    screenshot(desk, f"dashboard-7d-{language}")


def test_the_dashboard_in_chinese_and_english(desk, make_user, sales):
    sign_in(desk, make_user(Role.MANAGER))
    desk.goto(f"{desk.base_url}/dashboard/")
    desk.select_option("form.lang select[name=language]", "zh-hans")
    desk.wait_for_selector("html[lang=zh-hans]")
    assert "/dashboard/" in desk.url
    assert "管理看板" in desk.locator("h1").inner_text()
    assert "每日订单数" in desk.locator("#panel-orders_per_day h2").inner_text()

    _check_the_dashboard(desk, "zh-hans")

    desk.select_option("form.lang select[name=language]", "en")
    desk.wait_for_selector("html[lang=en]")
    _check_the_dashboard(desk, "en")
    assert "Orders" in desk.locator("#kpi-orders h2").inner_text()
