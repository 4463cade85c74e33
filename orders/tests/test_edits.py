from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError, NotPermitted, TransitionRefused
from orders import jobs, services
from orders.models import OrderStatus
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db


def _lines(order):
    return {line.sku.code: line for line in order.lines.select_related("sku")}


def test_cancel_part_of_a_line_keeps_the_order(agent):
    order = order_in_state(OrderStatus.PAID)
    line = _lines(order)["SKU-1"]

    services.order_cancel_lines(order=order, quantities={line.pk: 1}, actor=agent, reason="size")

    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.cancelled_quantity, line.live_quantity) == (1, 1)
    assert order.status == OrderStatus.PAID
    event = order.events.last()
    assert event.kind == "lines_cancelled"
    assert event.payload["lines"] == [{"line": 1, "sku": "SKU-1", "quantity": 1}]


def test_cancelling_every_live_unit_cancels_the_order(agent):
    order = order_in_state(OrderStatus.PAID)
    services.order_cancel(order=order, actor=agent, reason="out", sku_quantities={"SKU-1": 2, "SKU-2": 1})
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.events.last().payload["all_lines_cancelled"] is True


def test_over_cancelling_is_refused_and_changes_nothing(agent):
    order = order_in_state(OrderStatus.PAID)
    lines = _lines(order)
    with pytest.raises(DomainError, match="fewer than 3"):
        services.order_cancel_lines(
            order=order, quantities={lines["SKU-2"].pk: 1, lines["SKU-1"].pk: 3}, actor=agent, reason="x"
        )
    assert sum(line.cancelled_quantity for line in order.lines.all()) == 0
    assert order.events.filter(kind="lines_cancelled").count() == 0


def test_lines_of_a_shipped_order_cannot_be_cancelled(agent):
    order = order_in_state(OrderStatus.SHIPPED)
    with pytest.raises(TransitionRefused):
        services.order_cancel(order=order, actor=agent, reason="late", sku_quantities={"SKU-1": 1})


def test_warehouse_cannot_cancel_lines(warehouse_user):
    order = order_in_state(OrderStatus.PAID)
    with pytest.raises(NotPermitted):
        services.order_cancel(order=order, actor=warehouse_user, reason="x", sku_quantities={"SKU-1": 1})


def test_address_change_is_audited_with_old_and_new(agent):
    order = order_in_state(OrderStatus.PAID)
    services.order_change_address(
        order=order, address={"ship_line1": "新地址 1 号", "ship_city": "杭州市"}, actor=agent, reason="call"
    )
    order.refresh_from_db()
    event = order.events.last()
    assert order.ship_line1 == "新地址 1 号"
    assert event.kind == "address_changed" and event.actor == agent
    assert event.payload == {"ship_line1": ["文三路 90 号", "新地址 1 号"]}


def test_address_cannot_change_after_shipping(agent):
    order = order_in_state(OrderStatus.SHIPPED)
    with pytest.raises(TransitionRefused):
        services.order_change_address(order=order, address={"ship_line1": "x"}, actor=agent)


def test_blank_required_address_field_is_refused(agent):
    order = order_in_state(OrderStatus.PAID)
    with pytest.raises(DomainError) as refused:
        services.order_change_address(order=order, address={"ship_city": " "}, actor=agent)
    assert refused.value.field == "ship_city"


def test_priority_and_notes_are_audited(agent, warehouse_user):
    order = order_in_state(OrderStatus.PAID)
    services.order_change_priority(order=order, priority="expedite", actor=agent, reason="VIP call")
    services.order_add_note(order=order, text="客户要求周末送货", actor=warehouse_user)

    kinds = list(order.events.values_list("kind", "payload", "actor"))
    assert kinds[-2] == ("priority_changed", {"priority": ["normal", "expedite"]}, agent.pk)
    assert kinds[-1] == ("note", {}, warehouse_user.pk)
    with pytest.raises(NotPermitted):
        services.order_change_priority(order=order, priority="normal", actor=warehouse_user)


def test_auto_complete_takes_only_orders_past_the_window():
    old = order_in_state(OrderStatus.DELIVERED)
    recent = order_in_state(OrderStatus.DELIVERED)
    later = timezone.now() + jobs.AUTO_COMPLETE_AFTER + timedelta(minutes=1)
    type(old).objects.filter(pk=recent.pk).update(delivered_at=later)

    assert jobs.orders_auto_complete(now=later, batch_size=1) == 1
    assert jobs.orders_auto_complete(now=later) == 0  # idempotent
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, recent.status) == (OrderStatus.COMPLETED, OrderStatus.DELIVERED)
