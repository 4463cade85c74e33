"""Stock writes other than reservations: receipts, adjustments, transfers, returns, QC."""

from datetime import date

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted
from inventory import ledger
from inventory.models import (
    SKU,
    Lot,
    MovementKind,
    PoolKind,
    StockBalance,
    StockMovement,
    StockPool,
    Warehouse,
)


def _require(actor, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(_("You are not allowed to change stock."))


def _lot_for(sku: SKU, lot_code: str, expires_on: date | None) -> Lot | None:
    if not sku.lot_tracked:
        if lot_code:
            raise DomainError(_("%(sku)s is not lot-tracked.") % {"sku": sku.code}, field="lot")
        return None
    if not lot_code:
        raise DomainError(_("%(sku)s is lot-tracked: name the lot.") % {"sku": sku.code}, field="lot")
    lot, created = Lot.objects.get_or_create(sku=sku, code=lot_code, defaults={"expires_on": expires_on})
    if not created and expires_on and lot.expires_on != expires_on:
        raise DomainError(
            _("Lot %(lot)s already expires on %(date)s.") % {"lot": lot_code, "date": lot.expires_on},
            field="expires_on",
        )
    return lot


def post_one(change: ledger.Change, actor) -> StockMovement:
    """Post one movement in a savepoint; a repeated idempotency key returns the first movement,
    changing nothing (the key is unique)."""
    try:
        with transaction.atomic():
            return ledger.post([change], actor=actor)[0]
    except IntegrityError:
        existing = StockMovement.objects.filter(idempotency_key=change.idempotency_key).first()
        if change.idempotency_key and existing:
            return existing
        raise


def stock_change(
    *,
    kind: str,
    sku: SKU,
    warehouse: Warehouse,
    quantity: int,
    pool: StockPool | None = None,
    lot_code: str = "",
    expires_on: date | None = None,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    actor=None,
) -> StockMovement:
    """A receipt (+), an adjustment (±), a customer return (+, into QC hold) or a write-off (−)."""
    _require(actor, "inventory.add_stockmovement")
    signs = {
        MovementKind.RECEIPT: quantity > 0,
        MovementKind.ADJUSTMENT: quantity != 0,
        MovementKind.RETURN: quantity > 0,
        MovementKind.WRITE_OFF: quantity < 0,
    }
    if kind not in signs:
        raise DomainError(_("Unknown movement kind."), field="kind")
    if not signs[kind]:
        raise DomainError(_("Quantity has the wrong sign or is zero for this kind."), field="quantity")
    if pool is not None and pool.kind == PoolKind.IN_TRANSIT:
        raise DomainError(
            _("Units in transit move only by receiving or closing their transfer."), field="pool"
        )
    with transaction.atomic():
        lot = _lot_for(sku, lot_code, expires_on)
        balance = ledger.balance_for(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            pool_id=pool.pk if pool else None,
            lot_id=lot.pk if lot else None,
        )
        change = ledger.Change(
            balance_id=balance.pk,
            sku_id=sku.pk,
            kind=kind,
            on_hand=quantity,
            reference=reference,
            note=note,
            idempotency_key=idempotency_key,
        )
        if kind == MovementKind.RETURN:
            change.qc_hold = quantity  # returned goods wait for inspection before they can sell
        try:
            return post_one(change, actor)
        except ledger.InsufficientStock as exc:
            raise ledger.InsufficientStock(
                _("Only %(n)s available: reserved or held units cannot be removed.")
                % {"n": balance.available},
                field="quantity",
            ) from exc


def stock_qc_release(
    *,
    balance: StockBalance,
    quantity: int,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    actor=None,
) -> StockMovement:
    """Inspected goods pass QC and become available again. With an idempotency key, a repeated
    release returns the first movement and changes nothing."""
    _require(actor, "inventory.add_stockmovement")
    if quantity < 1:
        raise DomainError(_("Quantity must be at least 1."), field="quantity")
    with transaction.atomic():
        change = ledger.Change(
            balance_id=balance.pk,
            sku_id=balance.sku_id,
            kind=MovementKind.QC_RELEASE,
            qc_hold=-quantity,
            reference=reference,
            note=note,
            idempotency_key=idempotency_key,
        )
        try:
            return post_one(change, actor)
        except ledger.InsufficientStock as exc:
            raise ledger.InsufficientStock(
                _("Not that many units are in QC hold."), field="quantity"
            ) from exc


def stock_transfer(
    *,
    balance: StockBalance,
    quantity: int,
    to_warehouse: Warehouse | None = None,
    to_pool: StockPool | None = None,
    reference: str = "",
    actor=None,
) -> list[StockMovement]:
    """Move available units to another pool or lot position inside their warehouse, at once (e.g.
    carve out a live-stream pool). Stock that physically travels to another warehouse moves on a
    transfer document (inventory.transfers), with its time in transit."""
    _require(actor, "inventory.add_stockmovement")
    if quantity < 1:
        raise DomainError(_("Quantity must be at least 1."), field="quantity")
    if to_warehouse is not None and to_warehouse.pk != balance.warehouse_id:
        raise DomainError(
            _(
                "Stock moves to another warehouse on a transfer (Stock → Transfers), which keeps it in "
                "transit until it is received; the instant move is only for pools inside one warehouse."
            ),
            field="to_warehouse",
        )
    if PoolKind.IN_TRANSIT in (balance.pool.kind, to_pool.kind if to_pool else None):
        raise DomainError(
            _("Units in transit move only by receiving or closing their transfer."), field="to_pool"
        )
    with transaction.atomic():
        target = ledger.balance_for(
            sku_id=balance.sku_id,
            warehouse_id=(to_warehouse or balance.warehouse).pk,
            pool_id=(to_pool or balance.pool).pk,
            lot_id=balance.lot_id,
        )
        if target.pk == balance.pk:
            raise DomainError(_("Choose another warehouse or pool."), field="to_warehouse")
        payload = {"from": balance.pk, "to": target.pk}
        changes = [
            ledger.Change(
                balance_id=balance.pk,
                sku_id=balance.sku_id,
                kind=MovementKind.TRANSFER,
                on_hand=-quantity,
                reference=reference,
                payload=payload,
            ),
            ledger.Change(
                balance_id=target.pk,
                sku_id=balance.sku_id,
                kind=MovementKind.TRANSFER,
                on_hand=quantity,
                reference=reference,
                payload=payload,
            ),
        ]
        try:
            return ledger.post(changes, actor=actor)
        except ledger.InsufficientStock as exc:
            raise ledger.InsufficientStock(
                _("Only %(n)s available to transfer.") % {"n": balance.available}, field="quantity"
            ) from exc
