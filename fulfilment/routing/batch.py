"""Routing many orders at once (issue #18): a bulk intake's paid orders, a chunk at a time, in one
transaction per chunk and a few set-based statements, instead of ~30 statements per order.

The orders of a chunk are routed in ascending id, with the result routing each alone in that
order would give. The common order — paid, shipping, never routed, no pre-sale line, no parcel to
merge with, covered by the stock — is planned in memory by the same planner from the same facts,
against one view of the stock that each order's plan takes from, and written with the others of
its run. Any other order (short of stock: the hold; pre-sale lines; a merge partner; not routable)
goes through route_order in its turn, after the run before it is written; the stock is read
again after it. Orders routed before (re-routes) are routed one by one after the commit.

Locks, in the global order: the chunk's order rows (ascending id), the parcels waiting for
merges of its customers, then the unrouted reservation rows and the balance rows of every order
the chunk may route (reservations.routable_stocks), all before the first order is routed. So the
orders left to route_order, and the reads of the stock after them, lock no row they do not hold
already (a balance with a lower id than one held, taken later, could deadlock with an intake
locking the two in order). New shipments need none: nobody else sees them before the commit."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.array_insert import insert_all
from core.instances import build
from core.transitions import apply, lock_rows
from fulfilment.models import RoutingPolicy, Shipment, ShipmentLine
from fulfilment.routing.explain import explain_choice
from fulfilment.routing.facts import KnownWarehouses, build_candidates, policy_for
from fulfilment.routing.planner import MERGE_UNTIL, ROUTABLE, SS, Need, Plan, plan
from fulfilment.routing.schedule import route_quietly
from fulfilment.routing.service import merge_sentences
from fulfilment.services import release_unwritten_shipments
from fulfilment.warehouse_port import warehouses
from inventory import reservations
from orders.models import LineKind, Order, OrderEvent, OrderEventKind, OrderLine, OrderStatus

logger = logging.getLogger(__name__)

# Orders per transaction: as many as an intake batch at most (the bulk endpoint's 1,000), so a
# batch's paid orders (one routing task: service.ROUTE_TASK_CHUNK) route in one transaction,
# holding their stock rows about as long as the intake of that batch did. In chunks of 200 each
# chunk reads and locks again the stock rows its orders share with the others and commits on its
# own: routing a 1,000-order batch's paid orders took ~13 % longer (medians of 4, alternated).
BATCH_ROUTE_CHUNK = 1_000


def route_orders(order_ids) -> int:
    """Route these orders as the system; returns how many shipments now carry them. Chunks go
    through the batch path; the orders it leaves, and every order of a chunk whose batch failed,
    are routed one by one with route_quietly. One order failing does not keep the others from
    routing: the first failure is raised at the end (a task's outcome says so) and the beat's
    safety net routes that order again."""
    ordered = sorted(set(order_ids))
    shipments, one_by_one, failure = 0, [], None
    for start in range(0, len(ordered), BATCH_ROUTE_CHUNK):
        chunk = ordered[start : start + BATCH_ROUTE_CHUNK]
        try:
            routed, left = _route_chunk(chunk)
        except Exception:  # noqa: BLE001 - its transaction rolled back; each order is tried alone
            logger.exception("batch routing of %s orders failed; routing them one by one", len(chunk))
            routed, left = 0, chunk
        shipments += routed
        one_by_one.extend(left)
    for order_id in sorted(one_by_one):
        try:
            shipments += len(route_quietly(order_id))
        except Exception as exc:  # noqa: BLE001 - raised below, once the others are routed
            logger.exception("routing order %s failed", order_id)
            failure = failure or exc
    if failure is not None:
        raise failure
    return shipments


class _Chunk:
    """What the chunk read once for all its orders."""

    def __init__(self):
        self.policies: dict[int, RoutingPolicy] = {}
        self.known = KnownWarehouses()

    def policy(self, channel_id: int) -> RoutingPolicy:
        if channel_id not in self.policies:
            self.policies[channel_id] = policy_for(channel_id)
        return self.policies[channel_id]


def _route_chunk(order_ids: list[int]) -> tuple[int, list[int]]:
    """Route the chunk's orders in ascending id, as route_order would one after the other, in
    one transaction; returns (shipments written, orders left for after the commit). A run of
    common orders is planned in memory and written together; an order the batch does not take is
    routed by route_order in its turn (after what was planned before it is written; the stock is
    read again after it). Orders routed before (re-routes) are left: cancelling their parcels may
    lock other orders, which must come before any stock row."""
    with transaction.atomic():
        orders = lock_rows(Order.objects.all(), order_ids)
        chunk = _Chunk()
        waiting_to_merge = _lock_merge_targets(orders, chunk)
        needs, routed_before, stocked = _needs(orders)
        mergeable = _mergeable(orders, chunk, waiting_to_merge)
        shipments, pending, provisional = 0, [], 0
        now = timezone.now()
        stocks = _lock_stock(orders, stocked, now)  # see the module: every row, before any routing
        for index, order in enumerate(orders):
            if order.pk in routed_before:
                continue
            if order.status not in ROUTABLE or not order.requires_shipping:
                route_quietly(order.pk)  # refused before it reads any stock: says why in the log
                continue
            done = None
            if order.pk in needs and order.pk not in mergeable:
                if stocks is None:
                    stocks = _stocks(orders[index:], needs, mergeable, now)
                done = _plan_one(order, needs[order.pk], stocks, chunk, now, -provisional - 1)
            if done is not None:
                pending.append(done)
                provisional += len(done.shipments)
                continue
            shipments += _write(pending, now)  # route_order sees what the orders before it took
            pending, stocks = [], None
            shipments += len(route_quietly(order.pk))
            now = timezone.now()
        shipments += _write(pending, now)
        return shipments, sorted(routed_before)


def _lock_stock(orders, stocked: dict[int, set[int]], now) -> dict[int, reservations.RoutableStock] | None:
    """The routable stock of every order of the chunk that may be routed (also those left to
    route_order: mergeable, pre-sale, short), which locks all the rows their routing can take."""
    routings = [
        reservations.Routing(o.pk, o.channel_id, frozenset(stocked[o.pk])) for o in orders if o.pk in stocked
    ]
    return reservations.routable_stocks(routings, now=now) if routings else None


def _stocks(orders, needs, mergeable, now) -> dict[int, reservations.RoutableStock]:
    """The routable stock of the batch's orders from here on (one shared `free`)."""
    return reservations.routable_stocks(
        [
            reservations.Routing(o.pk, o.channel_id, frozenset(n.sku_id for n in needs[o.pk]))
            for o in orders
            if o.pk in needs and o.pk not in mergeable
        ],
        now=now,
    )


def _needs(orders: list[Order]) -> tuple[dict[int, list[Need]], set[int], dict[int, set[int]]]:
    """({order id: its needs} for the orders this path takes — paid, shipping, never routed, no
    pre-sale line —, the orders routed before: a shipment of theirs exists, even cancelled, and
    {order id: the SKUs of its stocked lines} for every order never routed that route_order
    may route: a routable state, shipping)."""
    ids = [o.pk for o in orders]
    routed_before = set(
        ShipmentLine.objects.filter(order_line__order_id__any=ids).values_list(
            "order_line__order_id", flat=True
        )
    ) | set(Shipment.objects.filter(order_id__any=ids).values_list("order_id", flat=True))
    routable = {
        o.pk: o.status == OrderStatus.PAID  # the batch plans only paid orders
        for o in orders
        if o.status in ROUTABLE and o.requires_shipping and o.pk not in routed_before
    }
    needs: dict[int, list[Need]] = defaultdict(list)
    stocked: dict[int, set[int]] = defaultdict(set)
    presale = set()
    lines = (  # rows, not instances: a chunk reads hundreds
        OrderLine.objects.filter(order_id__any=routable.keys(), sku__isnull=False)
        .exclude(kind=LineKind.BUNDLE)  # OrderLine.is_stocked: a bundle ships its components
        .annotate(live=F("quantity") - F("cancelled_quantity"))
        .filter(live__gt=0)
        .order_by("order_id", "line_no")
        .values_list("pk", "order_id", "sku_id", "live", "presale")
    )
    for line_id, order_id, sku_id, live, is_presale in lines:
        stocked[order_id].add(sku_id)
        if routable[order_id]:
            needs[order_id].append(Need(line_id, sku_id, live, is_presale))
        if is_presale:
            presale.add(order_id)
    return {pk: lines for pk, lines in needs.items() if pk not in presale}, routed_before, stocked


def _merging(orders: list[Order], chunk: _Chunk) -> list[Order]:
    return [o for o in orders if o.customer_id and chunk.policy(o.channel_id).merge_open_orders]


def _lock_merge_targets(orders: list[Order], chunk: _Chunk) -> set[int]:
    """Lock the parcels waiting for merges of the customers whose orders may merge (ascending id,
    after the order rows and before any stock row, as route_order does); returns those
    customers' ids."""
    customers = {o.customer_id for o in _merging(orders, chunk)}
    if not customers:
        return set()
    waiting = (
        Shipment.objects.select_for_update(of=("self",))
        .filter(
            status=SS.CREATED,
            presale=False,
            routing__has_key=MERGE_UNTIL,
            order__customer_id__any=customers,
            order__status=OrderStatus.ALLOCATED,
        )
        .order_by("pk")
    )
    return set(waiting.values_list("order__customer_id", flat=True))


def _mergeable(orders: list[Order], chunk: _Chunk, waiting_to_merge: set[int]) -> set[int]:
    """Orders whose channel merges a customer's open orders and that have a partner: another of
    the customer's orders in this chunk, or a parcel waiting for merges. route_order takes those."""
    customers = defaultdict(list)
    for order in _merging(orders, chunk):
        customers[order.customer_id].append(order.pk)
    return {pk for c, group in customers.items() if c in waiting_to_merge or len(group) > 1 for pk in group}


@dataclass
class _Routed:
    """One order planned by the batch, written with its run."""

    order: Order
    explanation: dict
    shipments: list[Shipment]
    lines: list[ShipmentLine]
    move: reservations.RouteMove


def _plan_one(order, needs, stocks, chunk: _Chunk, now, first_key: int) -> _Routed | None:
    """Plan one order as route_order would; None (left to route_order) unless it ships whole
    from what it holds and what is free. Shipments get provisional ids (negative) until written."""
    policy = chunk.policy(order.channel_id)
    stock = stocks[order.pk]
    candidates, exclusions = build_candidates(order, policy, stock.by_warehouse(), set(), known=chunk.known)
    regular = plan(candidates, policy.strategies, needs, allow_split=policy.allow_split)
    if regular.short or not regular.parts:
        return None  # the hold, with its reason, is route_order's
    explanation = explain_choice(order, policy, regular, Plan(), [], exclusions, None)
    window = policy.merge_window_minutes if policy.merge_open_orders else 0
    explanation["why"] = " ".join([explanation["why"], *merge_sentences([], window)])
    shipments, lines, placements = [], [], []
    for index, (warehouse_id, part) in enumerate(regular.parts.items()):
        routing = {**explanation, "part": "regular"}
        if window:
            routing[MERGE_UNTIL] = (now + timedelta(minutes=window)).isoformat()
        shipment = build(
            Shipment,
            pk=first_key - index,
            number=f"{order.number}-{index + 1}",
            order=order,
            warehouse=chunk.known.warehouses[warehouse_id],
            presale=False,
            priority=order.priority,
            routing=routing,
            created_at=now,
            updated_at=now,
        )
        shipments.append(shipment)
        units: dict[Need, int] = defaultdict(int)
        for need, quantity in part:
            units[need] += quantity
        for need, quantity in units.items():
            lines.append(
                build(ShipmentLine, order_line_id=need.line_id, sku_id=need.sku_id, quantity=quantity)
            )
            lines[-1].shipment = shipment
            placements.append(
                reservations.Placement(need.line_id, need.sku_id, warehouse_id, quantity, shipment.pk)
            )
    codes = {w: chunk.known.warehouses[w].code for w in regular.parts}
    move = reservations.route_plan(
        stock=stock,
        order_id=order.pk,
        channel_id=order.channel_id,
        placements=placements,
        warehouse_codes=codes,
        free=stock.free,  # shared: the next orders see what this one takes
        reference=order.number,
        now=now,
    )
    return _Routed(order, explanation, shipments, lines, move)


def _write(routed: list[_Routed], now) -> int:
    """Write planned orders: shipments (those for warehouses that need nobody told written
    already released to them), their lines, reservations, allocations, the push of the others."""
    if not routed:
        return 0
    shipments = [s for r in routed for s in r.shipments]
    orders = {r.order.pk: r.order for r in routed}
    port = warehouses()
    released, reasons, pushed = _released_or_pushed(shipments, port)
    released_events = release_unwritten_shipments(released, orders, reasons, now=timezone.now())
    provisional = [s.pk for s in shipments]
    for shipment in shipments:
        shipment.pk = None
    insert_all(shipments)
    for shipment in released:  # written in this state: a later save (its carrier) expects it
        shipment._update_initial_state()
    real = dict(zip(provisional, (s.pk for s in shipments), strict=True))
    lines = []
    for r in routed:
        for line in r.lines:
            line.shipment_id = line.shipment.pk
            lines.append(line)
        r.move.links = {pk: real[key] for pk, key in r.move.links.items()}
        for row in r.move.new_rows:
            row.shipment_id = real[row.shipment_id]
    insert_all(lines, returning=False)
    reservations.route_write([r.move for r in routed], now=now)
    _allocate(routed, now, released_events)
    if released:
        port.shipments_released(released)
    if pushed:
        port.push_shipments(pushed, orders=orders)
    return len(shipments)


def _released_or_pushed(shipments: list[Shipment], port) -> tuple[list[Shipment], list[str], list[Shipment]]:
    """(shipments written already released, the reason of each, shipments pushed once written);
    a parcel waiting for its merge window is neither yet. Each warehouse is asked once."""
    released, reasons, pushed = [], [], []
    by_warehouse: dict[int, str | None] = {}
    for shipment in shipments:
        if MERGE_UNTIL in shipment.routing:
            continue
        if shipment.warehouse_id not in by_warehouse:
            by_warehouse[shipment.warehouse_id] = port.released_on_creation(shipment.warehouse)
        reason = by_warehouse[shipment.warehouse_id]
        if reason:
            released.append(shipment)
            reasons.append(reason)
        else:
            pushed.append(shipment)
    return released, reasons, pushed


def _allocate(routed: list[_Routed], now, released_events: list[OrderEvent]) -> None:
    """Each order's allocate transition (checked and applied one by one, saved in one statement)
    and its two timeline rows, as route_order writes them, then the released shipments' rows
    (route_order releases a shipment after allocating its order)."""
    events = []
    for r in routed:
        numbers = [s.number for s in r.shipments]
        moved = apply(r.order, "allocate", None)
        r.order.updated_at = now
        events.append(
            build(
                OrderEvent,
                order=r.order,
                kind=OrderEventKind.TRANSITION,
                from_status=moved.from_state,
                to_status=moved.to_state,
                reason=_("Routed: %(shipments)s") % {"shipments": ", ".join(numbers)},
                payload={"transition": "allocate", "routing": {"shipments": numbers}},
                created_at=now,
            )
        )
        events.append(
            build(
                OrderEvent,
                order=r.order,
                kind=OrderEventKind.ROUTED,
                reason=r.explanation["why"],
                payload={"routing": {**r.explanation, "shipments": numbers}},
                created_at=now,
            )
        )
    allocated = Order.objects.filter(pk__any=[r.order.pk for r in routed], status=OrderStatus.PAID).update(
        status=OrderStatus.ALLOCATED, updated_at=now
    )
    assert allocated == len(routed), "a locked order changed under routing"
    for r in routed:  # saved: a later save of the instance expects this state
        r.order._update_initial_state()
    insert_all(events + released_events, returning=False)
