"""R-R2: an approved exchange creates a new order linked to the original through the real order
services — it inherits customer, address and priority, is zero-priced and paid, reserves stock
and is routed — and the RMA follows the returned goods and the new shipment together."""

import pytest

from fulfilment import selectors as fulfilment_selectors
from inventory.models import Reservation
from orders.models import Order, OrderStatus
from orders.services import order_change_priority
from orders.tests.factories import SKUFactory, drive_shipments, receive
from returns import decisions, logistics, opening
from returns.models import ReturnRefund, ReturnStatus
from returns.tests.conftest import balance, delivered_order, line, movements, receive_and_inspect

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip_order():
    order = delivered_order()
    return order_change_priority(order=order, priority="vip", reason="key account")


def exchange(order, *, replacement: str | None = None, quantity: int = 1):
    return opening.rma_create(
        order=order,
        kind="exchange",
        reason="not_as_described",
        lines=[{"order_line": line(order, 1).pk, "quantity": quantity, "replacement_sku": replacement}],
    )


def test_an_approved_exchange_is_a_new_order_that_inherits_priority_reserves_and_is_routed(
    vip_order, django_capture_on_commit_callbacks
):
    size_m = SKUFactory(code="SKU-1-M")
    receive(size_m, 5)

    with django_capture_on_commit_callbacks(execute=True):
        rma = exchange(vip_order, replacement="SKU-1-M")

    rma.refresh_from_db()
    new = Order.objects.get(pk=rma.exchange_order_id)
    assert rma.status == ReturnStatus.APPROVED and new.exchange_for == rma
    assert new.priority == "vip"
    assert (new.customer_id, new.ship_line1, new.channel_id) == (
        vip_order.customer_id,
        vip_order.ship_line1,
        vip_order.channel_id,
    )
    assert [(ol.sku.code, ol.quantity, ol.unit_price) for ol in new.lines.all()] == [("SKU-1-M", 1, 0)]
    assert new.total == 0 and new.paid_at is not None
    assert "exchange" in new.tags
    # reserved and routed like any order
    assert sum(Reservation.objects.filter(order=new).values_list("original_quantity", flat=True)) == 1
    assert new.status == OrderStatus.ALLOCATED
    assert [s.warehouse.code for s in fulfilment_selectors.order_shipments(new)] == ["WH-HZ"]
    assert "SKU-1 → SKU-1-M" in rma.exchange_note


def test_the_same_sku_is_sent_again_when_no_replacement_is_named(vip_order):
    rma = exchange(vip_order)

    assert [ol.sku.code for ol in rma.exchange_order.lines.all()] == ["SKU-1"]
    assert rma.exchange_note == ""


def test_an_exchange_without_stock_waits_on_hold_like_any_order(vip_order):
    SKUFactory(code="SKU-1-XL")  # no stock at all

    rma = exchange(vip_order, replacement="SKU-1-XL")

    assert rma.exchange_order.status == OrderStatus.ON_HOLD


def test_returned_goods_and_the_new_shipment_are_tracked_together_and_close_the_rma(
    vip_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        rma = exchange(vip_order)
    new = Order.objects.get(pk=rma.exchange_order_id)
    logistics.rma_set_tracking(rma=rma, tracking_number="SF1234567890")

    rma = receive_and_inspect(rma, {1: {"intact": 1}})

    assert rma.status == ReturnStatus.EXCHANGED
    assert not ReturnRefund.objects.filter(rma=rma).exists()
    assert movements(rma.number) == [("return", 1, 1)]
    assert decisions.rmas_close_settled() == 0  # the replacement is not delivered yet
    drive_shipments(new, deliver=True)
    assert decisions.rmas_close_settled() == 1
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CLOSED


def test_cancelling_the_exchange_cancels_the_new_order_and_frees_its_stock(vip_order, agent):
    before = balance("SKU-1")
    rma = exchange(vip_order)
    assert balance("SKU-1")[1] == before[1] + 1  # reserved for the replacement

    decisions.rma_cancel(rma=rma, actor=agent, reason="customer changed their mind")

    rma.refresh_from_db()
    assert rma.status == ReturnStatus.CANCELLED
    assert rma.exchange_order.status == OrderStatus.CANCELLED
    assert balance("SKU-1") == before
