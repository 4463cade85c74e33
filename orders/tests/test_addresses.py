"""Addresses at intake and on the desk (orders.addresses over core.divisions): official names, the
missing levels filled, the district's centre stored as the order's coordinates, and a changed
address placed again."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import intake, services
from orders.models import OrderStatus
from orders.tests.factories import canonical_payload, make_order, order_in_state, validated

pytestmark = pytest.mark.django_db


def address(**fields):
    return {**canonical_payload()["shipping_address"], **fields}


def stored(order):
    return (
        order.ship_province,
        order.ship_city,
        order.ship_district,
        order.ship_latitude,
        order.ship_longitude,
    )


def test_intake_stores_official_names_and_the_districts_centre():
    order = make_order(shipping_address=address(province="广东", city="深圳", district="南山"))
    order.refresh_from_db()
    assert stored(order) == ("广东省", "深圳市", "南山区", Decimal("22.533287"), Decimal("113.930413"))


def test_intake_fills_the_missing_levels_from_line_1_and_keeps_the_line():
    line = "广东省深圳市南山区科技园科苑路15号"
    order = make_order(shipping_address=address(province="", city="深圳", district="", line1=line))
    order.refresh_from_db()
    assert stored(order)[:3] == ("广东省", "深圳市", "南山区")
    assert order.ship_latitude == Decimal("22.533287")
    assert order.ship_line1 == line  # nothing dropped


def test_an_unknown_district_is_kept_and_placed_by_routing_at_its_city():
    order = make_order(shipping_address=address(province="浙江", city="杭州", district="云栖小镇"))
    order.refresh_from_db()
    # no district centre to store: routing falls back to the city's (fulfilment.routing.facts)
    assert stored(order) == ("浙江省", "杭州市", "云栖小镇", None, None)


def test_an_address_outside_china_is_stored_untouched():
    given = {
        "country": "US",
        "province": "CA",
        "city": "San Francisco",
        "district": "SoMa",
        "line1": "1 Market St",
    }
    order = make_order(shipping_address=given)
    order.refresh_from_db()
    assert stored(order) == ("CA", "San Francisco", "SoMa", None, None)


def test_a_desk_address_change_moves_the_centre_and_is_audited(agent):
    order = order_in_state(OrderStatus.PAID)  # 浙江省杭州市西湖区, placed at intake
    assert (order.ship_latitude, order.ship_longitude) == (Decimal("30.259463"), Decimal("120.130194"))

    services.order_change_address(
        order=order,
        address={"ship_district": "滨江", "ship_line1": "江南大道 1 号"},
        actor=agent,
        reason="moved",
    )
    order.refresh_from_db()
    assert stored(order) == ("浙江省", "杭州市", "滨江区", Decimal("30.208847"), Decimal("120.211623"))
    assert order.events.last().payload == {
        "ship_district": ["西湖区", "滨江区"],
        "ship_line1": ["文三路 90 号", "江南大道 1 号"],
        "ship_latitude": ["30.259463", "30.208847"],
        "ship_longitude": ["120.130194", "120.211623"],
    }

    services.order_change_address(order=order, address={"ship_district": "不知道"}, actor=agent)
    order.refresh_from_db()
    assert stored(order) == ("浙江省", "杭州市", "不知道", None, None)  # never the old district's centre

    services.order_change_address(order=order, address={"ship_name": "李雷"}, actor=agent)
    assert order.events.last().payload == {"ship_name": ["王芳", "李雷"]}  # not a new place


def test_a_platform_update_places_the_new_address():
    updated_at = timezone.now() - timedelta(minutes=30)
    order = make_order(external_id="T-MOVE", updated_at=updated_at.isoformat())
    later = canonical_payload(
        external_id="T-MOVE",
        updated_at=(updated_at + timedelta(minutes=5)).isoformat(),
        shipping_address=address(province="北京", city="北京", district="海淀"),
    )
    intake.order_ingest(data=validated(later))
    order.refresh_from_db()
    assert stored(order) == ("北京市", "北京市", "海淀区", Decimal("39.959930"), Decimal("116.298262"))
