"""The own-warehouse desk: queue, pick list, scan-to-pack and ship, as warehouse staff use them
(form posts, then the page they are sent back to)."""

from datetime import date

import pytest
from django.urls import reverse

from fulfilment.models import Carrier, ShipmentLine, ShipmentStatus
from inventory.models import SKU, Reservation
from orders.tests.factories import SKUFactory, WarehouseFactory, order_in_state, receive

pytestmark = pytest.mark.django_db

SS = ShipmentStatus


@pytest.fixture
def shipment(db):
    """An order routed to WH-HZ (own): SKU-1 × 2 and SKU-2 × 1."""
    shipment = order_in_state("allocated").shipments.get()
    SKU.objects.filter(code="SKU-1").update(barcode="6901234567892")
    return shipment


@pytest.fixture
def sf(db):
    return Carrier.objects.create(code="sf", name="SF Express", tracking_code="shunfeng")


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def messages_after(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_queue_shows_own_warehouse_work_urgent_first(client, warehouse_user, shipment):
    expedited = order_in_state("allocated", priority="expedite").shipments.get()
    cloud = WarehouseFactory(code="WH-3PL", name="Cloud", kind="3pl", wms_protocol="qimen")
    client.force_login(warehouse_user)

    html = page(client, reverse("fulfilment:shipments"))

    assert html.index(expedited.number) < html.index(shipment.number)
    assert 'href="/fulfilment/shipments/"' in html  # the nav link
    assert cloud.code not in html.split("<table")[1]  # cloud parcels are not in the default queue
    filtered = page(client, reverse("fulfilment:shipments") + "?status=packed")
    assert shipment.number not in filtered


def test_desk_pages_are_refused_without_the_permissions(client, finance_user, agent, shipment):
    urls = [
        reverse("fulfilment:shipments"),
        reverse("fulfilment:shipment", args=[shipment.number]),
        reverse("fulfilment:pick-list") + f"?shipment={shipment.number}",
    ]
    client.force_login(finance_user)
    for url in urls:
        assert client.get(url).status_code == 403

    # customer service may look at the queue but not work it
    client.force_login(agent)
    html = page(client, urls[1])
    assert 'name="code"' not in html and "Hand over to the carrier" not in html
    for name in ("shipment-scan", "shipment-ship"):
        assert (
            client.post(reverse(f"fulfilment:{name}", args=[shipment.number]), {"code": "SKU-1"}).status_code
            == 403
        )
    assert client.post(reverse("fulfilment:start-picking"), {"shipment": shipment.number}).status_code == 403
    shipment.refresh_from_db()
    assert shipment.status == SS.SENT_TO_WAREHOUSE


def test_the_pick_list_aggregates_by_sku_with_lots_and_starts_picking(client, warehouse_user, shipment):
    # given a second shipment, with a lot-tracked SKU
    lotted = SKUFactory(code="SKU-LOT", lot_tracked=True)
    receive(lotted, 10, lot_code="L2026A", expires_on=date(2030, 1, 31))
    other = order_in_state(
        "allocated",
        lines=[
            {"sku": "SKU-1", "quantity": 3, "unit_price": "59.90"},
            {"sku": "SKU-LOT", "quantity": 4, "unit_price": "10.00"},
        ],
    ).shipments.get()
    assert Reservation.objects.filter(shipment=other, balance__lot__code="L2026A").exists()
    client.force_login(warehouse_user)

    html = page(
        client, reverse("fulfilment:pick-list") + f"?shipment={shipment.number}&shipment={other.number}"
    )

    sku1_row = html.split("<strong>SKU-1</strong>")[1].split("</tr>")[0]
    assert "<strong>5</strong>" in sku1_row  # 2 + 3
    assert f"{shipment.number} × 2" in sku1_row and f"{other.number} × 3" in sku1_row
    assert "L2026A (2030-01-31) × 4" in html
    assert "data-print" in html  # behaviours.js prints: no inline script under the CSP

    response = client.post(
        reverse("fulfilment:start-picking"), {"shipment": [shipment.number, other.number]}, follow=True
    )
    assert "Picking started for 2 shipment(s)" in messages_after(response)[0]
    shipment.refresh_from_db()
    other.refresh_from_db()
    assert (shipment.status, other.status) == (SS.PICKING, SS.PICKING)


def test_the_pick_list_needs_a_selection(client, warehouse_user, shipment):
    client.force_login(warehouse_user)
    response = client.get(reverse("fulfilment:pick-list"), follow=True)
    assert messages_after(response) == ["Select the shipments to pick."]


def test_scan_to_pack_with_a_keyboard_wedge_scanner(client, warehouse_user, shipment):
    client.force_login(warehouse_user)
    detail = reverse("fulfilment:shipment", args=[shipment.number])
    scan = reverse("fulfilment:shipment-scan", args=[shipment.number])

    html = page(client, detail)
    assert 'name="code"' in html and "autofocus" in html.split('name="code"')[1].split(">")[0]

    # a wrong item: a clear error, nothing changes
    response = client.post(scan, {"code": "SKU-3"}, follow=True)
    assert messages_after(response) == [f"Wrong item: SKU-3 is not in shipment {shipment.number}."]
    assert response.redirect_chain[-1][0] == detail + "#scan"
    assert not ShipmentLine.objects.filter(shipment=shipment, packed_quantity__gt=0).exists()

    # each scan is one unit; the last one packs the shipment
    assert messages_after(client.post(scan, {"code": "6901234567892"}, follow=True)) == [
        "Packed 1 of 2 × SKU-1."
    ]
    client.post(scan, {"code": "6901234567892"}, follow=True)
    response = client.post(scan, {"code": "SKU-2"}, follow=True)
    assert messages_after(response) == [
        "Packed 1 of 1 × SKU-2.",
        f"Shipment {shipment.number} is packed: ready to ship.",
    ]
    shipment.refresh_from_db()
    assert shipment.status == SS.PACKED

    # an extra unit is refused
    response = client.post(scan, {"code": "SKU-2"}, follow=True)
    assert f"is {SS.PACKED.label}: there is nothing to pack" in messages_after(response)[0]


def test_ship_from_the_desk_and_a_duplicate_tracking_number_is_refused(client, warehouse_user, shipment, sf):
    other = order_in_state("allocated").shipments.get()
    client.force_login(warehouse_user)
    html = page(client, reverse("fulfilment:shipment", args=[shipment.number]))
    assert "Request e-waybill" in html  # the carrier integration offers e-waybills

    response = client.post(
        reverse("fulfilment:shipment-ship", args=[other.number]),
        {"carrier": sf.pk, "tracking_number": "SF100", "expected_status": SS.SENT_TO_WAREHOUSE},
        follow=True,
    )
    assert messages_after(response) == [f"Shipment {other.number} shipped with SF Express SF100."]

    response = client.post(
        reverse("fulfilment:shipment-ship", args=[shipment.number]),
        {"carrier": sf.pk, "tracking_number": "SF100", "expected_status": SS.SENT_TO_WAREHOUSE},
        follow=True,
    )
    assert messages_after(response) == [
        f"Tracking number SF100 of SF Express is already used by shipment {other.number}."
    ]
    shipment.refresh_from_db()
    assert shipment.status == SS.SENT_TO_WAREHOUSE

    response = client.post(
        reverse("fulfilment:shipment-ship", args=[shipment.number]),
        {"carrier": sf.pk, "tracking_number": "", "expected_status": SS.SENT_TO_WAREHOUSE},
        follow=True,
    )
    assert messages_after(response) == ["Tracking number: This field is required."]


def test_requesting_an_e_waybill_calls_the_carrier_integration(client, warehouse_user, shipment, monkeypatch):
    from core.errors import DomainError
    from integrations import carriers

    requested = []
    monkeypatch.setattr(carriers, "request_waybill", requested.append)
    client.force_login(warehouse_user)
    url = reverse("fulfilment:shipment-waybill", args=[shipment.number])

    response = client.post(url, follow=True)
    assert messages_after(response) == [f"E-waybill requested for shipment {shipment.number}."]
    assert [s.pk for s in requested] == [shipment.pk]

    def refuse(shipment):
        raise DomainError("No carrier with a tracking company code.")

    monkeypatch.setattr(carriers, "request_waybill", refuse)
    assert messages_after(client.post(url, follow=True)) == ["No carrier with a tracking company code."]


def test_an_unknown_shipment_is_not_found(client, warehouse_user):
    client.force_login(warehouse_user)
    assert client.get(reverse("fulfilment:shipment", args=["SH-NOPE"])).status_code == 404


def test_a_cloud_warehouse_parcel_is_shown_without_desk_actions(client, warehouse_user):
    warehouse = WarehouseFactory()
    warehouse.wms_protocol = "qimen"
    warehouse.save()
    shipment = order_in_state("allocated").shipments.get()
    client.force_login(warehouse_user)

    html = page(client, reverse("fulfilment:shipment", args=[shipment.number]))

    assert "Worked by the cloud warehouse" in html
    assert 'name="code"' not in html and "Hand over to the carrier" not in html
