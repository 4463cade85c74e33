"""A partial cancellation in a real browser (Debian Chromium via Playwright, REQUIRE_BROWSER=1 in
CI): the agent is asked first, then sees what the cancelled units were paid, the total for the
units still ordered and the amount to refund — in English and in Chinese."""

import pytest
from django.db import transaction

from core.roles import Role
from core.tests.browser import screenshot
from core.tests.test_browser_order_edit import sign_in
from core.tests.untranslated import english_on_chinese_page
from orders.models import OrderLine
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db(transaction=True)


def _cancel_one_unit_of_the_first_line(page, order, *, accept: bool) -> str:
    """Fill the partial-cancellation form and answer its confirmation; returns what it asked."""
    first = order.lines.get(line_no=1)
    page.goto(f"{page.base_url}{order.get_absolute_url()}")
    page.locator("details:has(button.action-cancel-lines) > summary").click()
    page.fill(f"input[name=line_{first.pk}]", "1")
    page.fill("form:has(button.action-cancel-lines) input[name=reason]", "size")
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", answer)
    page.click("button.action-cancel-lines")
    if accept:
        page.locator("ul.messages li.success").wait_for()
    return asked[0] if asked else ""


def _paid_and_routed():
    with transaction.atomic():  # routed by the factory, before the on-commit routing task runs
        return order_in_state("allocated")


def test_the_agent_confirms_a_partial_cancellation_and_sees_the_new_totals(desk, make_user):
    # SKU-1: 2 × 59.90 − 5.00 = 114.80, less 5.34 of the order discount = 109.46 paid: 54.73 a unit.
    order = _paid_and_routed()
    sign_in(desk, make_user(Role.CUSTOMER_SERVICE))

    asked = _cancel_one_unit_of_the_first_line(desk, order, accept=False)
    assert "Cancel these quantities?" in asked
    assert OrderLine.objects.get(order=order, line_no=1).cancelled_quantity == 0  # "no" changed nothing

    _cancel_one_unit_of_the_first_line(desk, order, accept=True)
    message = desk.locator("ul.messages li.success").inner_text()
    assert "Total for the units still ordered: CNY 158.07" in message
    assert "To refund for cancelled units: CNY 54.73" in message
    amounts = desk.locator("#amounts")
    assert amounts.locator("dd.money-cancelled").inner_text() == "−CNY 54.73"
    assert amounts.locator("dd.money-live-total").inner_text() == "CNY 158.07"
    assert amounts.locator("dd.money-refund-due").inner_text() == "CNY 54.73"
    assert desk.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(desk, "order-partially-cancelled")


def test_a_partial_cancellation_reads_in_chinese(desk, make_user):
    order = _paid_and_routed()
    desk.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": desk.base_url}])
    sign_in(desk, make_user(Role.CUSTOMER_SERVICE))

    asked = _cancel_one_unit_of_the_first_line(desk, order, accept=True)
    assert asked.startswith("确定取消这些数量")
    assert "54.73" in desk.locator("#amounts dd.money-refund-due").inner_text()
    assert english_on_chinese_page(desk.content()) == []
    screenshot(desk, "order-partially-cancelled-zh-hans")
