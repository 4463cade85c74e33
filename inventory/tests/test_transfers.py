"""Transfers between warehouses: a document with an in-transit state, every unit on the ledger."""

import pytest
from django.db import connection
from django.urls import reverse

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.models import Alert
from inventory import reservations, selectors, stock_push, transfers
from inventory.ledger import InsufficientStock, standard_pool
from inventory.models import (
    SKU,
    ChannelPool,
    Lot,
    MovementKind,
    PoolKind,
    StockBalance,
    StockMovement,
    StockTransfer,
    TransferStatus,
)
from inventory.reservations import LineDemand, OrderDemand
from inventory.services import stock_change, stock_transfer
from inventory.transfer_events import event_text
from orders.tests.factories import ChannelFactory, SKUFactory, WarehouseFactory, ensure_master_data

pytestmark = pytest.mark.django_db
TS = TransferStatus


def ledger_proves_balances() -> None:
    """Every balance equals the sum of its movements' deltas (R-I1), checked in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT b.id FROM inventory_stockbalance b
              LEFT JOIN (SELECT balance_id, SUM(on_hand_delta) oh, SUM(reserved_delta) r, SUM(qc_hold_delta) q
                           FROM inventory_stockmovement GROUP BY balance_id) m ON m.balance_id = b.id
             WHERE b.on_hand <> COALESCE(m.oh, 0) OR b.reserved <> COALESCE(m.r, 0)
                OR b.qc_hold <> COALESCE(m.q, 0)
            """
        )
        assert cursor.fetchall() == []


def position(warehouse: str, sku: str = "SKU-1", pool: str = "regular") -> StockBalance | None:
    return StockBalance.objects.filter(warehouse__code=warehouse, sku__code=sku, pool__code=pool).first()


def on_hand(warehouse: str, sku: str = "SKU-1", pool: str = "regular") -> int:
    balance = position(warehouse, sku, pool)
    return balance.on_hand if balance else 0


def available(warehouse: str, sku: str = "SKU-1") -> int:
    rows = selectors.stock_positions([SKU.objects.get(code=sku).pk]).filter(warehouse__code=warehouse)
    return sum(max(0, row.effective_available) for row in rows)


@pytest.fixture
def two_warehouses():
    ensure_master_data()  # WH-HZ holds 1000 of SKU-1..3
    return WarehouseFactory(code="WH-HZ"), WarehouseFactory(code="WH-SH", name="Shanghai", city="上海市")


def draft(units=100, actor=None, **lines):
    source, target = WarehouseFactory(code="WH-HZ"), WarehouseFactory(code="WH-SH")
    wanted = lines or {"SKU-1": units}
    return transfers.transfer_create(
        from_warehouse=source,
        to_warehouse=target,
        lines=[transfers.LineInput(sku=SKU.objects.get(code=code), quantity=n) for code, n in wanted.items()],
        reference="restock SH",
        actor=actor,
    )


def test_a_transfer_in_transit_counts_in_neither_warehouse_nor_on_any_channel(
    two_warehouses, client, manager, django_capture_on_commit_callbacks
):
    shop = ChannelFactory()
    pushed = []
    stock_push.register_stock_listener(pushed.append)
    try:
        transfer = transfers.transfer_ship(transfer=draft(100), actor=None)
        with django_capture_on_commit_callbacks(execute=True):
            stock_push.push_pending_stock()
    finally:
        stock_push.unregister_stock_listener(pushed.append)

    assert transfer.status == TS.IN_TRANSIT and transfer.number.startswith("TR")
    assert (on_hand("WH-HZ"), available("WH-HZ")) == (900, 900)
    assert (on_hand("WH-SH"), available("WH-SH")) == (0, 0)
    transit = position("WH-SH", pool="in_transit")
    assert transit.on_hand == 100 and transit.pool.kind == PoolKind.IN_TRANSIT
    sku = SKU.objects.get(code="SKU-1")
    assert selectors.channel_sellable([sku.pk], [shop.pk])[shop.pk][sku.pk] == 900
    assert pushed and pushed[-1][shop.pk]["SKU-1"] == 900  # what the channels are told
    # a channel wrongly mapped to the in-transit pool still draws nothing from it
    ChannelPool.objects.create(channel=shop, pool=transit.pool, priority=0)
    reservations.reserve.forget_channel_pools()
    assert transit.pool.pk not in reservations.channel_pool_ids([shop.pk])[shop.pk]
    result = reservations.reserve_orders(
        [OrderDemand(order_id=None, channel_id=shop.pk, lines=[LineDemand(None, sku.pk, 901)], key="k")]
    )
    assert "k" in result.short  # 100 on the way cannot be sold or routed to
    # the API shows them on their own, in neither on_hand nor available
    client.force_login(manager)
    body = client.get("/api/v1/stock/", {"sku": "SKU-1"}).json()
    shanghai = next(w for w in body["warehouses"] if w["warehouse"] == "WH-SH")
    assert (shanghai["in_transit"], shanghai["on_hand"], shanghai["available"]) == (100, 0, 0)
    assert body["channels"][shop.code] == 900
    ledger_proves_balances()


def test_partial_receipt_then_close_with_a_shortage(two_warehouses, warehouse_user, manager):
    transfer = transfers.transfer_ship(transfer=draft(actor=warehouse_user), actor=warehouse_user)
    ledger_proves_balances()
    line = transfer.lines.get()

    outcome = transfers.transfer_receive(
        transfer=transfer, quantities={line.pk: 70}, idempotency_key="scan-1", actor=warehouse_user
    )

    assert outcome.transfer.status == TS.PARTIALLY_RECEIVED
    assert (on_hand("WH-SH"), on_hand("WH-SH", pool="in_transit")) == (70, 30)
    assert available("WH-SH") == 70
    ledger_proves_balances()
    with pytest.raises(NotPermitted):  # the warehouse cannot accept a loss
        transfers.transfer_close_short(transfer=transfer, reason="lost", actor=warehouse_user)
    with pytest.raises(DomainError) as missing_note:
        transfers.transfer_close_short(transfer=transfer, reason="other", actor=manager)
    assert missing_note.value.field == "note"

    closed = transfers.transfer_close_short(
        transfer=transfer, reason="damaged", note="crushed box", actor=manager
    )

    assert closed.status == TS.CLOSED and closed.shortage_reason == "damaged"
    line.refresh_from_db()
    assert (line.shipped_quantity, line.received_quantity, line.short_quantity, line.in_transit) == (
        100,
        70,
        30,
        0,
    )
    assert (on_hand("WH-HZ"), on_hand("WH-SH"), on_hand("WH-SH", pool="in_transit")) == (900, 70, 0)
    write_off = StockMovement.objects.get(kind=MovementKind.WRITE_OFF, reference=transfer.number)
    assert write_off.on_hand_delta == -30 and write_off.payload["reason"] == "damaged"
    ledger_proves_balances()
    texts = [event_text(event) for event in transfer.events.order_by("pk")]
    assert texts[-1] == "Closed short, SKU-1 ×30 written off: Damaged in transit. crushed box"
    assert [e.kind for e in transfer.events.order_by("pk")] == ["created", "shipped", "received", "closed"]


def test_receiving_everything_finishes_the_transfer(two_warehouses):
    transfer = transfers.transfer_ship(transfer=draft(**{"SKU-1": 5, "SKU-2": 3}), actor=None)
    lines = {line.sku.code: line for line in transfer.lines.select_related("sku")}
    transfers.transfer_receive(
        transfer=transfer, quantities={lines["SKU-1"].pk: 5}, idempotency_key="a", actor=None
    )
    done = transfers.transfer_receive(
        transfer=transfer, quantities={lines["SKU-2"].pk: 3}, idempotency_key="b", actor=None
    ).transfer
    assert done.status == TS.RECEIVED and done.finished_at is not None
    assert (on_hand("WH-SH"), on_hand("WH-SH", "SKU-2"), on_hand("WH-HZ", "SKU-2")) == (5, 3, 997)
    with pytest.raises(TransitionRefused):
        transfers.transfer_close_short(transfer=done, reason="lost", actor=None)
    ledger_proves_balances()


def test_ship_and_receive_retries_change_nothing(two_warehouses):
    transfer = transfers.transfer_ship(transfer=draft(10), actor=None)
    with pytest.raises(TransitionRefused):  # a second click, or a retry after the first committed
        transfers.transfer_ship(transfer=transfer, actor=None)
    line = transfer.lines.get()
    first = transfers.transfer_receive(
        transfer=transfer, quantities={line.pk: 4}, idempotency_key="k1", actor=None
    )
    again = transfers.transfer_receive(
        transfer=transfer, quantities={line.pk: 4}, idempotency_key="k1", actor=None
    )
    assert not first.repeated and again.repeated and again.receipt.pk == first.receipt.pk
    assert (on_hand("WH-HZ"), on_hand("WH-SH"), on_hand("WH-SH", pool="in_transit")) == (990, 4, 6)
    assert StockMovement.objects.filter(reference=transfer.number).count() == 4  # ship ×2, receive ×2
    assert all(m.idempotency_key for m in StockMovement.objects.filter(reference=transfer.number))
    ledger_proves_balances()


def test_receiving_more_than_shipped_is_refused_unless_booked_as_an_overage(two_warehouses, warehouse_user):
    transfer = transfers.transfer_ship(transfer=draft(5), actor=None)
    line = transfer.lines.get()
    with pytest.raises(DomainError, match="only 5 still on the way"):
        transfers.transfer_receive(
            transfer=transfer, quantities={line.pk: 6}, idempotency_key="x", actor=None
        )
    assert on_hand("WH-SH") == 0  # nothing half-written

    outcome = transfers.transfer_receive(
        transfer=transfer,
        quantities={line.pk: 6},
        idempotency_key="y",
        actor=warehouse_user,
        accept_overage=True,
    )

    assert outcome.transfer.status == TS.RECEIVED and outcome.transfer.has_overage
    assert (on_hand("WH-SH"), on_hand("WH-SH", pool="in_transit")) == (6, 0)
    assert (
        StockMovement.objects.get(kind=MovementKind.ADJUSTMENT, reference=transfer.number).on_hand_delta == 1
    )
    assert Alert.objects.filter(kind="transfer_overage").exists()
    ledger_proves_balances()


def test_only_a_draft_is_cancelled(two_warehouses, warehouse_user):
    kept = draft(actor=warehouse_user)
    cancelled = transfers.transfer_cancel(transfer=kept, actor=warehouse_user, expected_status="draft")
    assert cancelled.status == TS.CANCELLED and on_hand("WH-HZ") == 1000
    with pytest.raises(TransitionRefused):
        transfers.transfer_ship(transfer=cancelled, actor=warehouse_user)
    shipped = transfers.transfer_ship(transfer=draft(), actor=warehouse_user)
    with pytest.raises(TransitionRefused, match="only a draft can be cancelled"):
        transfers.transfer_cancel(transfer=shipped, actor=warehouse_user)
    assert on_hand("WH-SH", pool="in_transit") == 100


def test_a_stale_page_is_refused(two_warehouses):
    transfer = draft()
    transfers.transfer_cancel(transfer=transfer, actor=None)
    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        transfers.transfer_ship(transfer=transfer, actor=None, expected_status="draft")


def test_shipping_more_than_available_names_the_sku_and_moves_nothing(two_warehouses):
    transfer = draft(**{"SKU-1": 10, "SKU-2": 1001})
    with pytest.raises(InsufficientStock, match=r"SKU-2 \(pool regular\): 1000 available"):
        transfers.transfer_ship(transfer=transfer, actor=None)
    transfer.refresh_from_db()
    assert (
        transfer.status == TS.DRAFT and on_hand("WH-HZ") == 1000 and on_hand("WH-SH", pool="in_transit") == 0
    )


def test_bad_documents_are_refused_naming_the_field(two_warehouses):
    hz, sh = two_warehouses
    sku = SKU.objects.get(code="SKU-1")
    with pytest.raises(DomainError) as same:
        transfers.transfer_create(
            from_warehouse=hz, to_warehouse=hz, lines=[transfers.LineInput(sku=sku, quantity=1)], actor=None
        )
    assert same.value.field == "to_warehouse"
    with pytest.raises(DomainError) as empty:
        transfers.transfer_create(from_warehouse=hz, to_warehouse=sh, lines=[], actor=None)
    assert empty.value.field == "lines"
    lotted = SKUFactory(code="LOT-1", lot_tracked=True)
    with pytest.raises(DomainError) as no_lot:
        transfers.transfer_create(
            from_warehouse=hz,
            to_warehouse=sh,
            lines=[transfers.LineInput(sku=sku, quantity=1), transfers.LineInput(sku=lotted, quantity=1)],
            actor=None,
        )
    assert no_lot.value.field == "lines-1-lot"
    with pytest.raises(DomainError) as transit:
        transfers.transfer_create(
            from_warehouse=hz,
            to_warehouse=sh,
            lines=[transfers.LineInput(sku=sku, quantity=1, pool=standard_pool(PoolKind.IN_TRANSIT))],
            actor=None,
        )
    assert transit.value.field == "lines-0-pool"
    assert not StockTransfer.objects.exists()


def test_lots_travel_with_their_lot(two_warehouses):
    hz, sh = two_warehouses
    sku = SKUFactory(code="LOT-1", lot_tracked=True)
    stock_change(kind="receipt", sku=sku, warehouse=hz, quantity=20, lot_code="L1")
    transfer = transfers.transfer_create(
        from_warehouse=hz,
        to_warehouse=sh,
        lines=[transfers.LineInput(sku=sku, quantity=8, lot_code="L1")],
        actor=None,
    )
    transfers.transfer_ship(transfer=transfer, actor=None)
    line = transfer.lines.get()
    transfers.transfer_receive(transfer=transfer, quantities={line.pk: 8}, idempotency_key="lot", actor=None)
    lot = Lot.objects.get(sku=sku, code="L1")
    assert StockBalance.objects.get(warehouse=sh, sku=sku, pool__code="regular", lot=lot).on_hand == 8
    assert StockBalance.objects.get(warehouse=hz, sku=sku, lot=lot, pool__code="regular").on_hand == 12
    ledger_proves_balances()


def test_the_instant_move_stays_inside_one_warehouse(two_warehouses):
    hz, sh = two_warehouses
    balance = position("WH-HZ")
    with pytest.raises(DomainError, match="Stock → Transfers") as refused:
        stock_transfer(balance=balance, quantity=5, to_warehouse=sh)
    assert refused.value.field == "to_warehouse"
    with pytest.raises(DomainError):
        stock_transfer(balance=balance, quantity=5, to_pool=standard_pool(PoolKind.IN_TRANSIT))
    with pytest.raises(DomainError):
        stock_change(
            kind="receipt", sku=balance.sku, warehouse=sh, quantity=5, pool=standard_pool("in_transit")
        )
    stock_transfer(balance=balance, quantity=5, to_pool=standard_pool(PoolKind.LIVE))
    assert on_hand("WH-HZ", pool="live") == 5 and on_hand("WH-SH") == 0


def test_the_desk_lists_the_transfer_under_stock(two_warehouses, client, warehouse_user):
    transfer = draft()
    client.force_login(warehouse_user)
    page = client.get(reverse("inventory:transfer-list")).content.decode()
    assert transfer.number in page and reverse("inventory:transfer-list") in page


def test_a_cycle_count_cannot_count_units_in_transit(two_warehouses, warehouse_user):
    from inventory.cycle_counts.services import cycle_count_upload
    from inventory.cycle_counts.sheet import CycleCountFileError
    from inventory.tests.test_cycle_counts import xlsx

    transfers.transfer_ship(transfer=draft(10), actor=None)
    standard_pool(PoolKind.IN_TRANSIT)
    with pytest.raises(CycleCountFileError) as refused:
        cycle_count_upload(
            warehouse=two_warehouses[1],
            file_bytes=xlsx([["SKU-1", None, "in_transit", 0]]),
            file_name="count.xlsx",
            actor=warehouse_user,
        )
    assert [(e.row_number, e.field) for e in refused.value.errors] == [(2, "pool")]
    assert on_hand("WH-SH", pool="in_transit") == 10
