"""Reserving: stock held for new orders and checkout locks, all or nothing per order, from the
channel's pools in priority order and the first-expiring lot first.

Lock order: balance rows in ascending id, after any order rows the caller holds. The due
reservations on those balances are expired on the way with SKIP LOCKED (expiry.expire_due),
never waited for.
"""

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.timezones import business_date
from inventory import ledger
from inventory.models import SKU, ChannelPool, MovementKind, Reservation, ReservationState, StockBalance
from inventory.reservations.expiry import expire_due


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


def channel_pool_ids(channel_ids) -> dict[int, list[int]]:
    """Pools each channel draws from, in priority order; the default pool when none is mapped."""
    pools: dict[int, list[int]] = defaultdict(list)
    for channel_id, pool_id in (
        ChannelPool.objects.filter(channel_id__in=channel_ids)
        .order_by("channel_id", "priority", "pool_id")
        .values_list("channel_id", "pool_id")
    ):
        pools[channel_id].append(pool_id)
    default = None
    for channel_id in channel_ids:
        if not pools[channel_id]:
            default = default or ledger.default_pool_id()
            pools[channel_id] = [default]
    return pools


def reserve_orders(demands: list[OrderDemand], *, now=None) -> ReserveResult:
    """Reserve every line of every order, all or nothing per order, in one pass: lock the
    candidate balance rows (ascending id), plan first-expiring-first within each channel's pools,
    then apply the whole batch in one conditional UPDATE and insert reservations and movements."""
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
            sku_id__in={line.sku_id for d in demands for line in d.lines},
            pool_id__in={pool for ids in pools.values() for pool in ids},
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
    _count, freed = expire_due(now=now, balance_ids=[row["pk"] for row in rows], locked=True)
    available = {
        row["pk"]: row["on_hand"] - row["reserved"] - row["qc_hold"] + freed.get(row["pk"], 0) for row in rows
    }
    candidates: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["lot__expires_on"] or date.max, r["warehouse_id"], r["pk"])):
        candidates[(row["sku_id"], row["pool_id"])].append(row)  # first-expiring first (FEFO)

    planned: list[tuple[OrderDemand, LineDemand, dict, int]] = []
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
        else:
            planned.extend(taken)
            result.reserved.add(demand.key)

    if planned:
        for demand, reservation in _create_reservations(planned, now=now):
            result.reservations.setdefault(demand.key, []).append(reservation)
        result.near_expiry = _near_expiry(planned, today)
    return result


def _create_reservations(planned, *, now) -> list[tuple[OrderDemand, Reservation]]:
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
