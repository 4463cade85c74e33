"""The unmapped-items queue in a real browser (Debian Chromium via Playwright, REQUIRE_BROWSER=1 in
CI): an agent finds the queue from the navigation, the SKU box suggests SKUs as they type, and
mapping the item releases both orders waiting for it."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from orders import intake
from orders.models import Order, OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    receive,
    validated,
)

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user


def sign_in(page, user):
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")


def test_agent_maps_an_item_from_the_queue_and_its_orders_are_released(desk, make_user):
    ensure_master_data()
    ChannelFactory(code="tb-shop", name="Taobao shop", platform="taobao")
    mug = SKUFactory(code="MUG-RED", name="Red mug 350 ml")
    receive(mug, 10)
    line = {
        "platform_item_id": "600123",
        "platform_sku_id": "4501",
        "title": "红色马克杯",
        "quantity": 2,
        "unit_price": "19.90",
    }
    orders = [
        intake.order_ingest(
            data=validated(canonical_payload(channel="tb-shop", discount="0.00", lines=[line]))
        )[0]
        for _ in range(2)
    ]
    assert {order.status for order in orders} == {OrderStatus.ON_HOLD}

    sign_in(desk, make_user(Role.CUSTOMER_SERVICE))
    desk.locator("nav.nav").get_by_role("link", name="Unmapped items", exact=True).click()
    row = desk.locator("tr.unmapped-item[data-item='600123']")
    row.wait_for()
    assert "红色马克杯" in row.inner_text() and "2" in row.locator("td.num").first.inner_text()
    screenshot(desk, "unmapped-items-queue")

    box = row.locator("input[name=sku]")
    box.fill("MUG")
    desk.wait_for_function(
        "() => Array.from(document.querySelectorAll('#unmapped-sku-options option')).some(o => o.value === 'MUG-RED')"
    )
    box.fill("MUG-RED")
    row.get_by_role("button", name="Map").click()

    message = desk.locator("ul.messages li.success")
    message.wait_for()
    assert message.inner_text() == "600123/4501 mapped to MUG-RED: 2 of 2 waiting orders released."
    assert desk.locator("tr.unmapped-item").count() == 0
    screenshot(desk, "unmapped-items-mapped")
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == {
        OrderStatus.PENDING_PAYMENT
    }
