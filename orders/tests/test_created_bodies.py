"""The answer to a created order rendered from rows (orders.api.created_bodies) is the body
CreatedOrderOutput gives from the instances, field for field and in the same order, in either
language, for many orders with one round trip."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from inventory.models import Reservation
from orders.api import created_bodies
from orders.api.created_bodies import created_order_bodies
from orders.api.serializers import CreatedOrderOutput, OrderLineOutput
from orders.models import Order, OrderLine
from orders.tests.test_order_detail_reads import reference_detail, varied_orders

pytestmark = pytest.mark.django_db


def drf_bodies(orders: list[Order]) -> list[dict]:
    return [CreatedOrderOutput(reference_detail(order.number)).data for order in orders]


def as_committed(orders: list[Order]) -> list[Order]:
    """The orders as the intake holds them after its commit: the row, with its channel."""
    return [Order.objects.select_related("channel").get(pk=order.pk) for order in orders]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_rows_render_what_the_serializer_renders_from_instances(agent, language):
    orders = varied_orders(agent)
    with translation.override(language):
        expected = drf_bodies(orders)
        committed = as_committed(orders)
        with CaptureQueriesContext(connection) as reads:
            ours = created_order_bodies(committed)
    assert len(reads) == (1 if connection.vendor == "postgresql" else 3)
    for order, body in zip(orders, expected, strict=True):
        # the same JSON, keys in the same order
        assert json.dumps(ours[order.pk], default=str) == json.dumps(body, default=str), order.number
    # what the comparison covered: bundle lines, lots, an agent's and the system's events, money
    bodies = list(ours.values())
    assert any(line["parent_line_no"] is not None for body in bodies for line in body["lines"])
    assert any(r["lot"] is not None for body in bodies for r in body["reservations"])
    actors = {event["actor"] for body in bodies for event in body["events"]}
    assert agent.username in actors
    assert ("系统" if language == "zh-hans" else "system") in actors


def test_an_order_whose_rows_point_outside_it_is_rendered_the_serializers_way(agent):
    orders = varied_orders(agent)
    odd, other = orders[0], orders[2]
    # a reservation of the order on a line of another order: no row of its own lines says its line_no
    reservation = Reservation.objects.filter(order=odd).first()
    Reservation.objects.filter(pk=reservation.pk).update(
        order_line=OrderLine.objects.filter(order=other).order_by("line_no").last()
    )
    ours = created_order_bodies(as_committed([odd, other]))
    assert [ours[odd.pk], ours[other.pk]] == drf_bodies([odd, other])
    assert 2 in [r["line_no"] for r in ours[odd.pk]["reservations"]]


def test_a_field_added_to_a_list_serializer_without_a_column_is_refused(monkeypatch):
    created_bodies._plans.cache_clear()
    monkeypatch.setattr(OrderLineOutput.Meta, "fields", [*OrderLineOutput.Meta.fields, "created_at"])
    try:
        with pytest.raises(LookupError, match="OrderLineOutput.created_at"):
            created_bodies._plans()
    finally:
        created_bodies._plans.cache_clear()
