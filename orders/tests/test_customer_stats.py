"""Customer stats are refreshed by a task published after the order commits; when that publish
is lost (the broker was down), the stale-stats job (every 15 minutes) refreshes them: customers
with an order placed or cancelled in the last day whose stored stats differ from their orders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.tests.real_worker import DEAD_BROKER, publishing_to
from orders import services
from orders.jobs import STATS_LOOKBACK, customers_refresh_stale_stats
from orders.models import Customer, Order
from orders.tasks import refresh_stale_customer_stats
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

OTHER = {"name": "李雷", "phone": "13800000002", "email": "lei@example.com"}


def stats(customer: Customer) -> tuple:
    customer.refresh_from_db()
    return customer.order_count, customer.last_order_at


@pytest.fixture
def broker_down(django_capture_on_commit_callbacks, caplog):
    """Whatever commits inside publishes its follow-up tasks to a broker that is down."""

    def run(change):
        with publishing_to(DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
            result = change()
        assert "could not publish orders.tasks.refresh_customer_stats" in caplog.text
        return result

    return run


def test_stats_a_lost_refresh_left_stale_are_refreshed_by_the_job(broker_down):
    order = broker_down(make_order)
    assert stats(order.customer) == (0, None)  # its refresh task was never published

    assert refresh_stale_customer_stats.delay().get() == 1

    assert stats(order.customer) == (1, order.placed_at)
    assert customers_refresh_stale_stats() == 0  # nothing stale is left


def test_a_cancellation_whose_refresh_was_lost_is_counted_by_the_job(
    broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order()
        make_order()
    assert stats(order.customer)[0] == 2

    broker_down(lambda: services.order_transition(order=order, name="cancel", reason="duplicate"))
    assert stats(order.customer)[0] == 2

    assert customers_refresh_stale_stats() == 1
    assert stats(order.customer)[0] == 1


def test_the_job_is_bounded_by_its_lookback_and_its_limit(broker_down):
    first = broker_down(make_order)
    second = broker_down(lambda: make_order(customer=OTHER))
    assert first.customer_id != second.customer_id

    # an order placed before the lookback is not looked at again
    Order.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - STATS_LOOKBACK - timedelta(minutes=1)
    )
    assert customers_refresh_stale_stats(limit=5) == 1
    assert stats(first.customer) == (0, None) and stats(second.customer)[0] == 1

    # at most `limit` customers a run; the rest on the next one
    Order.objects.filter(pk=first.pk).update(created_at=timezone.now())
    Customer.objects.filter(pk=second.customer_id).update(order_count=0)
    assert customers_refresh_stale_stats(limit=1) == 1
    assert customers_refresh_stale_stats(limit=1) == 1
    assert customers_refresh_stale_stats(limit=1) == 0
    assert stats(first.customer)[0] == stats(second.customer)[0] == 1
