"""Routing: moving an order's held units to the warehouses that ship them. Its units already in a
chosen warehouse stay and are linked to their shipment, its units elsewhere are released there,
and what is still missing is reserved where it ships from.

Lock order: the caller holds the order row; routable_stock locks the order's unrouted reservation
rows (ascending id), then every balance row that could supply it (ascending id), and
reservations_route writes under those locks.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.timezones import business_date
from inventory import ledger
from inventory.models import HOLDING, MovementKind, Reservation, ReservationState, StockBalance
from inventory.reservations.breaker import ROUTED_KEY, pending_release_quantities
from inventory.reservations.expiry import expire_due
from inventory.reservations.reserve import channel_pool_ids


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
    return routable_stocks([Routing(order_id, channel_id, frozenset(sku_ids))], now=now)[order_id]


@dataclass(frozen=True)
class Routing:
    """An order about to be routed: what routable_stocks reads for it."""

    order_id: int
    channel_id: int
    sku_ids: frozenset[int]


# What routing reads of an order's held reservations (a batch router reads hundreds per chunk):
# a field left out here would be read row by row, which the batch router's statement-count test
# catches.
_HELD_FIELDS = ("order_id", "order_line_id", "balance_id", "sku_id", "quantity", "state", "fingerprint")


def routable_stocks(orders: list[Routing], *, now=None) -> dict[int, RoutableStock]:
    """routable_stock for several (locked) orders at once, in three locking reads instead of three
    per order: their unrouted reservations (ascending id), then every balance row that could
    supply them (ascending id). The orders share one `free` dict, so units one order's routing
    takes (or gives back) are what the next order sees: route them in turn."""
    now = now or timezone.now()
    held = list(
        Reservation.objects.select_for_update(of=("self",))
        .filter(order_id__any={o.order_id for o in orders}, state__in=HOLDING)
        .filter(Q(shipment__isnull=True) | Q(shipment__status="cancelled"))
        .order_by("pk")
        .only(*_HELD_FIELDS)
    )
    pools = channel_pool_ids({o.channel_id for o in orders})
    today = business_date(now)
    candidates = Q()
    for channel_id, sku_ids in _skus_by_channel(orders).items():
        candidates |= Q(sku_id__any=sku_ids, pool_id__any=pools[channel_id])
    candidates &= Q(warehouse__is_active=True) & ~Q(lot__expires_on__lt=today)
    rows = list(
        StockBalance.objects.select_for_update(of=("self",))
        .filter(candidates | Q(pk__any={r.balance_id for r in held}))
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
    free = {
        row["pk"]: row["on_hand"] - row["reserved"] - row["qc_hold"] + freed.get(row["pk"], 0) for row in rows
    }
    waiting = pending_release_quantities([r.pk for r in held])
    held_by_order: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in held:
        held_by_order[reservation.order_id].append(reservation)
    by_sku: dict[int, list[dict]] = defaultdict(list)
    by_pk = {}
    for row in rows:
        by_sku[row["sku_id"]].append(row)
        by_pk[row["pk"]] = row
    usable = {row["pk"]: row["warehouse__is_active"] and not _expired(row, today) for row in rows}
    stocks = {}
    for order in orders:
        rank = {pool_id: index for index, pool_id in enumerate(pools[order.channel_id])}
        own = held_by_order[order.order_id]
        # The rows its channel could supply it from, and the rows its own units are held on
        # (another order's held row of an inactive warehouse is not a candidate).
        mine = [r for s in order.sku_ids for r in by_sku[s] if r["pool_id"] in rank and usable[r["pk"]]]
        mine += [by_pk[r.balance_id] for r in own if r.balance_id in by_pk]
        balances = {
            row["pk"]: {
                "sku_id": row["sku_id"],
                "warehouse_id": row["warehouse_id"],
                "pool_rank": rank.get(row["pool_id"]),
                "expires_on": row["lot__expires_on"],
                "usable": usable[row["pk"]],
            }
            for row in sorted(mine, key=lambda r: r["pk"])
        }
        stocks[order.order_id] = RoutableStock(balances, free, own, waiting)
    return stocks


def _expired(row: dict, today: date) -> bool:
    return row["lot__expires_on"] is not None and row["lot__expires_on"] < today


def _skus_by_channel(orders: list[Routing]) -> dict[int, set[int]]:
    skus: dict[int, set[int]] = defaultdict(set)
    for order in orders:
        skus[order.channel_id] |= order.sku_ids
    return skus


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
    move = route_plan(
        stock=stock,
        order_id=order_id,
        channel_id=channel_id,
        placements=placements,
        warehouse_codes=warehouse_codes,
        free=dict(stock.free),
        reference=reference,
        now=now,
    )
    route_write([move], actor=actor, now=now)
    return move.outcome


@dataclass
class RouteMove:
    """What routing one order writes to its reservations (route_plan), not yet written."""

    order_id: int
    reference: str
    links: dict[int, int]  # reservation pk → shipment id: units kept where they ship from
    released: list[tuple[Reservation, int]]  # (reservation, units given back where it is held)
    destinations: dict[int, list[str]]  # order line id → codes of the warehouses it ships from
    new_rows: list[Reservation]  # units reserved where they ship from
    moved_from: dict[int, list[str]]  # order line id → fingerprints of its released units
    outcome: RouteOutcome


def route_plan(
    *,
    stock: RoutableStock,
    order_id: int,
    channel_id: int,
    placements: list[Placement],
    warehouse_codes: dict[int, str],
    free: dict[int, int],
    reference: str = "",
    now,
) -> RouteMove:
    """reservations_route's decisions, without writing: `free` (units free per balance) is taken
    from and given back to as the order's units move, so a batch passes one dict to its orders in
    turn. Raises InsufficientStock when the plan no longer fits."""
    need: dict[tuple[int, int], list] = {}
    for placement in placements:
        if (placement.order_line_id, placement.warehouse_id) in need:
            raise ValueError("one placement per order line and warehouse")
        need[(placement.order_line_id, placement.warehouse_id)] = [placement, placement.quantity]
    routed_lines = {p.order_line_id for p in placements}
    keep, release = _keep_own(stock, need, routed_lines)
    for reservation, take in release:
        free[reservation.balance_id] = free.get(reservation.balance_id, 0) + take
    new_rows = _reserve_rest(stock, need, free, order_id, channel_id, reference, now)
    destinations: dict[int, set[str]] = defaultdict(set)
    for placement in placements:
        destinations[placement.order_line_id].add(warehouse_codes[placement.warehouse_id])
    return RouteMove(
        order_id=order_id,
        reference=reference,
        links={reservation.pk: shipment_id for reservation, shipment_id, _take in keep},
        released=release,
        destinations={line_id: sorted(codes) for line_id, codes in destinations.items()},
        new_rows=new_rows,
        moved_from={
            line_id: [r.fingerprint for r, _t in release if r.order_line_id == line_id]
            for line_id in routed_lines
        },
        outcome=RouteOutcome(
            kept=sum(take for _r, _s, take in keep),
            released=sum(take for _r, take in release),
            reserved=sum(r.quantity for r in new_rows),
        ),
    )


def route_write(moves: list[RouteMove], *, actor=None, now) -> None:
    """Write routing moves (one order's, or a batch's): links in one statement, then releases,
    new reservations and one ledger post for every balance delta."""
    _link(
        {pk: shipment_id for move in moves for pk, shipment_id in move.links.items()},
        now,
    )
    changes = []
    for move in moves:
        for reservation, take in move.released:
            remaining = reservation.quantity - take
            Reservation.objects.filter(pk=reservation.pk).update(
                quantity=remaining,
                state=ReservationState.RELEASED if remaining == 0 else reservation.state,
                shipment_id=move.links.get(reservation.pk),  # a part kept for a shipment stays linked
                updated_at=now,
            )
            where = move.destinations[reservation.order_line_id]
            changes.append(
                ledger.Change(
                    balance_id=reservation.balance_id,
                    sku_id=reservation.sku_id,
                    kind=MovementKind.RELEASE,
                    reserved=-take,
                    reservation_id=reservation.pk,
                    order_id=move.order_id,
                    reference=move.reference,
                    note=(_("Routed to %(warehouses)s") % {"warehouses": ", ".join(where)})[:255],
                    payload={ROUTED_KEY: where},
                )
            )
    created = Reservation.objects.bulk_create([row for move in moves for row in move.new_rows])
    moved_from = {line_id: ids for move in moves for line_id, ids in move.moved_from.items()}
    changes.extend(
        ledger.Change(
            balance_id=reservation.balance_id,
            sku_id=reservation.sku_id,
            kind=MovementKind.RESERVE,
            reserved=reservation.quantity,
            reservation_id=reservation.pk,
            order_id=reservation.order_id,
            reference=reservation.reference,
            payload={"routed_from": moved_from[reservation.order_line_id]},
        )
        for reservation in created
    )
    ledger.post(changes, actor=actor, locked=True, now=now, returning=False)


_LINK_SQL = """
UPDATE inventory_reservation r SET shipment_id = v.shipment_id, updated_at = %s
  FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, shipment_id)
 WHERE r.id = v.id"""


def _link(links: dict[int, int], now) -> None:
    """Link kept reservations to their shipments, in one statement."""
    if not links:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LINK_SQL, [now, list(links), list(links.values())])
        return
    Reservation.objects.bulk_update(  # one CASE statement elsewhere (SQLite)
        [Reservation(pk=pk, shipment_id=shipment_id, updated_at=now) for pk, shipment_id in links.items()],
        ["shipment_id", "updated_at"],
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
                    state=ReservationState.COMMITTED,
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


def reservations_follow_split(
    *, from_shipment_id: int, to_shipment_id: int, order_line_id: int, quantity: int, now=None
) -> int:
    """Part of a shipment became a parcel of its own (fulfilment.splitting): `quantity` held
    units of the order line follow it, so shipping it consumes them. A row holding more is
    split in two; balances do not change (the units stay reserved where they are). The caller
    holds the order and shipment rows. Returns the units moved."""
    now = now or timezone.now()
    rows = list(
        Reservation.objects.select_for_update(of=("self",))
        .filter(shipment_id=from_shipment_id, order_line_id=order_line_id, state__in=HOLDING)
        .order_by("pk")
    )
    left = quantity
    for row in rows:
        if left <= 0:
            break
        take = min(row.quantity, left)
        left -= take
        if take == row.quantity:
            Reservation.objects.filter(pk=row.pk).update(shipment_id=to_shipment_id, updated_at=now)
            continue
        Reservation.objects.filter(pk=row.pk).update(
            quantity=row.quantity - take,
            original_quantity=max(row.original_quantity - take, row.quantity - take),
            updated_at=now,
        )
        Reservation.objects.create(
            order_id=row.order_id,
            order_line_id=row.order_line_id,
            channel_id=row.channel_id,
            reference=row.reference,
            balance_id=row.balance_id,
            shipment_id=to_shipment_id,
            sku_id=row.sku_id,
            quantity=take,
            original_quantity=take,
            state=row.state,
            expires_at=row.expires_at,
            created_at=now,
        )
    return quantity - left
