"""Reservations (R-I2, R-I3, R-I6, R-I7): stock held for order lines, from the order's creation
until it ships, is cancelled, or expires unpaid.

Lock order, the same everywhere so nothing deadlocks: order row → its reservation rows →
balance rows by ascending id. Paths that start from balances (reserving, the expiry sweep) take
reservation rows with SKIP LOCKED and never wait for them.
"""

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import NotPermitted
from core.roles import Role
from core.timezones import business_date
from inventory import ledger
from inventory.models import (
    HOLDING,
    RELEASE_KINDS,
    SKU,
    ChannelPool,
    MovementKind,
    PendingRelease,
    ReleaseBreaker,
    Reservation,
    ReservationState,
    StockBalance,
    StockMovement,
)

R = ReservationState
BREAKER_WINDOW = timedelta(hours=1)


# --- reserving --------------------------------------------------------------------------------


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
            state=R.ACTIVE if demand.expires_at else R.COMMITTED,
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


# --- paying, shipping -------------------------------------------------------------------------


def reservations_commit(*, order_id: int, now=None) -> int:
    """Payment turns the order's active reservations into commitments (no expiry any more)."""
    now = now or timezone.now()
    held = list(
        Reservation.objects.select_for_update()
        .filter(order_id=order_id, state=R.ACTIVE)
        .order_by("pk")
        .values_list("pk", "balance_id", "sku_id", "quantity")
    )
    if not held:
        return 0
    Reservation.objects.filter(pk__in=[pk for pk, *_ in held], state=R.ACTIVE).update(
        state=R.COMMITTED, expires_at=None, updated_at=now
    )
    ledger.post(
        [
            ledger.Change(
                balance_id=balance_id,
                sku_id=sku_id,
                kind=MovementKind.COMMIT,
                reservation_id=pk,
                order_id=order_id,
                payload={"quantity": quantity},
            )
            for pk, balance_id, sku_id, quantity in held
        ],
        now=now,
    )
    return len(held)


def reservations_consume(
    *, order_id: int, shipment_id: int | None = None, reference: str = "", now=None
) -> int:
    """Shipping takes the held units off the shelf: on_hand and reserved both drop (only the
    shipment's units when one is given). Units whose release waits behind the breaker stay held
    (they were cancelled, they do not ship)."""
    now = now or timezone.now()
    held = Reservation.objects.select_for_update().filter(order_id=order_id, state__in=HOLDING)
    if shipment_id is not None:
        held = held.filter(shipment_id=shipment_id)
    held = list(held.order_by("pk").values_list("pk", "balance_id", "sku_id", "quantity"))
    waiting = _pending_release_quantities([pk for pk, *_ in held])
    changes = []
    for pk, balance_id, sku_id, quantity in held:
        keep = waiting.get(pk, 0)
        take = quantity - keep
        if take <= 0:
            continue
        Reservation.objects.filter(pk=pk).update(
            state=R.CONSUMED if not keep else F("state"), quantity=keep, expires_at=None, updated_at=now
        )
        changes.append(
            ledger.Change(
                balance_id=balance_id,
                sku_id=sku_id,
                kind=MovementKind.SHIP,
                on_hand=-take,
                reserved=-take,
                reservation_id=pk,
                order_id=order_id,
                reference=reference,
            )
        )
    ledger.post(changes, now=now, returning=False)
    return sum(-change.on_hand for change in changes)


def _pending_release_quantities(reservation_ids) -> dict[int, int]:
    return dict(
        PendingRelease.objects.filter(reservation_id__in=reservation_ids, applied_at__isnull=True)
        .values("reservation_id")
        .annotate(n=Sum("quantity"))
        .values_list("reservation_id", "n")
    )


def held_quantities(order_id: int) -> dict[int, int]:
    """{order line id: units held for it}, not counting units whose release is waiting."""
    rows = list(
        Reservation.objects.filter(order_id=order_id, state__in=HOLDING).values_list(
            "pk", "order_line_id", "quantity"
        )
    )
    waiting = _pending_release_quantities([pk for pk, *_ in rows])
    held: dict[int, int] = defaultdict(int)
    for pk, line_id, quantity in rows:
        held[line_id] += quantity - waiting.get(pk, 0)
    return held


# --- routing: moving held units to the warehouse that ships them -----------------------------

# Movements written by routing carry this payload key: they move stock between warehouses, they
# are not cancellations, so the release breaker does not count them.
ROUTED_KEY = "routed_to"


@dataclass
class RoutableStock:
    """What an order may be routed to, read under lock: per balance row, the units free for the
    order's channel and the units the order's own unrouted reservations hold there."""

    # balance pk → sku_id, warehouse_id, pool_rank (None: not the channel's pool), expires_on, usable
    balances: dict[int, dict]
    free: dict[int, int]  # balance pk → units anyone in the channel may take
    held: list[Reservation]  # the order's unrouted reservations, locked, ascending pk
    waiting: dict[int, int]  # reservation pk → units whose release waits (they do not move)

    def movable(self, reservation: Reservation) -> int:
        return max(0, reservation.quantity - self.waiting.get(reservation.pk, 0))

    def by_warehouse(self) -> dict[int, dict[int, int]]:
        """{warehouse id: {sku id: units the order could have there}}: free units plus its own."""
        totals: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for pk, row in self.balances.items():
            if row["pool_rank"] is not None and row["usable"]:
                totals[row["warehouse_id"]][row["sku_id"]] += max(0, self.free.get(pk, 0))
        for reservation in self.held:
            row = self.balances.get(reservation.balance_id)
            if row and row["usable"]:
                totals[row["warehouse_id"]][reservation.sku_id] += self.movable(reservation)
        return {warehouse: dict(skus) for warehouse, skus in totals.items()}


def routable_stock(*, order_id: int, channel_id: int, sku_ids, now=None) -> RoutableStock:
    """Lock the order's unrouted reservations (ascending id), then every balance row that could
    supply its SKUs in the channel's pools (ascending id), and read what each can give. The
    order row must already be locked; nothing is written except expiring due reservations."""
    now = now or timezone.now()
    held = list(
        Reservation.objects.select_for_update(of=("self",))
        .filter(order_id=order_id, state__in=HOLDING)
        .filter(Q(shipment__isnull=True) | Q(shipment__status="cancelled"))
        .order_by("pk")
    )
    pools = channel_pool_ids([channel_id])[channel_id]
    rank = {pool_id: index for index, pool_id in enumerate(pools)}
    today = business_date(now)
    candidates = Q(sku_id__in=set(sku_ids), pool_id__in=pools, warehouse__is_active=True) & ~Q(
        lot__expires_on__lt=today
    )
    rows = list(
        StockBalance.objects.select_for_update(of=("self",))
        .filter(candidates | Q(pk__in={r.balance_id for r in held}))
        .order_by("pk")
        .values(
            "pk",
            "sku_id",
            "pool_id",
            "warehouse_id",
            "warehouse__is_active",
            "lot__expires_on",
            "on_hand",
            "reserved",
            "qc_hold",
        )
    )
    _count, freed = expire_due(now=now, balance_ids=[row["pk"] for row in rows], locked=True)
    balances, free = {}, {}
    for row in rows:
        expired = row["lot__expires_on"] is not None and row["lot__expires_on"] < today
        balances[row["pk"]] = {
            "sku_id": row["sku_id"],
            "warehouse_id": row["warehouse_id"],
            "pool_rank": rank.get(row["pool_id"]),
            "expires_on": row["lot__expires_on"],
            "usable": row["warehouse__is_active"] and not expired,
        }
        free[row["pk"]] = row["on_hand"] - row["reserved"] - row["qc_hold"] + freed.get(row["pk"], 0)
    return RoutableStock(balances, free, held, _pending_release_quantities([r.pk for r in held]))


@dataclass(frozen=True)
class Placement:
    """`quantity` units of an order line to be shipped from a warehouse by a shipment."""

    order_line_id: int
    sku_id: int
    warehouse_id: int
    quantity: int
    shipment_id: int


@dataclass
class RouteOutcome:
    kept: int = 0  # units already held where they ship from, now linked to their shipment
    released: int = 0  # units given back where they were held, because they ship from elsewhere
    reserved: int = 0  # units reserved where they ship from (moved, or pre-sale stock that arrived)


def reservations_route(
    *,
    stock: RoutableStock,
    order_id: int,
    channel_id: int,
    placements: list[Placement],
    warehouse_codes: dict[int, str],
    reference: str = "",
    actor=None,
    now=None,
) -> RouteOutcome:
    """Make the order's reservations match the routing plan, atomically: its own units already in
    a chosen warehouse stay (linked to their shipment), its units elsewhere are released there
    with a note naming where they went, and what is still missing is reserved in the chosen
    warehouse (the channel's pools in priority order, first-expiring lot first). All balance
    deltas go through one conditional ledger update, so a plan that no longer fits is refused
    whole (InsufficientStock) and nothing is written."""
    now = now or timezone.now()
    need: dict[tuple[int, int], list] = {}
    for placement in placements:
        if (placement.order_line_id, placement.warehouse_id) in need:
            raise ValueError("one placement per order line and warehouse")
        need[(placement.order_line_id, placement.warehouse_id)] = [placement, placement.quantity]
    routed_lines = {p.order_line_id for p in placements}
    keep, release = _keep_own(stock, need, routed_lines)
    free = dict(stock.free)
    for reservation, take in release:
        free[reservation.balance_id] = free.get(reservation.balance_id, 0) + take
    new_rows = _reserve_rest(stock, need, free, order_id, channel_id, reference, now)

    destinations: dict[int, set[str]] = defaultdict(set)
    for placement in placements:
        destinations[placement.order_line_id].add(warehouse_codes[placement.warehouse_id])
    linked = {reservation.pk: shipment_id for reservation, shipment_id, _take in keep}
    for pk, shipment_id in linked.items():
        Reservation.objects.filter(pk=pk).update(shipment_id=shipment_id, updated_at=now)
    changes = []
    for reservation, take in release:
        remaining = reservation.quantity - take
        Reservation.objects.filter(pk=reservation.pk).update(
            quantity=remaining,
            state=R.RELEASED if remaining == 0 else reservation.state,
            shipment_id=linked.get(reservation.pk),  # a part kept for a shipment stays linked to it
            updated_at=now,
        )
        where = sorted(destinations[reservation.order_line_id])
        changes.append(
            ledger.Change(
                balance_id=reservation.balance_id,
                sku_id=reservation.sku_id,
                kind=MovementKind.RELEASE,
                reserved=-take,
                reservation_id=reservation.pk,
                order_id=order_id,
                reference=reference,
                note=(_("Routed to %(warehouses)s") % {"warehouses": ", ".join(where)})[:255],
                payload={ROUTED_KEY: where},
            )
        )
    created = Reservation.objects.bulk_create(new_rows)
    moved_from = {
        line_id: [r.fingerprint for r, _t in release if r.order_line_id == line_id]
        for line_id in routed_lines
    }
    changes.extend(
        ledger.Change(
            balance_id=reservation.balance_id,
            sku_id=reservation.sku_id,
            kind=MovementKind.RESERVE,
            reserved=reservation.quantity,
            reservation_id=reservation.pk,
            order_id=order_id,
            reference=reference,
            payload={"routed_from": moved_from[reservation.order_line_id]},
        )
        for reservation in created
    )
    ledger.post(changes, actor=actor, locked=True, now=now, returning=False)
    return RouteOutcome(
        kept=sum(take for _r, _s, take in keep),
        released=sum(take for _r, take in release),
        reserved=sum(r.quantity for r in created),
    )


def _in_warehouse_order(stock: RoutableStock, balance_id: int, pk: int) -> tuple:
    row = stock.balances[balance_id]
    rank = row["pool_rank"] if row["pool_rank"] is not None else len(stock.balances)
    return rank, row["expires_on"] or date.max, pk


def _keep_own(stock: RoutableStock, need: dict, routed_lines: set[int]):
    """First pass: each routed line keeps its own units where its plan wants them (best pool,
    first-expiring lot first); its other movable units are released."""
    keep: list[tuple[Reservation, int, int]] = []
    release: list[tuple[Reservation, int]] = []
    own = sorted(
        (r for r in stock.held if r.order_line_id in routed_lines),
        key=lambda r: _in_warehouse_order(stock, r.balance_id, r.pk),
    )
    for reservation in own:
        row = stock.balances[reservation.balance_id]
        movable = stock.movable(reservation)
        slot = need.get((reservation.order_line_id, row["warehouse_id"])) if row["usable"] else None
        take = min(movable, slot[1]) if slot else 0
        if take:
            slot[1] -= take
            keep.append((reservation, slot[0].shipment_id, take))
        if movable > take:
            release.append((reservation, movable - take))
    release.sort(key=lambda item: item[0].pk)
    return keep, release


def _reserve_rest(stock, need, free, order_id, channel_id, reference, now) -> list[Reservation]:
    """Second pass: reserve what each placement still lacks from the chosen warehouse's balances."""
    by_position: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pk, row in stock.balances.items():
        if row["pool_rank"] is not None and row["usable"]:
            by_position[(row["sku_id"], row["warehouse_id"])].append(pk)
    rows = []
    for (_line_id, warehouse_id), (placement, missing) in sorted(need.items()):
        for pk in sorted(
            by_position[(placement.sku_id, warehouse_id)], key=lambda b: _in_warehouse_order(stock, b, b)
        ):
            if not missing:
                break
            take = min(missing, free.get(pk, 0))
            if take <= 0:
                continue
            free[pk] -= take
            missing -= take
            rows.append(
                Reservation(
                    order_id=order_id,
                    order_line_id=placement.order_line_id,
                    channel_id=channel_id,
                    reference=reference,
                    balance_id=pk,
                    shipment_id=placement.shipment_id,
                    sku_id=placement.sku_id,
                    quantity=take,
                    original_quantity=take,
                    state=R.COMMITTED,
                    created_at=now,
                )
            )
        if missing:
            raise ledger.InsufficientStock(
                _("Not enough stock left to route this order; try again."), field="lines"
            )
    return rows


def reservations_unlink_shipment(*, shipment_id: int) -> int:
    """A cancelled shipment's held units stay with their order, free to be routed again."""
    return Reservation.objects.filter(shipment_id=shipment_id, state__in=HOLDING).update(
        shipment_id=None, updated_at=timezone.now()
    )


# --- releasing --------------------------------------------------------------------------------


@dataclass
class ReleaseOutcome:
    released: int = 0
    deferred: int = 0


def order_fingerprints(order_id: int) -> set[str]:
    """The lock ids the order's own services present when they release its stock."""
    return set(Reservation.objects.filter(order_id=order_id).values_list("fingerprint", flat=True))


def reservations_release(
    *,
    order_id: int,
    fingerprints: set[str],
    line_quantities: dict[int, int] | None = None,
    reason: str = "",
    actor=None,
    automatic: bool = True,
    now=None,
) -> ReleaseOutcome:
    """Release exactly `line_quantities` ({order line id: units}; None = everything held) of the
    order's reservations. Every reservation touched must be named by its lock fingerprint.
    Automatic releases respect the SKU's release breaker: past it they wait as PendingRelease."""
    now = now or timezone.now()
    held = list(
        Reservation.objects.select_for_update().filter(order_id=order_id, state__in=HOLDING).order_by("pk")
    )
    held.reverse()  # locked in ascending id like every path; the newest of a line gives back first
    plan: list[tuple[Reservation, int]] = []
    wanted = dict(line_quantities) if line_quantities is not None else None
    for reservation in held:
        if wanted is None:
            take = reservation.quantity
        else:
            take = min(wanted.get(reservation.order_line_id, 0), reservation.quantity)
            if take:
                wanted[reservation.order_line_id] -= take
        if take:
            if reservation.fingerprint not in fingerprints:
                raise NotPermitted(_("A release must present the reservation's lock fingerprint."))
            plan.append((reservation, take))
    plan.sort(key=lambda item: item[0].pk)

    return release_planned(plan, reason=reason, actor=actor, automatic=automatic, now=now)


def release_planned(
    plan: list[tuple[Reservation, int]], *, reason: str, actor, automatic: bool, now
) -> ReleaseOutcome:
    """Give back `take` units of each reservation; past the SKU's breaker they wait instead."""
    outcome = ReleaseOutcome()
    allowance = release_allowance({r.sku_id for r, _take in plan}, now=now) if automatic else None
    changes, tripped = [], set()
    for reservation, take in plan:
        if allowance is not None and allowance[reservation.sku_id] <= 0:
            PendingRelease.objects.create(
                reservation=reservation,
                sku_id=reservation.sku_id,
                quantity=take,
                kind=MovementKind.RELEASE,
                reason=reason,
                created_at=now,
            )
            tripped.add(reservation.sku_id)
            outcome.deferred += take
            continue
        if allowance is not None:
            allowance[reservation.sku_id] -= 1
        remaining = reservation.quantity - take
        Reservation.objects.filter(pk=reservation.pk).update(
            quantity=remaining, state=R.RELEASED if remaining == 0 else reservation.state, updated_at=now
        )
        changes.append(
            ledger.Change(
                balance_id=reservation.balance_id,
                sku_id=reservation.sku_id,
                kind=MovementKind.RELEASE,
                reserved=-take,
                reservation_id=reservation.pk,
                order_id=reservation.order_id,
                reference=reservation.reference,
                note=reason[:255],
            )
        )
        outcome.released += take
    ledger.post(changes, actor=actor, now=now, returning=False)
    if tripped:
        trip_breakers(tripped, now=now)
    return outcome


def expire_due(
    *, now=None, balance_ids=None, locked: bool = False, limit: int = 5000
) -> tuple[int, dict[int, int]]:
    """Expire up to `limit` unpaid reservations past their deadline (optionally only on some
    balances); rows another worker holds are skipped. Returns (count, {balance id: units freed})."""
    now = now or timezone.now()
    due = Reservation.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        state=R.ACTIVE, expires_at__lte=now
    )
    if balance_ids is not None:
        if not balance_ids:
            return 0, {}
        due = due.filter(balance_id__in=balance_ids)
    paused = ReleaseBreaker.objects.filter(is_open=True).values("sku_id")
    rows = list(
        due.exclude(sku_id__in=paused)
        .order_by("expires_at", "pk")
        .values_list("pk", "balance_id", "sku_id", "quantity", "order_id")[:limit]
    )
    if not rows:
        return 0, {}
    allowance = release_allowance({row[2] for row in rows}, now=now)
    expiring, tripped = [], set()
    for row in rows:
        if allowance[row[2]] > 0:
            allowance[row[2]] -= 1
            expiring.append(row)
        else:
            tripped.add(row[2])
    Reservation.objects.filter(pk__in=[row[0] for row in expiring]).update(
        state=R.EXPIRED, quantity=0, updated_at=now
    )
    ledger.post(
        [
            ledger.Change(
                balance_id=balance_id,
                sku_id=sku_id,
                kind=MovementKind.EXPIRE,
                reserved=-quantity,
                reservation_id=pk,
                order_id=order_id,
            )
            for pk, balance_id, sku_id, quantity, order_id in expiring
        ],
        locked=locked,
        now=now,
        returning=False,
    )
    if tripped:
        trip_breakers(tripped, now=now)
    freed: dict[int, int] = defaultdict(int)
    for _pk, balance_id, _sku, quantity, _order in expiring:
        freed[balance_id] += quantity
    return len(expiring), dict(freed)


def reservations_expire_sweep(*, now=None, batch_size: int = 1000) -> int:
    """The scheduled sweep: expire due reservations batch by batch, each in its own short
    transaction, until none is left (rows held by another sweep are skipped)."""
    total = 0
    while True:
        with transaction.atomic():
            count, _freed = expire_due(now=now, limit=batch_size)
        total += count
        if not count:
            return total


# --- release circuit breaker ------------------------------------------------------------------


def release_allowance(sku_ids, *, now) -> dict[int, int]:
    """How many more releases each SKU may have now before its breaker trips (0 when paused)."""
    sku_ids = set(sku_ids)
    if not sku_ids:
        return {}
    limits = dict(SKU.objects.filter(pk__in=sku_ids).values_list("pk", "release_breaker_limit"))
    breakers = {b.sku_id: b for b in ReleaseBreaker.objects.filter(sku_id__in=sku_ids)}
    since = now - BREAKER_WINDOW
    counts = dict(
        StockMovement.objects.filter(sku_id__in=sku_ids, kind__in=RELEASE_KINDS, created_at__gte=since)
        .exclude(payload__has_key=ROUTED_KEY)
        .values("sku_id")
        .annotate(n=Count("pk"))
        .values_list("sku_id", "n")
    )
    allowance = {}
    for sku_id in sku_ids:
        breaker = breakers.get(sku_id)
        if breaker and breaker.is_open:
            allowance[sku_id] = 0
            continue
        count = counts.get(sku_id, 0)
        if breaker and breaker.resumed_at and breaker.resumed_at > since:  # the window restarts
            count = (
                StockMovement.objects.filter(
                    sku_id=sku_id, kind__in=RELEASE_KINDS, created_at__gte=breaker.resumed_at
                )
                .exclude(payload__has_key=ROUTED_KEY)
                .count()
            )
        limit = limits.get(sku_id) or settings.INVENTORY_RELEASE_BREAKER_LIMIT
        allowance[sku_id] = max(0, limit - count)
    return allowance


def trip_breakers(sku_ids, *, now) -> None:
    for sku_id in sorted(sku_ids):
        breaker, _created = ReleaseBreaker.objects.get_or_create(sku_id=sku_id)
        if ReleaseBreaker.objects.filter(pk=breaker.pk, is_open=False).update(is_open=True, tripped_at=now):
            code = SKU.objects.values_list("code", flat=True).get(pk=sku_id)
            alert_raise(
                kind="release_breaker",
                key=f"release_breaker:{sku_id}",
                role=Role.MANAGER,
                message=_("Releases of %(sku)s paused: more than %(n)s in an hour. Review and resume.")
                % {"sku": code, "n": settings.INVENTORY_RELEASE_BREAKER_LIMIT},
                payload={"sku": code},
            )


def breaker_resume(*, sku_id: int, actor=None) -> int:
    """A manager reviewed the releases: close the breaker and apply what waited."""
    if actor is not None and not actor.has_perm("inventory.change_releasebreaker"):
        raise NotPermitted(_("Only a stock manager can resume releases."))
    now = timezone.now()
    with transaction.atomic():
        ReleaseBreaker.objects.filter(sku_id=sku_id).update(is_open=False, resumed_at=now, resumed_by=actor)
        waiting = list(
            PendingRelease.objects.select_for_update()
            .filter(sku_id=sku_id, applied_at__isnull=True)
            .select_related("reservation")
            .order_by("pk")
        )
        applied = 0
        by_order: dict[int, list[PendingRelease]] = defaultdict(list)
        for pending in waiting:
            by_order[pending.reservation.order_id].append(pending)
        for order_id, pendings in sorted(by_order.items()):
            line_quantities: dict[int, int] = defaultdict(int)
            for pending in pendings:
                line_quantities[pending.reservation.order_line_id] += pending.quantity
            outcome = reservations_release(
                order_id=order_id,
                fingerprints={p.reservation.fingerprint for p in pendings},
                line_quantities=dict(line_quantities),
                reason=_("Released after review"),
                actor=actor,
                automatic=False,
                now=now,
            )
            applied += outcome.released
        PendingRelease.objects.filter(pk__in=[p.pk for p in waiting]).update(applied_at=now)
        alert_resolve(key=f"release_breaker:{sku_id}", actor=actor)
    return applied
