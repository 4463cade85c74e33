"""The dashboard's sales chart in a real browser (Chromium via Playwright): one series in CNY (one unit
on the axis), the tooltip naming each bar's original amounts."""

import pytest

from core.roles import Role
from core.tests.test_browser_desk import sign_in
from core.timezones import business_date
from dashboard.rollups import rollup_refresh
from finance.tests.currencies import order_in, rate

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sales_chart_is_in_cny_and_shows_the_original_amounts(desk, make_user):
    rate(business_date(), "USD", "7.25")
    order_in("USD", "10.01")
    order_in("CNY", "212.80")
    rollup_refresh()
    sign_in(desk, make_user(Role.MANAGER))

    desk.goto(f"{desk.base_url}/dashboard/")
    desk.wait_for_selector("body[data-charts-ready=true]")

    drawn = desk.evaluate(
        """() => {
          const chart = Chart.getChart(document.querySelector("canvas[data-panel=sales_per_day]"));
          const day = chart.data.datasets[0].data.findIndex((v) => v !== null);
          return {
            labels: chart.data.datasets.map((d) => d.label),
            axis: chart.options.scales.y.title.text,
            today: chart.data.datasets[0].data[day],
            footer: chart.options.plugins.tooltip.callbacks.footer([{ datasetIndex: 0, dataIndex: day }]),
          };
        }"""
    )
    # 10.01 USD × 7.25 = 72.5725 → 72.57, plus 212.80 CNY; today is a partial day
    assert drawn == {
        "labels": ["Sales (CNY)"],
        "axis": "CNY",
        "today": 285.37,
        "footer": "212.80 CNY + 10.01 USD\nPartial day: figures not final.",
    }
    assert "Sales per day (CNY)" in desk.locator("#panel-sales_per_day").inner_text()
