"""Purchasing test data: suppliers and their items as plain rows; suggestions computed by the real
replenishment job from real orders; purchase orders through the services."""

from decimal import Decimal

from django.db.models import Sum

from inventory.models import SKU, StockBalance, StockMovement
from orders import intake
from orders.replenishment import replenishment_refresh
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    WarehouseFactory,
    canonical_payload,
    validated,
)
from purchasing.models import Supplier, SupplierItem


def make_supplier(code: str = "acme", **fields) -> Supplier:
    defaults = {"name": f"Supplier {code}", "currency": "CNY", "default_lead_time_days": 7}
    return Supplier.objects.get_or_create(code=code, defaults={**defaults, **fields})[0]


def make_item(supplier: Supplier, sku: SKU | str, price: str = "10.00", **fields) -> SupplierItem:
    sku = sku if isinstance(sku, SKU) else SKUFactory(code=sku)
    return SupplierItem.objects.create(
        supplier=supplier,
        sku=sku,
        unit_price=Decimal(price),
        currency=fields.pop("currency", "CNY"),
        **fields,
    )


def sell(lines: list[dict], times: int = 1) -> None:
    """Real orders through the intake (stock may be short: they still count as sales)."""
    ChannelFactory()
    for _ in range(times):
        intake.order_ingest(data=validated(canonical_payload(lines=lines)))


def suggestions_for(*codes: str, sold: int = 28) -> list:
    """Suggestions computed by the real job: `sold` units of each SKU sold, none in stock."""
    WarehouseFactory()
    for code in codes:
        SKUFactory(code=code)
    sell([{"sku": code, "quantity": sold, "unit_price": "5.00"} for code in codes])
    replenishment_refresh()
    from inventory.models import ReplenishmentSuggestion

    return list(ReplenishmentSuggestion.objects.filter(sku__code__in=codes).order_by("sku__code"))


def on_hand(code: str, warehouse_code: str = "WH-HZ") -> int:
    return (
        StockBalance.objects.filter(sku__code=code, warehouse__code=warehouse_code).aggregate(
            n=Sum("on_hand")
        )["n"]
        or 0
    )


def ledger_sum(code: str, warehouse_code: str = "WH-HZ") -> int:
    return (
        StockMovement.objects.filter(sku__code=code, balance__warehouse__code=warehouse_code).aggregate(
            n=Sum("on_hand_delta")
        )["n"]
        or 0
    )
