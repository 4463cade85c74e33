"""Receiving a transfer by scanning on a phone-sized handheld (412 px), in a real browser: the scan
box has focus, a keyboard-wedge scan (code + Enter) counts a unit, a barcode works as well as the
SKU code, a wrong scan is said on the screen, the running count follows — and nothing scrolls
sideways."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from inventory import transfers
from inventory.models import SKU, StockBalance, TransferStatus
from orders.tests.factories import WarehouseFactory, ensure_master_data

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user
WIDTH = 412


@pytest.fixture
def handheld(browser, live_server):  # noqa: F811
    context = browser.new_context(locale="en-US", viewport={"width": WIDTH, "height": 915}, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def no_sideways_scroll(page, name: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    screenshot(page, f"transfer-{name}")
    assert widths[0] <= widths[1], f"{name}: the page is {widths[0]}px wide on a {widths[1]}px screen"


def scan(page, code: str) -> None:
    box = page.locator("#transfer-scan input[name=code]")
    assert box.evaluate("element => element === document.activeElement")  # autofocus: no tap needed
    with page.expect_navigation():
        box.press_sequentially(code)
        box.press("Enter")


def test_receiving_a_transfer_by_scanning_on_a_412px_handheld(handheld, make_user):
    ensure_master_data()
    sku2 = SKU.objects.get(code="SKU-2")
    sku2.barcode = "6901234567892"
    sku2.save()
    transfer = transfers.transfer_create(
        from_warehouse=WarehouseFactory(code="WH-HZ"),
        to_warehouse=WarehouseFactory(code="WH-SH", name="Shanghai"),
        lines=[
            transfers.LineInput(sku=SKU.objects.get(code="SKU-1"), quantity=2),
            transfers.LineInput(sku=sku2, quantity=1),
        ],
        actor=None,
    )
    transfers.transfer_ship(transfer=transfer, actor=None)
    user = make_user(Role.WAREHOUSE)
    page = handheld
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")

    page.goto(f"{page.base_url}/stock/transfers/{transfer.number}/scan/")
    assert "3 units still in transit" in page.locator("#transfer-left").inner_text()
    no_sideways_scroll(page, "scan-start")
    button = page.locator("#transfer-scan button[type=submit]").bounding_box()
    assert button["height"] >= 44 and button["width"] <= WIDTH

    scan(page, "SKU-1")
    assert "SKU-1: 1 of 2 received." in page.locator(".messages").inner_text()
    scan(page, "sku-1")  # scanners send what the label says; codes match whatever the case
    scan(page, "6901234567892")  # SKU-2 by its barcode
    assert "SKU-2: 1 of 1 received." in page.locator(".messages").inner_text()
    counts = page.locator("#scan-counts li").all_inner_texts()
    assert "2/2" in counts[0] and "1/1" in counts[1]
    assert "0 units still in transit" in page.locator("#transfer-left").inner_text()
    no_sideways_scroll(page, "scan-done")

    page.goto(f"{page.base_url}/stock/transfers/{transfer.number}/")
    assert "Received" in page.locator("#transfer-status").inner_text()
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.RECEIVED
    shanghai = StockBalance.objects.filter(warehouse__code="WH-SH", pool__code="regular")
    assert sorted(shanghai.values_list("sku__code", "on_hand")) == [("SKU-1", 2), ("SKU-2", 1)]


def test_a_wrong_scan_is_said_on_the_screen_and_counts_nothing(handheld, make_user):
    ensure_master_data()
    transfer = transfers.transfer_create(
        from_warehouse=WarehouseFactory(code="WH-HZ"),
        to_warehouse=WarehouseFactory(code="WH-SH", name="Shanghai"),
        lines=[
            transfers.LineInput(sku=SKU.objects.get(code="SKU-1"), quantity=1),
            transfers.LineInput(sku=SKU.objects.get(code="SKU-2"), quantity=1),
        ],
        actor=None,
    )
    transfers.transfer_ship(transfer=transfer, actor=None)
    user = make_user(Role.WAREHOUSE)
    page = handheld
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")
    page.goto(f"{page.base_url}/stock/transfers/{transfer.number}/scan/")

    scan(page, "SKU-3")
    assert f"SKU-3 is not on transfer {transfer.number}." in page.locator(".messages").inner_text()
    scan(page, "SKU-1")
    scan(page, "SKU-1")  # one more than shipped
    assert "SKU-1: all 1 shipped units are received already." in page.locator(".messages").inner_text()
    no_sideways_scroll(page, "scan-refused")
    assert StockBalance.objects.get(warehouse__code="WH-SH", pool__code="regular").on_hand == 1
    assert "1 unit still in transit" in page.locator("#transfer-left").inner_text()
