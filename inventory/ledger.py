"""The one way stock quantities change: lock the balance rows in id order, apply every delta in
one conditional set-based UPDATE, and append the movements. The condition is the invariant —
on_hand, reserved and qc_hold never go negative and available (on_hand − reserved − qc_hold)
never drops below zero — so a change that would break it is refused as a whole."""

import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from inventory.models import PoolKind, StockBalance, StockMovement, StockPool, StockPushPending


class InsufficientStock(DomainError):
    status_code = 409

    def __init__(self, message: str, *, balance_ids: list[int] | None = None, field: str | None = None):
        super().__init__(message, field=field)
        self.balance_ids = balance_ids or []


@dataclass
class Change:
    """One movement: deltas on one balance row, with what the ledger should remember of it."""

    balance_id: int
    sku_id: int
    kind: str
    on_hand: int = 0
    reserved: int = 0
    qc_hold: int = 0
    reservation_id: int | None = None
    order_id: int | None = None
    reference: str = ""
    note: str = ""
    payload: dict = field(default_factory=dict)
    idempotency_key: str | None = None


STANDARD_POOLS = {  # created by migration 0003; recreated on demand (e.g. after a test flush)
    PoolKind.REGULAR: "Regular sales / 常规销售池",
    PoolKind.PROMOTION: "Promotion / 大促专用池",
    PoolKind.OFFLINE: "Offline stores / 线下门店预留池",
    PoolKind.LIVE: "Live-stream virtual warehouse / 直播虚拟仓",
}


def standard_pool(kind: str) -> StockPool:
    """One of the four standard pools; the regular one is the default pool."""
    pool, _created = StockPool.objects.get_or_create(
        code=kind,
        defaults={"name": STANDARD_POOLS[kind], "kind": kind, "is_default": kind == PoolKind.REGULAR},
    )
    return pool


def ensure_standard_pools() -> None:
    for kind in STANDARD_POOLS:
        standard_pool(kind)


def default_pool_id() -> int:
    """The default pool: receipts land there unless told otherwise."""
    pool = StockPool.objects.filter(is_default=True).values_list("pk", flat=True).first()
    return pool if pool is not None else standard_pool(PoolKind.REGULAR).pk


def balance_for(*, sku_id: int, warehouse_id: int, pool_id: int | None = None, lot_id: int | None = None):
    """The balance row for a stock position, created empty on first use (race-safe)."""
    balance, _created = StockBalance.objects.get_or_create(
        sku_id=sku_id, warehouse_id=warehouse_id, pool_id=pool_id or default_pool_id(), lot_id=lot_id
    )
    return balance


def lock_balances(balance_ids) -> None:
    """Row locks in ascending id order, the one order every writer uses, so writers never deadlock.
    (SQLite needs none: immediate transactions already serialise writers.)"""
    if connection.vendor == "postgresql" and balance_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM inventory_stockbalance WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                [sorted(balance_ids)],
            )


_APPLY_SQL = """
WITH v(id, doh, dr, dq) AS (VALUES {rows})
UPDATE inventory_stockbalance
   SET on_hand = inventory_stockbalance.on_hand + v.doh,
       reserved = inventory_stockbalance.reserved + v.dr,
       qc_hold = inventory_stockbalance.qc_hold + v.dq,
       updated_at = %s
  FROM v
 WHERE inventory_stockbalance.id = v.id
   AND inventory_stockbalance.on_hand + v.doh >= 0
   AND inventory_stockbalance.reserved + v.dr >= 0
   AND inventory_stockbalance.qc_hold + v.dq >= 0
   AND inventory_stockbalance.on_hand + v.doh
       - (inventory_stockbalance.reserved + v.dr) - (inventory_stockbalance.qc_hold + v.dq) >= 0
RETURNING inventory_stockbalance.id
"""
_ROW = "(CAST(%s AS BIGINT), CAST(%s AS INTEGER), CAST(%s AS INTEGER), CAST(%s AS INTEGER))"


def apply_deltas(deltas: dict[int, list[int]], *, locked: bool = False) -> None:
    """Apply {balance_id: [Δon_hand, Δreserved, Δqc_hold]} in one statement, or refuse all of it."""
    deltas = {pk: d for pk, d in deltas.items() if any(d)}
    if not deltas:
        return
    if not locked:
        lock_balances(deltas)
    ids = sorted(deltas)
    params = [value for pk in ids for value in (pk, *deltas[pk])]
    sql = _APPLY_SQL.format(rows=", ".join([_ROW] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, timezone.now()])
        changed = {row[0] for row in cursor.fetchall()}
    refused = [pk for pk in ids if pk not in changed]
    if refused:
        raise InsufficientStock(_("Not enough stock for this change."), balance_ids=refused)


def post(
    changes: list[Change], *, actor=None, locked: bool = False, now=None, returning: bool = True
) -> list[StockMovement]:
    """Apply the changes' deltas (all or nothing) and append their movements to the ledger.
    Hot paths that do not need the rows back pass returning=False (one array insert on PostgreSQL)."""
    if not changes:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("stock changes must run inside transaction.atomic()")
    deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for change in changes:
        delta = deltas[change.balance_id]
        delta[0] += change.on_hand
        delta[1] += change.reserved
        delta[2] += change.qc_hold
    apply_deltas(deltas, locked=locked)
    now = now or timezone.now()
    queue_stock_push({c.sku_id for c in changes if c.on_hand or c.reserved or c.qc_hold})
    if not returning and connection.vendor == "postgresql":
        insert_movements(changes, actor_id=actor.pk if actor else None, now=now)
        return []
    return StockMovement.objects.bulk_create(
        StockMovement(
            balance_id=c.balance_id,
            sku_id=c.sku_id,
            kind=c.kind,
            on_hand_delta=c.on_hand,
            reserved_delta=c.reserved,
            qc_hold_delta=c.qc_hold,
            reservation_id=c.reservation_id,
            order_id=c.order_id,
            reference=c.reference,
            note=c.note,
            payload=c.payload,
            idempotency_key=c.idempotency_key,
            actor=actor,
            created_at=now,
        )
        for c in changes
    )


_INSERT_MOVEMENTS_SQL = """
INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta, qc_hold_delta,
                                     reference, note, payload, idempotency_key, order_id, reservation_id,
                                     actor_id, created_at)
SELECT b, s, k, oh, r, q, ref, n, p::jsonb, ik, o, res, %s, %s
  FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::int[], %s::int[],
              %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[])
       AS t(b, s, k, oh, r, q, ref, n, p, ik, o, res)
"""


def insert_movements(changes: list[Change], *, actor_id, now) -> None:
    """The same rows bulk_create would write, as one array insert with no model instances (the
    reservation and expiry hot paths write thousands per second)."""
    columns = [
        [c.balance_id for c in changes],
        [c.sku_id for c in changes],
        [str(c.kind) for c in changes],
        [c.on_hand for c in changes],
        [c.reserved for c in changes],
        [c.qc_hold for c in changes],
        [c.reference for c in changes],
        [c.note for c in changes],
        [json.dumps(c.payload) for c in changes],
        [c.idempotency_key for c in changes],
        [c.order_id for c in changes],
        [c.reservation_id for c in changes],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_MOVEMENTS_SQL, [actor_id, now, *columns])


def queue_stock_push(sku_ids) -> None:
    """Mark SKUs for a debounced channel-quantity push (one pending row per SKU)."""
    if not sku_ids:
        return
    StockPushPending.objects.bulk_create(
        [StockPushPending(sku_id=sku_id) for sku_id in sorted(sku_ids)], ignore_conflicts=True
    )
    from inventory.tasks import schedule_stock_push

    transaction.on_commit(schedule_stock_push)
