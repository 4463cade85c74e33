"""The dashboard's sales chart in a real browser (Chromium via Playwright): currencies stacked in CNY, the
tooltip naming each bar's original amount."""

import pytest

from core.roles import Role
from core.tests.test_browser_desk import sign_in
from core.timezones import business_date
from dashboard.rollups import rollup_refresh
from finance.tests.currencies import order_in, rate

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sales_chart_stacks_currencies_in_cny_and_shows_the_original_amount(desk, make_user):
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
          const usd = chart.data.datasets.findIndex((d) => d.label === "USD");
          const day = chart.data.datasets[usd].data.findIndex((v) => v !== null);
          return {
            stacked: chart.options.scales.y.stacked,
            labels: chart.data.datasets.map((d) => d.label),
            usd: chart.data.datasets[usd].data[day],
            footer: chart.options.plugins.tooltip.callbacks.footer([{ datasetIndex: usd, dataIndex: day }]),
          };
        }"""
    )
    assert drawn == {"stacked": True, "labels": ["CNY", "USD"], "usd": 72.57, "footer": "10.01 USD"}
    assert "Sales per day (CNY)" in desk.locator("#panel-sales_per_day").inner_text()
