"""Receiving against a purchase order: the issue's "done means" (suggestions → PO → approved →
received in two parts → the ledger exact), scans, over- and under-delivery, the tolerance, lots,
shipment notices, and a receipt posted once however often it is posted."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.roles import Role
from core.timezones import business_date
from inventory.models import SKU, Lot, MovementKind, StockMovement
from inventory.reconciliation import find_drift
from orders.tests.factories import SKUFactory, WarehouseFactory
from purchasing import receiving, services
from purchasing.events import render_event
from purchasing.models import (
    GoodsReceiptLine,
    PurchaseEventKind,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeLine,
    ShipmentNoticeState,
)
from purchasing.services import LineInput
from purchasing.tests.factories import ledger_sum, make_item, make_supplier, on_hand, suggestions_for

pytestmark = pytest.mark.django_db
S = PurchaseOrderState


@pytest.fixture
def buyer(make_user):
    return make_user(Role.BUYER)


@pytest.fixture
def worker(make_user):
    return make_user(Role.WAREHOUSE)


def approved_po(buyer, *lines, supplier=None):
    supplier = supplier or make_supplier("acme")
    for line in lines:
        if not supplier.items.filter(sku__code=line.sku).exists():
            make_item(supplier, line.sku, "1.00")
    po = services.purchase_order_create(
        supplier=supplier, warehouse=WarehouseFactory(), lines=list(lines), actor=buyer
    )
    po = services.purchase_order_submit(po=po, actor=buyer)
    if po.state != S.APPROVED:
        po = services.purchase_order_approve(po=po, actor=None)
    return po


def scan(receipt, worker, code, times=1):
    for _ in range(times):
        receiving.receipt_scan(receipt=receipt, code=code, actor=worker)


@override_settings(PURCHASE_APPROVAL_THRESHOLD=Decimal("100.00"))
def test_done_means_a_po_from_suggestions_is_received_in_two_parts_and_the_ledger_is_exact(
    buyer, make_user, worker
):
    # given two SKUs to replenish (30 each suggested by the nightly job) sold by one supplier
    bolt, nut = suggestions_for("BOLT", "NUT")
    SKU.objects.filter(code="BOLT").update(barcode="6901234567892")
    acme = make_supplier("acme")
    make_item(acme, "BOLT", "4.00", is_preferred=True)
    make_item(acme, "NUT", "1.00", pack_size=20)  # 30 → 40

    # when the buyer creates the PO from the suggestions, and a manager approves it (120 + 40 ≥ 100)
    (po,) = services.purchase_orders_from_suggestions(
        suggestion_ids=[bolt.pk, nut.pk], warehouse=WarehouseFactory(), actor=buyer
    ).created
    assert sorted(po.lines.values_list("sku__code", "quantity")) == [("BOLT", 30), ("NUT", 40)]
    po = services.purchase_order_submit(po=po, actor=buyer)
    assert po.state == S.PENDING_APPROVAL
    po = services.purchase_order_approve(po=po, actor=make_user(Role.MANAGER))

    # and the first delivery brings 10 bolts (scanned by barcode) and all 40 nuts
    first = receiving.receipt_start(po=po, actor=worker)
    scan(first, worker, "6901234567892", times=10)
    nut_line = first.lines.get(purchase_order_line__sku__code="NUT")
    receiving.receipt_set_counts(
        receipt=first, counts=[receiving.CountInput(line_id=nut_line.pk, quantity=40)], actor=worker
    )
    posted = receiving.receipt_post(receipt=first, actor=worker)

    # then the order is partially received and the stock rose by what arrived
    assert posted.units == 50 and posted.over == []
    po.refresh_from_db()
    assert po.state == S.PARTIALLY_RECEIVED
    assert (on_hand("BOLT"), on_hand("NUT")) == (10, 40)
    assert sorted(po.lines.values_list("sku__code", "received_quantity")) == [("BOLT", 10), ("NUT", 40)]
    assert po.lines.get(sku__code="BOLT").open_quantity == 20

    # when the rest of the bolts arrive
    second = receiving.receipt_start(po=po, actor=worker)
    assert second.pk != first.pk
    scan(second, worker, "BOLT", times=20)
    receiving.receipt_post(receipt=second, actor=worker)

    # then the order is received, and balance = ledger for every SKU
    po.refresh_from_db()
    assert po.state == S.RECEIVED
    for code, units in (("BOLT", 30), ("NUT", 40)):
        assert on_hand(code) == ledger_sum(code) == units
    movements = StockMovement.objects.filter(
        kind=MovementKind.RECEIPT, reference__in=[first.number, second.number]
    )
    assert movements.count() == 3  # one per receipt line with units
    assert find_drift() == []
    kinds = list(po.events.values_list("kind", flat=True))
    assert kinds.count(PurchaseEventKind.RECEIVED) == 2


def test_posting_twice_posts_once(buyer, worker):
    po = approved_po(buyer, LineInput("NUT", 5))
    receipt = receiving.receipt_start(po=po, actor=worker)
    scan(receipt, worker, "NUT", times=5)
    receiving.receipt_post(receipt=receipt, actor=worker)
    again = receiving.receipt_post(receipt=receipt, actor=worker)  # double click, or a retry
    assert again.already is True
    assert on_hand("NUT") == ledger_sum("NUT") == 5
    assert po.lines.get().received_quantity == 5
    assert po.events.filter(kind=PurchaseEventKind.RECEIVED).count() == 1
    with pytest.raises(TransitionRefused, match="already posted"):
        receiving.receipt_scan(receipt=receipt, code="NUT", actor=worker)


def test_under_delivery_stays_open_and_can_be_closed_short(buyer, worker, make_user):
    po = approved_po(buyer, LineInput("NUT", 10), LineInput("BOLT", 4))
    receipt = receiving.receipt_start(po=po, actor=worker)
    scan(receipt, worker, "NUT", times=7)
    receiving.receipt_post(receipt=receipt, actor=worker)
    po.refresh_from_db()
    assert po.state == S.PARTIALLY_RECEIVED
    assert dict(po.lines.values_list("sku__code", "received_quantity")) == {"NUT": 7, "BOLT": 0}

    with pytest.raises(DomainError, match="close it short"):
        services.purchase_order_cancel(po=po, actor=buyer)
    with pytest.raises(NotPermitted):
        services.purchase_order_close_short(po=po, actor=worker)
    po = services.purchase_order_close_short(po=po, actor=make_user(Role.MANAGER), reason="Supplier out")
    assert po.state == S.CLOSED
    closed = po.events.get(kind=PurchaseEventKind.CLOSED)
    assert closed.params["short"] == [{"sku": "NUT", "quantity": 3}, {"sku": "BOLT", "quantity": 4}]
    with pytest.raises(TransitionRefused):
        receiving.receipt_start(po=po, actor=worker)


@override_settings(PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT=Decimal("10"))
def test_over_delivery_within_the_tolerance_is_accepted_and_flagged(buyer, worker):
    po = approved_po(buyer, LineInput("NUT", 20))
    receipt = receiving.receipt_start(po=po, actor=worker)
    scan(receipt, worker, "NUT", times=22)  # 20 + 10 % = 22 allowed
    posted = receiving.receipt_post(receipt=receipt, actor=worker)
    assert posted.over == [{"sku": "NUT", "quantity": 2, "open": 20}]
    line = GoodsReceiptLine.objects.get(receipt=receipt, quantity__gt=0)
    assert (line.quantity, line.over_quantity) == (22, 2)
    po.refresh_from_db()
    assert po.state == S.RECEIVED and on_hand("NUT") == 22
    flagged = po.events.get(kind=PurchaseEventKind.OVER_RECEIVED)
    rendered = render_event(flagged)
    assert rendered.is_warning and "NUT: 2 beyond the 20 still open" in rendered.details


@override_settings(PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT=Decimal("10"))
def test_beyond_the_tolerance_is_refused_unless_a_manager_accepts(buyer, worker, make_user):
    po = approved_po(buyer, LineInput("NUT", 20))
    receipt = receiving.receipt_start(po=po, actor=worker)
    scan(receipt, worker, "NUT", times=23)
    with pytest.raises(DomainError, match="NUT: 23 counted, but only 20 of 20 are still open") as refused:
        receiving.receipt_post(receipt=receipt, actor=worker)
    assert "tolerance allows 22" in refused.value.message
    assert on_hand("NUT") == 0 and po.lines.get().received_quantity == 0  # nothing half-written

    with pytest.raises(NotPermitted, match="Only a manager"):
        receiving.receipt_post(receipt=receipt, actor=worker, accept_over=True)

    manager = make_user(Role.MANAGER)
    posted = receiving.receipt_post(receipt=receipt, actor=manager, accept_over=True)
    assert posted.over == [{"sku": "NUT", "quantity": 3, "open": 20}]
    assert on_hand("NUT") == ledger_sum("NUT") == 23
    assert po.events.get(kind=PurchaseEventKind.OVER_RECEIVED).params["accepted_by_manager"] is True


def test_a_second_receipt_over_the_order_counts_only_its_own_excess(buyer, worker):
    po = approved_po(buyer, LineInput("NUT", 10))
    first = receiving.receipt_start(po=po, actor=worker)
    scan(first, worker, "NUT", times=9)
    receiving.receipt_post(receipt=first, actor=worker)
    second = receiving.receipt_start(po=po, actor=worker)
    scan(second, worker, "NUT", times=2)
    posted = receiving.receipt_post(receipt=second, actor=worker)
    assert posted.over == [{"sku": "NUT", "quantity": 1, "open": 1}]


def test_a_wrong_item_or_unknown_code_is_refused_and_changes_nothing(buyer, worker):
    po = approved_po(buyer, LineInput("NUT", 3))
    SKUFactory(code="OTHER")
    receipt = receiving.receipt_start(po=po, actor=worker)
    with pytest.raises(DomainError, match="Wrong item: OTHER is not on purchase order"):
        receiving.receipt_scan(receipt=receipt, code="OTHER", actor=worker)
    with pytest.raises(DomainError, match="No SKU has the barcode or code 123"):
        receiving.receipt_scan(receipt=receipt, code="123", actor=worker)
    with pytest.raises(DomainError, match="Nothing counted yet"):
        receiving.receipt_post(receipt=receipt, actor=worker)
    assert sum(receipt.lines.values_list("quantity", flat=True)) == 0


def test_the_same_worker_resumes_an_unposted_receipt(buyer, worker, make_user):
    po = approved_po(buyer, LineInput("NUT", 3))
    first = receiving.receipt_start(po=po, actor=worker)
    assert receiving.receipt_start(po=po, actor=worker).pk == first.pk
    assert receiving.receipt_start(po=po, actor=make_user(Role.WAREHOUSE)).pk != first.pk


def test_a_buyer_cannot_receive(buyer):
    po = approved_po(buyer, LineInput("NUT", 3))
    with pytest.raises(NotPermitted):
        receiving.receipt_start(po=po, actor=buyer)


def test_a_draft_cannot_be_received(buyer, worker):
    make_item(make_supplier("acme"), "NUT")
    po = services.purchase_order_create(
        supplier=make_supplier("acme"), warehouse=WarehouseFactory(), lines=[LineInput("NUT", 1)], actor=buyer
    )
    with pytest.raises(TransitionRefused, match="nothing can be received"):
        receiving.receipt_start(po=po, actor=worker)


def test_lot_tracked_items_are_received_into_their_lot_with_expiry(buyer, worker):
    SKUFactory(code="MILK", lot_tracked=True)
    po = approved_po(buyer, LineInput("MILK", 6))
    receipt = receiving.receipt_start(po=po, actor=worker)
    line = receipt.lines.get()
    expiry = date(2027, 6, 30)
    with pytest.raises(DomainError, match="MILK is lot-tracked: name the lot"):
        receiving.receipt_set_counts(
            receipt=receipt, counts=[receiving.CountInput(line_id=line.pk, quantity=6)], actor=worker
        )
        receiving.receipt_post(receipt=receipt, actor=worker)
    receiving.receipt_set_counts(
        receipt=receipt,
        counts=[receiving.CountInput(line_id=line.pk, quantity=6, lot_code="L2406", expires_on=expiry)],
        actor=worker,
    )
    receiving.receipt_post(receipt=receipt, actor=worker)
    lot = Lot.objects.get(sku__code="MILK", code="L2406")
    assert lot.expires_on == expiry
    assert lot.balances.get().on_hand == 6


def test_a_shipment_notice_is_received_against_and_follows_the_goods(buyer, worker):
    po = approved_po(buyer, LineInput("NUT", 10), LineInput("BOLT", 10))
    notice = ShipmentNotice.objects.create(
        number="ASN-TEST-1", purchase_order=po, expected_on=business_date() + timedelta(days=1)
    )
    for line in po.lines.all():
        ShipmentNoticeLine.objects.create(notice=notice, purchase_order_line=line, quantity=5)

    receipt = receiving.receipt_start(po=po, notice=notice, actor=worker)
    scan(receipt, worker, "NUT", times=5)
    scan(receipt, worker, "BOLT", times=2)
    receiving.receipt_post(receipt=receipt, actor=worker)
    notice.refresh_from_db()
    assert notice.state == ShipmentNoticeState.PARTIALLY_RECEIVED
    assert dict(notice.lines.values_list("purchase_order_line__sku__code", "received_quantity")) == {
        "NUT": 5,
        "BOLT": 2,
    }

    rest = receiving.receipt_start(po=po, notice=notice, actor=worker)
    scan(rest, worker, "BOLT", times=3)
    receiving.receipt_post(receipt=rest, actor=worker)
    notice.refresh_from_db()
    po.refresh_from_db()
    assert notice.state == ShipmentNoticeState.RECEIVED
    assert po.state == S.PARTIALLY_RECEIVED  # 5 + 5 of 10 each: the rest is still expected
    assert po.events.filter(kind=PurchaseEventKind.RECEIVED).last().params["notice"] == "ASN-TEST-1"
