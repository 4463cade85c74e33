"""A channel whose customers are told by the platform itself (or invented, as the demo shops'):
`notify_customers` off sends them nothing, neither when the order is placed nor when it ships."""

import pytest

from core.errors import DomainError
from core.models import OutboxMessage
from fulfilment.models import Notification
from fulfilment.notifications import notify_customer
from fulfilment.tests.shipping import shipped_shipment
from orders.tests.factories import ChannelFactory, make_order

pytestmark = pytest.mark.django_db


def test_a_silent_channels_orders_and_parcels_tell_nobody():
    ChannelFactory(notify_customers=False)

    order = make_order()
    shipment = shipped_shipment()

    assert order.customer_email and shipment.tracking_number  # reachable, and worth telling
    assert not Notification.objects.exists()
    assert not OutboxMessage.objects.filter(kind="notification.send").exists()


def test_asking_a_silent_channel_to_notify_says_why_not():
    ChannelFactory(notify_customers=False)

    with pytest.raises(DomainError) as refused:
        notify_customer(order=make_order(), event="placed", medium="email")

    assert refused.value.field == "medium"


def test_a_notifying_channel_still_tells_its_customers():
    ChannelFactory()

    order = make_order()

    assert Notification.objects.filter(order=order, event="placed", medium="email").exists()
