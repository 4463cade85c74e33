"""Every warehouse screen on a handheld (360 and 412 px wide), in a real browser: no page scrolls
sideways, and each screen's main button is on the screen and at least 44 px tall."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from orders.tests.factories import WarehouseFactory, make_order
from returns.tests.conftest import delivered_order, request_return

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user


@pytest.mark.parametrize("width", [360, 412])
def test_warehouse_screens_fit_a_handheld(browser, live_server, make_user, width):
    from fulfilment.models import Shipment

    WarehouseFactory()
    make_order(paid=True)
    request_return(delivered_order(), (1, 1))
    shipment = Shipment.objects.order_by("pk").first()
    user = make_user(Role.WAREHOUSE)
    context = browser.new_context(locale="en-US", viewport={"width": width, "height": 800}, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")

    screens = {
        "home": "/",
        "shipments": "/fulfilment/shipments/",
        "waves": "/fulfilment/waves/",
        "returns-receiving": "/returns/receiving/",
        "stock": "/stock/",
    }
    if shipment is not None:
        screens["scan-to-pack"] = f"/fulfilment/shipments/{shipment.number}/"
    wide = {}
    for name, path in screens.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("domcontentloaded")
        if name == "scan-to-pack":  # its history names states by their labels, not their codes
            assert "sent_to_warehouse" not in page.inner_text("main")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"handheld-{width}-{name}")
        if scroll > width:
            wide[name] = scroll
        small = page.evaluate(
            """() => [...document.querySelectorAll('main button[type=submit], main .button')]
                 .filter(b => b.offsetParent !== null)
                 .filter(b => b.getBoundingClientRect().height < 44 || b.getBoundingClientRect().right > innerWidth)
                 .map(b => b.textContent.trim()).slice(0, 5)"""
        )
        if small:
            wide[f"{name} buttons"] = small
    context.close()
    assert wide == {}
