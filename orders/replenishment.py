"""R-I8: suggest buying more of a SKU when its available stock covers fewer days of average
sales than the threshold. It reads sales (order lines) and stock, so it lives with orders, above
inventory. Recomputed daily; running it twice the same day gives the same list."""

import math
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.timezones import business_date
from inventory.models import ReplenishmentSuggestion
from inventory.selectors import balances_with_available
from orders.models import LineKind, OrderLine, OrderStatus

LOOKBACK_DAYS = 28
ORDER_UP_TO_DAYS = 30


def replenishment_refresh(*, now=None) -> int:
    now = now or timezone.now()
    today = business_date(now)
    sold = dict(
        OrderLine.objects.filter(order__placed_at__gte=now - timedelta(days=LOOKBACK_DAYS))
        .exclude(order__status=OrderStatus.CANCELLED)
        .exclude(kind=LineKind.BUNDLE)  # a bundle holds no stock: its component lines count
        .values("sku_id")
        .annotate(units=Sum(F("quantity") - F("cancelled_quantity")))
        .values_list("sku_id", "units")
    )
    available = dict(
        balances_with_available(now)
        .filter(sku_id__in=sold, warehouse__is_active=True)
        .values("sku_id")
        .annotate(total=Sum("effective_available"))
        .values_list("sku_id", "total")
    )
    suggestions = []
    for sku_id, units in sold.items():
        per_day = Decimal(units) / LOOKBACK_DAYS
        stock = max(0, available.get(sku_id) or 0)
        if per_day <= 0 or stock >= per_day * settings.REPLENISHMENT_COVER_DAYS:
            continue
        suggestions.append(
            ReplenishmentSuggestion(
                sku_id=sku_id,
                computed_on=today,
                available=stock,
                average_daily_sales=per_day.quantize(Decimal("0.01"), ROUND_HALF_UP),
                days_of_cover=(stock / per_day).quantize(Decimal("0.1"), ROUND_HALF_UP),
                suggested_quantity=math.ceil(per_day * ORDER_UP_TO_DAYS - stock),
            )
        )
    with transaction.atomic():
        ReplenishmentSuggestion.objects.filter(computed_on=today).exclude(
            sku_id__in=[s.sku_id for s in suggestions]
        ).delete()
        ReplenishmentSuggestion.objects.bulk_create(
            suggestions,
            update_conflicts=True,
            unique_fields=["sku", "computed_on"],
            update_fields=["available", "average_daily_sales", "days_of_cover", "suggested_quantity"],
        )
    return len(suggestions)
