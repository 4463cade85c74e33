"""core.handoff: publishing after commit never fails the caller when the broker is down (the
stored row is the record; a sweep delivers it), and a row the sweeper takes is counted and spaced
out (at most an hour apart), and given up only once its task has started HANDOFF_MAX_ATTEMPTS
times; a row whose task never starts is handed over for as long as it waits. A batch writer holds
its batch's publishes until it has answered its callers."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from celery import shared_task
from django.db import transaction
from django.utils import timezone

from core.batch_writer import BatchWriterQueue
from core.handoff import (
    MAX_SPACING,
    claim_due,
    publish,
    publish_on_commit,
    publishes_held,
    record_start,
    waiting_since,
)
from core.models import OutboxMessage, OutboxState
from core.outbox import outbox_enqueue, outbox_sweep, register_handler
from core.tasks import deliver_outbox_message
from core.tests.real_worker import DEAD_BROKER, publishing_to, redis_url
from integrations.models import InboundMessage

KIND = "test.handoff.outbox"
delivered: list[str] = []


@register_handler(KIND)
def deliver(message):
    delivered.append(message.idempotency_key)


def test_a_publish_to_a_broker_that_is_down_is_logged_not_raised(caplog):
    with publishing_to(DEAD_BROKER):
        assert publish(deliver_outbox_message, 1) is False

    assert "could not publish core.tasks.deliver_outbox_message(1,)" in caplog.text


@pytest.mark.django_db
def test_an_outbox_message_enqueued_while_the_broker_is_down_is_kept_and_swept(
    django_capture_on_commit_callbacks,
):
    delivered.clear()
    # the caller's transaction commits; the publish after it must not fail the caller
    with publishing_to(DEAD_BROKER), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_enqueue(kind=KIND, payload={}, idempotency_key="push:1")

    message = OutboxMessage.objects.get(idempotency_key="push:1")
    assert (message.state, delivered) == (OutboxState.PENDING, [])

    assert outbox_sweep() == 1
    message.refresh_from_db()
    assert (message.state, delivered) == (OutboxState.DELIVERED, ["push:1"])


def sweep(stuck, at):
    with transaction.atomic():
        swept = claim_due(stuck, started="attempts", now=at, limit=10)
    return swept.handed_over, swept.given_up


@pytest.mark.django_db
def test_claimed_rows_are_counted_and_spaced_out_up_to_an_hour_and_never_given_up_unstarted(settings):
    settings.HANDOFF_GRACE_SECONDS, settings.HANDOFF_MAX_ATTEMPTS = 600, 2
    now = timezone.now()
    message = InboundMessage.objects.create(platform="shopify", received_at=now - timedelta(seconds=601))
    stuck = InboundMessage.objects.filter(waiting_since("received_at", now))

    # due at once; then 2 x 10 min later (not a second before); then 40 min later
    assert sweep(stuck, now) == ([message.pk], [])
    assert sweep(stuck, now + timedelta(minutes=20) - timedelta(seconds=1)) == ([], [])
    assert sweep(stuck, now + timedelta(minutes=20)) == ([message.pk], [])
    assert sweep(stuck, now + timedelta(minutes=60)) == ([message.pk], [])
    message.refresh_from_db()
    # the next would be 80 min later: capped at an hour
    assert (message.handoffs, message.next_handoff_at) == (3, now + timedelta(minutes=60) + MAX_SPACING)

    # a day of hand-offs without a task starting: still handed over, never given up
    at = message.next_handoff_at
    for _hour in range(24):
        assert sweep(stuck, at) == ([message.pk], [])
        at += MAX_SPACING
    message.refresh_from_db()
    assert (message.handoffs, message.next_handoff_at, message.attempts) == (27, at, 0)


@pytest.mark.django_db
def test_a_row_is_given_up_once_its_task_started_the_most_times(settings):
    settings.HANDOFF_GRACE_SECONDS, settings.HANDOFF_MAX_ATTEMPTS = 10, 2
    now = timezone.now()
    message = InboundMessage.objects.create(platform="shopify", received_at=now - timedelta(seconds=11))
    stuck = InboundMessage.objects.filter(waiting_since("received_at", now))
    row = InboundMessage.objects.filter(pk=message.pk)

    assert record_start(row, started="attempts", now=now)  # the task starts, and dies
    # a start keeps the sweeper off the row for a grace period (its worker may be at it)
    assert sweep(stuck, now + timedelta(seconds=9)) == ([], [])
    assert sweep(stuck, now + timedelta(seconds=10)) == ([message.pk], [])
    assert record_start(row, started="attempts", now=now + timedelta(seconds=11))  # and dies again

    assert sweep(stuck, now + timedelta(seconds=30)) == ([], [message.pk])
    message.refresh_from_db()
    assert (message.attempts, message.handoffs) == (2, 1)  # given up untouched, for the caller to fail


@shared_task
def start_processing(message_id: int) -> None:
    record_start(InboundMessage.objects.filter(pk=message_id), started="attempts")


@pytest.mark.django_db
def test_celerys_own_retries_of_a_delivery_count_one_start():
    message = InboundMessage.objects.create(platform="shopify")

    start_processing.apply([message.pk])  # a delivery
    start_processing.apply([message.pk], retries=1)  # its retries after a lost connection
    start_processing.apply([message.pk], retries=2)
    start_processing.apply([message.pk])  # the sweeper's next delivery

    message.refresh_from_db()
    assert message.attempts == 2


@pytest.mark.django_db
def test_a_start_never_brings_a_spaced_out_hand_off_forward(settings):
    settings.HANDOFF_GRACE_SECONDS = 10
    now = timezone.now()
    later = now + timedelta(minutes=30)
    message = InboundMessage.objects.create(platform="shopify", next_handoff_at=later)

    assert record_start(InboundMessage.objects.filter(pk=message.pk), started="attempts", now=now)
    assert not record_start(InboundMessage.objects.filter(pk=message.pk, status="failed"), started="attempts")

    message.refresh_from_db()
    assert (message.attempts, message.next_handoff_at) == (1, later)


def test_claiming_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the sweep's transaction"):
        claim_due(InboundMessage.objects.none(), started="attempts", now=timezone.now(), limit=1)


@pytest.mark.django_db(transaction=True)
def test_publishes_held_go_out_as_the_block_ends_in_order_and_never_before_commit(monkeypatch):
    sent = []
    monkeypatch.setattr("core.handoff.publish", lambda task, *args: sent.append(args))
    with publishes_held():
        with transaction.atomic():
            publish_on_commit(deliver_outbox_message, 1)
            publish_on_commit(deliver_outbox_message, 2)
        with publishes_held(), transaction.atomic():  # nested: the outer block sends
            publish_on_commit(deliver_outbox_message, 3)
        try:
            with transaction.atomic():
                publish_on_commit(deliver_outbox_message, 4)
                raise RuntimeError("rolled back: never published")
        except RuntimeError:
            pass
        assert sent == []
    assert sent == [(1,), (2,), (3,)]

    with transaction.atomic():  # outside the block: at commit, as always
        publish_on_commit(deliver_outbox_message, 5)
    assert sent[-1] == (5,)


@pytest.mark.django_db(transaction=True)
def test_a_batch_writer_answers_its_callers_before_it_publishes_the_batchs_tasks(monkeypatch):
    events = []
    monkeypatch.setattr("core.handoff.publish", lambda task, *args: events.append(("publish", args)))
    queue = BatchWriterQueue(redis_url(), f"held-test-{uuid.uuid4().hex}", unavailable="-", late="-")
    monkeypatch.setattr(queue, "answer", lambda requests, answers: events.append(("answer", answers)))

    def settle(items):
        with transaction.atomic():
            publish_on_commit(deliver_outbox_message, *items)
        return ["stored"] * len(items)

    try:
        request = {"reply": "reply-1", "deadline": time.time() + 60, "item": 7}
        queue.client.rpush(queue.queue, json.dumps(request))
        assert queue.serve_once(settle, max_batch=10, wait=1) == 1
    finally:
        queue.client.delete(queue.queue)
    assert events == [("answer", ["stored"]), ("publish", (7,))]
