"""Batch label and packing-slip printing (issue #17 part 3), tested by reading the PDF back: its
pages and their size, the text on them, and the barcodes decoded from the rendered page."""

import pypdfium2
import pytest
import zxingcpp

from core.errors import DomainError
from fulfilment import printing
from fulfilment.models import Carrier, ShipmentStatus
from fulfilment.tracking import shipment_record_waybill
from orders.models import Order, OrderEvent, OrderEventKind
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db
MM = 72 / 25.4  # PDF points per millimetre


@pytest.fixture
def sf(db):
    return Carrier.objects.create(code="sf", name="顺丰速运 SF Express", tracking_code="shunfeng")


def waybilled(sf, tracking: str, **order_fields):
    shipment = order_in_state("allocated", **order_fields).shipments.get()
    Order.objects.filter(pk=shipment.order_id).update(ship_name="王小明", ship_city="杭州市")
    return shipment_record_waybill(shipment=shipment, carrier=sf, tracking_number=tracking)


def read(pdf: bytes) -> list[dict]:
    """Each page: its size in mm, its text, and the barcodes found on it rendered at 300 dpi."""
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    for page in document:
        width, height = page.get_size()
        text = page.get_textpage().get_text_range()
        image = page.render(scale=300 / 72).to_pil()
        codes = sorted(result.text for result in zxingcpp.read_barcodes(image))
        pages.append({"size": (round(width / MM), round(height / MM)), "text": text, "barcodes": codes})
    return pages


def test_labels_are_one_100x180_page_per_parcel_with_readable_barcodes(sf, warehouse_user):
    first = waybilled(sf, "SF1400000000001")
    second = waybilled(sf, "SF1400000000002")

    printed = printing.shipments_print_labels(numbers=[second.number, first.number], actor=warehouse_user)

    pages = read(printed.pdf)
    assert [page["size"] for page in pages] == [(100, 180), (100, 180)]
    assert pages[0]["barcodes"] == sorted(["SF1400000000002", second.number])  # in the order asked
    assert pages[1]["barcodes"] == sorted(["SF1400000000001", first.number])
    assert "SF1400000000002" in pages[0]["text"] and "王小明" in pages[0]["text"]
    assert "顺丰速运" in pages[0]["text"] and "杭州市" in pages[0]["text"]
    for line in second.lines.select_related("sku"):
        assert f"{line.sku.code} × {line.quantity}" in pages[0]["text"]
    assert printed.printed == [second.number, first.number] and printed.reprinted == []
    first.refresh_from_db()
    assert first.label_prints == 1 and first.label_printed_at is not None


def test_a_reprint_is_marked_on_the_label_and_audited_on_the_timeline(sf, warehouse_user):
    shipment = waybilled(sf, "SF1400000000003")
    printing.shipments_print_labels(numbers=[shipment.number], actor=warehouse_user)
    assert not OrderEvent.objects.filter(order=shipment.order, payload__label_copy__isnull=False).exists()

    again = printing.shipments_print_labels(numbers=[shipment.number], actor=warehouse_user)

    assert again.reprinted == [shipment.number]
    assert "REPRINT 2" in read(again.pdf)[0]["text"]
    event = OrderEvent.objects.get(order=shipment.order, payload__label_copy=2)
    assert (event.kind, event.actor, event.payload["shipment"]) == (
        OrderEventKind.SHIPMENT,
        warehouse_user,
        shipment.number,
    )


def test_a_parcel_without_a_waybill_is_left_out_and_named(sf, warehouse_user):
    ready = waybilled(sf, "SF1400000000004")
    waiting = order_in_state("allocated").shipments.get()

    printed = printing.shipments_print_labels(numbers=[ready.number, waiting.number], actor=warehouse_user)

    assert len(read(printed.pdf)) == 1
    assert printed.skipped == [f"{waiting.number}: no waybill yet"]
    with pytest.raises(DomainError, match="Nothing to print"):
        printing.shipments_print_labels(numbers=[waiting.number], actor=warehouse_user)


def test_packing_slips_are_a4_pages_listing_every_line(sf, warehouse_user):
    shipment = order_in_state("allocated").shipments.get()  # no waybill needed for a slip

    printed = printing.shipments_print_packing_slips(numbers=[shipment.number], actor=warehouse_user)

    (page,) = read(printed.pdf)
    assert page["size"] == (210, 297)
    assert page["barcodes"] == [shipment.number]
    for line in shipment.lines.select_related("sku"):
        assert line.sku.code in page["text"]
    assert shipment.order.number in page["text"]


def test_unknown_and_too_many_shipments_are_refused(warehouse_user):
    with pytest.raises(DomainError, match="No such shipment: SH-NOPE"):
        printing.shipments_print_labels(numbers=["SH-NOPE"], actor=warehouse_user)
    with pytest.raises(DomainError, match="Select the shipments"):
        printing.shipments_print_labels(numbers=["  "], actor=warehouse_user)
    with pytest.raises(DomainError, match="At most"):
        printing.shipments_print_labels(
            numbers=[f"SH{i}" for i in range(printing.MAX_BATCH + 1)], actor=warehouse_user
        )


def test_the_pick_list_prints_labels_as_a_pdf_for_warehouse_staff_only(client, sf, warehouse_user, agent):
    shipment = waybilled(sf, "SF1400000000005")
    client.force_login(agent)
    assert (
        client.post("/fulfilment/shipments/print/labels/", {"shipment": shipment.number}).status_code == 403
    )

    client.force_login(warehouse_user)
    pick_list = client.get("/fulfilment/shipments/pick-list/", {"shipment": shipment.number})
    assert b'id="print-labels"' in pick_list.content
    response = client.post("/fulfilment/shipments/print/labels/", {"shipment": shipment.number})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert read(response.content)[0]["barcodes"] == sorted(["SF1400000000005", shipment.number])
    assert client.get("/fulfilment/shipments/print/labels/").status_code == 405


def test_a_shipment_cancelled_after_its_waybill_is_not_labelled(sf, warehouse_user):
    shipment = waybilled(sf, "SF1400000000006")
    from fulfilment.services import shipment_transition

    shipment_transition(shipment=shipment, name="cancel", args={"problem": "test"})
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    with pytest.raises(DomainError, match="cancelled"):
        printing.shipments_print_labels(numbers=[shipment.number], actor=warehouse_user)
