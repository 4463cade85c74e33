from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import DomainError
from core.models import Alert
from inventory.ledger import InsufficientStock
from inventory.models import MovementKind, StockBalance, StockMovement
from inventory.reconciliation import find_drift, stock_reconcile
from inventory.services import stock_change, stock_qc_release
from orders.tests.factories import SKUFactory, WarehouseFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db


def balance(code="SKU-1"):
    return StockBalance.objects.get(sku__code=code, lot__isnull=True)


def figures(code="SKU-1"):
    b = balance(code)
    return b.on_hand, b.reserved, b.qc_hold, b.available


def test_each_kind_moves_the_right_figures():
    ensure_master_data(stock=10)
    sku, warehouse = SKUFactory(code="SKU-1"), WarehouseFactory()

    stock_change(kind=MovementKind.ADJUSTMENT, sku=sku, warehouse=warehouse, quantity=-2, reference="damaged")
    assert figures() == (8, 0, 0, 8)
    stock_change(kind=MovementKind.RETURN, sku=sku, warehouse=warehouse, quantity=3, reference="RMA-1")
    assert figures() == (11, 0, 3, 8)  # returned goods wait in QC hold
    stock_qc_release(balance=balance(), quantity=2)
    assert figures() == (11, 0, 1, 10)
    stock_change(kind=MovementKind.WRITE_OFF, sku=sku, warehouse=warehouse, quantity=-1, reference="broken")
    assert figures() == (10, 0, 1, 9)
    assert find_drift() == []


def test_reserved_units_cannot_be_adjusted_away():
    ensure_master_data(stock=5)
    make_order(lines=[{"sku": "SKU-1", "quantity": 4, "unit_price": "1.00"}])

    with pytest.raises(InsufficientStock, match="Only 1 available"):
        stock_change(
            kind=MovementKind.ADJUSTMENT,
            sku=SKUFactory(code="SKU-1"),
            warehouse=WarehouseFactory(),
            quantity=-2,
            reference="count",
        )
    assert figures() == (5, 4, 0, 1)


@pytest.mark.parametrize(
    ("kind", "quantity"), [("receipt", -1), ("adjustment", 0), ("write_off", 2), ("nope", 1)]
)
def test_wrong_kind_or_sign_is_refused(kind, quantity):
    ensure_master_data(stock=5)
    with pytest.raises(DomainError):
        stock_change(kind=kind, sku=SKUFactory(code="SKU-1"), warehouse=WarehouseFactory(), quantity=quantity)


def test_lot_tracked_skus_need_a_lot():
    ensure_master_data(stock=0)
    tea = SKUFactory(code="TEA", lot_tracked=True)
    with pytest.raises(DomainError) as refused:
        receive(tea, 5)
    assert refused.value.field == "lot"
    receive(tea, 5, lot_code="L1", expires_on=timezone.localdate() + timedelta(days=300))
    assert StockBalance.objects.get(sku=tea).lot.code == "L1"


def test_an_idempotency_key_applies_a_receipt_once():
    ensure_master_data(stock=0)
    sku = SKUFactory(code="SKU-1")
    first = receive(sku, 5, idempotency_key="po-77-line-1")
    again = receive(sku, 5, idempotency_key="po-77-line-1")
    assert again.pk == first.pk
    assert figures() == (5, 0, 0, 5)


def test_movements_are_append_only():
    ensure_master_data(stock=5)
    movement = StockMovement.objects.first()
    with pytest.raises(Exception, match="append-only"):
        movement.save()
    with pytest.raises(Exception, match="append-only"):
        movement.delete()


def test_reconcile_finds_and_repairs_drift_with_an_audited_movement():
    ensure_master_data(stock=10)
    make_order(lines=[{"sku": "SKU-1", "quantity": 3, "unit_price": "1.00"}])
    StockBalance.objects.filter(sku__code="SKU-1").update(on_hand=99, reserved=0)  # someone wrote by hand

    drifts = find_drift()
    assert [(d.cached, d.ledger, d.reservations_held) for d in drifts] == [((99, 0, 0), (10, 3, 0), 3)]

    call_command("reconcile_stock")

    assert find_drift() == []
    assert figures() == (10, 3, 0, 7)
    repair = StockMovement.objects.get(kind=MovementKind.RECONCILE)
    assert repair.payload == {"before": [99, 0, 0], "after": [10, 3, 0]}
    assert (repair.on_hand_delta, repair.reserved_delta) == (0, 0)
    assert Alert.objects.get(kind="stock_drift").state == "open"
    assert stock_reconcile() == []  # nothing left to report


def test_a_qc_release_with_an_idempotency_key_happens_once():
    ensure_master_data(stock=10)
    sku, warehouse = SKUFactory(code="SKU-1"), WarehouseFactory()
    stock_change(kind=MovementKind.RETURN, sku=sku, warehouse=warehouse, quantity=3, reference="RMA-1")

    first = stock_qc_release(
        balance=balance(), quantity=1, reference="RMA-1", note="ok", idempotency_key="k1"
    )
    again = stock_qc_release(
        balance=balance(), quantity=1, reference="RMA-1", note="ok", idempotency_key="k1"
    )

    assert again.pk == first.pk
    assert (first.kind, first.qc_hold_delta, first.note, first.reference) == (
        MovementKind.QC_RELEASE,
        -1,
        "ok",
        "RMA-1",
    )
    assert figures() == (13, 0, 2, 11)
    assert find_drift() == []
