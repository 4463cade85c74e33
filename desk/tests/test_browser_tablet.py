"""The office screens on a tablet (768 px, portrait), in a real browser: no page scrolls sideways
(wide tables scroll inside themselves), whichever role opens them."""

import pytest
from django.db import transaction

from core.roles import Role
from core.tests.browser import screenshot
from orders.tests.factories import order_in_state
from returns.tests.conftest import delivered_order, request_return

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user
WIDTH = 768


def test_office_screens_fit_a_tablet(browser, live_server, make_user):
    with transaction.atomic():  # routed by the factory, before the on-commit routing task runs
        order = order_in_state("shipped")
    rma = request_return(delivered_order(), (1, 1))
    user = make_user(Role.MANAGER)
    context = browser.new_context(locale="en-US", viewport={"width": WIDTH, "height": 1024}, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")

    screens = {
        "orders": "/orders/",
        "order": order.get_absolute_url(),
        "returns": "/returns/",
        "rma": rma.get_absolute_url(),
        "dashboard": "/dashboard/",
        "stock": "/stock/",
        "transfers": "/stock/transfers/",
        "contracts": "/b2b/contracts/",
        "purchase-orders": "/purchasing/",
        "payments": "/finance/payments/",
        "reconciliation": "/finance/reconciliation/",
        "alerts": "/alerts/",
    }
    wide = {}
    for name, path in screens.items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        scroll = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"tablet-{name}")
        if scroll > WIDTH:
            wide[name] = scroll
    context.close()
    assert wide == {}
