"""Own warehouses: routing puts shipments straight into the desk queue, and the packing services
(start picking, scan-to-pack, ship) move them on."""

import threading

import pytest
from django.db import transaction

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.models import OutboxMessage
from fulfilment import packing
from fulfilment.models import Carrier, Shipment, ShipmentLine, ShipmentStatus
from integrations.wms import cancel_shipment, push_shipment
from inventory.models import SKU
from orders.models import OrderEvent, OrderEventKind, OrderStatus
from orders.tests.factories import WarehouseFactory, make_order, order_in_state

pytestmark = pytest.mark.django_db

SS = ShipmentStatus


@pytest.fixture
def shipment(db):
    """An order routed to WH-HZ, our own warehouse: SKU-1 × 2 and SKU-2 × 1."""
    shipment = order_in_state("allocated").shipments.get()
    SKU.objects.filter(code="SKU-1").update(barcode="6901234567892")
    return shipment


@pytest.fixture
def sf(db):
    return Carrier.objects.create(code="sf", name="SF Express", tracking_code="shunfeng")


def packed(shipment) -> list[tuple[str, int, int]]:
    return list(
        ShipmentLine.objects.filter(shipment=shipment)
        .order_by("sku__code")
        .values_list("sku__code", "packed_quantity", "quantity")
    )


def test_routing_to_an_own_warehouse_queues_the_shipment_at_once(shipment):
    assert shipment.status == SS.SENT_TO_WAREHOUSE
    assert shipment.sent_at is not None
    event = OrderEvent.objects.get(kind=OrderEventKind.SHIPMENT, payload__shipment=shipment.number)
    assert (event.payload["from"], event.payload["to"]) == ("created", "sent_to_warehouse")
    assert not OutboxMessage.objects.filter(kind__startswith="wms.").exists()  # nothing leaves the building


def test_push_without_the_orders_locks_them_and_keeps_the_callers_instance_current(db):
    order = order_in_state("allocated")
    created = Shipment.objects.create(number="SH-MANUAL", order=order, warehouse=WarehouseFactory())

    with transaction.atomic():
        push_shipment(created)
        assert created.status == SS.SENT_TO_WAREHOUSE
        created.save()  # the caller may keep using its instance

    assert Shipment.objects.get(pk=created.pk).status == SS.SENT_TO_WAREHOUSE
    with transaction.atomic():
        push_shipment(created)  # a second push changes nothing
        cancel_shipment(created)  # and there is no one to tell
    assert OrderEvent.objects.filter(payload__shipment="SH-MANUAL").count() == 1
    assert not OutboxMessage.objects.filter(kind__startswith="wms.").exists()


def test_scanning_packs_unit_by_unit_and_the_last_unit_packs_the_shipment(shipment, warehouse_user):
    first = packing.shipment_pack_scan(shipment=shipment, code="6901234567892", actor=warehouse_user)
    assert (first.sku.code, first.packed, first.quantity, first.shipment_packed) == ("SKU-1", 1, 2, False)
    shipment.refresh_from_db()
    assert shipment.status == SS.PICKING  # being worked

    packing.shipment_pack_scan(shipment=shipment, code=" sku-1 ", actor=warehouse_user)  # typed code
    last = packing.shipment_pack_scan(shipment=shipment, code="SKU-2", actor=warehouse_user)

    assert last.shipment_packed
    shipment.refresh_from_db()
    assert shipment.status == SS.PACKED
    assert shipment.packed_at is not None
    assert packed(shipment) == [("SKU-1", 2, 2), ("SKU-2", 1, 1)]


def test_a_wrong_or_extra_item_is_refused_and_changes_nothing(shipment, warehouse_user):
    packing.shipment_pack_scan(shipment=shipment, code="SKU-2", actor=warehouse_user)

    with pytest.raises(DomainError, match="Wrong item: SKU-3 is not in shipment") as wrong:
        packing.shipment_pack_scan(shipment=shipment, code="SKU-3", actor=warehouse_user)
    assert wrong.value.field == "code"
    with pytest.raises(DomainError, match="Too many: all 1 × SKU-2 .* already packed"):
        packing.shipment_pack_scan(shipment=shipment, code="SKU-2", actor=warehouse_user)
    with pytest.raises(DomainError, match="No SKU has the barcode or code NOPE"):
        packing.shipment_pack_scan(shipment=shipment, code="NOPE", actor=warehouse_user)
    with pytest.raises(DomainError, match="Scan a barcode"):
        packing.shipment_pack_scan(shipment=shipment, code="  ", actor=warehouse_user)

    assert packed(shipment) == [("SKU-1", 0, 2), ("SKU-2", 1, 1)]
    shipment.refresh_from_db()
    assert shipment.status == SS.PICKING


def test_only_warehouse_staff_pack(shipment, agent):
    with pytest.raises(NotPermitted):
        packing.shipment_pack_scan(shipment=shipment, code="SKU-2", actor=agent)
    assert packed(shipment) == [("SKU-1", 0, 2), ("SKU-2", 0, 1)]


def test_start_picking_moves_waiting_shipments_and_reports_the_others(shipment, warehouse_user):
    other = order_in_state("allocated").shipments.get()
    packing.shipment_pack_scan(shipment=other, code="SKU-2", actor=warehouse_user)  # already picking

    started, problems = packing.shipments_start_picking(
        numbers=[shipment.number, other.number, "SH-NOPE"], actor=warehouse_user
    )

    assert started == [shipment.number]
    assert len(problems) == 2
    assert other.number in problems[0] and "SH-NOPE" in problems[1]
    shipment.refresh_from_db()
    assert shipment.status == SS.PICKING


def test_ship_hands_over_with_the_waybill_and_refuses_a_number_already_used(shipment, warehouse_user, sf):
    other = order_in_state("allocated").shipments.get()
    packing.shipment_ship(shipment=other, carrier=sf, tracking_number="SF100", actor=warehouse_user)

    with pytest.raises(DomainError, match="SF100 of SF Express is already used by shipment") as duplicate:
        packing.shipment_ship(shipment=shipment, carrier=sf, tracking_number=" SF100 ", actor=warehouse_user)
    assert duplicate.value.field == "tracking_number"
    shipment.refresh_from_db()
    assert shipment.status == SS.SENT_TO_WAREHOUSE

    packing.shipment_ship(
        shipment=shipment,
        carrier=sf,
        tracking_number="SF200",
        actor=warehouse_user,
        expected_status=SS.SENT_TO_WAREHOUSE,
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.carrier, shipment.tracking_number) == (SS.SHIPPED, sf, "SF200")
    assert shipment.order.status == OrderStatus.SHIPPED

    with pytest.raises(TransitionRefused):  # a second click from an old page
        packing.shipment_ship(
            shipment=shipment,
            carrier=sf,
            tracking_number="SF200",
            actor=warehouse_user,
            expected_status=SS.PACKED,
        )


def test_cloud_warehouse_parcels_are_not_worked_in_the_desk(warehouse_user, sf):
    warehouse = WarehouseFactory()
    warehouse.wms_protocol = "qimen"
    warehouse.save()
    shipment = order_in_state("allocated").shipments.get()

    for call in (
        lambda: packing.shipment_pack_scan(shipment=shipment, code="SKU-2", actor=warehouse_user),
        lambda: packing.shipment_ship(
            shipment=shipment, carrier=sf, tracking_number="SF1", actor=warehouse_user
        ),
    ):
        with pytest.raises(DomainError, match="worked by the system of warehouse WH-HZ"):
            call()
    assert packing.shipments_start_picking(numbers=[shipment.number], actor=warehouse_user)[0] == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scanners_racing_for_the_last_unit_pack_it_once(warehouse_user):
    from django.db import connection

    shipment = make_order(paid=True).shipments.get()  # routed on commit once paid
    packing.shipment_pack_scan(shipment=shipment, code="SKU-1", actor=warehouse_user)
    packing.shipment_pack_scan(shipment=shipment, code="SKU-1", actor=warehouse_user)
    barrier, outcomes = threading.Barrier(2), []

    def scan():
        try:
            barrier.wait(timeout=10)
            outcomes.append(
                packing.shipment_pack_scan(shipment=shipment.pk, code="SKU-2", actor=warehouse_user)
            )
        except DomainError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["PackScan", "str"]
    # the loser waited for the winner's lock, then found the parcel closed
    assert "there is nothing to pack" in next(outcome for outcome in outcomes if isinstance(outcome, str))
    assert packed(shipment) == [("SKU-1", 2, 2), ("SKU-2", 1, 1)]
    shipment.refresh_from_db()
    assert shipment.status == SS.PACKED
    assert OrderEvent.objects.filter(payload__shipment=shipment.number, payload__to="packed").count() == 1
