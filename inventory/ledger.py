"""The one way stock quantities change: lock the balance rows in id order, apply every delta in
one conditional set-based UPDATE, and append the movements. The condition is the invariant —
on_hand, reserved and qc_hold never go negative and available (on_hand − reserved − qc_hold)
never drops below zero — so a change that would break it is refused as a whole."""

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.prepared import prepared_cursor
from inventory.models import (
    MovementKind,
    PoolKind,
    ReservationState,
    StockBalance,
    StockMovement,
    StockPool,
    StockPushPending,
)


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
    PoolKind.IN_TRANSIT: "In transit / 调拨在途",  # never sellable: inventory.transfers
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


_push_window_seen = [float("-inf")]  # monotonic time this process last saw a push scheduled


def _schedule_push_at_most_once_per_window() -> None:
    """On commit of a reservation batch: the debounced push, without the cache round trip when
    this process saw a push scheduled less than a window ago — that push runs a window after it
    was scheduled, so it has not run yet and will read the pending rows written meanwhile. When
    scheduling fails (cache or broker down) nothing is remembered and the next batch tries again;
    whatever slips through is sent by the periodic push_stock job."""
    if time.monotonic() - _push_window_seen[0] < settings.STOCK_PUSH_DEBOUNCE_SECONDS:
        return
    from inventory.tasks import schedule_stock_push

    seen = time.monotonic()
    if schedule_stock_push():
        _push_window_seen[0] = seen


@dataclass
class NewReservation:
    """One reservation row to insert with its `reserve` movement (reserve_in_one_statement)."""

    fingerprint: str
    balance_id: int
    sku_id: int
    quantity: int
    state: str
    expires_at: object = None  # datetime | None
    order_id: int | None = None
    order_line_id: int | None = None
    channel_id: int | None = None
    reference: str = ""


_RESERVE_SQL = """
WITH d AS (
    SELECT * FROM unnest(%(fingerprint)b::text[], %(balance)b::bigint[], %(sku)b::bigint[],
                         %(quantity)b::int[], %(state)b::text[], %(expires)b::timestamptz[],
                         %(order)b::bigint[], %(line)b::bigint[], %(channel)b::bigint[],
                         %(reference)b::text[])
             AS t(fingerprint, balance_id, sku_id, quantity, state, expires_at, order_id, order_line_id,
                  channel_id, reference)
), v AS (
    SELECT balance_id AS id, SUM(quantity)::int AS dr FROM d GROUP BY balance_id
), applied AS (
    UPDATE inventory_stockbalance b
       SET reserved = b.reserved + v.dr, updated_at = %(now)s
      FROM v
     WHERE b.id = v.id AND b.on_hand - (b.reserved + v.dr) - b.qc_hold >= 0
    RETURNING b.id
), inserted AS (
    INSERT INTO inventory_reservation (fingerprint, balance_id, sku_id, quantity, original_quantity, state,
                                       expires_at, order_id, order_line_id, channel_id, reference, created_at,
                                       updated_at)
    SELECT fingerprint, balance_id, sku_id, quantity, quantity, state, expires_at, order_id, order_line_id,
           channel_id, reference, %(now)s, %(now)s
      FROM d
    RETURNING id, fingerprint, balance_id, sku_id, quantity, order_id, reference
), moved AS (
    INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                         qc_hold_delta, reference, note, payload, idempotency_key, order_id,
                                         reservation_id, actor_id, created_at)
    SELECT balance_id, sku_id, %(kind)s, 0, quantity, 0, reference, '', '{}'::jsonb, NULL, order_id, id, NULL,
           %(now)s
      FROM inserted
), pushed AS (
    INSERT INTO inventory_stockpushpending (sku_id, queued_at)
    SELECT DISTINCT sku_id, %(now)s FROM d
    ON CONFLICT (sku_id) DO NOTHING
)
SELECT 'r', id, fingerprint FROM inserted
UNION ALL
SELECT 'b', id, NULL FROM applied
"""


def reserve_in_one_statement(rows: list[NewReservation], *, now) -> dict[str, int]:
    """PostgreSQL: raise `reserved` on the rows' balances under the invariant, insert the
    reservations and their `reserve` movements, and mark the SKUs for a stock push — one statement
    (one round trip) for a whole batch. Refuses as a whole (InsufficientStock; the caller's
    transaction must roll back, as post() would) when a balance cannot take its units. Callers
    hold the balance rows' locks. Returns {fingerprint: reservation id}."""
    if not rows:
        return {}
    if not connection.in_atomic_block:
        raise RuntimeError("stock changes must run inside transaction.atomic()")
    params = {
        "fingerprint": [r.fingerprint for r in rows],
        "balance": [r.balance_id for r in rows],
        "sku": [r.sku_id for r in rows],
        "quantity": [r.quantity for r in rows],
        "state": [str(r.state) for r in rows],
        "expires": [r.expires_at for r in rows],
        "order": [r.order_id for r in rows],
        "line": [r.order_line_id for r in rows],
        "channel": [r.channel_id for r in rows],
        "reference": [r.reference for r in rows],
        "kind": str(MovementKind.RESERVE),
        "now": now,
    }
    with prepared_cursor() as cursor:  # binds on the server: the arrays travel in binary
        cursor.execute(_RESERVE_SQL, params)
        returned = cursor.fetchall()
    ids = {fingerprint: pk for tag, pk, fingerprint in returned if tag == "r"}
    applied = {pk for tag, pk, _fingerprint in returned if tag == "b"}
    refused = sorted({r.balance_id for r in rows} - applied)
    if refused:
        raise InsufficientStock(_("Not enough stock for this change."), balance_ids=refused)
    transaction.on_commit(_schedule_push_at_most_once_per_window)
    return ids


_RESERVE_UNAMBIGUOUS_SQL = """
WITH d AS (  -- the rows as one JSON text: psycopg dumps arrays element by element, in Python
    SELECT * FROM json_to_recordset(%(rows)s::json)
             AS t(k int, fingerprint text, sku_id bigint, quantity int, state text, expires_at timestamptz,
                  channel_id bigint, reference text)
), dp AS (
    SELECT * FROM json_to_recordset(%(pools)s::json) AS t(k int, pool_id bigint)
), candidates AS (
    -- Found through the SKU's index. `pool_id + 0` keeps the planner off the pool's index: a pool
    -- holds most balance rows, and with stale statistics it read the whole pool once per lock.
    SELECT dp.k, b.id
      FROM dp JOIN d ON d.k = dp.k
      JOIN inventory_stockbalance b ON b.sku_id = d.sku_id AND b.pool_id + 0 = dp.pool_id
      JOIN inventory_warehouse w ON w.id = b.warehouse_id AND w.is_active
      LEFT JOIN inventory_lot l ON l.id = b.lot_id
     WHERE l.expires_on IS NULL OR l.expires_on >= %(today)s
), one AS (
    SELECT k, MIN(id) AS balance_id FROM candidates GROUP BY k HAVING COUNT(*) = 1
), v AS (
    SELECT one.balance_id AS id, SUM(d.quantity)::int AS dr
      FROM one JOIN d ON d.k = one.k
     GROUP BY one.balance_id
), locked AS (  -- row locks in ascending id, the one order every writer uses
    -- FOR UPDATE reads the row as its last writer committed it: the `available` answered below
    SELECT b.id, b.on_hand - b.reserved - b.qc_hold AS available
      FROM inventory_stockbalance b WHERE b.id IN (SELECT id FROM v) ORDER BY b.id FOR UPDATE
), applied AS (
    UPDATE inventory_stockbalance b
       SET reserved = b.reserved + v.dr, updated_at = %(now)s
      FROM v JOIN locked ON locked.id = v.id
     WHERE b.id = v.id AND b.on_hand - (b.reserved + v.dr) - b.qc_hold >= 0
    RETURNING b.id
), inserted AS (
    INSERT INTO inventory_reservation (fingerprint, balance_id, sku_id, quantity, original_quantity, state,
                                       expires_at, channel_id, reference, created_at, updated_at)
    SELECT d.fingerprint, one.balance_id, d.sku_id, d.quantity, d.quantity, d.state, d.expires_at,
           d.channel_id, d.reference, %(now)s, %(now)s
      FROM d JOIN one ON one.k = d.k JOIN applied ON applied.id = one.balance_id
    RETURNING id, fingerprint, balance_id, sku_id, quantity, reference
), moved AS (
    INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                         qc_hold_delta, reference, note, payload, idempotency_key,
                                         reservation_id, created_at)
    SELECT balance_id, sku_id, %(kind)s, 0, quantity, 0, reference, '', '{}'::jsonb, NULL, id, %(now)s
      FROM inserted
), pushed AS (
    INSERT INTO inventory_stockpushpending (sku_id, queued_at)
    SELECT DISTINCT sku_id, %(now)s FROM inserted
    ON CONFLICT (sku_id) DO NOTHING
)
SELECT fingerprint, id, balance_id, NULL::int AS available FROM inserted
UNION ALL  -- each row on a balance that could not take its batch: what that balance had left
SELECT d.fingerprint, NULL, l.id, l.available
  FROM d JOIN one ON one.k = d.k JOIN locked l ON l.id = one.balance_id
 WHERE l.id NOT IN (SELECT id FROM applied)
"""


@dataclass
class Unambiguous:
    """What reserve_unambiguous did: {fingerprint: (reservation id, balance id)} for the rows
    stored, and {fingerprint: (balance id, units it had left)} for the rows not stored because
    their balance could not take its batch."""

    stored: dict[str, tuple[int, int]]
    refused: dict[str, tuple[int, int]]


def reserve_unambiguous(rows: list[NewReservation], pools: list[list[int]], *, today, now) -> Unambiguous:
    """PostgreSQL, outside any transaction: one statement, committed on its own, for single-line
    checkout locks whose SKU has exactly one sellable balance in their channel's `pools` (active
    warehouse, lot not expired). Per balance, all of its rows or none (the conditional UPDATE
    takes their sum under the invariant); each row is one whole lock, so a balance that cannot take
    them all only leaves them to the caller's careful path. Rows missing from `stored` were not
    stored at all; `refused` says what their balance had left (read under its row lock), so that
    the caller can tell a sold-out SKU without another look at the balance."""
    if not rows:
        return Unambiguous({}, {})
    if connection.in_atomic_block:
        raise RuntimeError("reserve_unambiguous commits on its own: call it outside transaction.atomic()")
    params = unambiguous_parameters(rows, pools, today=today, now=now)
    with prepared_cursor() as cursor:  # planned once per connection: the hot SKU's every batch
        cursor.execute(_RESERVE_UNAMBIGUOUS_SQL, params)
        returned = cursor.fetchall()
    done = Unambiguous({}, {})
    for fingerprint, pk, balance_id, available in returned:
        if pk is not None:
            done.stored[fingerprint] = (pk, balance_id)
        else:
            done.refused[fingerprint] = (balance_id, available)
    if done.stored:
        _schedule_push_at_most_once_per_window()  # committed already: nothing to wait for
    return done


def unambiguous_parameters(rows: list[NewReservation], pools: list[list[int]], *, today, now) -> dict:
    """The parameters of reserve_unambiguous's statement (a test reads its plan with them)."""
    # Dumping eight arrays was a quarter of a hot SKU batch's CPU (psycopg's array dumper visits
    # each element in Python); json.dumps writes the same values in C.
    return {
        "rows": json.dumps(
            [
                {
                    "k": k,
                    "fingerprint": r.fingerprint,
                    "sku_id": r.sku_id,
                    "quantity": r.quantity,
                    "state": str(r.state),
                    "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                    "channel_id": r.channel_id,
                    "reference": r.reference,
                }
                for k, r in enumerate(rows)
            ]
        ),
        "pools": json.dumps([{"k": k, "pool_id": pool} for k, ids in enumerate(pools) for pool in ids]),
        "kind": str(MovementKind.RESERVE),
        "today": today,
        "now": now,
    }


_EXPIRE_DUE_SQL = """
WITH due AS (  -- rows another worker holds are left for the next sweep, never waited for
    SELECT r.id, r.balance_id, r.sku_id, r.quantity, r.order_id, r.expires_at
      FROM inventory_reservation r
     WHERE r.state = %(active)s AND r.expires_at <= %(now)s {balance_filter}
       -- paused SKUs read once (an anti-join probed the breakers once per due row)
       AND r.sku_id <> ALL(ARRAY(SELECT rb.sku_id FROM inventory_releasebreaker rb WHERE rb.is_open))
     ORDER BY r.expires_at, r.id
     LIMIT %(limit)s
       FOR UPDATE OF r SKIP LOCKED
), allowance AS (  -- the release breaker: releases each SKU may still have in its window
    SELECT s.id AS sku_id,
           COALESCE(NULLIF(s.release_breaker_limit, 0), %(breaker_limit)s) - (
               SELECT COUNT(*) FROM inventory_stockmovement m
                WHERE m.sku_id = s.id AND m.kind = ANY(%(release_kinds)s)
                  AND m.created_at >= GREATEST(%(since)s, COALESCE(rb.resumed_at, %(since)s))
                  AND NOT (m.payload ? %(routed_key)s)
           ) AS n
      FROM inventory_sku s LEFT JOIN inventory_releasebreaker rb ON rb.sku_id = s.id
     WHERE s.id IN (SELECT sku_id FROM due)
), ranked AS (  -- a SKU's earliest deadlines use its allowance first
    SELECT due.*, a.n AS allowed,
           row_number() OVER (PARTITION BY due.sku_id ORDER BY due.expires_at, due.id) AS rank
      FROM due JOIN allowance a ON a.sku_id = due.sku_id
), e AS (
    SELECT id, balance_id, sku_id, quantity, order_id FROM ranked WHERE rank <= allowed
), expired AS (
    UPDATE inventory_reservation r SET state = %(state)s, quantity = 0, updated_at = %(now)s
      FROM e WHERE r.id = e.id
), v AS (
    SELECT balance_id AS id, SUM(quantity)::int AS q FROM e GROUP BY balance_id
), locked AS (  -- row locks in ascending id, the one order every writer uses
    SELECT b.id FROM inventory_stockbalance b WHERE b.id IN (SELECT id FROM v) ORDER BY b.id FOR UPDATE
), applied AS (
    UPDATE inventory_stockbalance b
       SET reserved = b.reserved - v.q, updated_at = %(now)s
      FROM v JOIN locked ON locked.id = v.id
     WHERE b.id = v.id AND b.reserved - v.q >= 0
    RETURNING b.id, v.q
), moved AS (
    INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                         qc_hold_delta, reference, note, payload, idempotency_key,
                                         reservation_id, order_id, created_at)
    SELECT balance_id, sku_id, %(kind)s, 0, -quantity, 0, '', '', '{{}}'::jsonb, NULL, id, order_id, %(now)s
      FROM e
), pushed AS (
    INSERT INTO inventory_stockpushpending (sku_id, queued_at)
    SELECT DISTINCT sku_id, %(now)s FROM e
    ON CONFLICT (sku_id) DO NOTHING
)
SELECT 'freed', id, q FROM applied
UNION ALL SELECT 'refused', id, q FROM v WHERE id NOT IN (SELECT id FROM applied)
UNION ALL SELECT DISTINCT 'tripped', sku_id, 0 FROM ranked WHERE rank > allowed
UNION ALL SELECT 'expired', 0, COUNT(*)::int FROM e
"""


@dataclass
class DueExpiry:
    """What expire_due_in_one_statement did: units freed per balance, SKUs past their breaker."""

    freed: dict[int, int] = field(default_factory=dict)
    count: int = 0
    tripped: set[int] = field(default_factory=set)


def expire_due_in_one_statement(
    *, now, limit: int, balance_ids, state: str, kind: str, breaker: dict
) -> DueExpiry:
    """PostgreSQL: expire up to `limit` reservations in state `active` past their deadline (on
    `balance_ids` only, unless None), earliest first, in one statement — the rows taken with SKIP
    LOCKED, each SKU's release breaker applied (`breaker`: limit, since, release_kinds,
    routed_key; a paused SKU keeps its reservations, one past its allowance is reported tripped),
    the reservations marked `state` with nothing held, `reserved` lowered under the invariant, the
    ledger rows and the SKUs' stock-push marks written. Refuses as a whole (InsufficientStock;
    the caller's transaction rolls back)."""
    if not connection.in_atomic_block:
        raise RuntimeError("stock changes must run inside transaction.atomic()")
    params = {
        "active": str(ReservationState.ACTIVE),
        "now": now,
        "limit": limit,
        "balances": list(balance_ids or []),
        "state": str(state),
        "kind": str(kind),
        "breaker_limit": breaker["limit"],
        "since": breaker["since"],
        "release_kinds": [str(k) for k in breaker["release_kinds"]],
        "routed_key": breaker["routed_key"],
    }
    balance_filter = "AND r.balance_id = ANY(%(balances)s)" if balance_ids is not None else ""
    outcome = DueExpiry()
    refused = []
    with connection.cursor() as cursor:
        cursor.execute(_EXPIRE_DUE_SQL.format(balance_filter=balance_filter), params)
        for tag, pk, units in cursor.fetchall():
            if tag == "freed":
                outcome.freed[pk] = units
            elif tag == "refused":
                refused.append(pk)
            elif tag == "tripped":
                outcome.tripped.add(pk)
            else:
                outcome.count = units
    if refused:
        raise InsufficientStock(_("Not enough stock for this change."), balance_ids=sorted(refused))
    if outcome.freed:
        transaction.on_commit(_schedule_push_at_most_once_per_window)
    return outcome
