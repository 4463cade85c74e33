"""Transfers between warehouses (调拨, R-I11): stock that physically travels from warehouse A to B
as a document — draft → shipped (in transit) → partially received → received, or closed with a
shortage a manager writes off; a draft may be cancelled. Moves inside one warehouse (pool, lot)
stay instant (inventory.services.stock_transfer).

Every unit is on a balance row at every moment, so balances = sums of movements always:

    ship      A/pool −q                  B/in-transit +q       (transfer_out)
    receive   B/in-transit −r            B/pool +r             (transfer_in)
    overage   B/pool +x                                        (adjustment, flagged, alerted)
    close     B/in-transit −s                                  (write_off, with the manager's reason)

The in-transit pool (PoolKind.IN_TRANSIT) is never a channel's pool nor the default, so units on
the way are reserved, routed and pushed to channels from nowhere, and `available` is 0 there.

A cloud warehouse (one whose `wms_protocol` has a TransferWarehouseSystem registered, i.e. Qimen,
wired in config/registry.py) works its side itself: at a cloud source "ship" sends the transfer
to the warehouse (A/pool → A/in-transit: picked there, sellable nowhere) and its stock-out
confirmation ships what left (A/in-transit → B/in-transit; what did not leave back to A/pool); at
a cloud destination the shipped transfer is announced to it and its confirmations are receipts.

Lock order: the transfer row → balance rows in ascending id (inside ledger.post). Every movement
carries an idempotency key; a receipt's own key is its deduplication (StockTransferReceipt).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.errors import DomainError
from core.roles import Role
from core.sequences import next_values
from core.timezones import business_date
from core.transitions import Actor, check_transition, lock_one, require_perm, require_state, transition
from inventory import ledger
from inventory.models import (
    SKU,
    Lot,
    MovementKind,
    PoolKind,
    ShortageReason,
    StockBalance,
    StockPool,
    StockTransfer,
    StockTransferLine,
    StockTransferReceipt,
    TransferEventKind,
    TransferStatus,
    Warehouse,
)
from inventory.transfer_events import transfer_event

TS = TransferStatus
K = TransferEventKind
MAX_LINES = 500
MAX_UNITS = 1_000_000


# --- the port cloud warehouses plug into (config/registry.py) ---------------------------------------


class TransferWarehouseSystem(Protocol):
    """A warehouse system that works its side of transfers. Both run in the caller's transaction
    and only enqueue outbox messages."""

    def stock_out(self, transfer: StockTransfer) -> None:
        """Ask the source's system to pick and ship the transfer (调拨出库)."""

    def stock_in(self, transfer: StockTransfer) -> None:
        """Announce the shipped transfer to the destination's system (调拨入库)."""


_systems: dict[str, TransferWarehouseSystem] = {}


def register_transfer_system(protocol: str, system: TransferWarehouseSystem) -> None:
    _systems[protocol] = system


def transfer_system(warehouse: Warehouse) -> TransferWarehouseSystem | None:
    return _systems.get(warehouse.wms_protocol)


# --- creating -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    sku: SKU
    quantity: int
    pool: StockPool | None = None  # None: the default pool
    lot_code: str = ""


def transit_pool() -> StockPool:
    return ledger.standard_pool(PoolKind.IN_TRANSIT)


def allocate_transfer_number(moment=None) -> str:
    day = business_date(moment)
    return f"TR{day:%Y%m%d}{next_values(name='stock_transfer', day=day)[0]:06d}"


def _line_lot(sku: SKU, lot_code: str, row: int) -> Lot | None:
    name = f"lines-{row}-lot"
    if not sku.lot_tracked:
        if lot_code:
            raise DomainError(
                _("Line %(row)s: %(sku)s is not lot-tracked.") % {"row": row + 1, "sku": sku.code}, field=name
            )
        return None
    if not lot_code:
        raise DomainError(
            _("Line %(row)s: %(sku)s is lot-tracked: name the lot.") % {"row": row + 1, "sku": sku.code},
            field=name,
        )
    lot = Lot.objects.filter(sku=sku, code=lot_code).first()
    if lot is None:
        raise DomainError(
            _("Line %(row)s: %(sku)s has no lot %(lot)s.")
            % {"row": row + 1, "sku": sku.code, "lot": lot_code},
            field=name,
        )
    return lot


def transfer_create(
    *,
    from_warehouse: Warehouse,
    to_warehouse: Warehouse,
    lines: list[LineInput],
    reference: str = "",
    note: str = "",
    actor: Actor,
) -> StockTransfer:
    """A draft transfer. Nothing moves until it ships; lines naming the same position are merged."""
    require_perm(actor, "inventory.add_stocktransfer", _("You are not allowed to create transfers."))
    if from_warehouse.pk == to_warehouse.pk:
        raise DomainError(
            _("A transfer moves stock between two warehouses; to move it between pools, use Pools."),
            field="to_warehouse",
        )
    for name, warehouse in (("from_warehouse", from_warehouse), ("to_warehouse", to_warehouse)):
        if not warehouse.is_active:
            raise DomainError(_("Warehouse %(code)s is not active.") % {"code": warehouse.code}, field=name)
    if not lines:
        raise DomainError(_("Add at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise DomainError(_("At most %(n)s lines per transfer.") % {"n": MAX_LINES}, field="lines")
    default_pool = StockPool.objects.get(pk=ledger.default_pool_id())
    merged: dict[tuple, int] = {}
    for row, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_UNITS:
            raise DomainError(
                _("Line %(row)s: the quantity must be between 1 and %(max)s.")
                % {"row": row + 1, "max": MAX_UNITS},
                field=f"lines-{row}-quantity",
            )
        if line.sku.is_bundle:
            raise DomainError(
                _("Line %(row)s: %(sku)s is a bundle and holds no stock; transfer its components.")
                % {"row": row + 1, "sku": line.sku.code},
                field=f"lines-{row}-sku",
            )
        pool = line.pool or default_pool
        if pool.kind == PoolKind.IN_TRANSIT:
            raise DomainError(
                _("Line %(row)s: units in transit cannot be transferred again.") % {"row": row + 1},
                field=f"lines-{row}-pool",
            )
        lot = _line_lot(line.sku, line.lot_code.strip(), row)
        key = (line.sku, pool, lot)
        merged[key] = merged.get(key, 0) + line.quantity
    with transaction.atomic():
        transfer = StockTransfer.objects.create(
            number=allocate_transfer_number(),
            from_warehouse=from_warehouse,
            to_warehouse=to_warehouse,
            reference=reference,
            note=note,
            created_by=actor,
        )
        StockTransferLine.objects.bulk_create(
            StockTransferLine(transfer=transfer, sku=sku, pool=pool, lot=lot, quantity=quantity)
            for (sku, pool, lot), quantity in merged.items()
        )
        transfer_event(transfer, K.CREATED, actor, count=len(merged), units=sum(merged.values()))
    return transfer


# --- shared steps -------------------------------------------------------------------------------------


def _lock(transfer: StockTransfer | int) -> StockTransfer:
    pk = transfer.pk if isinstance(transfer, StockTransfer) else transfer
    return lock_one(StockTransfer.objects.select_related("from_warehouse", "to_warehouse"), pk)


def _lines(transfer: StockTransfer) -> list[StockTransferLine]:
    return list(transfer.lines.select_related("sku", "lot", "pool").order_by("pk"))


def _balance(line: StockTransferLine, warehouse_id: int, pool_id: int) -> int:
    return ledger.balance_for(
        sku_id=line.sku_id, warehouse_id=warehouse_id, pool_id=pool_id, lot_id=line.lot_id
    ).pk


def _move(
    transfer: StockTransfer, line: StockTransferLine, *, from_id: int, to_id: int, units: int, kind, step, key
) -> list[ledger.Change]:
    payload = {"transfer": transfer.number, "line": line.pk, "step": step}
    return [
        ledger.Change(
            balance_id=from_id,
            sku_id=line.sku_id,
            kind=kind,
            on_hand=-units,
            reference=transfer.number,
            payload=payload,
            idempotency_key=f"{key}:from",
        ),
        ledger.Change(
            balance_id=to_id,
            sku_id=line.sku_id,
            kind=kind,
            on_hand=units,
            reference=transfer.number,
            payload=payload,
            idempotency_key=f"{key}:to",
        ),
    ]


def _post(changes: list[ledger.Change], actor, *, warehouse: Warehouse) -> None:
    """Post all or nothing; a refusal names each short position and what it has available."""
    try:
        ledger.post(changes, actor=actor)
    except ledger.InsufficientStock as exc:
        short = []
        for balance in StockBalance.objects.filter(pk__in=exc.balance_ids).select_related(
            "sku", "pool", "lot"
        ):
            lot = f" {balance.lot.code}" if balance.lot_id else ""
            short.append(
                _("%(sku)s%(lot)s (pool %(pool)s): %(n)s available")
                % {
                    "sku": balance.sku.code,
                    "lot": lot,
                    "pool": balance.pool.code,
                    "n": max(0, balance.available),
                }
            )
        raise ledger.InsufficientStock(
            _("Not enough stock at %(warehouse)s; nothing moved. %(short)s.")
            % {"warehouse": warehouse.code, "short": "; ".join(short)},
            balance_ids=exc.balance_ids,
            field="lines",
        ) from exc


def _into_transit(transfer: StockTransfer, lines, *, at: int, step: str) -> list[ledger.Change]:
    """Every line's units from its pool at the source onto the in-transit balance at warehouse
    `at`: the destination when shipped, the source itself while a cloud warehouse picks them."""
    transit = transit_pool().pk
    changes = []
    for line in lines:
        changes += _move(
            transfer,
            line,
            from_id=_balance(line, transfer.from_warehouse_id, line.pool_id),
            to_id=_balance(line, at, transit),
            units=line.quantity,
            kind=MovementKind.TRANSFER_OUT,
            step=step,
            key=f"transfer:{transfer.number}:{step}:{line.pk}",
        )
    return changes


def _summary(lines, units: dict[int, int]) -> list[dict]:
    return [{"sku": line.sku.code, "units": units[line.pk]} for line in lines if units.get(line.pk)]


# --- shipping -----------------------------------------------------------------------------------------


def transfer_ship(*, transfer: StockTransfer | int, actor: Actor, expected_status: str = "") -> StockTransfer:
    """Ship a draft: its units leave the source's stock and travel on the destination's in-transit
    balance. From a cloud warehouse this sends it to the warehouse instead; its confirmation ships it."""
    with transaction.atomic():
        transfer = _lock(transfer)
        require_state(transfer, expected_status)
        if transfer_system(transfer.from_warehouse) is not None:
            return _send_to_warehouse(transfer, actor)
        check_transition(
            transfer,
            "ship",
            actor,
            refused=_("Transfer %(number)s is %(status)s: only a draft ships.")
            % {"number": transfer.number, "status": transfer.get_status_display()},
        )
        lines = _lines(transfer)
        _post(
            _into_transit(transfer, lines, at=transfer.to_warehouse_id, step="ship"),
            actor,
            warehouse=transfer.from_warehouse,
        )
        for line in lines:
            line.shipped_quantity = line.quantity
        StockTransferLine.objects.bulk_update(lines, ["shipped_quantity"])
        _shipped(transfer, lines, actor, wms=False)
    return transfer


def _shipped(transfer: StockTransfer, lines, actor, *, wms: bool) -> None:
    units = {line.pk: line.shipped_quantity for line in lines}
    transition(
        transfer,
        "ship",
        actor,
        args={"at": timezone.now()},
        event=lambda moved: transfer_event(
            transfer, K.SHIPPED, actor, moved=moved, lines=_summary(lines, units), wms=wms
        ),
    )
    if (system := transfer_system(transfer.to_warehouse)) is not None:
        system.stock_in(transfer)


def _send_to_warehouse(transfer: StockTransfer, actor) -> StockTransfer:
    check_transition(
        transfer,
        "send_to_warehouse",
        actor,
        refused=_("Transfer %(number)s is %(status)s: only a draft can be sent to the warehouse.")
        % {"number": transfer.number, "status": transfer.get_status_display()},
    )
    lines = _lines(transfer)
    # Set aside at the source (sellable nowhere) until the cloud warehouse confirms the stock-out.
    _post(
        _into_transit(transfer, lines, at=transfer.from_warehouse_id, step="stage"),
        actor,
        warehouse=transfer.from_warehouse,
    )
    units = {line.pk: line.quantity for line in lines}
    transition(
        transfer,
        "send_to_warehouse",
        actor,
        event=lambda moved: transfer_event(
            transfer, K.SENT, actor, moved=moved, lines=_summary(lines, units)
        ),
    )
    transfer_system(transfer.from_warehouse).stock_out(transfer)
    return transfer


def transfer_shipped_by_warehouse(
    *, transfer: StockTransfer | int, shipped: dict[str, int], wms_ref: str = ""
) -> bool:
    """The source's cloud warehouse shipped the transfer: `shipped` is units per SKU code (over its
    lines in order). What left travels to the destination; what did not goes back to the source's
    stock. False when it was already shipped (a repeated confirmation changes nothing)."""
    with transaction.atomic():
        transfer = _lock(transfer)
        if transfer.status in (TS.IN_TRANSIT, TS.PARTIALLY_RECEIVED, TS.RECEIVED, TS.CLOSED):
            return False
        if transfer.status != TS.SENT_TO_WAREHOUSE:
            raise DomainError(
                _("Transfer %(number)s is %(status)s: it was never sent to the warehouse.")
                % {"number": transfer.number, "status": transfer.get_status_display()},
                field="status",
            )
        lines = _lines(transfer)
        left = _spread(lines, shipped, lambda line: line.quantity, what=_("planned"))
        if not any(left.values()):
            raise DomainError(_("The confirmation ships no units."), field="quantity")
        transit = transit_pool().pk
        changes = []
        for line in lines:
            staged = _balance(line, transfer.from_warehouse_id, transit)
            key = f"transfer:{transfer.number}:ship:{line.pk}"
            if left[line.pk]:
                changes += _move(
                    transfer,
                    line,
                    from_id=staged,
                    to_id=_balance(line, transfer.to_warehouse_id, transit),
                    units=left[line.pk],
                    kind=MovementKind.TRANSFER_OUT,
                    step="ship",
                    key=key,
                )
            if rest := line.quantity - left[line.pk]:
                changes += _move(
                    transfer,
                    line,
                    from_id=staged,
                    to_id=_balance(line, transfer.from_warehouse_id, line.pool_id),
                    units=rest,
                    kind=MovementKind.TRANSFER_IN,
                    step="not_shipped",
                    key=f"{key}:back",
                )
            line.shipped_quantity = left[line.pk]
        _post(changes, None, warehouse=transfer.from_warehouse)
        StockTransferLine.objects.bulk_update(lines, ["shipped_quantity"])
        if wms_ref:
            transfer.wms_out_ref = wms_ref[:64]
        _shipped(transfer, lines, None, wms=True)
    return True


def _spread(lines, by_code: dict[str, int], room, *, what: str) -> dict[int, int]:
    """Units per SKU code over the lines of that SKU in order, each up to room(line); a code the
    transfer does not carry, or more units than there is room for, is refused."""
    taken = {line.pk: 0 for line in lines}
    for code, units in by_code.items():
        matching = [line for line in lines if line.sku.code == code]
        if not matching:
            raise DomainError(_("%(sku)s is not on this transfer.") % {"sku": code}, field="sku")
        for line in matching:
            take = min(units, room(line) - taken[line.pk])
            taken[line.pk] += take
            units -= take
        if units:
            raise DomainError(
                _("%(sku)s: %(units)s more than %(what)s.") % {"sku": code, "units": units, "what": what},
                field="quantity",
            )
    return taken


# --- receiving ----------------------------------------------------------------------------------------


@dataclass
class ReceiveOutcome:
    transfer: StockTransfer
    receipt: StockTransferReceipt
    repeated: bool = False  # the key was seen before: nothing changed
    lines: list[StockTransferLine] = field(default_factory=list)


def transfer_receive(
    *,
    transfer: StockTransfer | int,
    quantities: dict[int, int],
    idempotency_key: str,
    actor: Actor,
    accept_overage: bool = False,
    expected_status: str = "",
    final: bool = False,
    wms: bool = False,
    wms_ref: str = "",
) -> ReceiveOutcome:
    """Receive units at the destination: {line id: units}. Units still on the way move from the
    in-transit balance into the line's pool; more than that is refused unless `accept_overage`,
    which books the excess into stock and flags the transfer for a manager. The same key again
    returns the first receipt and changes nothing. `final`: the warehouse says it is done — units
    still missing are reported to the managers (closing short stays a manager's decision)."""
    if not idempotency_key:
        raise DomainError(_("A receipt needs its idempotency key."), field="idempotency_key")
    if any(not isinstance(units, int) or units < 0 or units > MAX_UNITS for units in quantities.values()):
        raise DomainError(_("Quantities are whole numbers of units, 0 or more."), field="quantity")
    quantities = {line_id: units for line_id, units in quantities.items() if units}
    with transaction.atomic():
        transfer = _lock(transfer)
        seen = StockTransferReceipt.objects.filter(idempotency_key=idempotency_key[:120]).first()
        if seen is not None:
            if seen.transfer_id != transfer.pk:
                raise DomainError(
                    _("This receipt was recorded on another transfer."), field="idempotency_key"
                )
            return ReceiveOutcome(transfer, seen, repeated=True, lines=_lines(transfer))
        require_state(transfer, expected_status)
        if actor is not None and transfer_system(transfer.to_warehouse) is not None:
            raise DomainError(
                _("%(warehouse)s is a cloud warehouse: what arrives there is confirmed by its system.")
                % {"warehouse": transfer.to_warehouse.code},
                field="quantity",
            )
        check_transition(
            transfer,
            "receive_part",
            actor,
            refused=_("Transfer %(number)s is %(status)s: nothing is on the way to receive.")
            % {"number": transfer.number, "status": transfer.get_status_display()},
        )
        if not quantities and not final:
            raise DomainError(_("Receive at least one unit."), field="quantity")
        lines = _lines(transfer)
        by_id = {line.pk: line for line in lines}
        unknown = [line_id for line_id in quantities if line_id not in by_id]
        if unknown:
            raise DomainError(
                _("That line is not on transfer %(number)s.") % {"number": transfer.number}, field="line"
            )
        transit = transit_pool().pk
        changes, received, over = [], {}, {}
        for line_id, units in sorted(quantities.items()):
            line = by_id[line_id]
            part, extra = min(units, line.in_transit), max(0, units - line.in_transit)
            if extra and not accept_overage:
                if not line.in_transit:
                    message = _(
                        "%(sku)s: all %(shipped)s shipped units are received already. If more really "
                        "arrived, record it as an overage."
                    ) % {"sku": line.sku.code, "shipped": line.shipped_quantity}
                else:
                    message = _(
                        "%(sku)s: only %(n)s still on the way, %(units)s counted. If more really arrived, "
                        "record it as an overage."
                    ) % {"sku": line.sku.code, "n": line.in_transit, "units": units}
                raise DomainError(message, field="quantity")
            key = f"transfer-receipt:{idempotency_key}:{line.pk}"
            to_id = _balance(line, transfer.to_warehouse_id, line.pool_id)
            if part:
                changes += _move(
                    transfer,
                    line,
                    from_id=_balance(line, transfer.to_warehouse_id, transit),
                    to_id=to_id,
                    units=part,
                    kind=MovementKind.TRANSFER_IN,
                    step="receive",
                    key=key,
                )
            if extra:
                changes.append(
                    ledger.Change(
                        balance_id=to_id,
                        sku_id=line.sku_id,
                        kind=MovementKind.ADJUSTMENT,
                        on_hand=extra,
                        reference=transfer.number,
                        note="transfer overage",
                        payload={"transfer": transfer.number, "line": line.pk, "step": "overage"},
                        idempotency_key=f"{key}:over",
                    )
                )
            line.received_quantity += part
            line.over_quantity += extra
            received[line.pk], over[line.pk] = part, extra
        _post(changes, actor, warehouse=transfer.to_warehouse)
        StockTransferLine.objects.bulk_update(lines, ["received_quantity", "over_quantity"])
        receipt = StockTransferReceipt.objects.create(
            transfer=transfer,
            idempotency_key=idempotency_key[:120],
            quantities={str(k): v for k, v in received.items() if v},
            overage={str(k): v for k, v in over.items() if v},
            actor=actor,
        )
        if any(over.values()):
            transfer.has_overage = True
        if wms_ref and not transfer.wms_in_ref:
            transfer.wms_in_ref = wms_ref[:64]
        done = all(line.in_transit == 0 for line in lines)
        if done or any(received.values()):
            transition(
                transfer,
                "receive_all" if done else "receive_part",
                actor,
                args={"at": timezone.now()} if done else None,
                event=lambda moved: transfer_event(
                    transfer, K.RECEIVED, actor, moved=moved, lines=_summary(lines, received), wms=wms
                ),
            )
        else:  # nothing moved the status: keep what this receipt learned
            StockTransfer.objects.filter(pk=transfer.pk).update(
                has_overage=transfer.has_overage, wms_in_ref=transfer.wms_in_ref
            )
        if any(over.values()):
            _overage(transfer, lines, over, actor)
        if final and not done:
            _finished_short(transfer, lines)
    return ReceiveOutcome(transfer, receipt, lines=lines)


def _overage(transfer: StockTransfer, lines, over: dict[int, int], actor) -> None:
    summary = _summary(lines, over)
    transfer_event(transfer, K.OVERAGE, actor, lines=summary)
    alert_raise(
        kind="transfer_overage",
        key=f"transfer_overage:{transfer.pk}",
        role=Role.MANAGER,
        message=_("Transfer %(number)s: more arrived at %(warehouse)s than was shipped (%(lines)s).")
        % {
            "number": transfer.number,
            "warehouse": transfer.to_warehouse.code,
            "lines": ", ".join(f"{row['sku']} ×{row['units']}" for row in summary),
        },
        payload={"transfer": transfer.number, "overage": summary},
    )


def _finished_short(transfer: StockTransfer, lines) -> None:
    missing = _summary(lines, {line.pk: line.in_transit for line in lines})
    transfer_event(transfer, K.WMS_FINISHED_SHORT, None, lines=missing)
    alert_raise(
        kind="transfer_short",
        key=f"transfer_short:{transfer.pk}",
        role=Role.MANAGER,
        message=_(
            "Transfer %(number)s: %(warehouse)s finished receiving with %(lines)s missing; close it short."
        )
        % {
            "number": transfer.number,
            "warehouse": transfer.to_warehouse.code,
            "lines": ", ".join(f"{row['sku']} ×{row['units']}" for row in missing),
        },
        payload={"transfer": transfer.number, "missing": missing},
    )


def transfer_line_for_code(transfer: StockTransfer, code: str) -> StockTransferLine:
    """The line a scanned SKU code or barcode receives into: the first of that SKU still on the
    way, else its first line (so an extra unit is refused as an overage, by name)."""
    code = code.strip()
    matching = [
        line
        for line in _lines(transfer)
        if code and (line.sku.code.casefold() == code.casefold() or (line.sku.barcode or "") == code)
    ]
    if not matching:
        raise DomainError(
            _("%(code)s is not on transfer %(number)s.") % {"code": code or "—", "number": transfer.number},
            field="code",
        )
    return next((line for line in matching if line.in_transit > 0), matching[0])


def transfer_record_wms_ref(*, transfer_id: int, side: str, reference: str) -> None:
    """What a cloud warehouse calls the transfer once it accepted it (side "out" or "in"); kept once."""
    column = {"out": "wms_out_ref", "in": "wms_in_ref"}[side]
    if reference:
        StockTransfer.objects.filter(pk=transfer_id, **{column: ""}).update(**{column: reference[:64]})


# --- closing and cancelling -----------------------------------------------------------------------


def transfer_close_short(
    *, transfer: StockTransfer | int, reason: str, note: str = "", actor: Actor, expected_status: str = ""
) -> StockTransfer:
    """A manager accepts that the units still on the way will not arrive: they are written off the
    in-transit balance with the reason, and the transfer is closed."""
    if reason not in ShortageReason.values:
        raise DomainError(_("Choose why the units are missing."), field="reason")
    if reason == ShortageReason.OTHER and not note.strip():
        raise DomainError(_("Say what happened in the note."), field="note")
    with transaction.atomic():
        transfer = _lock(transfer)
        require_state(transfer, expected_status)
        check_transition(
            transfer,
            "close_short",
            actor,
            refused=_(
                "Transfer %(number)s is %(status)s: only a transfer with units on the way can close short."
            )
            % {"number": transfer.number, "status": transfer.get_status_display()},
            forbidden=_("Only a manager may close a transfer with a shortage."),
        )
        lines = _lines(transfer)
        transit = transit_pool().pk
        short = {line.pk: line.in_transit for line in lines}
        changes = [
            ledger.Change(
                balance_id=_balance(line, transfer.to_warehouse_id, transit),
                sku_id=line.sku_id,
                kind=MovementKind.WRITE_OFF,
                on_hand=-short[line.pk],
                reference=transfer.number,
                note=f"transfer shortage: {reason}",
                payload={"transfer": transfer.number, "line": line.pk, "step": "short", "reason": reason},
                idempotency_key=f"transfer:{transfer.number}:short:{line.pk}",
            )
            for line in lines
            if short[line.pk]
        ]
        _post(changes, actor, warehouse=transfer.to_warehouse)
        for line in lines:
            line.short_quantity += short[line.pk]
        StockTransferLine.objects.bulk_update(lines, ["short_quantity"])
        transition(
            transfer,
            "close_short",
            actor,
            args={"reason": reason, "note": note.strip()[:255], "at": timezone.now()},
            event=lambda moved: transfer_event(
                transfer,
                K.CLOSED,
                actor,
                moved=moved,
                lines=_summary(lines, short),
                reason=reason,
                note=note.strip()[:255],
            ),
        )
    return transfer


def transfer_cancel(
    *, transfer: StockTransfer | int, actor: Actor, expected_status: str = ""
) -> StockTransfer:
    """Only a draft: once units left, they are received or closed short, never cancelled away."""
    with transaction.atomic():
        transfer = _lock(transfer)
        require_state(transfer, expected_status)
        check_transition(
            transfer,
            "cancel",
            actor,
            refused=_("Transfer %(number)s is %(status)s: only a draft can be cancelled.")
            % {"number": transfer.number, "status": transfer.get_status_display()},
        )
        transition(
            transfer,
            "cancel",
            actor,
            args={"at": timezone.now()},
            event=lambda moved: transfer_event(transfer, K.CANCELLED, actor, moved=moved),
        )
    return transfer


# --- reads ----------------------------------------------------------------------------------------


def in_transit_by_warehouse(sku_ids) -> dict[tuple[int, int], int]:
    """{(sku id, destination warehouse id): units on the way there}."""
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for sku_id, warehouse_id, units in StockBalance.objects.filter(
        Q(sku_id__in=list(sku_ids)), pool__kind=PoolKind.IN_TRANSIT, on_hand__gt=0
    ).values_list("sku_id", "warehouse_id", "on_hand"):
        totals[(sku_id, warehouse_id)] += units
    return dict(totals)
