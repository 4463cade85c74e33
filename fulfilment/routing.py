"""Routing (R-F1, R-F2): which warehouse ships which units of an order, and the shipments that
carry them.

The plan is computed first, from stock read under lock, by small pure functions (ranking,
single-warehouse choice, greedy split); only then is anything written, in one transaction:
shipments and their lines, the reservations moved to where they ship from (through the ledger),
the order's transition and a timeline row that explains the choice.

Lock order, as everywhere: order rows → shipment rows → reservation rows → balance rows.
"""

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core import geo
from core.alerts import alert_raise
from core.errors import TransitionRefused
from core.roles import Role
from core.transitions import require_perm, require_state
from fulfilment.models import (
    DEFAULT_STRATEGIES,
    IN_WAREHOUSE,
    RoutingPolicy,
    RoutingStrategy,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    ShippingRate,
)
from fulfilment.services import lock_shipment, run_shipment_transition, shipment_orders
from fulfilment.warehouse_port import warehouses
from inventory import reservations
from inventory.models import Warehouse, WarehouseKind
from orders.models import HOLDABLE, Order, OrderEventKind, OrderLine, OrderStatus
from orders.transitions import lock_order, record_order_event, run_order_transition

logger = logging.getLogger(__name__)

SS = ShipmentStatus
RS = RoutingStrategy
# Orders routing may add shipments to: paid ones, and routed ones with live units no shipment carries.
ROUTABLE = (OrderStatus.PAID, OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED)
WORST = float("inf")
MERGE_UNTIL = "merge_until"  # in Shipment.routing: the shipment waits for merges until then
REJECTED = "rejected"  # in Shipment.routing: the warehouse refused it; routing avoids it for the order


# --- the plan: pure functions over plain data ---------------------------------------------------


@dataclass(frozen=True)
class Need:
    """Units of one order line that no live shipment carries yet."""

    line_id: int
    sku_id: int
    quantity: int
    presale: bool = False


@dataclass
class Candidate:
    """A warehouse that could ship some of the order, with what each strategy looks at."""

    warehouse_id: int
    code: str
    kind: str = WarehouseKind.OWN
    stock: dict[int, int] = field(default_factory=dict)  # sku id → units the order can have here
    in_region: bool = False
    days: int | None = None
    distance_km: float | None = None
    cost: Decimal | None = None


@dataclass
class Plan:
    parts: dict[int, list[tuple[Need, int]]] = field(default_factory=dict)  # warehouse id → (need, units)
    short: dict[int, int] = field(default_factory=dict)  # sku id → units no allowed warehouse has
    mode: str = ""  # "single", "split" or "" (nothing planned)
    ranking: list[Candidate] = field(default_factory=list)  # the first ranking, for the explanation

    @property
    def warehouse_ids(self) -> list[int]:
        return list(self.parts)


def demand(needs: list[Need]) -> dict[int, int]:
    """{sku id: units} the needs ask for (two lines of one SKU add up)."""
    totals: dict[int, int] = defaultdict(int)
    for need in needs:
        totals[need.sku_id] += need.quantity
    return dict(totals)


def coverage(stock: dict[int, int], needs: list[Need]) -> int:
    """How many of the needed units this stock can give."""
    return sum(min(units, stock.get(sku_id, 0)) for sku_id, units in demand(needs).items())


def ships_whole(stock: dict[int, int], needs: list[Need]) -> bool:
    return all(stock.get(sku_id, 0) >= units for sku_id, units in demand(needs).items())


def strategy_key(strategy: str, candidate: Candidate, needs: list[Need]) -> tuple:
    """Smaller is better. Unknown figures (no rate, no coordinates) rank last."""
    if strategy == RS.AVAILABILITY:
        return (-coverage(candidate.stock, needs),)
    if strategy == RS.DELIVERY_TIME:
        days = candidate.days if candidate.days is not None else WORST
        distance = candidate.distance_km if candidate.distance_km is not None else WORST
        return (not candidate.in_region, days, distance)
    if strategy == RS.COST:
        return (candidate.cost if candidate.cost is not None else Decimal("Infinity"),)
    if strategy == RS.NEAREST_STORE:
        distance = candidate.distance_km if candidate.distance_km is not None else WORST
        return (candidate.kind != WarehouseKind.STORE, distance)
    raise ValueError(f"unknown routing strategy {strategy!r}")


def rank_key(candidate: Candidate, strategies: list[str], needs: list[Need]) -> tuple:
    # The warehouse code last: equal candidates always come out in the same order.
    return (*(strategy_key(s, candidate, needs) for s in strategies), candidate.code)


def rank(candidates: list[Candidate], strategies: list[str], needs: list[Need]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: rank_key(c, strategies, needs))


def deciding_strategy(winner: Candidate, runner_up: Candidate, strategies: list[str], needs) -> str:
    """The first strategy on which the winner beat the runner-up ("" when only the code did)."""
    for strategy in strategies:
        if strategy_key(strategy, winner, needs) != strategy_key(strategy, runner_up, needs):
            return strategy
    return ""


def plan(candidates: list[Candidate], strategies: list[str], needs: list[Need], *, allow_split: bool) -> Plan:
    """One warehouse when one can ship everything (the best ranked); otherwise, if allowed, a
    greedy split: the best warehouse for what is left covers all it can, then the next."""
    needs = [n for n in needs if n.quantity > 0]
    ranking = rank(candidates, strategies, needs)
    result = Plan(ranking=ranking)
    if not needs:
        return result
    whole = [c for c in ranking if ships_whole(c.stock, needs)]
    if whole:
        result.parts[whole[0].warehouse_id] = [(n, n.quantity) for n in needs]
        result.mode = "single"
        return result
    if not allow_split:
        best = max(ranking, key=lambda c: coverage(c.stock, needs), default=None)
        stock = best.stock if best else {}
        result.short = {s: u - stock.get(s, 0) for s, u in demand(needs).items() if stock.get(s, 0) < u}
        return result
    return _split(result, candidates, strategies, needs)


def _split(result: Plan, candidates, strategies, needs: list[Need]) -> Plan:
    left = {n: n.quantity for n in needs}
    stock = {c.warehouse_id: dict(c.stock) for c in candidates}
    pool = list(candidates)
    while any(left.values()) and pool:
        remaining = [Need(n.line_id, n.sku_id, q, n.presale) for n, q in left.items() if q]
        views = [Candidate(**{**c.__dict__, "stock": stock[c.warehouse_id]}) for c in pool]
        best = next((c for c in rank(views, strategies, remaining) if coverage(c.stock, remaining)), None)
        if best is None:
            break
        pool = [c for c in pool if c.warehouse_id != best.warehouse_id]
        part = []
        for need in needs:
            take = min(left[need], stock[best.warehouse_id].get(need.sku_id, 0))
            if take > 0:
                left[need] -= take
                stock[best.warehouse_id][need.sku_id] -= take
                part.append((need, take))
        result.parts[best.warehouse_id] = part
    missing = defaultdict(int)
    for need, units in left.items():
        if units:
            missing[need.sku_id] += units
    if missing:
        return Plan(short=dict(missing), ranking=result.ranking)
    result.mode = "single" if len(result.parts) == 1 else "split"
    return result


def plan_presale(
    candidates: list[Candidate], strategies: list[str], needs: list[Need], *, allow_split: bool
) -> tuple[Plan, list[Need]]:
    """Pre-sale lines ship on their own. Each line joins the pre-sale plan if the plan still
    works with it; the others wait for stock. Returns (plan, waiting needs)."""
    accepted: list[Need] = []
    waiting: list[Need] = []
    best = Plan()
    for need in needs:
        attempt = plan(candidates, strategies, [*accepted, need], allow_split=allow_split)
        if attempt.parts and not attempt.short:
            accepted.append(need)
            best = attempt
        else:
            waiting.append(need)
    return best, waiting


def without(candidates: list[Candidate], taken: Plan) -> list[Candidate]:
    """The candidates with the units a plan takes deducted."""
    used: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for warehouse_id, part in taken.parts.items():
        for need, units in part:
            used[warehouse_id][need.sku_id] += units
    return [
        Candidate(
            **{
                **c.__dict__,
                "stock": {s: u - used[c.warehouse_id].get(s, 0) for s, u in c.stock.items()},
            }
        )
        for c in candidates
    ]


# --- reading the order, the policy and the warehouses ---------------------------------------------


def policy_for(channel_id: int) -> RoutingPolicy:
    """The channel's policy, else the default one, else built-in defaults (never saved)."""
    policy = RoutingPolicy.objects.filter(Q(channel_id=channel_id) | Q(channel__isnull=True)).order_by(
        F("channel_id").asc(nulls_last=True)
    ).first() or RoutingPolicy(name=_("Built-in defaults"), strategies=list(DEFAULT_STRATEGIES))
    known = [s for s in policy.strategies or [] if s in RS.values]
    policy.strategies = list(dict.fromkeys(known)) or list(DEFAULT_STRATEGIES)
    return policy


def carried_quantities(order: Order) -> dict[int, int]:
    """{order line id: units its live (not cancelled) shipments carry}."""
    carried: dict[int, int] = defaultdict(int)
    for line_id, quantity in (
        ShipmentLine.objects.filter(order_line__order=order)
        .exclude(shipment__status=SS.CANCELLED)
        .values_list("order_line_id", "quantity")
    ):
        carried[line_id] += quantity
    return carried


def unrouted_needs(order: Order) -> list[Need]:
    carried = carried_quantities(order)
    return [
        Need(line.pk, line.sku_id, line.live_quantity - carried.get(line.pk, 0), line.presale)
        for line in order.lines.order_by("line_no")
        if line.live_quantity > carried.get(line.pk, 0)
    ]


def destination(order: Order) -> tuple[geo.Point | None, str]:
    """Where the parcel goes: the platform's coordinates, else the city's or province's point."""
    given = geo.point(order.ship_latitude, order.ship_longitude)
    if given:
        return given, "order"
    if geo.centroid(city=order.ship_city):
        return geo.centroid(city=order.ship_city), "city"
    found = geo.centroid(province=order.ship_province)
    return found, "province" if found else ""


def warehouse_point(warehouse: Warehouse) -> geo.Point | None:
    return geo.point(warehouse.latitude, warehouse.longitude) or geo.centroid(
        province=warehouse.province, city=warehouse.city
    )


def _rates(warehouse_ids, province: str) -> dict[int, ShippingRate]:
    """Each warehouse's rate to the province, else its default rate."""
    wanted = geo.canonical_region(province)
    chosen: dict[int, ShippingRate] = {}
    for rate in ShippingRate.objects.filter(warehouse_id__in=warehouse_ids):
        if rate.province and geo.canonical_region(rate.province) == wanted:
            chosen[rate.warehouse_id] = rate
        elif not rate.province:
            chosen.setdefault(rate.warehouse_id, rate)
    return chosen


def build_candidates(
    order: Order, policy: RoutingPolicy, stock: dict[int, dict[int, int]], excluded: set[int]
) -> tuple[list[Candidate], list[dict]]:
    """Candidates with their facts, and the warehouses left out with why."""
    where, _source = destination(order)
    warehouses = Warehouse.objects.filter(pk__in=list(stock), is_active=True).order_by("code")
    rates = _rates(list(stock), order.ship_province)
    fence = policy.store_geofence_km
    candidates, exclusions = [], []
    for warehouse in warehouses:
        if not any(stock[warehouse.pk].values()):
            continue
        point = warehouse_point(warehouse)
        distance = geo.haversine_km(where, point) if where and point else None
        if warehouse.pk in excluded:
            exclusions.append({"warehouse": warehouse.code, "why": "rejected"})
            continue
        if warehouse.kind == WarehouseKind.STORE and fence is None:
            exclusions.append({"warehouse": warehouse.code, "why": "store_without_geofence"})
            continue
        if warehouse.kind == WarehouseKind.STORE and (distance is None or distance > float(fence)):
            exclusions.append({"warehouse": warehouse.code, "why": "store_outside_geofence"})
            continue
        rate = rates.get(warehouse.pk)
        candidates.append(
            Candidate(
                warehouse_id=warehouse.pk,
                code=warehouse.code,
                kind=warehouse.kind,
                stock=stock[warehouse.pk],
                in_region=any(
                    geo.same_region(region, order.ship_province) or geo.same_region(region, order.ship_city)
                    for region in warehouse.service_regions or []
                ),
                days=rate.days if rate else None,
                distance_km=round(distance, 1) if distance is not None else None,
                cost=rate.cost if rate else None,
            )
        )
    return candidates, exclusions


def rejected_warehouses(order: Order) -> set[int]:
    """Warehouses that refused one of this order's shipments: routing does not try them again."""
    return set(
        Shipment.objects.filter(
            lines__order_line__order=order, status=SS.CANCELLED, routing__has_key=REJECTED
        )
        .values_list("warehouse_id", flat=True)
        .distinct()
    )


_ADDRESS_NOISE = re.compile(r"[\s,，.。#\-—_/\\()（）]+")


def address_key(order: Order) -> str:
    """The shipping address in a comparable form (spacing, punctuation and case do not count)."""
    parts = [
        order.ship_country,
        geo.canonical_region(order.ship_province),
        geo.canonical_region(order.ship_city),
        order.ship_district,
        order.ship_line1,
        order.ship_line2,
    ]
    return "|".join(_ADDRESS_NOISE.sub("", (part or "").lower()) for part in parts)


# --- the service ------------------------------------------------------------------------------


def route_order(
    *,
    order: Order | int,
    actor=None,
    reason: str = "",
    exclude_warehouse_ids=(),
    fallback: dict | None = None,
    expected_status: str | None = None,
) -> list[Shipment]:
    """Route the order's live units that no shipment carries yet; returns the shipments that now
    carry them (new or merged into). Short of stock (or of one warehouse, when splitting is off),
    the order is held with the reason and nothing else is written. Pre-sale lines without stock
    wait (a beat job tries again). `fallback` describes a rejected shipment being replaced."""
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.route_order")
        require_state(order, expected_status)
        needs = unrouted_needs(order)
        _require_routable(order, needs)
        policy = policy_for(order.channel_id)
        merge_targets = _lock_merge_targets(order, policy)
        stock = reservations.routable_stock(
            order_id=order.pk, channel_id=order.channel_id, sku_ids={n.sku_id for n in needs}
        )
        excluded = set(exclude_warehouse_ids) | rejected_warehouses(order)
        candidates, exclusions = build_candidates(order, policy, stock.by_warehouse(), excluded)
        regular = plan(
            candidates, policy.strategies, [n for n in needs if not n.presale], allow_split=policy.allow_split
        )
        if regular.short:
            _hold_unroutable(order, regular, policy, fallback)
            return []
        presale, waiting = plan_presale(
            without(candidates, regular),
            policy.strategies,
            [n for n in needs if n.presale],
            allow_split=policy.allow_split,
        )
        if not regular.parts and not presale.parts:
            if fallback:  # the rejected units were pre-sale ones with nowhere else to go: they wait
                record_order_event(
                    order,
                    OrderEventKind.ROUTED,
                    actor,
                    reason=_fallback_sentence(fallback),
                    payload={"routing": {"fallback": fallback}},
                )
            return []
        explanation = _explain(order, policy, regular, presale, waiting, exclusions, fallback)
        return _write(order, actor, reason, policy, stock, regular, presale, merge_targets, explanation)


def _require_routable(order: Order, needs: list[Need]) -> None:
    if order.status not in ROUTABLE:
        raise TransitionRefused(
            _("Order %(number)s cannot be routed while %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )
    if not needs:
        raise TransitionRefused(
            _("Order %(number)s has nothing left to route: its shipments carry every live unit.")
            % {"number": order.number}
        )


def _lock_merge_targets(order: Order, policy: RoutingPolicy) -> dict[int, Shipment]:
    """{warehouse id: shipment} the customer's other open orders to the same address have waiting
    for merges (created, not yet sent), locked before any reservation row."""
    if not (policy.merge_open_orders and order.customer_id):
        return {}
    open_shipments = (
        Shipment.objects.filter(
            status=SS.CREATED,
            presale=False,
            routing__has_key=MERGE_UNTIL,
            order__customer_id=order.customer_id,
            order__status__in=[OrderStatus.ALLOCATED],
        )
        .exclude(order=order)
        .select_related("order")
    )
    key = address_key(order)
    ids = [s.pk for s in open_shipments if address_key(s.order) == key]
    targets: dict[int, Shipment] = {}
    for shipment in Shipment.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"):
        if shipment.status == SS.CREATED and MERGE_UNTIL in shipment.routing:
            targets.setdefault(shipment.warehouse_id, shipment)
    return targets


def _write(
    order, actor, reason, policy, stock, regular, presale, merge_targets, explanation
) -> list[Shipment]:
    now = timezone.now()
    codes = dict(Warehouse.objects.filter(pk__in=[*regular.parts, *presale.parts]).values_list("pk", "code"))
    window = policy.merge_window_minutes if policy.merge_open_orders else 0
    merging = {w: merge_targets[w] for w in regular.parts if w in merge_targets}
    explanation["why"] = " ".join(
        [
            explanation["why"],
            *_merge_sentences(merging.values(), window if len(merging) < len(regular.parts) else 0),
        ]
    )
    placements, created, merged = [], [], []
    for part_plan, is_presale in ((regular, False), (presale, True)):
        for warehouse_id, part in part_plan.parts.items():
            target = None if is_presale else merging.get(warehouse_id)
            if target is None:
                shipment = _new_shipment(order, warehouse_id, is_presale, explanation, window, now)
                created.append(shipment)
            else:
                shipment = _merge_into(target, order, explanation)
                merged.append(shipment)
            units: dict[Need, int] = defaultdict(int)
            for need, quantity in part:
                units[need] += quantity
            ShipmentLine.objects.bulk_create(
                ShipmentLine(shipment=shipment, order_line_id=n.line_id, sku_id=n.sku_id, quantity=q)
                for n, q in units.items()
            )
            placements.extend(
                reservations.Placement(n.line_id, n.sku_id, warehouse_id, q, shipment.pk)
                for n, q in units.items()
            )
    reservations.reservations_route(
        stock=stock,
        order_id=order.pk,
        channel_id=order.channel_id,
        placements=placements,
        warehouse_codes=codes,
        reference=order.number,
        actor=actor,
        now=now,
    )
    sentence = explanation["why"]
    numbers = [s.number for s in (*created, *merged)]
    if order.status == OrderStatus.PAID:
        default = _("Routed: %(shipments)s") % {"shipments": ", ".join(numbers)}
        run_order_transition(
            order, "allocate", actor, reason=reason or default, payload={"routing": {"shipments": numbers}}
        )
    record_order_event(
        order,
        OrderEventKind.ROUTED,
        actor,
        reason=sentence,
        payload={"routing": {**explanation, "shipments": numbers}},
    )
    _push(order, created)
    return [*created, *merged]


def _merge_sentences(targets, window: int) -> list[str]:
    sentences = [
        _("Merged into shipment %(shipment)s with the customer's order %(order)s to the same address.")
        % {"shipment": target.number, "order": target.order.number}
        for target in targets
    ]
    if window:
        sentences.append(
            _("The new parcel waits %(minutes)s minutes for the customer's next order before it goes out.")
            % {"minutes": window}
        )
    return sentences


def _new_shipment(order, warehouse_id, is_presale, explanation, window, now) -> Shipment:
    routing = {**explanation, "part": "presale" if is_presale else "regular"}
    if window and not is_presale:  # pre-sale parcels have nothing to wait for
        routing[MERGE_UNTIL] = (now + timedelta(minutes=window)).isoformat()
    return Shipment.objects.create(
        number=f"{order.number}-{Shipment.objects.filter(order=order).count() + 1}",
        order=order,
        warehouse_id=warehouse_id,
        presale=is_presale,
        priority=order.priority,
        routing=routing,
    )


def _merge_into(shipment: Shipment, order: Order, explanation: dict) -> Shipment:
    merged = [*shipment.routing.get("merged", []), {"order": order.number, "why": explanation["why"]}]
    shipment.routing = {**shipment.routing, "merged": merged}
    Shipment.objects.filter(pk=shipment.pk).update(routing=shipment.routing, updated_at=timezone.now())
    return shipment


def _push(order: Order, shipments: list[Shipment]) -> None:
    """Hand new shipments to their warehouses, except those waiting for merges."""
    for shipment in shipments:
        if MERGE_UNTIL not in shipment.routing:
            warehouses().push_shipment(shipment, orders=[order])


def _hold_unroutable(order: Order, regular: Plan, policy: RoutingPolicy, fallback: dict | None) -> None:
    """No allowed warehouse (or set of them) has the stock: hold the order with the reason, or,
    when it can no longer be held (part of it left already), tell the managers."""
    from orders import stock as order_stock

    codes = order_stock.sku_codes(sorted(regular.short))
    if policy.allow_split:
        why = order_stock.shortage_reason(codes)
    else:
        why = _("Out of stock in any single warehouse, and this channel does not split orders: %(skus)s") % {
            "skus": ", ".join(codes)
        }
    if fallback:
        why = f"{_fallback_sentence(fallback)} {why}"
    # Nested: the timeline reads top-level two-item lists as "old → new" changes.
    payload = {
        "routing": {"short": codes, "strategies": policy.strategies, "allow_split": policy.allow_split}
    }
    if fallback:
        payload["routing"]["fallback"] = fallback
    if order.status in HOLDABLE:
        run_order_transition(order, "hold", None, reason=why, args={"reason": why[:255]}, payload=payload)
        shipments_cancel(order=order, reason=why)
        return
    record_order_event(order, OrderEventKind.ROUTED, None, reason=why, payload=payload)
    alert_raise(
        kind="routing_short",
        key=f"routing_short:{order.pk}",
        role=Role.MANAGER,
        message=_("Order %(number)s: %(why)s") % {"number": order.number, "why": why},
        payload={"order": order.number, **payload},
    )


# --- the explanation ------------------------------------------------------------------------


def _explain(order, policy, regular: Plan, presale: Plan, waiting: list[Need], exclusions, fallback) -> dict:
    where, source = destination(order)
    codes = {c.warehouse_id: c.code for c in regular.ranking + presale.ranking}
    explanation = {
        "policy": policy.name if policy.pk else "",
        "strategies": list(policy.strategies),
        "allow_split": policy.allow_split,
        "destination": {
            "province": order.ship_province,
            "city": order.ship_city,
            "point": list(where) if where else None,
            "point_from": source,
        },
        "candidates": [
            {"rank": index, **_candidate_facts(c, regular)}
            for index, c in enumerate(regular.ranking or presale.ranking, start=1)
        ],
        "excluded": exclusions,
        "mode": regular.mode or ("presale" if presale.parts else ""),
        "chosen": [codes[w] for w in regular.parts],
        "presale": [codes[w] for w in presale.parts],
        "waiting": [{"line": n.line_id, "quantity": n.quantity} for n in waiting],
    }
    if fallback:
        explanation["fallback"] = fallback
    explanation["why"] = _sentence(regular, presale, waiting, policy, codes, fallback)
    return explanation


def _candidate_facts(candidate: Candidate, regular: Plan) -> dict:
    needs = [n for part in regular.parts.values() for n, _q in part]
    return {
        "warehouse": candidate.code,
        "kind": candidate.kind,
        "covers": coverage(candidate.stock, needs) if needs else None,
        "whole": ships_whole(candidate.stock, needs) if needs else None,
        "in_region": candidate.in_region,
        "days": candidate.days,
        "distance_km": candidate.distance_km,
        "cost": str(candidate.cost) if candidate.cost is not None else None,
    }


def _sentence(regular: Plan, presale: Plan, waiting, policy, codes, fallback) -> str:
    parts = [_fallback_sentence(fallback)] if fallback else []
    chosen = [codes[w] for w in regular.parts]
    if regular.mode == "single":
        parts.append(_single_sentence(regular, policy, chosen[0]))
    elif regular.mode == "split":
        parts.append(
            _("Split across %(warehouses)s: no single warehouse holds the whole order.")
            % {"warehouses": ", ".join(chosen)}
        )
    if presale.parts:
        parts.append(
            _("Pre-sale lines ship on their own from %(warehouses)s.")
            % {"warehouses": ", ".join(codes[w] for w in presale.parts)}
        )
    if waiting:
        parts.append(_("%(n)s pre-sale units wait for stock.") % {"n": sum(n.quantity for n in waiting)})
    return " ".join(parts)


def _single_sentence(regular: Plan, policy: RoutingPolicy, chosen: str) -> str:
    needs = [n for part in regular.parts.values() for n, _q in part]
    whole = [c for c in regular.ranking if ships_whole(c.stock, needs)]
    if len(whole) < 2:
        return _("Ships from %(warehouse)s, the only warehouse that holds the whole order.") % {
            "warehouse": chosen
        }
    strategy = deciding_strategy(whole[0], whole[1], policy.strategies, needs)
    criterion = str(RS(strategy).label) if strategy else _("warehouse code (a tie on every strategy)")
    return _(
        "Ships from %(warehouse)s: it holds the whole order and comes before %(runner_up)s on %(criterion)s."
    ) % {"warehouse": chosen, "runner_up": whole[1].code, "criterion": criterion}


def _fallback_sentence(fallback: dict) -> str:
    return _("%(warehouse)s rejected shipment %(shipment)s (%(reason)s).") % {
        "warehouse": fallback.get("warehouse", ""),
        "shipment": fallback.get("shipment", ""),
        "reason": fallback.get("reason", ""),
    }


# --- cancellation, holds, rejections ------------------------------------------------------------


def shipments_cancel(*, order: Order, reason: str, line_ids=None, reroute: bool = False) -> list[Shipment]:
    """Cancel the (locked) order's shipments still in the warehouse (those carrying `line_ids`
    only, when given): the warehouse is told, their held units stay with their orders, unlinked.
    The order's remaining live units are routed again when `reroute`; other orders the shipments
    carried (merged parcels) are routed again after commit."""
    affected = Shipment.objects.filter(lines__order_line__order=order, status__in=IN_WAREHOUSE)
    if line_ids is not None:
        affected = affected.filter(lines__order_line_id__in=line_ids)
    cancelled, others = [], set()
    for shipment_id in sorted(set(affected.values_list("pk", flat=True))):
        shipment = _cancel_one(order, shipment_id, reason)
        if shipment is not None:
            cancelled.append(shipment)
            others.update(pk for pk in shipment_orders(shipment) if pk != order.pk)
    if others:
        route_on_commit(*others)
    if cancelled and reroute and order.status in ROUTABLE and unrouted_needs(order):
        route_order(order=order, reason=reason)
    return cancelled


def _cancel_one(order: Order, shipment_id: int, reason: str) -> Shipment | None:
    unlocked = Shipment.objects.get(pk=shipment_id)
    # The caller holds `order`. Only a merged parcel has other orders; they are locked after it
    # (ascending among themselves): the one departure from the global order, for a rare case.
    others = list(
        Order.objects.select_for_update(of=("self",))
        .filter(pk__in=shipment_orders(unlocked))
        .exclude(pk=order.pk)
        .order_by("pk")
    )
    shipment = Shipment.objects.select_for_update(of=("self",)).get(pk=shipment_id)
    if shipment.status not in IN_WAREHOUSE:
        return None
    waiting_for_merges = MERGE_UNTIL in shipment.routing  # never sent: nobody to tell
    run_shipment_transition(
        shipment,
        sorted([order, *others], key=lambda o: o.pk),
        "cancel",
        None,
        reason=reason,
        args={"problem": reason[:255]},
    )
    reservations.reservations_unlink_shipment(shipment_id=shipment.pk)
    if not waiting_for_merges:
        warehouses().cancel_shipment(shipment)
    return shipment


def reroute_rejected(*, shipment: Shipment | int, reason: str) -> list[Shipment]:
    """The warehouse refused the shipment: cancel it with the reason and route its units again,
    avoiding that warehouse; the order is held when no other warehouse has the stock."""
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment)
        if shipment.status == SS.CANCELLED:
            return []  # a repeated callback: handled already
        fallback = {
            "shipment": shipment.number,
            "warehouse": shipment.warehouse.code,
            "reason": reason[:255],
            "at": timezone.now().isoformat(),
        }
        shipment.routing = {**shipment.routing, REJECTED: fallback}
        run_shipment_transition(
            shipment, orders, "cancel", None, reason=reason, args={"problem": reason[:255]}, payload=fallback
        )
        reservations.reservations_unlink_shipment(shipment_id=shipment.pk)
        routed: list[Shipment] = []
        for order in orders:
            if order.status in ROUTABLE and unrouted_needs(order):
                routed.extend(
                    route_order(
                        order=order,
                        reason=_fallback_sentence(fallback),
                        exclude_warehouse_ids={shipment.warehouse_id},
                        fallback=fallback,
                    )
                )
        return routed


def reroute_order(
    *, order: Order | int, actor=None, reason: str = "", expected_status: str | None = None
) -> list[Shipment]:
    """Route the order again from scratch (a warehouse closed, the policy changed): its shipments
    still in the warehouse are cancelled and everything they carried is routed anew."""
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.route_order")
        require_state(order, expected_status)
        if order.status not in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED):
            raise TransitionRefused(
                _("Order %(number)s cannot be re-routed while %(status)s.")
                % {"number": order.number, "status": order.get_status_display()}
            )
        shipments_cancel(order=order, reason=reason or _("Re-routed"))
        return route_order(order=order, actor=actor, reason=reason)


# --- scheduling ---------------------------------------------------------------------------------


def route_on_commit(*order_ids: int) -> None:
    """Route these orders once the current transaction commits (as the system)."""
    from fulfilment.tasks import route_order_task

    for order_id in sorted(set(order_ids)):
        transaction.on_commit(partial(route_order_task.delay, order_id))


def route_quietly(order_id: int) -> list[Shipment]:
    """The system's routing attempt: an order that moved on meanwhile is not an error."""
    try:
        return route_order(order=order_id)
    except TransitionRefused as exc:
        logger.info("order %s not routed: %s", order_id, exc.message)
    except Order.DoesNotExist:
        logger.warning("order %s to route does not exist", order_id)
    return []


def paid_orders_waiting(
    *, now=None, paid_for: timedelta = timedelta(minutes=2), limit: int = 500
) -> list[int]:
    """Paid orders the on-commit routing missed (paid a while ago, no live shipment), oldest first.
    Orders with only pre-sale units left are presale_waiting's: they would wait here for stock and
    crowd out the orders this job is for."""
    now = now or timezone.now()
    carried = ShipmentLine.objects.filter(order_line__order=OuterRef("pk")).exclude(
        shipment__status=SS.CANCELLED
    )
    in_stock_line = OrderLine.objects.filter(
        order=OuterRef("pk"), presale=False, quantity__gt=F("cancelled_quantity")
    )
    return list(
        Order.objects.filter(status=OrderStatus.PAID, paid_at__lte=now - paid_for)
        .filter(Exists(in_stock_line))
        .exclude(Exists(carried))
        .order_by("paid_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def presale_waiting(*, limit: int = 500) -> list[int]:
    """Orders with live pre-sale units no shipment carries (two aggregate queries): routed ones,
    and paid ones that had nothing but pre-sale units to route."""
    lines = OrderLine.objects.filter(
        presale=True, quantity__gt=F("cancelled_quantity"), order__status__in=ROUTABLE
    )
    live = dict(
        lines.values("order_id")
        .annotate(n=Sum(F("quantity") - F("cancelled_quantity")))
        .values_list("order_id", "n")
    )
    carried = dict(
        ShipmentLine.objects.filter(order_line__in=lines)
        .exclude(shipment__status=SS.CANCELLED)
        .values("order_line__order_id")
        .annotate(n=Sum("quantity"))
        .values_list("order_line__order_id", "n")
    )
    return sorted(pk for pk, units in live.items() if units > carried.get(pk, 0))[:limit]


def shipments_release_merge_window(*, now=None) -> int:
    """Send the shipments whose merge window has passed to their warehouses."""
    now = now or timezone.now()
    sent = 0
    for shipment_id, routing in Shipment.objects.filter(
        status=SS.CREATED, routing__has_key=MERGE_UNTIL
    ).values_list("pk", "routing"):
        if datetime.fromisoformat(routing[MERGE_UNTIL]) > now:
            continue
        with transaction.atomic():
            shipment, orders = lock_shipment(shipment_id)
            if shipment.status != SS.CREATED or MERGE_UNTIL not in shipment.routing:
                continue  # sent or cancelled by someone else meanwhile
            routing = dict(shipment.routing)
            routing["merge_window_closed_at"] = routing.pop(MERGE_UNTIL)
            shipment.routing = routing
            Shipment.objects.filter(pk=shipment.pk).update(routing=routing, updated_at=now)
            warehouses().push_shipment(shipment, orders=orders)
            sent += 1
    return sent


# --- reads for the desk and the API -------------------------------------------------------------


def order_shipments(order: Order) -> list[Shipment]:
    """The shipments carrying the order's lines (merged parcels included), oldest first, each
    with `order_lines` (only this order's lines in it) and `why` (why it carries this order)."""
    shipments = list(
        Shipment.objects.filter(Q(order=order) | Q(lines__order_line__order=order))
        .distinct()
        .select_related("warehouse", "carrier", "order")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=ShipmentLine.objects.filter(order_line__order=order).select_related(
                    "sku", "order_line"
                ),
                to_attr="order_lines",
            )
        )
        .order_by("pk")
    )
    for shipment in shipments:
        merged = [m["why"] for m in shipment.routing.get("merged", []) if m.get("order") == order.number]
        shipment.why = shipment.routing.get("why", "") if shipment.order_id == order.pk else " ".join(merged)
    return shipments
