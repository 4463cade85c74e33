"""Durable hand-offs of inbound messages (issue #13): a stored message is never lost because its
task was not published, died, or hit a database error. The fault tests with a real worker are in
test_fault_tolerance.py; these run in-process (tasks eager)."""

from datetime import timedelta
from urllib.parse import urlencode

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from core.tests.real_worker import DEAD_BROKER, publishing_to
from integrations import services
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_replay, inbound_messages_sweep
from integrations.tasks import process_inbound_message
from integrations.tests.conftest import payload, raw
from orders.models import Order

pytestmark = pytest.mark.django_db

CREATE = "shopify_orders_create"


@pytest.fixture
def handoffs(settings):
    settings.HANDOFF_GRACE_SECONDS = 60
    settings.HANDOFF_MAX_ATTEMPTS = 3
    return settings


def shop_orders():
    return Order.objects.filter(channel__code="shop-us")


@pytest.fixture
def stranded(post_shopify, django_capture_on_commit_callbacks):
    """A signed webhook stored and acknowledged while the broker was down: its task never ran."""
    with publishing_to(DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(raw(payload(CREATE)))
    assert response.status_code == 202
    return InboundMessage.objects.get()


def test_a_webhook_is_acknowledged_and_kept_when_the_broker_is_down(
    post_shopify, django_capture_on_commit_callbacks, caplog
):
    with publishing_to(DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
        response = post_shopify(raw(payload(CREATE)))

    assert response.status_code == 202
    assert InboundMessage.objects.get().status == InboundStatus.RECEIVED and not shop_orders().exists()
    assert "could not publish integrations.tasks.process_inbound_message" in caplog.text


def test_the_sweeper_hands_a_stranded_message_over_once_its_grace_has_passed(
    stranded, handoffs, django_capture_on_commit_callbacks
):
    soon = stranded.received_at + timedelta(seconds=59)
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_messages_sweep(now=soon).handed_over == []

    with django_capture_on_commit_callbacks(execute=True):
        swept = inbound_messages_sweep(now=stranded.received_at + timedelta(seconds=61))

    assert swept.handed_over == [stranded.pk]
    stranded.refresh_from_db()
    assert (stranded.status, stranded.handoffs, stranded.order) == (
        InboundStatus.PROCESSED,
        1,
        shop_orders().get(),
    )


def test_a_message_whose_task_never_starts_waits_for_a_worker_and_is_processed_when_one_returns(
    stranded, handoffs, django_capture_on_commit_callbacks
):
    # the intake workers are down for 2.5 hours: the beat's sweeper runs every minute and every
    # task it publishes waits in the queue, never started
    published, handed_over_at = [], []
    for minute in range(1, 151):
        with django_capture_on_commit_callbacks() as queued:
            swept = inbound_messages_sweep(now=stranded.received_at + timedelta(minutes=minute, seconds=1))
        assert swept.given_up == []
        published += queued
        handed_over_at += [minute] * len(swept.handed_over)

    # then it is still waiting, handed over ever more rarely, at most once an hour
    stranded.refresh_from_db()
    assert (stranded.status, stranded.attempts, stranded.order) == (InboundStatus.RECEIVED, 0, None)
    assert handed_over_at == [1, 3, 7, 15, 31, 63, 123]
    assert stranded.handoffs == len(published) == 7

    # when a worker returns it takes the queued tasks: the first makes the order, the rest nothing
    for task in published:
        task()
    stranded.refresh_from_db()
    assert (stranded.status, stranded.attempts, stranded.order) == (
        InboundStatus.PROCESSED,
        1,
        shop_orders().get(),
    )


def test_a_message_whose_task_dies_each_time_it_starts_is_failed_with_the_last_error(
    stranded, handoffs, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(message):
        raise RuntimeError("mapping bug")

    monkeypatch.setattr(services, "_ingest", broken)
    with pytest.raises(RuntimeError):
        process_inbound_message.delay(stranded.pk)  # the task dies; its start and error are kept
    stranded.refresh_from_db()
    assert (stranded.status, stranded.attempts, stranded.error) == (
        InboundStatus.RECEIVED,
        1,
        "RuntimeError: mapping bug",
    )

    # each hand-off's task starts and dies as well, until it has started 3 times
    for started in (2, 3):
        now = stranded.next_handoff_at
        assert inbound_messages_sweep(now=now - timedelta(seconds=1)).handed_over == []
        with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
            assert inbound_messages_sweep(now=now).handed_over == [stranded.pk]
        stranded.refresh_from_db()
        assert (stranded.status, stranded.attempts) == (InboundStatus.RECEIVED, started)

    swept = inbound_messages_sweep(now=stranded.next_handoff_at)

    assert (swept.handed_over, swept.given_up) == ([], [stranded.pk])
    stranded.refresh_from_db()
    assert stranded.status == InboundStatus.FAILED
    assert stranded.error == (
        "Processing started 3 times and never finished. Last error: RuntimeError: mapping bug"
    )

    # once the cause is fixed, the failed queue's replay makes the order, its counts afresh
    monkeypatch.undo()
    replayed = inbound_message_replay(stranded.pk)
    assert (replayed.status, replayed.attempts, replayed.handoffs, replayed.order) == (
        InboundStatus.PROCESSED,
        1,
        0,
        shop_orders().get(),
    )


def test_a_database_error_in_the_task_is_retried(stranded, monkeypatch):
    from config.celery import app

    real = services.inbound_message_process
    calls = []

    def flaky(message_id):
        calls.append(message_id)
        if len(calls) < 3:
            raise OperationalError("terminating connection due to administrator command")
        return real(message_id)

    monkeypatch.setattr(services, "inbound_message_process", flaky)

    # Eagerly, Celery re-runs a retried task only when errors are not propagated (as a worker).
    app.conf.task_eager_propagates = False
    try:
        assert process_inbound_message.delay(stranded.pk).get() == InboundStatus.PROCESSED
    finally:
        app.conf.task_eager_propagates = True
    assert len(calls) == 3 and shop_orders().count() == 1


def test_qimen_and_kuaidi100_messages_are_swept_to_their_own_processors(
    handoffs, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(minutes=5)
    qimen = InboundMessage.objects.create(
        platform="qimen", topic="no.such.method", body="<request/>", received_at=long_ago
    )
    push = urlencode({"param": '{"lastResult": {"nu": "SF404", "com": "shunfeng"}}'})
    kuaidi100 = InboundMessage.objects.create(
        platform="kuaidi100", topic="tracking", body=push, received_at=long_ago
    )

    with django_capture_on_commit_callbacks(execute=True):
        swept = inbound_messages_sweep()

    assert sorted(swept.handed_over) == sorted([qimen.pk, kuaidi100.pk])
    qimen.refresh_from_db()
    kuaidi100.refresh_from_db()
    assert (qimen.status, qimen.error) == (InboundStatus.IGNORED, "method: no.such.method is not supported.")
    assert kuaidi100.status == InboundStatus.FAILED
    assert kuaidi100.error.startswith("No shipment has tracking number SF404")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_message_being_processed_is_left_to_its_worker(stranded, handoffs):
    db = connection.settings_dict
    worker = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    )
    try:  # another worker holds the message's row lock while it processes it
        table = InboundMessage._meta.db_table
        worker.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [stranded.pk])  # noqa: S608
        swept = inbound_messages_sweep(now=timezone.now() + timedelta(minutes=5))
    finally:
        worker.close()

    assert swept.handed_over == [] and swept.given_up == []
    stranded.refresh_from_db()
    assert (stranded.status, stranded.handoffs) == (InboundStatus.RECEIVED, 0)
