"""The order edit form in a real browser (Debian Chromium via Playwright, REQUIRE_BROWSER=1 in CI):
an agent edits a held order's quantity and sees the new total and the line's money; the SKU box
searches by code as the agent types."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from inventory.models import HOLDING, Reservation
from orders.models import OrderEventKind
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user


def sign_in(page, user):
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")


def test_agent_edits_a_held_order_s_quantity_and_sees_the_new_total(desk, make_user):
    order = order_in_state("on_hold")
    first, second = order.lines.get(line_no=1), order.lines.get(line_no=2)
    sign_in(desk, make_user(Role.CUSTOMER_SERVICE))

    desk.goto(f"{desk.base_url}{order.get_absolute_url()}")
    amounts = desk.locator("#amounts")
    assert "CNY 212.80" in amounts.locator("dd.money-total").inner_text()
    desk.click("text=Edit lines")
    assert desk.locator(f"input[name=line_{first.pk}_unit_price]").count() == 0  # no price permission

    sku_box = desk.locator(f"input[name=line_{second.pk}_sku]")
    sku_box.fill("")
    sku_box.press_sequentially("SKU-", delay=30)  # the search box fills its list as one types
    desk.locator("#sku-options option[value='SKU-3']").wait_for(state="attached")
    assert desk.locator("#sku-options option").count() == 3  # SKU-1, SKU-2, SKU-3
    sku_box.fill("SKU-2")  # keep the item as it is

    desk.fill(f"input[name=line_{first.pk}_quantity]", "3")
    desk.fill("#edit-lines input[name=reason]", "Customer asked for three")
    screenshot(desk, "order-edit-form")
    desk.click("button.action-edit-lines")

    success = desk.locator("ul.messages li.success")
    success.wait_for()
    assert "line 1 (SKU-1): quantity 2 → 3" in success.inner_text()
    assert "Total 212.80 → 267.53 CNY" in success.inner_text()
    assert "CNY 267.53" in desk.locator("#amounts dd.money-total").inner_text()
    row = desk.locator("table.money-lines tr[data-line='1']")
    assert "CNY 179.70" in row.inner_text() and "CNY 164.19" in row.inner_text()  # goods, paid
    assert "Customer asked for three" in desk.locator("ol.timeline li.event-edited").inner_text()
    screenshot(desk, "order-edited")

    held = sum(r.quantity for r in Reservation.objects.filter(order_line=first, state__in=HOLDING))
    assert held == 3
    assert order.events.filter(kind=OrderEventKind.EDITED).count() == 1
