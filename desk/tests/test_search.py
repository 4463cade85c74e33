"""The desk's one search box: order number, external id, phone, e-mail and tracking number."""

import pytest

from desk.search import order_search
from fulfilment.tests.shipping import shipped_shipment
from orders.models import Order
from orders.tests.factories import make_order
from returns.logistics import rma_set_tracking
from returns.tests.conftest import delivered_order, request_return

pytestmark = pytest.mark.django_db


def test_search_finds_an_order_by_its_parcels_tracking_number():
    shipment = shipped_shipment(tracking_number="SF1400123456789")
    make_order(external_id="OTHER-1")
    found = list(order_search(Order.objects.all(), " SF1400123456789 "))
    assert found == [shipment.order]
    assert not order_search(Order.objects.all(), "SF1400123456780").exists()


def test_search_by_number_phone_and_external_id():
    order = make_order(external_id="EXT-77", customer={"name": "周", "phone": "13611112222"})
    for term in (order.number.lower(), "EXT-77", "136-1111-2222"):
        assert list(order_search(Order.objects.all(), term)) == [order]


def test_search_finds_an_order_by_its_rma_number_and_return_tracking_number():
    order = delivered_order()
    rma = request_return(order, (1, 1))
    rma_set_tracking(rma=rma, tracking_number="YT9988776655", actor=None)
    for term in (rma.number, rma.number.lower(), "YT9988776655"):
        assert list(order_search(Order.objects.all(), term)) == [order]
