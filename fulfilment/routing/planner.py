"""The routing plan: small pure functions over plain data (needs, candidate warehouses,
strategies) that rank warehouses, choose one or split greedily, and plan pre-sale parcels. Nothing
here reads or writes the database."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from fulfilment.models import (
    RoutingStrategy,
    ShipmentStatus,
)
from inventory.models import WarehouseKind
from orders.models import OrderStatus

logger = logging.getLogger(__name__)

SS = ShipmentStatus
RS = RoutingStrategy
# Orders routing may add shipments to: paid ones, and routed ones with live units no shipment carries.
ROUTABLE = (OrderStatus.PAID, OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED)
WORST = float("inf")
MERGE_UNTIL = "merge_until"  # in Shipment.routing: the shipment waits for merges until then
REJECTED = "rejected"  # in Shipment.routing: the warehouse refused it; routing avoids it for the order


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
