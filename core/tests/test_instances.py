"""core.instances.build gives what Django's constructor gives, for the models the intake and the
batch router build by the thousand, and falls back to the constructor where it cannot vouch."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models.signals import post_init

from catalog.models import Channel
from core.instances import _recipes, build
from fulfilment.models import Shipment, ShipmentLine
from inventory.models import SKU
from orders.models import Customer, Order, OrderEvent, OrderLine

PLACED = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def _saved(model, pk, **values):
    """An instance as read from the database, without one."""
    instance = model(pk=pk, **values)
    instance._state.adding = False
    instance._state.db = "default"
    return instance


def _same(built, constructed):
    """Field values, FSM initial states, caches and the state's flags all equal."""
    assert type(built) is type(constructed)
    mine = {k: v for k, v in vars(built).items() if k != "_state"}
    theirs = {k: v for k, v in vars(constructed).items() if k != "_state"}
    assert mine == theirs
    assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in theirs.items()}
    assert built._state.db == constructed._state.db
    assert built._state.adding == constructed._state.adding
    assert built._state.fields_cache == constructed._state.fields_cache


def _cases():
    channel = _saved(Channel, 3, code="tmall", time_zone="Asia/Shanghai")
    customer = _saved(Customer, 5, identity_key="phone:+8613800000000")
    sku = _saved(SKU, 7, code="SKU-7")
    order = _saved(Order, 11, number="SO1", channel=channel)
    shipment = _saved(Shipment, 13, number="SO1-1", order=order)
    return [
        (
            Order,
            {
                "number": "SO1",
                "channel": channel,
                "external_id": "E1",
                "customer": customer,
                "currency": "CNY",
                "placed_at": PLACED,
                "channel_time_zone": "Asia/Shanghai",
                "goods_amount": Decimal("12.30"),
                "tags": ["vip"],
                "ship_city": "杭州市",
            },
        ),
        (Order, {"number": "SO2", "channel_id": 3, "customer": None, "placed_at": PLACED}),
        (Order, {"number": "SO3", "channel": channel, "status": "paid"}),
        (
            OrderLine,
            {
                "order": order,
                "line_no": 1,
                "sku": sku,
                "quantity": 2,
                "unit_price": Decimal("6.15"),
                "discount_allocations": [],
            },
        ),
        (OrderLine, {"order": order, "line_no": 2, "sku": None, "quantity": 1, "title": "礼品"}),
        (
            OrderEvent,
            {"order": order, "kind": "created", "actor": None, "payload": {"lines": 1}, "created_at": PLACED},
        ),
        (Customer, {"identity_key": "email:a@example.com", "name": "A", "email": "a@example.com"}),
        (
            Shipment,
            {
                "pk": -1,
                "number": "SO1-1",
                "order": order,
                "warehouse_id": 2,
                "routing": {"why": "nearest"},
                "created_at": PLACED,
                "updated_at": PLACED,
            },
        ),
        (ShipmentLine, {"order_line_id": 17, "sku_id": 7, "quantity": 3}),
        (ShipmentLine, {"shipment": shipment, "order_line_id": 17, "sku_id": 7, "quantity": 3}),
    ]


@pytest.mark.parametrize("case", range(len(_cases())))
def test_build_equals_the_constructor(case):
    model, values = _cases()[case]
    built = build(model, **values)
    assert _recipes[model].usable, f"{model.__name__} fell back to Django's constructor"
    _same(built, model(**_cases()[case][1]))


def test_callable_defaults_are_fresh_per_instance():
    first, second = build(Order, number="A"), build(Order, number="B")
    first.tags.append("x")
    assert second.tags == [] and first.receiver_protected is not second.receiver_protected


def test_the_time_zone_field_converts_what_is_set():
    order = build(Order, number="A", channel_time_zone="Europe/Berlin")
    assert order.channel_time_zone == Order(channel_time_zone="Europe/Berlin").channel_time_zone
    assert str(order.channel_time_zone) == "Europe/Berlin"


def test_the_state_machine_sees_the_initial_state():
    order = build(Order, number="A", status="paid")
    order.status  # noqa: B018 - read through django-fsm's descriptor
    with pytest.raises(AttributeError):
        order.status = "allocated"  # protected, as on a constructed order
    assert order._ConcurrentTransitionMixin__initial_states == {"status": "paid"}


def test_what_the_recipe_cannot_vouch_for_is_djangos():
    with pytest.raises(TypeError, match="unexpected keyword arguments: 'colour'"):
        build(OrderLine, colour="red")
    with pytest.raises(ValueError, match='must be a "Channel" instance'):
        build(Order, channel=_saved(SKU, 1, code="x"))


def test_init_receivers_get_the_constructor():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=ShipmentLine)
    try:
        line = build(ShipmentLine, quantity=1)
    finally:
        post_init.disconnect(receiver, sender=ShipmentLine)
    assert seen == [line]
