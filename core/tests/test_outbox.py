import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core import outbox
from core.errors import DomainError
from core.models import Alert, OutboxMessage, OutboxState
from core.outbox import (
    PermanentFailure,
    RetryLater,
    outbox_deliver,
    outbox_enqueue,
    outbox_enqueue_many,
    outbox_replay,
    outbox_sweep,
    register_handler,
)
from core.tasks import deliver_outbox_message

KIND = "test.outbox"


class Receiver:
    """The far side of the test handler: records every call; `failures` are raised in turn first.
    `effects` is keyed by idempotency key, like a receiver that deduplicates."""

    def __init__(self):
        self.calls: list[str] = []
        self.effects: dict[str, dict] = {}
        self.failures: list[Exception] = []
        self.lock = threading.Lock()

    def __call__(self, message):
        with self.lock:
            self.calls.append(message.idempotency_key)
            if self.failures:
                raise self.failures.pop(0)
            self.effects.setdefault(message.idempotency_key, message.payload)


_receiver = Receiver()


@register_handler(KIND)
def record(message):
    _receiver(message)


@pytest.fixture
def receiver():
    global _receiver
    _receiver = Receiver()
    return _receiver


@pytest.fixture
def no_delivery_on_commit(monkeypatch):
    """Leave enqueued messages pending, as if the broker had lost the task."""
    monkeypatch.setattr(deliver_outbox_message, "delay", lambda *args, **kwargs: None)


def enqueue(key="order:1:push", payload=None):
    with transaction.atomic():
        outbox_enqueue(kind=KIND, payload=payload or {"order": 1}, idempotency_key=key)
    return OutboxMessage.objects.get(idempotency_key=key)


def later(**kwargs):
    return timezone.now() + timedelta(**kwargs)


@pytest.mark.django_db
def test_enqueue_delivers_on_commit(receiver, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = enqueue(payload={"order": 7})
        assert receiver.calls == []  # nothing leaves before the commit

    # then
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED
    assert message.attempts == 1
    assert message.delivered_at is not None
    assert receiver.effects == {"order:1:push": {"order": 7}}


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused(receiver):
    with pytest.raises(RuntimeError):
        outbox_enqueue(kind=KIND, payload={}, idempotency_key="k")
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_same_idempotency_key_twice_is_one_row_and_one_delivery(receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(key="same")
        enqueue(key="same", payload={"order": 2})

    assert OutboxMessage.objects.filter(idempotency_key="same").count() == 1
    assert receiver.calls == ["same"]


@pytest.mark.django_db
def test_enqueue_many_is_one_insert_deduplicated_and_delivered_on_commit(
    receiver, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(key="old")  # enqueued and delivered before
    messages = [
        {"kind": KIND, "payload": {"order": n}, "idempotency_key": f"many:{n}", "channel_id": None}
        for n in (1, 2)
    ]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with django_assert_max_num_queries(2):  # one insert, one read of the ids
            ids = outbox_enqueue_many([*messages, {"kind": KIND, "payload": {}, "idempotency_key": "old"}])
        assert receiver.calls == ["old"]  # nothing new leaves before the commit

    assert len(ids) == 3
    assert OutboxMessage.objects.count() == 3
    assert sorted(receiver.calls) == ["many:1", "many:2", "old"]  # "old" was delivered already
    assert receiver.effects["many:2"] == {"order": 2}


@pytest.mark.django_db(transaction=True)
def test_enqueue_many_outside_a_transaction_is_refused(receiver):
    with pytest.raises(RuntimeError):
        outbox_enqueue_many([{"kind": KIND, "payload": {}, "idempotency_key": "k"}])
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_retry_later_backs_off_then_a_later_sweep_delivers(receiver, django_capture_on_commit_callbacks):
    # given
    receiver.failures = [RetryLater("busy")]
    with django_capture_on_commit_callbacks(execute=True):
        message = enqueue()

    # then: pending again, due after the backoff for one attempt (2**1 * 5 s)
    message.refresh_from_db()
    assert message.state == OutboxState.PENDING
    assert message.attempts == 1
    assert message.last_error == "RetryLater: busy"
    assert later(seconds=8) < message.next_attempt_at <= later(seconds=10)
    assert outbox_sweep() == 0  # not due yet

    # when
    assert outbox_sweep(now=later(seconds=11)) == 1

    # then
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED
    assert message.attempts == 2
    assert receiver.calls == ["order:1:push", "order:1:push"]


@pytest.mark.django_db
def test_retry_after_overrides_the_backoff(receiver, no_delivery_on_commit):
    receiver.failures = [RetryLater(retry_after=600)]
    message = enqueue()

    assert outbox_deliver(message.pk) == outbox.RETRY

    message.refresh_from_db()
    assert later(seconds=590) < message.next_attempt_at <= later(seconds=600)


@pytest.mark.django_db
def test_any_other_error_is_retried(receiver, no_delivery_on_commit):
    receiver.failures = [ConnectionError("reset by peer")]
    message = enqueue()

    assert outbox_deliver(message.pk) == outbox.RETRY
    message.refresh_from_db()
    assert message.state == OutboxState.PENDING
    assert message.last_error == "ConnectionError: reset by peer"

    assert outbox_sweep(now=later(minutes=1)) == 1
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED


@pytest.mark.django_db
def test_backoff_grows_exponentially_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 10, 20)] == [10, 20, 40, 3600, 3600]


@pytest.mark.django_db
def test_dead_after_max_attempts_raises_an_alert(receiver, no_delivery_on_commit, settings):
    # given
    settings.OUTBOX_MAX_ATTEMPTS = 3
    receiver.failures = [TimeoutError("slow")] * 5
    message = enqueue()

    # when: each sweep an hour later finds it due again
    outcomes = [outbox_deliver(message.pk, now=later(hours=2 * n)) for n in range(4)]

    # then
    assert outcomes == [outbox.RETRY, outbox.RETRY, outbox.DEAD, outbox.SKIPPED]
    message.refresh_from_db()
    assert message.state == OutboxState.DEAD
    assert message.attempts == 3
    alert = Alert.objects.get(key=f"outbox:{message.pk}")
    assert (alert.kind, alert.role) == ("outbox_dead", "manager")


@pytest.mark.django_db
def test_permanent_failure_and_unknown_kind_are_dead_at_once(receiver, no_delivery_on_commit):
    receiver.failures = [PermanentFailure("rejected")]
    rejected = enqueue(key="rejected")
    with transaction.atomic():
        outbox_enqueue(kind="test.nobody-handles-this", payload={}, idempotency_key="orphan")
    orphan = OutboxMessage.objects.get(idempotency_key="orphan")

    assert outbox_sweep() == 0

    for message in (rejected, orphan):
        message.refresh_from_db()
        assert (message.state, message.attempts) == (OutboxState.DEAD, 1)
        assert Alert.objects.filter(key=f"outbox:{message.pk}", kind="outbox_dead").exists()


@pytest.mark.django_db
def test_replay_delivers_a_dead_message(receiver, no_delivery_on_commit, manager, monkeypatch):
    # given
    receiver.failures = [PermanentFailure("rejected")]
    message = enqueue()
    outbox_deliver(message.pk)
    monkeypatch.undo()  # deliver on commit again

    # when
    outbox_replay(message.pk, actor=manager)  # the test transaction never commits: sweep instead
    assert outbox_sweep() == 1

    # then
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED
    assert message.attempts == 2  # attempts are kept across a replay
    assert Alert.objects.get(key=f"outbox:{message.pk}").state == "resolved"
    with pytest.raises(DomainError):
        outbox_replay(message.pk, actor=manager)


@pytest.mark.django_db
def test_replay_schedules_delivery_on_commit(
    receiver, no_delivery_on_commit, django_capture_on_commit_callbacks, monkeypatch
):
    receiver.failures = [PermanentFailure("rejected")]
    message = enqueue()
    outbox_deliver(message.pk)
    monkeypatch.undo()

    with django_capture_on_commit_callbacks(execute=True):
        outbox_replay(message.pk)

    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED


@pytest.mark.django_db
def test_worker_killed_mid_delivery_is_delivered_again_after_the_lease(receiver, no_delivery_on_commit):
    # given: a worker claims the message, calls the receiver, and dies before recording it
    message = enqueue()
    claimed = outbox._claim(message.pk, timezone.now())
    record(claimed)
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERING

    # then: nobody takes it while the lease runs
    assert outbox_sweep(now=later(minutes=4)) == 0

    # when: the lease has ended
    assert outbox_sweep(now=later(minutes=6)) == 1

    # then: delivered at least once, and the receiver's idempotency key made it one effect
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.DELIVERED, 2)
    assert receiver.calls == ["order:1:push", "order:1:push"]
    assert receiver.effects == {"order:1:push": {"order": 1}}


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_claim(receiver, no_delivery_on_commit):
    message = enqueue()

    def slow_handler(claimed):
        # while this worker is slow, its lease ends and a sweep claims the message again
        assert outbox._claim(claimed.pk, later(minutes=6)) is not None

    outbox._handlers[KIND] = slow_handler
    try:
        assert outbox_deliver(message.pk) == outbox.LOST_LEASE
    finally:
        outbox._handlers[KIND] = record

    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.DELIVERING, 2)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_deliver_every_message_exactly_once(receiver, no_delivery_on_commit):
    # given
    keys = [f"order:{n}:push" for n in range(40)]
    for key in keys:
        enqueue(key=key)
    start = threading.Barrier(2)
    errors = []

    def sweep():
        try:
            start.wait()
            outbox_sweep()
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    assert sorted(receiver.calls) == sorted(keys)
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {OutboxState.DELIVERED}
