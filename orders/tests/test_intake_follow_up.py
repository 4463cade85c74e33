"""What the intake queues after commit: routing for paid orders and one statistics refresh per
batch; nothing with follow_up=False (a bulk load that does that work itself, as seed_demo)."""

import pytest

from ops.tests.publishing import tasks_published
from orders.intake import order_ingest_batch
from orders.models import Order, OrderStatus
from orders.tests.factories import canonical_payload, ensure_master_data, validated

pytestmark = pytest.mark.django_db

ROUTE, STATS = "fulfilment.route_orders", "orders.tasks.refresh_customer_stats"


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
    assert published[ROUTE] == 1  # both paid orders in one routing task
    assert published[STATS] == 1  # the cancelled ones are in it, not refreshed once more each


def test_follow_up_false_queues_nothing_for_the_caller_to_do_itself(django_capture_on_commit_callbacks):
    items = _batch()

    with tasks_published() as published, django_capture_on_commit_callbacks(execute=True):
        results = order_ingest_batch(items=items, follow_up=False)

    assert all(created for _order, created in results)
    assert [order.status for order, _created in results][:2] == [OrderStatus.PAID] * 2  # still to route
    assert ROUTE not in published and STATS not in published


def test_paid_orders_are_routed_a_chunk_per_task_and_each_task_routes_its_orders(
    django_capture_on_commit_callbacks, monkeypatch
):
    from unittest import mock

    from celery.app.task import Task

    from fulfilment.routing import service
    from fulfilment.tasks import route_orders_task

    per_task = 4  # the real one, an intake batch's 1,000, would ingest and route a thousand orders here
    monkeypatch.setattr(service, "ROUTE_TASK_CHUNK", per_task)
    ensure_master_data()
    items = [validated(canonical_payload(paid=True)) for _ in range(per_task + 2)]
    sent = []

    def publish(task, args=None, kwargs=None, **options):
        sent.append((task.name, args))

    with mock.patch.object(Task, "apply_async", publish), django_capture_on_commit_callbacks(execute=True):
        results = order_ingest_batch(items=items)

    chunks = [args[0] for name, args in sent if name == ROUTE]
    paid = sorted(order.pk for order, _created in results)
    assert [len(chunk) for chunk in chunks] == [per_task, 2]
    assert sorted(pk for chunk in chunks for pk in chunk) == paid
    # run as a worker would: each order of the chunk is routed
    for chunk in chunks:
        route_orders_task(chunk)
    assert {order.status for order in Order.objects.filter(pk__in=paid)} == {OrderStatus.ALLOCATED}


def test_one_order_failing_in_a_routing_chunk_does_not_keep_the_others_from_routing(monkeypatch):
    from fulfilment.routing import batch
    from fulfilment.tasks import route_orders_task

    ensure_master_data()
    results = order_ingest_batch(
        items=[validated(canonical_payload(paid=True)) for _ in range(3)], follow_up=False
    )
    first, *others = sorted(order.pk for order, _created in results)
    route = batch.route_quietly

    def broken_batch(order_ids):
        raise RuntimeError("a bug in batch routing")

    def broken_for_the_first(order_id):
        if order_id == first:
            raise RuntimeError("a bug in routing")
        return route(order_id)

    # the batch fails: every order of the chunk is tried on its own; the first fails there too
    monkeypatch.setattr(batch, "_route_chunk", broken_batch)
    monkeypatch.setattr(batch, "route_quietly", broken_for_the_first)
    with pytest.raises(RuntimeError, match="a bug in routing"):  # the task's outcome says so
        route_orders_task([first, *others])

    assert Order.objects.get(pk=first).status == OrderStatus.PAID  # left for the beat's safety net
    assert {o.status for o in Order.objects.filter(pk__in=others)} == {OrderStatus.ALLOCATED}
