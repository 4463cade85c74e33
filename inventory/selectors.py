"""Stock reads: positions, availability that ignores overdue reservations, channel quantities."""

from collections import defaultdict

from django.db.models import Case, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.timezones import business_date
from inventory.bundles import bundle_components, bundle_sellable
from inventory.models import PoolKind, Reservation, ReservationState, SafetyStock, StockBalance
from inventory.reservations import channel_pool_ids


def balances_with_available(now=None) -> QuerySet[StockBalance]:
    """Balances annotated with `available`: on_hand − reserved − qc_hold, plus what unpaid
    reservations past their deadline still hold — they no longer count, even before the sweep.
    Units in transit between warehouses (the in-transit pool) are available nowhere."""
    now = now or timezone.now()
    overdue = (
        Reservation.objects.filter(
            balance_id=OuterRef("pk"), state=ReservationState.ACTIVE, expires_at__lte=now
        )
        .values("balance_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return StockBalance.objects.annotate(
        overdue=Coalesce(Subquery(overdue, output_field=IntegerField()), Value(0)),
        effective_available=Case(
            When(pool__kind=PoolKind.IN_TRANSIT, then=Value(0)),
            default=F("on_hand") - F("reserved") - F("qc_hold") + F("overdue"),
            output_field=IntegerField(),
        ),
    )


def stock_positions(sku_ids, now=None) -> QuerySet[StockBalance]:
    return (
        balances_with_available(now)
        .filter(sku_id__in=sku_ids)
        .select_related("sku", "warehouse", "pool", "lot")
        .order_by("sku__code", "warehouse__code", "pool__code", "lot__expires_on")
    )


def channel_sellable(sku_ids, channel_ids, now=None) -> dict[int, dict[int, int]]:
    """{channel id: {sku id: quantity the channel may sell}} — what it may draw from its pools in
    active warehouses (expired lots excluded), less its safety stock, never below zero (R-I5).
    A bundle's quantity is what its components' quantities make up (inventory.bundles), less the
    bundle's own safety stock."""
    sku_ids = list(dict.fromkeys(sku_ids))
    recipes = bundle_components(sku_ids)
    stocked = list(
        dict.fromkeys(
            [s for s in sku_ids if s not in recipes] + [c.sku_id for r in recipes.values() for c in r]
        )
    )
    sellable = _stocked_sellable(stocked, channel_ids, now)
    if not recipes:
        return sellable
    safety = {
        (s.channel_id, s.sku_id): s.quantity
        for s in SafetyStock.objects.filter(sku_id__in=list(recipes), channel_id__in=channel_ids)
    }
    for channel_id in channel_ids:
        per_sku = sellable[channel_id]
        bundles = {
            bundle_id: max(0, bundle_sellable(components, per_sku) - safety.get((channel_id, bundle_id), 0))
            for bundle_id, components in recipes.items()
        }
        sellable[channel_id] = {sku_id: bundles.get(sku_id, per_sku.get(sku_id, 0)) for sku_id in sku_ids}
    return sellable


def _stocked_sellable(sku_ids, channel_ids, now=None) -> dict[int, dict[int, int]]:
    now = now or timezone.now()
    pools = channel_pool_ids(channel_ids)
    per_pool: dict[tuple[int, int], int] = defaultdict(int)
    rows = (
        balances_with_available(now)
        .filter(sku_id__in=sku_ids, warehouse__is_active=True)
        .exclude(lot__expires_on__lt=business_date(now))
        .values_list("sku_id", "pool_id", "effective_available")
    )
    for sku_id, pool_id, available in rows:
        per_pool[(sku_id, pool_id)] += max(0, available)
    safety = {
        (s.channel_id, s.sku_id): s.quantity
        for s in SafetyStock.objects.filter(sku_id__in=sku_ids, channel_id__in=channel_ids)
    }
    sellable: dict[int, dict[int, int]] = {}
    for channel_id in channel_ids:
        sellable[channel_id] = {}
        for sku_id in sku_ids:
            available = sum(per_pool[(sku_id, pool_id)] for pool_id in pools[channel_id])
            sellable[channel_id][sku_id] = max(0, available - safety.get((channel_id, sku_id), 0))
    return sellable


def safety_breaches(sellable: dict[int, dict[int, int]], sku_ids, channel_ids) -> set[tuple[int, int]]:
    """(channel, sku) pairs with a safety stock whose sellable quantity is down to zero."""
    configured = set(
        SafetyStock.objects.filter(sku_id__in=sku_ids, channel_id__in=channel_ids).values_list(
            "channel_id", "sku_id"
        )
    )
    return {(c, s) for c, s in configured if sellable[c][s] == 0}
