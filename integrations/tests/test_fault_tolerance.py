"""Faults around an acknowledged webhook (issue #13), with real processes: a Celery worker
process on a real Redis broker and the PostgreSQL test database. Whatever fails — the broker at
publish time, the database mid-task, the worker itself — the delivery ends as exactly one order.

To catch the task mid-way, the test holds the stock rows of the order's SKUs locked: the
worker's task inserts the order, then waits for those rows in its reservation pass."""

import time
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from core.tests.real_worker import DEAD_BROKER, publishing_to, wait_until
from integrations.models import InboundMessage, InboundStatus
from integrations.tasks import sweep_inbound_messages
from integrations.tests.conftest import payload, raw
from inventory.models import SKU, StockBalance
from orders.models import Order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CREATE = "shopify_orders_create"
SKUS = ["IPOD2008PINK", "IPOD2008BLACK"]
FAST_SWEEP = {"HANDOFF_GRACE_SECONDS": "1"}  # the worker's sweeper hands a message over after 1 s


def orders():
    return Order.objects.filter(channel__code="shop-us")


def processed(message_id: int) -> bool:
    return InboundMessage.objects.filter(pk=message_id, status=InboundStatus.PROCESSED).exists()


def connect() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    )


@contextmanager
def stock_rows_held():
    """Another transaction holds the SKUs' stock rows until the block ends."""
    holder = connect()
    balances = StockBalance._meta.db_table
    skus = SKU._meta.db_table
    holder.execute(
        f"SELECT b.id FROM {balances} b JOIN {skus} s ON s.id = b.sku_id WHERE s.code = ANY(%s) FOR UPDATE",  # noqa: S608
        [SKUS],
    )
    try:
        yield holder
    finally:
        holder.rollback()
        holder.close()


def other_backends(*, also_spare: int | None = None) -> str:
    spared = [pid for pid in (also_spare,) if pid]
    return "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()" + (
        f" AND pid <> ALL(ARRAY{spared})" if spared else ""
    )


def waiting_on_a_lock(holder) -> bool:
    where = other_backends(also_spare=holder.info.backend_pid)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) {where} AND wait_event_type = 'Lock'")  # noqa: S608
        return cursor.fetchone()[0] > 0


def test_a_webhook_taken_while_the_broker_is_down_becomes_one_order(post_shopify, real_broker, caplog):
    body = raw(payload(CREATE))

    # given a signed webhook received while the broker is down
    with publishing_to(DEAD_BROKER):
        response = post_shopify(body, webhook_id="wh-broker-down")

    # then it is acknowledged and stored, though its task was never published
    assert response.status_code == 202
    message = InboundMessage.objects.get()
    assert message.status == InboundStatus.RECEIVED and not orders().exists()
    assert "could not publish integrations.tasks.process_inbound_message" in caplog.text

    # when the broker is back, a worker runs and the beat's sweeper fires
    with real_broker.publishing():
        real_broker.start_worker(**FAST_SWEEP)
        time.sleep(1.2)  # past the sweeper's grace
        sweep_inbound_messages.delay()
        wait_until(
            lambda: processed(message.pk), what="the swept message to be processed", broker=real_broker
        )

        # and the platform retries the same delivery
        again = post_shopify(body, webhook_id="wh-broker-down")

    # then there is exactly one order, and the retry changed nothing
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    message.refresh_from_db()
    assert (message.handoffs, message.order) == (1, orders().get())
    assert InboundMessage.objects.count() == 1


def test_a_database_restart_mid_task_is_retried_into_one_order(post_shopify, real_broker):
    with real_broker.publishing():
        worker = real_broker.start_worker()
        with stock_rows_held() as holder:
            # given the worker's task mid-way: order inserted, waiting for the stock rows
            assert post_shopify(raw(payload(CREATE))).status_code == 202
            message = InboundMessage.objects.get()
            wait_until(
                lambda: waiting_on_a_lock(holder), what="the task to reach the stock rows", broker=real_broker
            )

            # when the database drops the worker's connections (as a restart does)
            with connection.cursor() as cursor:
                where = other_backends(also_spare=holder.info.backend_pid)
                cursor.execute(f"SELECT count(pg_terminate_backend(pid)) {where}")  # noqa: S608
                assert cursor.fetchone()[0] >= 1

            # then the task failed on it, kept the error on the message, and is retried
            wait_until(
                lambda: "OperationalError" in InboundMessage.objects.get(pk=message.pk).error,
                what="the task to record the lost connection",
                broker=real_broker,
            )
            assert not orders().exists()  # the interrupted transaction left nothing
        wait_until(lambda: processed(message.pk), what="the retried task to finish", broker=real_broker)

    # exactly one order, by the same worker, without the sweeper
    message.refresh_from_db()
    assert (message.order, message.error, message.handoffs) == (orders().get(), "", 0)
    assert worker.poll() is None


def test_a_worker_killed_mid_task_is_replaced_and_the_sweeper_makes_one_order(post_shopify, real_broker):
    with real_broker.publishing():
        first = real_broker.start_worker(**FAST_SWEEP)
        with stock_rows_held() as holder:
            # given the worker's task mid-way: order inserted, waiting for the stock rows
            assert post_shopify(raw(payload(CREATE))).status_code == 202
            message = InboundMessage.objects.get()
            wait_until(
                lambda: waiting_on_a_lock(holder), what="the task to reach the stock rows", broker=real_broker
            )

            # when the worker is SIGKILLed, all of it
            real_broker.kill(first)

        # then its transaction dies with it (its backend finds the client gone) and nothing is left
        def dead_backend_gone():
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*) {other_backends()}")  # noqa: S608
                return cursor.fetchone()[0] == 0

        wait_until(dead_backend_gone, timeout=20, what="the killed worker's backend to end")
        message.refresh_from_db()
        assert message.status == InboundStatus.RECEIVED and not orders().exists()

        # when a fresh worker starts and the beat's sweeper fires
        real_broker.start_worker(**FAST_SWEEP)
        sweep_inbound_messages.delay()
        wait_until(
            lambda: processed(message.pk), what="the swept message to be processed", broker=real_broker
        )

    # then there is exactly one order
    message.refresh_from_db()
    assert (message.order, message.handoffs) == (orders().get(), 1)
