"""The order detail read by written-out statements (orders.selectors.attach_order_detail) gives the
API exactly what the ORM's prefetches give, in a fixed number of queries."""

from datetime import date

import pytest
from django.db import connection
from django.db.models import Prefetch, prefetch_related_objects
from django.test.utils import CaptureQueriesContext

from inventory.models import SKU, Reservation
from orders import selectors, services
from orders.api.serializers import CreatedOrderOutput, OrderDetailOutput
from orders.models import Order, OrderEvent, OrderLine
from orders.tests.factories import SKUFactory, make_order, order_in_state, receive
from orders.tests.test_bundles import BUNDLE_LINES, make_bundle

pytestmark = pytest.mark.django_db


def reference_detail(number: str) -> Order:
    """The same reads through the ORM: what the API answered with before."""
    order = Order.objects.select_related("channel", "customer").get(number=number)
    prefetch_related_objects(
        [order],
        Prefetch("lines", queryset=OrderLine.objects.select_related("sku", "parent_line")),
        Prefetch("events", queryset=OrderEvent.objects.select_related("actor")),
        Prefetch(
            "reservations",
            queryset=Reservation.objects.select_related(
                "sku", "order_line", "balance__warehouse", "balance__pool", "balance__lot"
            ).order_by("pk"),
        ),
    )
    return order


def varied_orders(agent) -> list[Order]:
    lotted = SKUFactory(code="SKU-LOT", lot_tracked=True)
    receive(lotted, 10, lot_code="L2026A", expires_on=date(2030, 1, 31))
    SKUFactory(code="SKU-NONE")  # no stock: the order waits on hold
    make_bundle()
    orders = [
        make_order(),
        make_order(paid=True, lines=BUNDLE_LINES, discount="5.00"),
        order_in_state(
            "allocated",
            lines=[
                {"sku": "SKU-1", "quantity": 3, "unit_price": "59.90"},
                {"sku": "SKU-LOT", "quantity": 4, "unit_price": "10.00"},
            ],
        ),
        make_order(paid=True, lines=[{"sku": "SKU-NONE", "quantity": 1, "unit_price": "5.00"}]),
    ]
    cancelled = make_order(actor=agent)
    services.order_transition(order=cancelled, name="cancel", actor=agent, reason="buyer asked")
    return [*orders, cancelled]


def test_the_written_out_reads_give_what_the_orm_gives(agent):
    orders = varied_orders(agent)
    kinds = {line.kind for order in orders for line in order.lines.all()}
    assert {"bundle", "component"} <= kinds  # the bundle's lines point at their bundle line
    assert Reservation.objects.filter(order__in=orders, balance__lot__isnull=False).exists()
    assert OrderEvent.objects.filter(order__in=orders, actor=agent).exists()
    assert any(order.status == "on_hold" for order in orders)

    for order in orders:
        ours = OrderDetailOutput(selectors.order_detail(order.number)).data
        assert ours == OrderDetailOutput(reference_detail(order.number)).data, order.number
        assert ours["lines"] and ours["events"]


def test_the_detail_takes_two_round_trips_and_rendering_a_created_order_none(agent):
    order = varied_orders(agent)[1]  # a bundle: lines with parent lines, reservations
    with CaptureQueriesContext(connection) as reads:
        detail = selectors.order_detail(order.number)
    # the order, then its lines, events and reservations: one round trip on PostgreSQL
    assert len(reads) == (2 if connection.vendor == "postgresql" else 4)

    with CaptureQueriesContext(connection) as rendering:
        body = CreatedOrderOutput(detail).data
    assert len(rendering) == 0
    assert [line["parent_line_no"] for line in body["lines"]].count(None) == 2
    assert {r["warehouse"] for r in body["reservations"]} == {"WH-HZ"}
    assert SKU.objects.get(code="BOX").is_bundle


def test_many_orders_read_at_once_get_what_each_read_alone_gets(agent):
    """attach_order_details (the order intake writer's answers): each order gets its own lines,
    events and reservations, none of another's, with the same three statements."""
    orders = varied_orders(agent)
    alone = [OrderDetailOutput(selectors.order_detail(order.number)).data for order in orders]
    together = [Order.objects.select_related("channel", "customer").get(pk=order.pk) for order in orders]
    together.reverse()  # not in id order
    with CaptureQueriesContext(connection) as reads:
        selectors.attach_order_details(together)
    assert len(reads) == (1 if connection.vendor == "postgresql" else 3)
    together.reverse()
    assert [OrderDetailOutput(order).data for order in together] == alone
