"""The issue's browser test, in Chromium: the buyer opens the replenishment page and creates the
purchase order from the suggestions in one click, submits it, a manager approves it (two-person
rule), and a warehouse worker on a 412 px handheld opens it at the dock, scans the barcodes
(typed into the focused box + Enter, as a keyboard-wedge scanner does) and posts the receipt.
The stock rises; no handheld screen scrolls sideways."""

from decimal import Decimal

import pytest
from django.test import override_settings

from core.roles import Role
from core.tests.browser import screenshot
from inventory.models import SKU
from purchasing.models import PurchaseOrder, PurchaseOrderState
from purchasing.tests.factories import ledger_sum, make_item, make_supplier, on_hand, suggestions_for

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user
WIDTH = 412


def sign_in(page, user):
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")


def new_page(browser, live_server, **options):
    context = browser.new_context(locale="en-US", **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before posting
    return page


def no_sideways_scroll(page, name: str) -> None:
    screenshot(page, f"purchasing-{name}")
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{name}: the page is {width}px wide on a {inner}px screen"


def scan(page, code: str) -> None:
    box = page.locator("#receipt-scan input[name=code]")
    assert box.evaluate("element => element === document.activeElement")  # focused: no tap needed
    with page.expect_navigation():
        box.press_sequentially(code)
        box.press("Enter")


def flash(page) -> str:
    return " ".join(page.locator(".messages li").all_inner_texts())


@override_settings(PURCHASE_APPROVAL_THRESHOLD=Decimal("10.00"))
def test_buyer_orders_from_suggestions_and_the_dock_receives_by_scanning(
    desk, browser, live_server, make_user
):
    # given two SKUs to replenish (4 each suggested) that acme sells, with barcodes on the units
    suggestions_for("BOLT", "NUT", sold=3)
    SKU.objects.filter(code="BOLT").update(barcode="6901234567892")
    SKU.objects.filter(code="NUT").update(barcode="6901234567908")
    acme = make_supplier("acme", name="Acme Fasteners")
    make_item(acme, "BOLT", "3.00")
    make_item(acme, "NUT", "1.00", pack_size=6)  # 4 → 6

    # the buyer: replenishment → one click → the draft, then submit
    page = desk
    sign_in(page, make_user(Role.BUYER, username="buyer-li"))
    page.goto(f"{page.base_url}/stock/replenishment/")
    screenshot(page, "purchasing-replenishment")
    with page.expect_navigation():
        page.click("#purchase-from-suggestions button[type=submit]")
    po = PurchaseOrder.objects.get()
    assert page.url.endswith(f"/purchasing/orders/{po.number}/")
    assert f"1 draft purchase order created: {po.number}." in flash(page)
    assert page.locator("#po-lines tbody tr").count() == 2
    assert "rounded up from 4" in page.locator("#po-lines").inner_text()
    with page.expect_navigation():
        page.click("#submit-po")
    assert "waits for an approver" in flash(page)  # 12 + 6 = 18.00 ≥ 10.00
    screenshot(page, "purchasing-po-submitted")

    # a manager approves it: the buyer may not approve their own order at this amount
    manager = new_page(browser, live_server, viewport={"width": 1366, "height": 900})
    sign_in(manager, make_user(Role.MANAGER, username="manager-wang"))
    manager.goto(f"{manager.base_url}/purchasing/orders/{po.number}/")
    with manager.expect_navigation():
        manager.click("#approve-po")
    assert f"Purchase order {po.number} approved and sent to Acme Fasteners." in flash(manager)
    screenshot(manager, "purchasing-po-approved")
    manager.context.close()
    po.refresh_from_db()
    assert po.state == PurchaseOrderState.APPROVED

    # the warehouse worker on a handheld: the expected receipts, the order, scans, post
    dock = new_page(browser, live_server, viewport={"width": WIDTH, "height": 915}, has_touch=True)
    sign_in(dock, make_user(Role.WAREHOUSE, username="dock-zhao"))
    dock.goto(f"{dock.base_url}/purchasing/receiving/")
    no_sideways_scroll(dock, "receiving")
    with dock.expect_navigation():
        dock.click(f"#expected-orders button:has-text('{po.number}')")
    assert "/purchasing/receiving/GR" in dock.url
    no_sideways_scroll(dock, "receipt-empty")
    for _ in range(4):
        scan(dock, "6901234567892")
    for _ in range(3):
        scan(dock, "6901234567908")
    assert "NUT: 3 of 6 counted." in flash(dock)
    scan(dock, "NOT-A-CODE")
    assert "No SKU has the barcode or code NOT-A-CODE." in flash(dock)
    counted = dict(
        zip(
            dock.locator(".receipt-lines .bin").all_inner_texts(),
            dock.locator(".receipt-lines .qty").all_inner_texts(),
            strict=True,
        )
    )
    assert counted == {"BOLT": "4/4", "NUT": "3/6"}
    assert "3 short" in dock.locator(".receipt-lines li[data-sku=NUT]").inner_text()
    assert dock.locator("#running-total").inner_text() == "7 counted of 10 expected"
    no_sideways_scroll(dock, "receipt-scanned")
    dock.set_viewport_size({"width": 360, "height": 780})  # the narrowest handheld too
    no_sideways_scroll(dock, "receipt-scanned-360")
    targets = dock.evaluate(
        "[...document.querySelectorAll('.handheld button, .handheld .scan-input')]"
        ".map(e => e.getBoundingClientRect().height)"
    )
    assert min(targets) >= 44
    with dock.expect_navigation():
        dock.click("#post-receipt button[type=submit]")
    assert f"7 units into WH-HZ; {po.number} is now Partially received." in flash(dock)
    no_sideways_scroll(dock, "receipt-posted")
    dock.context.close()

    # then the stock rose by what was scanned, and the ledger says the same
    assert (on_hand("BOLT"), on_hand("NUT")) == (4, 3)
    assert (ledger_sum("BOLT"), ledger_sum("NUT")) == (4, 3)
    po.refresh_from_db()
    assert po.state == PurchaseOrderState.PARTIALLY_RECEIVED
