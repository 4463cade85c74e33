"""Merging and splitting parcels by hand on a tablet-narrow screen (412 px), in a real browser:
the order page's "Merge with…" and "Split parcel", a confirmation before acting, the success
message said on the order page, and no screen scrolls sideways."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from fulfilment import routing
from fulfilment.tests.test_manual_grouping import live_shipments
from fulfilment.tests.test_routing import warehouse
from orders.tests.factories import SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user
WIDTH = 412


@pytest.fixture
def tablet(browser, live_server):
    context = browser.new_context(locale="en-US", viewport={"width": WIDTH, "height": 900}, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before acting
    yield page
    context.close()


def no_sideways_scroll(page, name: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"grouping-{name}")
    assert width <= WIDTH, f"{name}: the page is {width}px wide on a {WIDTH}px screen"


def test_an_agent_merges_two_orders_then_splits_the_parcel_on_a_tablet(tablet, make_user):
    ensure_master_data(stock=0)
    for code in ("SKU-1", "SKU-2"):
        receive(
            SKUFactory(code=code), 10, warehouse=warehouse("WH-" + code, province="浙江省", city="杭州市")
        )
    first, second = (
        make_order(paid=True, lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": "10.00"}]) for _ in "ab"
    )
    for order in (first, second):
        if not live_shipments(order):
            routing.route_order(order=order)
    [parcel] = live_shipments(first)
    agent = make_user(Role.CUSTOMER_SERVICE)

    page = tablet
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", agent.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    page.goto(f"{page.base_url}{first.get_absolute_url()}")
    with page.expect_navigation():  # measured once the new page is there, not mid-navigation
        page.click("a.action-merge")
    no_sideways_scroll(page, "merge")
    button = page.locator(f"button.action-merge-{second.pk}")
    assert button.bounding_box()["height"] >= 44
    with page.expect_navigation():
        button.click()
    assert f"now ship with {first.number} in one parcel, {parcel.number}" in page.inner_text(".messages")
    assert live_shipments(second) == [parcel]

    with page.expect_navigation():
        page.click(f"a[href$='/shipments/{parcel.number}/split/']")
    no_sideways_scroll(page, "split")
    box = page.locator("#split-form input[inputmode=numeric]").first
    assert box.bounding_box()["height"] >= 44
    box.fill("1")
    with page.expect_navigation():
        page.click("#split-form button[type=submit]")
    assert f"Shipment {parcel.number} split" in page.inner_text(".messages")
    assert len(live_shipments(first)) + len(live_shipments(second)) >= 3
    no_sideways_scroll(page, "order-after")
