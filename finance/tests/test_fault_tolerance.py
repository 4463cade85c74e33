"""A reconciliation run whose task was never published (issue #13), with real processes: a
Celery worker process on a real Redis broker and the PostgreSQL test database. The sweeper
hands the run to the worker, and the next run of the month is not blocked by it."""

import time

import pytest

from core.tests.real_worker import DEAD_BROKER, publishing_to, wait_until
from finance.reconciliation.models import ReconciliationRun, RunState
from finance.reconciliation.services import reconciliation_start
from finance.tasks import sweep_finance_handoffs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def state(run) -> str:
    return ReconciliationRun.objects.get(pk=run.pk).state


def test_a_run_never_published_is_swept_to_a_worker_and_the_next_run_is_not_blocked(real_broker, caplog):
    # given a run started while the broker is down
    with publishing_to(DEAD_BROKER):
        run, created = reconciliation_start(year=2026, month=1)
    assert created and state(run) == RunState.QUEUED
    assert "could not publish finance.tasks.run_reconciliation" in caplog.text

    with real_broker.publishing():
        # when a worker runs and the beat's sweeper fires
        real_broker.start_worker(HANDOFF_GRACE_SECONDS="1")
        time.sleep(1.2)  # past the sweeper's grace
        sweep_finance_handoffs.delay()

        # then the run is done
        wait_until(lambda: state(run) == RunState.DONE, what="the swept run to finish", broker=real_broker)

        # and a new run of the month starts and finishes
        again, created_again = reconciliation_start(year=2026, month=1)
        assert created_again and again.pk != run.pk
        wait_until(lambda: state(again) == RunState.DONE, what="the next run to finish", broker=real_broker)

    assert ReconciliationRun.objects.get(pk=run.pk).handoffs == 1
