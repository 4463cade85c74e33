"""The supplier portal on a phone, in a real browser (Debian Chromium via Playwright): a supplier
signs in at the desk's login, lands on its portal, confirms a purchase order and announces a
shipment. No screen scrolls sideways at 412 px (nor at 360 px)."""

from datetime import timedelta

import pytest

from core.tests.browser import screenshot
from core.timezones import business_date
from purchasing.models import PurchaseOrderState, ShipmentNotice
from purchasing.tests.portal_factories import PASSWORD, make_supplier, make_supplier_user, sent_purchase_order

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = 412


def no_sideways_scroll(page, name: str) -> None:
    screenshot(page, f"supplier-portal-{name}")
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{name}: the page is {width}px wide on a {inner}px screen"


def test_a_supplier_confirms_and_announces_a_shipment_on_a_phone(desk, django_user_model):
    supplier = make_supplier("hz-ceramics", "杭州陶瓷有限公司 Hangzhou Ceramics Co., Ltd.")
    user = make_supplier_user(django_user_model, supplier, "ceramics-clerk")
    po = sent_purchase_order(supplier, {"MUG-RED-350ML-GLAZED": 10, "MUG-BLUE": 4})
    other = sent_purchase_order(make_supplier("rival"), {"RIVAL-1": 3})
    page = desk
    page.set_viewport_size({"width": PHONE, "height": 900})

    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{page.base_url}/supplier/")
    assert page.locator("nav.nav").count() == 0  # not the desk's navigation
    assert page.locator(f"[data-po='{other.number}']").count() == 0
    no_sideways_scroll(page, "start")

    page.locator(f"#to-answer + p + ul [data-po='{po.number}'] a.po-number").click()
    page.wait_for_url(f"**/supplier/orders/{po.number}/")
    no_sideways_scroll(page, "order")
    page.set_viewport_size({"width": 360, "height": 800})
    no_sideways_scroll(page, "order-360")
    page.set_viewport_size({"width": PHONE, "height": 900})

    page.get_by_role("button", name="Confirm the order").click()
    page.locator("ul.messages li.success").wait_for()
    assert "confirmed as ordered" in page.locator("ul.messages").inner_text()
    assert page.locator(".title-row .status").inner_text() == "Confirmed by supplier"
    no_sideways_scroll(page, "confirmed")

    announce = page.locator("details#announce")
    assert announce.get_attribute("open") is not None  # confirmed: announcing is what comes next
    arrives = (business_date() + timedelta(days=2)).isoformat()
    red = po.lines.get(sku__code="MUG-RED-350ML-GLAZED")
    announce.locator("input[name=expected_on]").fill(arrives)
    announce.locator("input[name=carrier]").fill("SF Express 顺丰速运")
    announce.locator("input[name=tracking_number]").fill("SF1234567890123")
    announce.locator(f"input[name=announce-{red.pk}]").fill("6")
    announce.get_by_role("button", name="Announce the shipment").click()

    page.locator("ul.messages li.success").wait_for()
    notice = ShipmentNotice.objects.get(purchase_order=po)
    assert page.url.endswith(f"/supplier/notices/{notice.number}/")
    assert page.locator("[data-line='MUG-RED-350ML-GLAZED'] .line-announced").inner_text() == "6"
    assert page.locator("[data-line='MUG-BLUE'] .line-announced").inner_text() == "4"
    no_sideways_scroll(page, "notice")

    page.select_option("select[name=language]", "zh-hans")
    page.wait_for_function("document.documentElement.lang === 'zh-hans'")
    no_sideways_scroll(page, "notice-zh")

    po.refresh_from_db()
    assert po.state == PurchaseOrderState.CONFIRMED
    assert sorted(notice.lines.values_list("quantity", flat=True)) == [4, 6]
    assert (notice.carrier, notice.tracking_number, notice.expected_on.isoformat()) == (
        "SF Express 顺丰速运",
        "SF1234567890123",
        arrives,
    )
