"""Celery's task signals count outcomes per task and minute; the counters add up exactly under
concurrent workers, eager runs are not counted, and the rates read the last minutes only."""

import threading
from datetime import timedelta

import pytest
from celery import shared_task
from celery import signals as celery_signals
from django.db import connection
from django.utils import timezone

from ops.models import TaskOutcomeMinute
from ops.task_outcomes import (
    FAILED,
    RETRIED,
    SUCCEEDED,
    task_outcome_rates,
    task_outcome_record,
    task_outcomes_by_task,
    task_outcomes_prune,
)


@shared_task(name="ops.tests.sample")
def sample_task():
    return "done"


@pytest.mark.django_db
def test_signals_from_a_worker_run_are_counted_per_task_and_minute():
    # a worker's run: the task's request is not eager (the default request context)
    celery_signals.task_success.send(sender=sample_task, result="done")
    celery_signals.task_success.send(sender=sample_task, result="done")
    celery_signals.task_retry.send(sender=sample_task, request=sample_task.request, reason="busy")
    celery_signals.task_failure.send(sender=sample_task, task_id="x", exception=ValueError("boom"))

    row = TaskOutcomeMinute.objects.get(task="ops.tests.sample")
    assert (row.succeeded, row.retried, row.failed) == (2, 1, 1)
    assert (row.minute.second, row.minute.microsecond) == (0, 0)
    assert timezone.now() - row.minute < timedelta(minutes=2)


@pytest.mark.django_db
def test_an_eager_run_is_not_counted():
    assert sample_task.apply().get() == "done"  # eager: in-process, as in tests or a shell

    assert not TaskOutcomeMinute.objects.exists()


@pytest.mark.django_db
def test_rates_cover_the_window_only():
    now = timezone.now()
    for _ in range(9):
        task_outcome_record("a", SUCCEEDED, at=now)
    task_outcome_record("a", RETRIED, at=now - timedelta(minutes=2))
    task_outcome_record("b", FAILED, at=now - timedelta(minutes=30))  # outside a 5-minute window

    rates = task_outcome_rates(minutes=5, now=now)

    assert (rates.succeeded, rates.retried, rates.failed, rates.total) == (9, 1, 0, 10)
    assert rates.retry_rate == pytest.approx(0.1)
    assert task_outcome_rates(minutes=60, now=now).failed == 1
    assert [row.task for row in task_outcomes_by_task(minutes=60, now=now)] == ["a", "b"]


@pytest.mark.django_db
def test_old_counters_are_pruned():
    now = timezone.now()
    task_outcome_record("a", SUCCEEDED, at=now - timedelta(hours=50))
    task_outcome_record("a", SUCCEEDED, at=now)

    assert task_outcomes_prune(keep=timedelta(hours=48), now=now) == 1
    assert TaskOutcomeMinute.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_lose_no_count():
    at = timezone.now()
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            for _ in range(25):
                task_outcome_record("busy", SUCCEEDED, at=at)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert TaskOutcomeMinute.objects.get(task="busy").succeeded == 100
