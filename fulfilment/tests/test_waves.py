"""Waves (issue #17 part 4): grouping by rule (carrier, single/multi, cut-off, size), one open
wave per shipment, the pick list in bin-path order, scan-to-pick and its refusals, weight at
pack, hand-over and the pickup booking."""

import threading
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from core.errors import DomainError
from fulfilment import packing, waves
from fulfilment.models import (
    Carrier,
    Shipment,
    ShipmentStatus,
    Wave,
    WaveKind,
    WavePick,
    WaveRule,
    WaveShipment,
    WaveState,
)
from fulfilment.tracking import shipment_record_waybill
from inventory.bins import bin_put_away
from inventory.models import SKU, BinLocation, BinStock
from orders import services
from orders.tests.factories import WarehouseFactory, make_order, order_in_state

pytestmark = pytest.mark.django_db

SS = ShipmentStatus
SHANGHAI = ZoneInfo("Asia/Shanghai")
SINGLE = [{"sku": "SKU-3", "quantity": 1, "unit_price": "30.00"}]  # one unit in the parcel


@pytest.fixture
def sf(db):
    return Carrier.objects.create(code="sf", name="SF Express", tracking_code="shunfeng")


@pytest.fixture
def zto(db):
    return Carrier.objects.create(code="zto", name="ZTO Express", tracking_code="zhongtong")


def sent(carrier=None, tracking="", **order_fields):
    """A shipment sent to WH-HZ (own), with a waybill of `carrier` when given."""
    order = make_order(paid=True, **order_fields)
    order.refresh_from_db()
    if order.status != "allocated":  # a transactional test's commit already routed it
        order = services.order_transition(order=order, name="allocate")
    shipment = order.shipments.get()
    assert shipment.status == SS.SENT_TO_WAREHOUSE
    if carrier is not None:
        tracking = tracking or f"{carrier.code.upper()}{shipment.pk:010d}"
        shipment = shipment_record_waybill(shipment=shipment, carrier=carrier, tracking_number=tracking)
    return shipment


def members(wave: Wave) -> set[str]:
    return set(wave.members.values_list("shipment__number", flat=True))


def bin_at(code: str, sequence: int, **stock: int) -> BinLocation:
    """A WH-HZ bin on the path at `sequence`, holding SKU-code=units (as recorded)."""
    place = BinLocation.objects.create(warehouse=WarehouseFactory(), code=code, pick_sequence=sequence)
    for sku, units in stock.items():
        BinStock.objects.create(bin=place, sku=SKU.objects.get(code=sku.replace("_", "-")), quantity=units)
    return place


# --- grouping -------------------------------------------------------------------------------------------


def test_without_rules_waves_split_single_and_multi_item_orders_per_carrier(warehouse_user, sf, zto):
    multi_sf, multi_zto = sent(sf), sent(zto)
    single_sf, single_sf_2 = sent(sf, lines=SINGLE), sent(sf, lines=SINGLE)

    made = waves.waves_create(warehouse=multi_sf.warehouse, actor=warehouse_user)

    grouped = {(wave.kind, wave.carrier_id): members(wave) for wave in made}
    assert grouped == {
        (WaveKind.MULTI, sf.pk): {multi_sf.number},
        (WaveKind.MULTI, zto.pk): {multi_zto.number},
        (WaveKind.SINGLE, sf.pk): {single_sf.number, single_sf_2.number},
    }
    assert all(wave.state == WaveState.OPEN and wave.created_by == warehouse_user for wave in made)
    assert all(wave.number.startswith("WV") for wave in made)


def test_rules_take_shipments_in_order_by_carrier_and_size(warehouse_user, sf, zto):
    warehouse = WarehouseFactory()
    WaveRule.objects.create(
        warehouse=warehouse, name="SF singles", sequence=1, carrier=sf, kind=WaveKind.SINGLE
    )
    WaveRule.objects.create(warehouse=warehouse, name="SF", sequence=2, carrier=sf, max_shipments=2)
    sf_single, sf_a, sf_b, sf_c = sent(sf, lines=SINGLE), sent(sf), sent(sf), sent(sf)
    zto_parcel = sent(zto)  # no rule takes ZTO parcels: it waits

    made = waves.waves_create(warehouse=warehouse, actor=warehouse_user)

    assert [(wave.rule_name, members(wave)) for wave in made] == [
        ("SF singles", {sf_single.number}),
        ("SF", {sf_a.number, sf_b.number}),  # oldest first, at most two a wave
        ("SF", {sf_c.number}),
    ]
    assert not WaveShipment.objects.filter(shipment=zto_parcel).exists()


def test_after_the_cut_off_later_shipments_wait_for_tomorrows_wave(warehouse_user, sf):
    warehouse = WarehouseFactory()
    WaveRule.objects.create(warehouse=warehouse, name="16:00 pickup", cut_off=time(16, 0))
    early, late = sent(sf), sent(sf)
    Shipment.objects.filter(pk=early.pk).update(sent_at=datetime(2026, 3, 2, 15, 0, tzinfo=SHANGHAI))
    Shipment.objects.filter(pk=late.pk).update(sent_at=datetime(2026, 3, 2, 16, 30, tzinfo=SHANGHAI))

    (today,) = waves.waves_create(
        warehouse=warehouse, actor=warehouse_user, now=datetime(2026, 3, 2, 17, 0, tzinfo=SHANGHAI)
    )
    (tomorrow,) = waves.waves_create(
        warehouse=warehouse, actor=warehouse_user, now=datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI)
    )

    assert members(today) == {early.number}
    assert today.cut_off == datetime(2026, 3, 2, 16, 0, tzinfo=SHANGHAI)
    assert members(tomorrow) == {late.number}


def test_a_shipment_is_in_one_open_wave_at_most(warehouse_user, sf):
    shipment = sent(sf)
    (wave,) = waves.waves_create(warehouse=shipment.warehouse, actor=warehouse_user)

    assert waves.waves_create(warehouse=shipment.warehouse, actor=warehouse_user) == []
    other = Wave.objects.create(number="WV-OTHER", warehouse=wave.warehouse, kind=WaveKind.ANY)
    with pytest.raises(IntegrityError), transaction.atomic():
        WaveShipment.objects.create(wave=other, shipment=shipment)  # the partial unique index


# Two connections at once, one waiting on the other's row locks: SQLite's in-memory test database
# (shared cache) refuses the second at once instead ("database table is locked").
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_creating_waves_at_once_put_each_shipment_in_one_wave(make_user, sf):
    clerk = make_user("warehouse")
    shipments = [sent(sf) for _ in range(4)]
    barrier, made, errors = threading.Barrier(2), [], []

    def create():
        try:
            barrier.wait()
            made.extend(waves.waves_create(warehouse=shipments[0].warehouse, actor=clerk))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    waved = list(WaveShipment.objects.values_list("shipment_id", flat=True))
    assert sorted(waved) == sorted(s.pk for s in shipments)  # each once
    assert len(made) == 1


# --- the pick list and the pick walk ---------------------------------------------------------------------


def test_the_pick_list_walks_the_bins_in_path_order(warehouse_user, sf):
    sent(sf), sent(sf), sent(sf, lines=SINGLE)  # SKU-1 × 4, SKU-2 × 2, SKU-3 × 1
    bin_at("A-01-03", 20, SKU_1=3)
    bin_at("B-02-01", 5, SKU_2=0)  # first on the path although its code sorts later
    bin_at("C-01", 30, SKU_1=10)

    made = waves.waves_create(warehouse=WarehouseFactory(), actor=warehouse_user)
    (multi,) = [wave for wave in made if wave.kind == WaveKind.MULTI]

    lines = waves.wave_pick_list(multi)
    assert [
        (
            line.pick.bin.code if line.pick.bin else None,
            line.pick.sku.code,
            line.pick.quantity,
            line.pick.short,
        )
        for line in lines
    ] == [
        ("B-02-01", "SKU-2", 2, True),  # the bin's record holds none: still its home bin, marked short
        ("A-01-03", "SKU-1", 3, False),
        ("C-01", "SKU-1", 1, False),  # the rest from the next bin on the path
    ]
    assert [quantity for _number, quantity in lines[1].shipments] == [2, 2]
    (single,) = [wave for wave in made if wave.kind == WaveKind.SINGLE]
    (no_bin,) = waves.wave_pick_list(single)
    assert (no_bin.pick.bin, no_bin.pick.sku.code) == (None, "SKU-3")


@pytest.fixture
def picking_wave(warehouse_user, sf):
    """A wave of one parcel (SKU-1 × 2 from A-01-03, SKU-2 × 1 from B-02-01), picking."""
    shipment = sent(sf)
    SKU.objects.filter(code="SKU-1").update(barcode="6901234567892")
    bin_at("A-01-03", 10, SKU_1=5)
    bin_at("B-02-01", 20, SKU_2=0)
    bin_at("Z-99", 90)  # a bin this wave has nothing in
    (wave,) = waves.waves_create(warehouse=shipment.warehouse, actor=warehouse_user)
    wave, problems = waves.wave_start_picking(wave=wave, actor=warehouse_user)
    assert problems == [] and wave.state == WaveState.PICKING
    shipment.refresh_from_db()
    assert shipment.status == SS.PICKING
    return wave


def scan(wave, user, code, at_bin=""):
    return waves.wave_pick_scan(wave=wave, code=code, at_bin=at_bin, actor=user)


def test_picking_by_bin_counts_each_unit_and_takes_it_from_the_bins_record(picking_wave, warehouse_user):
    at = scan(picking_wave, warehouse_user, "a-01-03")  # scanners may send lower case
    assert at.bin.code == "A-01-03" and at.pick is None

    first = scan(picking_wave, warehouse_user, "6901234567892", at_bin="A-01-03")  # by barcode
    second = scan(picking_wave, warehouse_user, "SKU-1", at_bin="A-01-03")  # or by SKU code
    assert (first.pick.picked, second.pick.picked, second.pick.quantity) == (1, 2, 2)
    assert BinStock.objects.get(bin__code="A-01-03").quantity == 3
    assert not second.wave_picked

    last = scan(picking_wave, warehouse_user, "SKU-2", at_bin="B-02-01")
    assert last.bin_record_short  # the record had none: counted all the same
    assert last.wave_picked and waves.wave_next_pick(picking_wave) is None


@pytest.mark.parametrize(
    ("code", "at_bin", "message"),
    [
        ("SKU-1", "", "Scan the bin first: SKU-1 is picked from A-01-03."),
        ("NOPE-42", "", "Unknown code NOPE-42: neither a bin of WH-HZ nor an item's barcode."),
        ("Z-99", "", "Wrong bin: nothing of this wave is picked from Z-99. Next: A-01-03: 2 × SKU-1."),
        ("SKU-2", "A-01-03", "Wrong item: SKU-2 is not picked from A-01-03 but from B-02-01."),
        ("SKU-3", "A-01-03", "Wrong item: SKU-3 is not in wave"),
        ("   ", "", "Scan a bin or an item."),
    ],
)
def test_a_wrong_scan_says_what_is_wrong_and_changes_nothing(
    picking_wave, warehouse_user, code, at_bin, message
):
    with pytest.raises(DomainError) as refused:
        scan(picking_wave, warehouse_user, code, at_bin)
    assert message in refused.value.message
    assert sum(WavePick.objects.filter(wave=picking_wave).values_list("picked", flat=True)) == 0
    assert BinStock.objects.get(bin__code="A-01-03").quantity == 5


def test_one_unit_too_many_and_a_finished_bin_are_refused(picking_wave, warehouse_user):
    scan(picking_wave, warehouse_user, "SKU-1", "A-01-03")
    scan(picking_wave, warehouse_user, "SKU-1", "A-01-03")
    with pytest.raises(DomainError, match=r"Too many: all 2 × SKU-1 from A-01-03 are picked. Next: B-02-01"):
        scan(picking_wave, warehouse_user, "SKU-1", "A-01-03")
    with pytest.raises(DomainError, match="Bin A-01-03 is done. Next: B-02-01: 1 × SKU-2"):
        scan(picking_wave, warehouse_user, "A-01-03")
    assert BinStock.objects.get(bin__code="A-01-03").quantity == 3


def test_an_open_wave_is_not_picked_before_it_starts(warehouse_user, sf):
    shipment = sent(sf)
    (wave,) = waves.waves_create(warehouse=shipment.warehouse, actor=warehouse_user)
    with pytest.raises(DomainError, match="is Open"):
        scan(wave, warehouse_user, "SKU-1")


# --- weight, hand-over, pickup -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "grams"),
    [
        ("1.25", "kg", 1250),
        ("1,5", "kg", 1500),
        ("850", "g", 850),
        ("0.3334", "kg", 333),
        ("70", "kg", 70000),
    ],
)
def test_weights_in_grams_or_kilograms(value, unit, grams):
    assert waves.parse_weight(value, unit) == grams


@pytest.mark.parametrize(
    ("value", "unit", "message"),
    [
        ("", "kg", "Enter the weight as a number"),
        ("abc", "g", "Enter the weight as a number"),
        ("NaN", "g", "Enter the weight as a number"),
        ("0", "g", "more than 0 g"),
        ("0.0004", "kg", "more than 0 g"),  # rounds to nothing
        ("-1", "kg", "more than 0 g"),
        ("1250", "kg", r"1250000 g is more than a parcel may weigh \(70 kg\)"),  # grams typed as kg
        ("1", "lb", "grams or kilograms"),
    ],
)
def test_a_weight_that_cannot_be_right_is_refused(value, unit, message):
    with pytest.raises(DomainError, match=message):
        waves.parse_weight(value, unit)


def pack_all(wave, user, shipment):
    for line in shipment.lines.select_related("sku"):
        for _unit in range(line.quantity):
            waves.wave_pack_scan(wave=wave, shipment_number=shipment.number, code=line.sku.code, actor=user)


def test_a_parcel_is_weighed_once_packed_and_the_wave_is_packed_when_all_are(picking_wave, warehouse_user):
    shipment = picking_wave.members.get().shipment
    with pytest.raises(DomainError, match="weigh it once every item is packed"):
        waves.wave_record_weight(
            wave=picking_wave, shipment_number=shipment.number, weight="1.2", unit="kg", actor=warehouse_user
        )

    pack_all(picking_wave, warehouse_user, shipment)
    picking_wave.refresh_from_db()
    assert picking_wave.state == WaveState.PICKING  # packed, not yet weighed
    weighed = waves.wave_record_weight(
        wave=picking_wave, shipment_number=shipment.number, weight="1.2", unit="kg", actor=warehouse_user
    )

    assert weighed.weight_grams == 1200
    shipment.refresh_from_db()
    assert (shipment.status, shipment.weight_grams) == (SS.PACKED, 1200)
    picking_wave.refresh_from_db()
    assert picking_wave.state == WaveState.PACKED and picking_wave.packed_at is not None
    assert shipment.order.events.filter(payload__weight_grams=1200).exists()


def test_a_parcel_of_another_wave_is_not_packed_here(picking_wave, warehouse_user, sf):
    stranger = sent(sf)
    with pytest.raises(DomainError, match=f"Shipment {stranger.number} is not in wave"):
        waves.wave_pack_scan(
            wave=picking_wave, shipment_number=stranger.number, code="SKU-1", actor=warehouse_user
        )


def test_hand_over_ships_packed_weighed_parcels_and_leaves_unpacked_ones_out(warehouse_user, sf):
    ready, unpacked = sent(sf), sent(sf)
    (wave,) = waves.waves_create(warehouse=ready.warehouse, actor=warehouse_user)
    wave, _problems = waves.wave_start_picking(wave=wave, actor=warehouse_user)
    pack_all(wave, warehouse_user, ready)
    waves.wave_record_weight(
        wave=wave, shipment_number=ready.number, weight="900", unit="g", actor=warehouse_user
    )

    outcome = waves.wave_hand_over(wave=wave, actor=warehouse_user)

    assert outcome.problems == []
    assert outcome.shipped == [(ready.number, ready.tracking_number)]
    assert outcome.left_out == [unpacked.number]
    ready.refresh_from_db()
    assert (ready.status, ready.carrier, ready.shipped_at is not None) == (SS.SHIPPED, sf, True)
    wave.refresh_from_db()
    assert (wave.state, wave.handed_over_by) == (WaveState.HANDED_OVER, warehouse_user)
    assert not WaveShipment.objects.filter(wave=wave, active=True).exists()
    assert WaveShipment.objects.get(shipment=unpacked).left_out.startswith("Not packed")


def test_hand_over_waits_for_a_parcel_without_a_waybill(warehouse_user):
    shipment = sent()  # no waybill yet
    (wave,) = waves.waves_create(warehouse=shipment.warehouse, actor=warehouse_user)
    wave, _problems = waves.wave_start_picking(wave=wave, actor=warehouse_user)
    pack_all(wave, warehouse_user, shipment)
    waves.wave_record_weight(
        wave=wave, shipment_number=shipment.number, weight="1", unit="kg", actor=warehouse_user
    )

    outcome = waves.wave_hand_over(wave=wave, actor=warehouse_user)

    assert outcome.problems == [f"{shipment.number}: no waybill yet."]
    wave.refresh_from_db()
    shipment.refresh_from_db()
    assert (wave.state, shipment.status) == (WaveState.PACKED, SS.PACKED)


def test_pickup_booking_is_recorded_with_its_reference(picking_wave, warehouse_user):
    with pytest.raises(DomainError, match="reference"):
        waves.wave_record_pickup(wave=picking_wave, reference="  ", actor=warehouse_user)
    wave = waves.wave_record_pickup(wave=picking_wave, reference="SF-PU-20260302-7", actor=warehouse_user)
    assert (wave.pickup_reference, wave.pickup_booked_by) == ("SF-PU-20260302-7", warehouse_user)


def test_put_away_adds_to_the_bins_record(warehouse_user):
    order_in_state("allocated")
    place = bin_at("A-01-03", 10, SKU_1=2)
    row = bin_put_away(bin=place, sku=SKU.objects.get(code="SKU-1"), quantity=3, actor=warehouse_user)
    assert row.quantity == 5
    with pytest.raises(DomainError):
        bin_put_away(bin=place, sku=row.sku, quantity=0, actor=warehouse_user)


def test_waves_are_for_warehouse_staff(client, agent, warehouse_user, sf):
    shipment = sent(sf)
    client.force_login(agent)
    assert client.post("/fulfilment/waves/create/", {"warehouse": "WH-HZ"}).status_code == 403
    assert client.get("/fulfilment/waves/").status_code == 200  # customer service may look

    client.force_login(warehouse_user)
    response = client.post("/fulfilment/waves/create/", {"warehouse": "WH-HZ"})
    wave = Wave.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/fulfilment/waves/{wave.number}/"
    assert shipment.number in client.get(response["Location"]).content.decode()
    assert packing.WORK_PERMISSION == waves.WORK


def test_bins_and_bin_stock_import_and_export_as_spreadsheets(warehouse_user):
    import tablib

    from inventory.bin_admin import BinLocationResource, BinStockResource

    order_in_state("allocated")  # WH-HZ, SKU-1…3
    WarehouseFactory(code="WH-SH", name="Shanghai")
    bins = tablib.Dataset(headers=["warehouse", "code", "zone", "pick_sequence", "is_active"])
    bins.append(["WH-HZ", "A-01-03", "A", 10, 1])
    bins.append(["WH-SH", "A-01-03", "A", 5, 1])  # the same code in another warehouse
    assert not BinLocationResource().import_data(bins, dry_run=False).has_errors()

    stock = tablib.Dataset(headers=["warehouse", "bin", "sku", "quantity"])
    stock.append(["WH-HZ", "a-01-03", "SKU-1", 12])
    stock.append(["WH-SH", "A-01-03", "SKU-1", 3])
    assert not BinStockResource().import_data(stock, dry_run=False).has_errors()
    assert sorted(BinStock.objects.values_list("bin__warehouse__code", "quantity")) == [
        ("WH-HZ", 12),
        ("WH-SH", 3),
    ]

    wrong = tablib.Dataset(headers=["warehouse", "bin", "sku", "quantity"])
    wrong.append(["WH-HZ", "Z-404", "SKU-1", 1])
    result = BinStockResource().import_data(wrong, dry_run=True)
    (row_errors,) = [errors for _number, errors in result.row_errors()]
    assert "No bin Z-404 in warehouse WH-HZ." in str(row_errors[0].error)

    exported = BinStockResource().export()
    assert exported.headers == ["warehouse", "bin", "sku", "quantity"]
    assert exported.dict[0] == {"warehouse": "WH-HZ", "bin": "A-01-03", "sku": "SKU-1", "quantity": "12"}
