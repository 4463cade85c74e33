"""What routing reads before it plans: the channel's policy, what an order still needs, the
candidate warehouses with their stock, distance and rates, warehouses that refused the order, and
the address key that decides which orders may merge."""

import logging
import re
from collections import defaultdict

from django.db.models import F, Q
from django.utils.translation import gettext as _

from core import geo
from fulfilment.models import (
    DEFAULT_STRATEGIES,
    RoutingPolicy,
    Shipment,
    ShipmentLine,
    ShippingRate,
)
from fulfilment.routing.planner import REJECTED, RS, SS, Candidate, Need
from inventory.models import Warehouse, WarehouseKind
from orders.models import Order

logger = logging.getLogger(__name__)


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
        if line.is_stocked and line.live_quantity > carried.get(line.pk, 0)  # a bundle ships its components
    ]


def destination(order: Order) -> tuple[geo.Point | None, str]:
    """Where the parcel goes: the order's coordinates, else the centre of its district, city or
    province. Coordinates that intake took from the district's centre say "district"."""
    where, level = geo.place(
        country=order.ship_country,
        province=order.ship_province,
        city=order.ship_city,
        district=order.ship_district,
        line1=order.ship_line1,
    )
    given = geo.point(order.ship_latitude, order.ship_longitude)
    if given:
        return given, level if level == "district" and geo.same_point(given, where) else "order"
    return where, level


def warehouse_point(warehouse: Warehouse) -> geo.Point | None:
    return (
        geo.point(warehouse.latitude, warehouse.longitude)
        or geo.place(
            country=warehouse.country,
            province=warehouse.province,
            city=warehouse.city,
            district=warehouse.district,
            line1=warehouse.address_line,
        )[0]
    )


def _rates(warehouse_ids, province: str) -> dict[int, ShippingRate]:
    """Each warehouse's rate to the province, else its default rate."""
    return _rates_among(ShippingRate.objects.filter(warehouse_id__in=warehouse_ids), province)


def _rates_among(rates, province: str) -> dict[int, ShippingRate]:
    wanted = geo.canonical_region(province)
    chosen: dict[int, ShippingRate] = {}
    for rate in rates:
        if rate.province and geo.canonical_region(rate.province) == wanted:
            chosen[rate.warehouse_id] = rate
        elif not rate.province:
            chosen.setdefault(rate.warehouse_id, rate)
    return chosen


class KnownWarehouses:
    """The active warehouses and their shipping rates, read once for a batch of orders."""

    def __init__(self):
        self.warehouses = {w.pk: w for w in Warehouse.objects.filter(is_active=True)}
        self._rates = list(ShippingRate.objects.filter(warehouse_id__in=list(self.warehouses)))
        self._by_province: dict[str, dict[int, ShippingRate]] = {}

    def rates_to(self, province: str) -> dict[int, ShippingRate]:
        if province not in self._by_province:
            self._by_province[province] = _rates_among(self._rates, province)
        return self._by_province[province]


def build_candidates(
    order: Order,
    policy: RoutingPolicy,
    stock: dict[int, dict[int, int]],
    excluded: set[int],
    *,
    known: "KnownWarehouses | None" = None,
) -> tuple[list[Candidate], list[dict]]:
    """Candidates with their facts, and the warehouses left out with why. `known`: the
    warehouses and rates a batch read once for all its orders."""
    where, _source = destination(order)
    if known is None:
        warehouses = Warehouse.objects.filter(pk__in=list(stock), is_active=True).order_by("code")
        rates = _rates(list(stock), order.ship_province)
    else:
        warehouses = sorted(
            (known.warehouses[pk] for pk in stock if pk in known.warehouses), key=lambda w: w.code
        )
        rates = known.rates_to(order.ship_province)
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
