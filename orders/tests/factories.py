from datetime import timedelta
from decimal import Decimal
from itertools import count

import factory
from django.utils import timezone

from catalog.models import Channel, Platform
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import Carrier, ShipmentStatus
from inventory.models import SKU, Warehouse, WarehouseKind
from orders import intake, services

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


def default_lines() -> list[dict]:
    return [
        {"sku": "SKU-1", "quantity": 2, "unit_price": "59.90", "discount": "5.00"},
        {"sku": "SKU-2", "quantity": 1, "unit_price": "100.00"},
    ]


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
        "lines": default_lines(),
        "shipping_fee": "8.00",
        "discount": "10.00",
        "platform_commission": "3.20",
        "paid": False,
        "priority": "normal",
        "note": "",
    }
    if "lines" in overrides:
        # The default 10.00 order discount fits the default lines; other lines may sell for less.
        payload["discount"] = "0.00"
    payload.update(overrides)
    return payload


def validated(payload: dict) -> dict:
    from orders.canonical import CanonicalOrderInput

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
    order, _created = intake.order_ingest(data=validated(canonical_payload(**overrides)), actor=actor)
    return order


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        django_get_or_create = ["code"]

    code = "sf"
    name = "SF Express"
    tracking_code = "shunfeng"


ROUTED = ("allocated", "partially_shipped", "shipped", "delivered", "completed")
PRESALE_SKU = "SKU-PRE"  # a pre-sale SKU with no stock: its lines wait, unrouted


def drive_shipments(order, *, deliver: bool = False, limit: int | None = None) -> None:
    """Take the order's live shipments (the first `limit` of them) out of the warehouse through
    the real shipment transitions, as the system: sent → packed → shipped → in transit, then
    delivered when asked. Shipments already on their way only move on to delivery."""
    from fulfilment.services import shipment_transition

    carrier = CarrierFactory()
    live = [s for s in fulfilment_selectors.order_shipments(order) if s.status != ShipmentStatus.CANCELLED]
    for shipment in live[:limit]:
        if shipment.status == ShipmentStatus.CREATED:
            shipment = shipment_transition(shipment=shipment, name="send_to_warehouse")
        if shipment.status in (ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING):
            shipment = shipment_transition(shipment=shipment, name="pack")
        if shipment.status == ShipmentStatus.PACKED:
            tracking = {"carrier": carrier, "tracking_number": f"SF{shipment.pk:010d}"}
            shipment = shipment_transition(shipment=shipment, name="ship", args=tracking)
            shipment = shipment_transition(
                shipment=shipment, name="mark_in_transit", args={"at": timezone.now()}
            )
        if deliver and shipment.status in (ShipmentStatus.SHIPPED, ShipmentStatus.IN_TRANSIT):
            shipment_transition(shipment=shipment, name="deliver", args={"at": timezone.now()})


def order_in_state(state: str, **overrides):
    """Build an order in `state` through the real services (as the system): routed orders have
    shipments, and shipped or delivered ones got there by driving those shipments. A partially
    shipped order has one more line, of a pre-sale SKU with no stock, still waiting."""
    if state == "partially_shipped":
        ensure_master_data()
        SKUFactory(code=PRESALE_SKU, presale=True)
        presale_line = {"sku": PRESALE_SKU, "quantity": 1, "unit_price": "30.00", "presale": True}
        overrides["lines"] = [*overrides.get("lines", default_lines()), presale_line]
    order = make_order(paid=state not in ("pending_payment", "on_hold", "cancelled"), **overrides)
    if state in ROUTED:
        order = services.order_transition(order=order, name="allocate")
    if state in ("partially_shipped", "shipped", "delivered", "completed"):
        drive_shipments(order, deliver=state in ("delivered", "completed"))
    if state == "completed":
        order = services.order_transition(order=order, name="complete")
    if state == "on_hold":
        order = services.order_transition(order=order, name="hold", reason="review")
    if state == "cancelled":
        order = services.order_transition(order=order, name="cancel", reason="test")
    order.refresh_from_db()
    assert order.status == state
    return order


ZERO = Decimal("0.00")
