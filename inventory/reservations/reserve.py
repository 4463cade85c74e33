"""Reserving: stock held for new orders and checkout locks, all or nothing per order, from the
channel's pools in priority order and the first-expiring lot first.

Lock order: balance rows in ascending id, after any order rows the caller holds. Due
reservations on those balances are expired on the way with SKIP LOCKED (expiry.expire_due),
never waited for — only when a line comes up short, so overdue stock is sellable at its deadline
before any sweep while a batch that finds enough stock pays nothing for it.

A batch costs two statements on PostgreSQL: the balance rows locked and read, then one statement
that raises `reserved` under the invariant and inserts the reservations, their ledger rows and
the SKUs' stock-push marks (ledger.reserve_in_one_statement). Which pools a channel draws from is
cached per process (`channel_pool_ids`, see POOL_CACHE_SECONDS for the invalidation rule).
"""

import time
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import DEFERRED
from django.utils import timezone

from core.timezones import business_date
from inventory import ledger
from inventory.models import (
    SKU,
    ChannelPool,
    MovementKind,
    PoolKind,
    Reservation,
    ReservationState,
    StockBalance,
)
from inventory.models.reservations import new_fingerprints
from inventory.reservations.expiry import any_due, expire_due


@dataclass(frozen=True)
class LineDemand:
    order_line_id: int | None  # None: a checkout lock, bound to its order line when the order lands
    sku_id: int
    quantity: int


@dataclass
class OrderDemand:
    order_id: int | None
    channel_id: int
    lines: list[LineDemand]
    expires_at: datetime | None = None  # None: paid, the reservation is committed at once
    reference: str = ""
    key: Hashable = None  # what the result is keyed by; the order id unless given

    def __post_init__(self):
        if self.key is None:
            self.key = self.order_id


@dataclass
class ReserveResult:
    reserved: set = field(default_factory=set)  # demand keys fully reserved
    short: dict = field(default_factory=dict)  # demand key → SKU ids short
    near_expiry: dict = field(default_factory=dict)  # demand key → lots to review
    reservations: dict = field(default_factory=dict)  # demand key → its new Reservation rows


# Which pools each channel draws from, cached per process: {channel id: (read at, pool ids)}.
# Invalidation rule: a ChannelPool or StockPool saved or deleted through the ORM clears the cache
# of the process that wrote it at once (inventory.apps connects the signals); other processes
# re-read it within POOL_CACHE_SECONDS. A stale entry can only send a lock to a pool the channel
# no longer maps (or miss a newly mapped one) for those seconds: stock itself is always read
# under its row lock, so it can never oversell.
POOL_CACHE_SECONDS = 10.0
_pool_cache: dict[int, tuple[float, list[int]]] = {}


def forget_channel_pools(**_signal_kwargs) -> None:
    _pool_cache.clear()


def channel_pool_ids(channel_ids) -> dict[int, list[int]]:
    """Pools each channel draws from, in priority order; the default pool when none is mapped."""
    now = time.monotonic()
    pools: dict[int, list[int]] = defaultdict(list)
    missing = set()
    for channel_id in channel_ids:
        cached = _pool_cache.get(channel_id)
        if cached is not None and now - cached[0] < POOL_CACHE_SECONDS:
            pools[channel_id] = list(cached[1])
        else:
            missing.add(channel_id)
    if not missing:
        return pools
    for channel_id, pool_id in (
        ChannelPool.objects.filter(channel_id__in=missing)
        .exclude(pool__kind=PoolKind.IN_TRANSIT)  # units on the way are nobody's to sell
        .order_by("channel_id", "priority", "pool_id")
        .values_list("channel_id", "pool_id")
    ):
        pools[channel_id].append(pool_id)
    default = None
    for channel_id in missing:
        if not pools[channel_id]:
            default = default or ledger.default_pool_id()
            pools[channel_id] = [default]
        _pool_cache[channel_id] = (now, list(pools[channel_id]))
    return pools


def reserve_orders(demands: list[OrderDemand], *, now=None, instances: bool = True) -> ReserveResult:
    """Reserve every line of every order, all or nothing per order, in one pass: lock the
    candidate balance rows (ascending id), plan first-expiring-first within each channel's pools,
    then apply the whole batch in one conditional UPDATE and insert reservations and movements.
    Orders that come up short are planned once more after the due reservations on their
    balances expired. `instances=False`: the result carries no Reservation instances (a bulk intake
    needs none, and building thousands of them was a fifth of its batch)."""
    now = now or timezone.now()
    result = ReserveResult()
    demands = [d for d in demands if d.lines]
    if not demands:
        return result
    pools = channel_pool_ids({d.channel_id for d in demands})
    today = business_date(now)
    rows = list(
        StockBalance.objects.select_for_update(of=("self",))
        .filter(
            sku_id__any={line.sku_id for d in demands for line in d.lines},
            pool_id__any={pool for ids in pools.values() for pool in ids},
            warehouse__is_active=True,
        )
        .exclude(lot__expires_on__lt=today)
        .order_by("pk")
        .values(
            "pk",
            "sku_id",
            "pool_id",
            "warehouse_id",
            "lot_id",
            "lot__code",
            "lot__expires_on",
            "on_hand",
            "reserved",
            "qc_hold",
        )
    )
    available = {row["pk"]: row["on_hand"] - row["reserved"] - row["qc_hold"] for row in rows}
    candidates: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["lot__expires_on"] or date.max, r["warehouse_id"], r["pk"])):
        candidates[(row["sku_id"], row["pool_id"])].append(row)  # first-expiring first (FEFO)

    planned, short = _plan(demands, pools, candidates, available, result)
    if short:  # overdue reservations on the short SKUs' balances stop holding stock now
        short_skus = {line.sku_id for demand in short for line in demand.lines}
        _count, freed = expire_due(
            now=now, balance_ids=[row["pk"] for row in rows if row["sku_id"] in short_skus], locked=True
        )
        if freed:
            for pk, units in freed.items():
                available[pk] += units
            for demand in short:
                del result.short[demand.key]
            more, _short = _plan(short, pools, candidates, available, result)
            planned.extend(more)

    if planned:
        for demand, reservation in _create_reservations(planned, now=now, instances=instances):
            result.reservations.setdefault(demand.key, []).append(reservation)
        result.near_expiry = _near_expiry(planned, today)
    return result


def _plan(demands, pools, candidates, available, result) -> tuple[list, list[OrderDemand]]:
    """Take units for each demand in turn from `available` (changed in place): all of its lines or
    none. Returns the planned (demand, line, balance row, units) and the demands that were short."""
    planned: list[tuple[OrderDemand, LineDemand, dict, int]] = []
    short_demands = []
    for demand in demands:
        taken, short = [], []
        for line in demand.lines:
            need = line.quantity
            for pool_id in pools[demand.channel_id]:
                for row in candidates[(line.sku_id, pool_id)]:
                    take = min(need, available[row["pk"]])
                    if take > 0:
                        available[row["pk"]] -= take
                        taken.append((demand, line, row, take))
                        need -= take
                    if not need:
                        break
                if not need:
                    break
            if need:
                short.append(line.sku_id)
        if short:
            for _demand, _line, row, take in taken:  # all or nothing for this order
                available[row["pk"]] += take
            result.short[demand.key] = short
            short_demands.append(demand)
        else:
            planned.extend(taken)
            result.reserved.add(demand.key)
    return planned, short_demands


def _create_reservations(planned, *, now, instances: bool) -> list[tuple[OrderDemand, Reservation]]:
    if connection.vendor == "postgresql":
        return _create_reservations_in_one_statement(planned, now=now, instances=instances)
    reservations = Reservation.objects.bulk_create(
        Reservation(
            order_id=demand.order_id,
            order_line_id=line.order_line_id,
            channel_id=demand.channel_id,
            reference=demand.reference,
            balance_id=row["pk"],
            sku_id=line.sku_id,
            quantity=take,
            original_quantity=take,
            state=ReservationState.ACTIVE if demand.expires_at else ReservationState.COMMITTED,
            expires_at=demand.expires_at,
            created_at=now,
        )
        for demand, line, row, take in planned
    )
    ledger.post(
        [
            ledger.Change(
                balance_id=reservation.balance_id,
                sku_id=reservation.sku_id,
                kind=MovementKind.RESERVE,
                reserved=reservation.quantity,
                reservation_id=reservation.pk,
                order_id=reservation.order_id,
                reference=reservation.reference,
            )
            for reservation in reservations
        ],
        locked=True,
        now=now,
    )
    return [
        (demand, reservation) for (demand, *_rest), reservation in zip(planned, reservations, strict=True)
    ]


def _create_reservations_in_one_statement(
    planned, *, now, instances: bool
) -> list[tuple[OrderDemand, Reservation]]:
    fingerprints = new_fingerprints(len(planned))
    new = [
        ledger.NewReservation(
            fingerprint=fingerprint,
            balance_id=row["pk"],
            sku_id=line.sku_id,
            quantity=take,
            state=ReservationState.ACTIVE if demand.expires_at else ReservationState.COMMITTED,
            expires_at=demand.expires_at,
            order_id=demand.order_id,
            order_line_id=line.order_line_id,
            channel_id=demand.channel_id,
            reference=demand.reference,
        )
        for (demand, line, row, take), fingerprint in zip(planned, fingerprints, strict=True)
    ]
    ids = ledger.reserve_in_one_statement(new, now=now)
    if not instances:
        return []
    return [
        (demand, _stored(row, ids[row.fingerprint], now))
        for (demand, *_rest), row in zip(planned, new, strict=True)
    ]


def reserve_locks_at_once(demands: list[OrderDemand], *, now) -> tuple[ReserveResult, list[OrderDemand]]:
    """The hot path of checkout locks (PostgreSQL, outside any transaction): single-line locks
    whose SKU has one sellable balance in the channel's pools are reserved by one statement that
    commits on its own (ledger.reserve_unambiguous) — the balance row is locked only for that
    statement. Returns what it reserved and the demands it left for reserve_orders: those with
    several lines or several candidate balances, and those on a balance that could not take the
    whole batch (near sell-out; reserve_orders then serves them one by one, expiring overdue
    reservations if that frees units). A lock asking for more than its balance had left, with no
    overdue reservation there to expire (a sold-out SKU), is answered short at once."""
    result = ReserveResult()
    fast = [d for d in demands if len(d.lines) == 1 and d.order_id is None and d.expires_at is not None]
    if not fast:
        return result, demands
    pools = channel_pool_ids({d.channel_id for d in fast})
    rows = [
        ledger.NewReservation(
            fingerprint=fingerprint,
            balance_id=0,  # chosen by the statement
            sku_id=d.lines[0].sku_id,
            quantity=d.lines[0].quantity,
            state=ReservationState.ACTIVE,
            expires_at=d.expires_at,
            channel_id=d.channel_id,
            reference=d.reference,
        )
        for d, fingerprint in zip(fast, new_fingerprints(len(fast)), strict=True)
    ]
    done = ledger.reserve_unambiguous(
        rows, [pools[d.channel_id] for d in fast], today=business_date(now), now=now
    )
    sold_out = _sold_out(rows, done.refused, now=now)
    for demand, row in zip(fast, rows, strict=True):
        if row.fingerprint in sold_out:
            result.short[demand.key] = [row.sku_id]
        if row.fingerprint not in done.stored:
            continue
        row.balance_id = done.stored[row.fingerprint][1]
        result.reserved.add(demand.key)
        result.reservations[demand.key] = [_held(row, done.stored[row.fingerprint][0])]
    return result, [d for d in demands if d.key not in result.reserved and d.key not in result.short]


def _sold_out(rows: list[ledger.NewReservation], refused: dict[str, tuple[int, int]], *, now) -> set[str]:
    """Fingerprints of refused rows nothing can serve now: each asks for more than its balance had
    left, and no overdue reservation there would free units (the careful path's expiry). The
    overdue check is its own statement, planned with its values: inside the prepared lock
    statement its generic plan could not use the partial index of due reservations."""
    too_big = {
        row.fingerprint: refused[row.fingerprint][0]
        for row in rows
        if row.fingerprint in refused and refused[row.fingerprint][1] < row.quantity
    }
    if not too_big or any_due(set(too_big.values()), now):
        return set()
    return set(too_big)


@dataclass(frozen=True)
class HeldLock:
    """A checkout lock as stored: the fields of its Reservation a caller answers with. Not a model
    instance: building a Reservation per lock (django-fsm's model) was a quarter of a hot SKU
    batch's CPU, for a row nobody saves. Read the Reservation by `pk` for anything else."""

    pk: int
    fingerprint: str
    sku_id: int
    quantity: int
    expires_at: datetime
    reference: str
    channel_id: int
    balance_id: int | None = None  # None when the lock writer answered (it does not say)


def _held(row: ledger.NewReservation, pk: int) -> HeldLock:
    return HeldLock(
        pk=pk,
        fingerprint=row.fingerprint,
        sku_id=row.sku_id,
        quantity=row.quantity,
        expires_at=row.expires_at,
        reference=row.reference,
        channel_id=row.channel_id,
        balance_id=row.balance_id,
    )


def _stored(row: ledger.NewReservation, pk: int, now) -> Reservation:
    """The Reservation a statement just stored, built from what was sent (as if read back). Built
    as the ORM builds rows it reads (positional, half the CPU of keyword arguments: a batch of
    orders builds one per reserved line); a field this does not know is deferred, read if asked
    for. The checkout-lock fast path answers with a HeldLock instead (cheaper still)."""
    values = {
        "id": pk,
        "fingerprint": row.fingerprint,
        "order_id": row.order_id,
        "order_line_id": row.order_line_id,
        "channel_id": row.channel_id,
        "reference": row.reference,
        "balance_id": row.balance_id,
        "shipment_id": None,
        "sku_id": row.sku_id,
        "quantity": row.quantity,
        "original_quantity": row.quantity,
        "state": row.state,
        "expires_at": row.expires_at,
        "created_at": now,
        "updated_at": now,
    }
    fields = Reservation._meta.concrete_fields
    return Reservation.from_db(connection.alias, None, [values.get(f.attname, DEFERRED) for f in fields])


def _near_expiry(planned, today: date) -> dict[int, list[dict]]:
    lot_rows = [(d, line, row) for d, line, row, _take in planned if row["lot__expires_on"]]
    if not lot_rows:
        return {}
    windows = dict(
        SKU.objects.filter(pk__in={line.sku_id for _d, line, _row in lot_rows}).values_list(
            "pk", "near_expiry_days"
        )
    )
    flagged: dict[int, list[dict]] = defaultdict(list)
    for demand, line, row in lot_rows:
        window = windows.get(line.sku_id) or settings.INVENTORY_NEAR_EXPIRY_DAYS
        if row["lot__expires_on"] <= today + timedelta(days=window):
            flagged[demand.key].append(
                {
                    "sku_id": line.sku_id,
                    "lot": row["lot__code"],
                    "expires_on": row["lot__expires_on"].isoformat(),
                }
            )
    return dict(flagged)
