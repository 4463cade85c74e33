from datetime import timedelta
from decimal import Decimal
from itertools import count

import factory
from django.utils import timezone

from integrations.models import Channel, Platform
from inventory.models import SKU, Warehouse, WarehouseKind
from orders import services

_external_ids = count(1)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        django_get_or_create = ["code"]

    platform = Platform.GENERIC
    code = "shop-cn"
    name = "Demo CN shop"
    time_zone = "Asia/Shanghai"
    currency = "CNY"


class SKUFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SKU
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.LazyAttribute(lambda sku: f"Item {sku.code}")


def canonical_payload(**overrides) -> dict:
    """A valid canonical order as the API receives it (JSON-ready values)."""
    payload = {
        "channel": "shop-cn",
        "external_id": f"T-{next(_external_ids)}",
        "placed_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "currency": "CNY",
        "customer": {"name": "王芳", "phone": "13800000001", "email": "fang@example.com"},
        "shipping_address": {
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "line1": "文三路 90 号",
            "postcode": "310000",
            "phone": "13800000001",
        },
        "lines": [
            {"sku": "SKU-1", "quantity": 2, "unit_price": "59.90", "discount": "5.00"},
            {"sku": "SKU-2", "quantity": 1, "unit_price": "100.00"},
        ],
        "shipping_fee": "8.00",
        "discount": "10.00",
        "platform_commission": "3.20",
        "paid": False,
        "priority": "normal",
        "note": "",
    }
    payload.update(overrides)
    return payload


def validated(payload: dict) -> dict:
    from orders.api.serializers import CanonicalOrderInput

    serializer = CanonicalOrderInput(data=payload)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ["code"]

    code = "WH-HZ"
    name = "Hangzhou"
    kind = WarehouseKind.OWN
    province = "浙江省"
    city = "杭州市"


def receive(sku: SKU, quantity: int, warehouse: Warehouse | None = None, **kwargs):
    from inventory.services import stock_change

    return stock_change(
        kind="receipt", sku=sku, warehouse=warehouse or WarehouseFactory(), quantity=quantity, **kwargs
    )


def ensure_master_data(stock: int = 1000):
    """Channel shop-cn, warehouse WH-HZ and SKU-1..3 with `stock` units each (once)."""
    ChannelFactory()
    for code in ("SKU-1", "SKU-2", "SKU-3"):
        sku = SKUFactory(code=code)
        if stock and not sku.balances.exists():
            receive(sku, stock)


def make_order(actor=None, **overrides):
    """An order created through the real ingestion service."""
    ensure_master_data()
    order, _created = services.order_ingest(data=validated(canonical_payload(**overrides)), actor=actor)
    return order


def order_in_state(state: str, **overrides):
    """Build an order in `state` through the real transitions (as the system)."""
    paths = {
        "pending_payment": [],
        "paid": [],
        "allocated": ["allocate"],
        "partially_shipped": ["allocate", "mark_partially_shipped"],
        "shipped": ["allocate", "mark_shipped"],
        "delivered": ["allocate", "mark_shipped", "mark_delivered"],
        "completed": ["allocate", "mark_shipped", "mark_delivered", "complete"],
        "on_hold": [],
        "cancelled": [],
    }
    order = make_order(paid=state not in ("pending_payment", "on_hold", "cancelled"), **overrides)
    for name in paths[state]:
        order = services.order_transition(order=order, name=name)
    if state == "on_hold":
        order = services.order_transition(order=order, name="hold", reason="review")
    if state == "cancelled":
        order = services.order_transition(order=order, name="cancel", reason="test")
    order.refresh_from_db()
    assert order.status == state
    return order


ZERO = Decimal("0.00")
