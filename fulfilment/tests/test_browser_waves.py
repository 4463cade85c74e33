"""A wave on a phone-sized handheld (390 px), in a real browser (Debian Chromium via Playwright):
created from the waiting shipments, its labels printed and the PDF read back (pages, text,
decoded barcodes), picked bin by bin with scans (a wrong scan said on the screen), packed by
scanning with the weight typed in, and handed over. No screen scrolls sideways."""

import pytest

from core.roles import Role
from core.tests.browser import screenshot
from fulfilment import waves
from fulfilment.models import Carrier, Shipment, ShipmentStatus, Wave, WaveRule, WaveState
from fulfilment.tests.test_printing import read
from fulfilment.tracking import shipment_record_waybill
from inventory.models import SKU, BinLocation, BinStock
from orders import services
from orders.tests.factories import WarehouseFactory, make_order

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "pw-for-tests-1"  # conftest's make_user
WIDTH = 390


@pytest.fixture
def handheld(browser, live_server):  # noqa: F811
    context = browser.new_context(locale="en-US", viewport={"width": WIDTH, "height": 844}, has_touch=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = live_server.url
    yield page
    context.close()


def sign_in(page, user):
    page.goto(f"{page.base_url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("header.topbar")


def no_sideways_scroll(page, name: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"wave-{name}")
    assert width <= WIDTH, f"{name}: the page is {width}px wide on a {WIDTH}px screen"


def scan(page, form: str, code: str) -> None:
    """What a keyboard-wedge scanner does: type into the focused box, then Enter."""
    box = page.locator(f"{form} input[name=code]")
    assert box.evaluate("element => element === document.activeElement")  # autofocus: no tap needed
    with page.expect_navigation():
        box.press_sequentially(code)
        box.press("Enter")


def waiting_shipment(carrier, tracking):
    order = make_order(paid=True)  # SKU-1 × 2, SKU-2 × 1
    order.refresh_from_db()
    if order.status != "allocated":
        order = services.order_transition(order=order, name="allocate")
    shipment = order.shipments.get()
    return shipment_record_waybill(shipment=shipment, carrier=carrier, tracking_number=tracking)


def test_a_wave_from_creation_to_hand_over_on_a_handheld(handheld, make_user):
    sf = Carrier.objects.create(code="sf", name="SF Express", tracking_code="shunfeng")
    first = waiting_shipment(sf, "SF1400000000101")
    second = waiting_shipment(sf, "SF1400000000102")
    warehouse = WarehouseFactory()
    WaveRule.objects.create(warehouse=warehouse, name="SF afternoon", carrier=sf)
    SKU.objects.filter(code="SKU-1").update(barcode="6901234567892")
    shelf_a = BinLocation.objects.create(warehouse=warehouse, code="A-01-03", pick_sequence=10)
    shelf_b = BinLocation.objects.create(warehouse=warehouse, code="B-02-01", pick_sequence=20)
    BinStock.objects.create(bin=shelf_a, sku=SKU.objects.get(code="SKU-1"), quantity=10)
    BinStock.objects.create(bin=shelf_b, sku=SKU.objects.get(code="SKU-2"), quantity=5)
    page = handheld
    sign_in(page, make_user(Role.WAREHOUSE))

    # create the wave
    page.goto(f"{page.base_url}/fulfilment/waves/")
    no_sideways_scroll(page, "list")
    page.select_option("#create-waves select[name=warehouse]", "WH-HZ")
    with page.expect_navigation():
        page.click("#create-waves button[type=submit]")
    wave = Wave.objects.get()
    assert page.url.endswith(f"/fulfilment/waves/{wave.number}/")
    path = page.locator(".pick-path li .bin").all_inner_texts()
    assert path == ["A-01-03", "B-02-01"]
    no_sideways_scroll(page, "detail")

    # print the wave's labels: one PDF, read back
    pdfs = []

    def keep_the_pdf(route):  # the browser's PDF viewer hides the bytes: take them on the way
        response = route.fetch()
        pdfs.append((response.headers["content-type"], response.body()))
        route.fulfill(response=response)

    page.context.route("**/fulfilment/shipments/print/labels/", keep_the_pdf)
    with page.context.expect_page() as popup:
        page.click("#print-labels button")
    popup.value.wait_for_load_state()
    ((content_type, pdf),) = pdfs
    assert content_type == "application/pdf"
    pages = read(pdf)
    assert len(pages) == 2
    assert [p["barcodes"] for p in pages] == [
        sorted(["SF1400000000101", first.number]),
        sorted(["SF1400000000102", second.number]),
    ]
    assert "SF Express" in pages[0]["text"] and "SKU-1 × 2" in pages[0]["text"]
    for popup in page.context.pages[1:]:
        popup.close()

    # pick by bin
    with page.expect_navigation():
        page.click("text=Start picking")
    assert "/pick/" in page.url
    no_sideways_scroll(page, "pick")
    scan(page, "#pick-scan", "SKU-1")  # item before its bin
    assert (
        "Scan the bin first: SKU-1 is picked from A-01-03." in page.locator(".messages .error").inner_text()
    )
    scan(page, "#pick-scan", "A-01-03")
    assert page.locator("#at-bin").is_visible()
    for _unit in range(4):
        scan(page, "#pick-scan", "6901234567892")
    assert "Picked 4 of 4 × SKU-1." in page.locator(".messages").inner_text()
    scan(page, "#pick-scan", "SKU-2")  # still at A-01-03
    assert (
        "Wrong item: SKU-2 is not picked from A-01-03 but from B-02-01."
        in page.locator(".messages").inner_text()
    )
    scan(page, "#pick-scan", "B-02-01")
    no_sideways_scroll(page, "pick-at-bin")
    scan(page, "#pick-scan", "SKU-2")
    scan(page, "#pick-scan", "SKU-2")
    assert "/pack/" in page.url  # every item picked: on to packing
    assert BinStock.objects.get(bin=shelf_a).quantity == 6

    # pack each parcel by scanning, then weigh it
    for shipment, weight, unit, grams in ((first, "1.25", "kg", 1250), (second, "980", "g", 980)):
        assert page.locator("#parcel h2").inner_text().startswith(shipment.number)
        no_sideways_scroll(page, f"pack-{shipment.number}")
        for code in ("6901234567892", "SKU-2", "6901234567892"):
            scan(page, "#pack-scan", code)
        assert f"Shipment {shipment.number} is packed: weigh it." in page.locator(".messages").inner_text()
        page.select_option("#weigh select[name=unit]", unit)
        page.fill("#weigh input[name=weight]", "0")
        with page.expect_navigation():
            page.press("#weigh input[name=weight]", "Enter")
        assert "The weight must be more than 0 g." in page.locator(".messages .error").inner_text()
        page.select_option("#weigh select[name=unit]", unit)
        page.fill("#weigh input[name=weight]", weight)
        with page.expect_navigation():
            page.press("#weigh input[name=weight]", "Enter")
        assert f"{shipment.number} weighs {grams} g." in page.locator(".messages").inner_text()
    no_sideways_scroll(page, "packed")

    # hand over
    with page.expect_navigation():
        page.click("#hand-over button")
    messages = page.locator(".messages").inner_text()
    assert "Handed over 2 parcel(s)" in messages and "SF1400000000102" in messages
    assert f"Wave {wave.number} is handed over." in messages
    no_sideways_scroll(page, "handed-over")

    wave.refresh_from_db()
    assert wave.state == WaveState.HANDED_OVER
    shipped = {s.number: (s.status, s.tracking_number, s.weight_grams) for s in Shipment.objects.all()}
    assert shipped == {
        first.number: (ShipmentStatus.SHIPPED, "SF1400000000101", 1250),
        second.number: (ShipmentStatus.SHIPPED, "SF1400000000102", 980),
    }


@pytest.mark.parametrize("width", [360, 412])
def test_wave_screens_fit_the_narrowest_and_widest_handhelds(browser, live_server, make_user, width):  # noqa: F811
    sf = Carrier.objects.create(code="sf", name="SF Express", tracking_code="shunfeng")
    waiting_shipment(sf, "SF1400000000201")
    worker = make_user(Role.WAREHOUSE)
    shelf = BinLocation.objects.create(
        warehouse=WarehouseFactory(), code="A-01-03-LONG-BIN-CODE", pick_sequence=1
    )
    BinStock.objects.create(bin=shelf, sku=SKU.objects.get(code="SKU-1"), quantity=1)
    (wave,) = waves.waves_create(warehouse=WarehouseFactory(), actor=worker)
    waves.wave_start_picking(wave=wave, actor=worker)
    context = browser.new_context(locale="en-US", viewport={"width": width, "height": 800})
    page = context.new_page()
    page.base_url = live_server.url
    try:
        sign_in(page, worker)
        for screen in ("", "pick/", "pack/"):
            page.goto(f"{live_server.url}/fulfilment/waves/{wave.number}/{screen}")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"/{screen}: {scroll_width}px on a {width}px screen"
            for target in page.locator(".handheld button:visible").all():
                assert target.bounding_box()["height"] >= 44  # a thumb's target
    finally:
        context.close()
