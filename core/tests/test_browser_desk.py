"""The desk in a real browser (Debian Chromium via Playwright): sign-in per role, finding an order
by phone, cancelling a line and seeing the stock come back, and the Chinese desk."""

import pytest
from django.db import transaction

from core.roles import Role
from core.tests.browser import screenshot
from dashboard.rollups import rollup_refresh
from inventory.models import ReservationState
from orders.models import OrderLine
from orders.tests.factories import SKUFactory, make_order, order_in_state, receive

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user


def sign_in(page, user):
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")


@pytest.mark.parametrize(
    ("role", "sees", "does_not_see"),
    [
        (Role.CUSTOMER_SERVICE, "Held orders", "Master data"),
        (Role.WAREHOUSE, "Stock", "Held orders"),
        (Role.FINANCE, "Orders", "Stock"),
        (Role.MANAGER, "Breakers", "Master data"),
    ],
)
def test_each_role_signs_in_and_sees_its_navigation(desk, make_user, role, sees, does_not_see):
    sign_in(desk, make_user(role))
    nav = desk.locator("nav.nav")
    assert nav.get_by_role("link", name=sees, exact=True).count() == 1
    assert nav.get_by_role("link", name=does_not_see, exact=True).count() == 0
    screenshot(desk, f"home-{role}")


def test_agent_finds_order_by_phone_cancels_a_line_and_sees_stock_released(desk, make_user):
    order = make_order(customer={"name": "李雷", "phone": "13912345678"}, external_id="BR-1")
    other = make_order(customer={"name": "韩梅梅", "phone": "13700000000"}, external_id="BR-2")
    line = order.lines.get(line_no=1)
    held_before = sum(r.quantity for r in line.reservations.filter(state=ReservationState.ACTIVE))
    assert held_before == 2

    sign_in(desk, make_user(Role.CUSTOMER_SERVICE))
    desk.goto(f"{desk.base_url}/orders/")
    desk.fill("form.filters input[name=search]", "139 1234 5678")
    desk.click("form.filters button[type=submit]")
    desk.wait_for_url("**search=*")
    assert desk.get_by_role("link", name=order.number).count() == 1
    assert desk.get_by_role("link", name=other.number).count() == 0
    screenshot(desk, "order-search")

    desk.get_by_role("link", name=order.number).click()
    desk.wait_for_selector(f"h1:has-text('{order.number}')")
    desk.click("text=Cancel some lines")
    desk.fill(f"input[name=line_{line.pk}]", "1")
    desk.fill("details input[name=reason]", "Customer wants one less")
    desk.once("dialog", lambda dialog: dialog.accept())  # "Cancel these quantities? …"
    desk.click("text=Cancel these quantities")

    timeline = desk.locator("ol.timeline")
    timeline.locator("li.event-lines_cancelled").wait_for()
    assert "Customer wants one less" in timeline.inner_text()
    assert "Stock released: 1 units" in timeline.inner_text()
    screenshot(desk, "order-detail-line-cancelled")

    line = OrderLine.objects.get(pk=line.pk)
    assert line.cancelled_quantity == 1
    assert sum(r.quantity for r in line.reservations.filter(state=ReservationState.ACTIVE)) == 1


def test_language_switch_shows_the_desk_in_chinese(desk, make_user):
    sign_in(desk, make_user(Role.MANAGER))
    desk.select_option("form.lang select[name=language]", "zh-hans")
    desk.wait_for_selector("html[lang=zh-hans]")
    nav_text = desk.locator("nav.nav").inner_text()
    assert "订单" in nav_text and "库存" in nav_text
    assert "Orders" not in nav_text and "Stock" not in nav_text
    screenshot(desk, "home-zh-hans")


def test_warehouse_scans_a_wrong_item_and_is_told_then_packs_the_right_ones(desk, make_user):
    with transaction.atomic():  # routed by the factory, before the on-commit routing task runs
        order = order_in_state("allocated")
    shipment = order.shipments.get()
    stranger = SKUFactory(code="SKU-STRANGER")
    receive(stranger, 5)

    sign_in(desk, make_user(Role.WAREHOUSE))
    desk.goto(f"{desk.base_url}/fulfilment/shipments/")
    desk.get_by_role("link", name=shipment.number).click()
    scan = desk.locator("input.scan-input")
    assert scan.evaluate("element => element === document.activeElement")  # the scanner types here
    scan.fill("SKU-STRANGER")
    scan.press("Enter")  # a keyboard-wedge scanner ends with Enter
    error = desk.locator("ul.messages li.error")
    error.wait_for()
    assert "Wrong item" in error.inner_text() and "SKU-STRANGER" in error.inner_text()
    screenshot(desk, "warehouse-scan-wrong-item")

    for line in order.lines.all():
        for _unit in range(line.quantity):
            desk.locator("input.scan-input").fill(line.sku.code)
            desk.locator("input.scan-input").press("Enter")
            desk.locator("ul.messages li.success").first.wait_for()
    assert "ready to ship" in desk.locator("ul.messages").inner_text()
    shipment.refresh_from_db()
    assert shipment.status == "packed"


def test_manager_dashboard_draws_its_charts_with_data(desk, make_user):
    with transaction.atomic():
        shipped = order_in_state("delivered")
    make_order()
    rollup_refresh()
    sign_in(desk, make_user(Role.MANAGER))
    desk.goto(f"{desk.base_url}/dashboard/")
    desk.wait_for_selector("body[data-charts-ready=true]")
    charts = desk.locator("canvas[data-panel]")
    assert charts.count() >= 6
    orders_drawn = desk.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-panel=orders_per_day]')).data.datasets[0].data"
    )
    assert sum(orders_drawn) == 2
    carriers = desk.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-panel=logistics_sync]')).data.labels"
    )
    assert shipped.shipments.get().carrier.name in carriers
    screenshot(desk, "manager-dashboard")


def test_the_order_and_return_pages_read_wholly_in_chinese(desk, make_user):
    """In a real browser, in Chinese: the order page (timeline, routing reasons, amounts) and the
    RMA page carry no English catalogue text (core/tests/untranslated.py)."""
    from core.tests.untranslated import english_on_chinese_page
    from returns.tests.conftest import delivered_order, receive_and_inspect, request_return

    with transaction.atomic():
        shipped = order_in_state("shipped")
    rma = receive_and_inspect(request_return(delivered_order(), (1, 1)), {1: {"intact": 1}})

    sign_in(desk, make_user(Role.MANAGER))
    desk.select_option("form.lang select[name=language]", "zh-hans")
    desk.wait_for_selector("html[lang=zh-hans]")
    for name, url in (("order", shipped.get_absolute_url()), ("rma", rma.get_absolute_url())):
        desk.goto(f"{desk.base_url}{url}")
        desk.wait_for_selector("ol.timeline")
        screenshot(desk, f"{name}-detail-zh-hans")
        assert english_on_chinese_page(desk.content()) == [], name
