"""What the intake queues after commit: routing for paid orders and one statistics refresh per
batch; nothing with follow_up=False (a bulk load that does that work itself, as seed_demo)."""

import pytest

from ops.tests.publishing import tasks_published
from orders.intake import order_ingest_batch
from orders.models import OrderStatus
from orders.tests.factories import canonical_payload, ensure_master_data, validated

pytestmark = pytest.mark.django_db

ROUTE, STATS = "fulfilment.route_order", "orders.tasks.refresh_customer_stats"


def _batch():
    ensure_master_data()
    return [
        validated(canonical_payload(paid=True)),
        validated(canonical_payload(paid=True)),
        validated(canonical_payload()),
        validated(canonical_payload(cancelled=True)),
        validated(canonical_payload(cancelled=True)),
    ]


def test_a_batch_routes_its_paid_orders_and_refreshes_statistics_once(django_capture_on_commit_callbacks):
    items = _batch()

    with tasks_published() as published, django_capture_on_commit_callbacks(execute=True):
        results = order_ingest_batch(items=items)

    assert [order.status for order, _created in results][-2:] == [OrderStatus.CANCELLED] * 2
    assert published[ROUTE] == 2
    assert published[STATS] == 1  # the cancelled ones are in it, not refreshed once more each


def test_follow_up_false_queues_nothing_for_the_caller_to_do_itself(django_capture_on_commit_callbacks):
    items = _batch()

    with tasks_published() as published, django_capture_on_commit_callbacks(execute=True):
        results = order_ingest_batch(items=items, follow_up=False)

    assert all(created for _order, created in results)
    assert [order.status for order, _created in results][:2] == [OrderStatus.PAID] * 2  # still to route
    assert ROUTE not in published and STATS not in published
