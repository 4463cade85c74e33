"""The start page lists the queues of the user's roles with how much waits in each."""

import pytest
from django.urls import reverse

from core.alerts import alert_raise
from core.roles import Role
from integrations.models import InboundMessage, InboundStatus
from orders.tests.factories import ChannelFactory, order_in_state

pytestmark = pytest.mark.django_db


def queues(client, user) -> dict[str, int]:
    client.force_login(user)
    return {str(q.label): q.count for q in client.get(reverse("desk:home")).context["queues"]}


def test_agent_sees_held_orders_failed_messages_and_alerts_with_counts(client, agent):
    order_in_state("on_hold")
    order_in_state("on_hold")
    order_in_state("paid")
    InboundMessage.objects.create(
        channel=ChannelFactory(),
        platform="shopify",
        topic="orders/create",
        dedupe_id="d1",
        headers={},
        body="{}",
        status=InboundStatus.FAILED,
    )
    alert_raise(kind="sla", key="sla:1", role=Role.CUSTOMER_SERVICE, message="paid too long")
    alert_raise(kind="other", key="x:1", role=Role.WAREHOUSE, message="not for agents")

    counts = queues(client, agent)
    assert counts["Held orders"] == 2
    assert counts["Failed integration messages"] == 1
    assert counts["SLA breaches"] == 1 and counts["Open alerts"] == 1
    assert "Shipments to pick, pack and ship" not in counts


def test_warehouse_sees_its_shipment_and_return_queues(client, warehouse_user):
    order_in_state("allocated")  # an own warehouse: the shipment waits in the desk
    counts = queues(client, warehouse_user)
    assert counts["Shipments to pick, pack and ship"] == 1
    assert "Returns to receive" in counts and "Held orders" not in counts
