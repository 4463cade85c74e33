"""Durable hand-offs of statement imports and reconciliation runs (issue #13): a run or import
whose task never ran, died or hit a database error is handed to a worker again by the sweeper,
with bounded hand-offs, and can be retried from the desk; a stuck run never blocks a new one.
The fault test with a real worker is test_fault_tolerance.py; these run in-process (eager)."""

from datetime import timedelta

import psycopg
import pytest
from celery.exceptions import Retry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.utils import timezone

from core.errors import TransitionRefused
from core.tests.real_worker import DEAD_BROKER, publishing_to
from finance.imports import services as import_services
from finance.imports.models import ImportBatch, ImportState, StatementLine
from finance.imports.recovery import import_retry, imports_sweep
from finance.reconciliation import engine
from finance.reconciliation.models import ReconciliationRun, RunState
from finance.reconciliation.recovery import reconciliation_retry, runs_sweep
from finance.reconciliation.services import reconciliation_execute, reconciliation_start
from finance.tests.statements import BANK, BANK_HEADER, csv_bytes, upload

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=3)  # past the 60 s grace set below


@pytest.fixture(autouse=True)
def handoffs(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.HANDOFF_GRACE_SECONDS = 60
    settings.HANDOFF_MAX_ATTEMPTS = 2
    return settings


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def stranded_run():
    """A run started while the broker was down: stored, its task never published."""
    with publishing_to(DEAD_BROKER):
        run, created = reconciliation_start(year=2026, month=1)
    assert created
    return run


def state(row) -> str:
    row.refresh_from_db()
    return row.state


# --- reconciliation runs -----------------------------------------------------------------------


def test_starting_a_run_while_the_broker_is_down_stores_it_queued(capture, caplog):
    with publishing_to(DEAD_BROKER), capture(execute=True):  # published after commit, and refused
        run, created = reconciliation_start(year=2026, month=1)

    assert created and state(run) == RunState.QUEUED
    assert "could not publish finance.tasks.run_reconciliation" in caplog.text


def test_the_sweeper_hands_a_queued_run_to_a_worker_after_its_grace(capture):
    run = stranded_run()

    with capture(execute=True):
        assert runs_sweep(now=run.created_at + timedelta(seconds=59)).handed_over == []
    with capture(execute=True):
        assert runs_sweep(now=run.created_at + timedelta(seconds=61)).handed_over == [run.pk]

    assert state(run) == RunState.DONE and run.handoffs == 1


def test_a_running_run_whose_worker_died_is_queued_again_and_done(capture):
    run = stranded_run()
    started = timezone.now() - LATER  # a worker claimed it, then died: nobody holds its row
    ReconciliationRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=started)

    with capture(execute=True):
        assert runs_sweep(now=started + timedelta(seconds=30)).handed_over == []  # within its grace
        assert runs_sweep().handed_over == [run.pk]

    assert state(run) == RunState.DONE


def test_a_run_no_worker_starts_is_handed_over_and_never_given_up(capture):
    run = stranded_run()
    now = timezone.now() + LATER
    for _ in range(6):  # each hand-off waits in a queue no worker takes
        with capture():
            assert runs_sweep(now=now).handed_over == [run.pk]
        run.refresh_from_db()
        now = run.next_handoff_at

    assert runs_sweep(now=now).given_up == []
    assert state(run) == RunState.QUEUED and (run.handoffs, run.attempts) == (7, 0)

    with capture(execute=True):  # a worker returns
        runs_sweep(now=run.next_handoff_at)
    assert state(run) == RunState.DONE


def test_a_run_that_fails_each_time_it_starts_fails_after_its_starts_with_its_last_error(
    capture, monkeypatch
):
    run = stranded_run()

    def lost_connection(run):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(engine, "reconcile", lost_connection)
    now = timezone.now() + LATER
    for started in (1, 2):
        with capture() as published:
            assert runs_sweep(now=now).handed_over == [run.pk]
        with pytest.raises(Retry):
            published[0]()  # the task started; the run is queued again with its error, for a retry
        run.refresh_from_db()
        assert (run.state, run.attempts) == (RunState.QUEUED, started)
        now = run.next_handoff_at

    assert runs_sweep(now=now).given_up == [run.pk]
    assert state(run) == RunState.FAILED
    assert run.error == (
        "A worker started this run 2 times and never finished it. "
        "Last error: OperationalError: server closed the connection unexpectedly"
    )


def test_a_stuck_run_does_not_block_a_new_run_of_its_month(capture):
    stuck = stranded_run()

    joined, created = reconciliation_start(year=2026, month=1)  # within its grace: joined
    assert (joined.pk, created) == (stuck.pk, False)

    with capture(execute=True):
        run, created = reconciliation_start(year=2026, month=1, now=timezone.now() + LATER)

    assert created and run.pk != stuck.pk and state(run) == RunState.DONE
    assert state(stuck) == RunState.FAILED
    assert stuck.error == "No worker finished this run; a new run replaced it."


def test_a_database_error_puts_the_run_back_in_the_queue_and_the_task_retries_it(capture, monkeypatch):
    from config.celery import app
    from finance.tasks import run_reconciliation

    run = stranded_run()
    real, calls = engine.reconcile, []

    def flaky(run):
        calls.append(run.pk)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real(run)

    monkeypatch.setattr(engine, "reconcile", flaky)

    with pytest.raises(OperationalError):
        reconciliation_execute(run_id=run.pk)
    assert state(run) == RunState.QUEUED and run.error.startswith("OperationalError: terminating")

    calls.clear()
    # Eagerly, Celery re-runs a retried task only when errors are not propagated (as a worker).
    app.conf.task_eager_propagates = False
    try:
        assert run_reconciliation.delay(run.pk).get() == RunState.DONE
    finally:
        app.conf.task_eager_propagates = True
    assert len(calls) == 2 and state(run) == RunState.DONE and run.error == ""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_a_worker_is_doing_is_neither_swept_nor_replaced():
    run = stranded_run()
    started = timezone.now() - LATER
    ReconciliationRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=started)
    db = connection.settings_dict
    worker = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    )
    try:  # the worker doing the run holds its row
        table = ReconciliationRun._meta.db_table
        worker.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [run.pk])  # noqa: S608
        swept = runs_sweep()
        joined, created = reconciliation_start(year=2026, month=1)
    finally:
        worker.close()

    assert (swept.handed_over, swept.given_up) == ([], [])
    assert (joined.pk, created) == (run.pk, False)
    assert state(run) == RunState.RUNNING


def test_the_desk_retries_a_failed_run_and_refuses_a_done_one(capture, finance_client):
    failed = stranded_run()
    ReconciliationRun.objects.filter(pk=failed.pk).update(state=RunState.FAILED, error="boom")
    page = finance_client.get("/finance/reconciliation/")
    assert f'action="/finance/reconciliation/{failed.pk}/retry/"' in page.text

    with capture(execute=True):
        response = finance_client.post(f"/finance/reconciliation/{failed.pk}/retry/", follow=True)

    assert "Reconciliation of 2026-01 started again." in response.text
    run = ReconciliationRun.objects.exclude(pk=failed.pk).get()
    assert run.state == RunState.DONE
    response = finance_client.post(f"/finance/reconciliation/{run.pk}/retry/", follow=True)
    assert "This run is done: start a new run to reconcile the month again." in response.text


def test_the_desk_hands_a_stuck_run_to_a_worker(capture, finance_client):
    stuck = stranded_run()
    ReconciliationRun.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - LATER)

    with capture(execute=True):
        response = finance_client.post(f"/finance/reconciliation/{stuck.pk}/retry/", follow=True)

    assert f"Run #{stuck.pk} of 2026-01 was handed to a worker." in response.text
    assert state(stuck) == RunState.DONE


def test_retrying_a_run_needs_the_permission(client, agent):
    run = stranded_run()
    ReconciliationRun.objects.filter(pk=run.pk).update(state=RunState.FAILED)
    client.force_login(agent)

    assert client.post(f"/finance/reconciliation/{run.pk}/retry/").status_code == 403
    assert ReconciliationRun.objects.count() == 1


# --- statement imports -------------------------------------------------------------------------

ROWS = [BANK_HEADER, ["2026-02-01", "10.00", "CNY", "A", "x", "S-1"]]


def stranded_upload() -> ImportBatch:
    with publishing_to(DEAD_BROKER):
        batch = import_services.import_upload(
            file=SimpleUploadedFile("b.csv", csv_bytes(ROWS)), layout_key=BANK
        )
    assert state(batch) == ImportState.UPLOADED
    return batch


def test_an_uploaded_file_whose_check_never_ran_is_swept_checked_and_then_imported(capture):
    batch = stranded_upload()

    with capture(execute=True):
        assert imports_sweep(now=timezone.now() + LATER).handed_over == [batch.pk]
    assert state(batch) == ImportState.VALID

    with publishing_to(DEAD_BROKER):  # confirmed while the broker is down again
        import_services.import_confirm(batch_id=batch.pk)
    assert state(batch) == ImportState.IMPORTING and batch.handoffs == 0
    with capture(execute=True):
        assert imports_sweep(now=timezone.now() + LATER).handed_over == [batch.pk]

    assert state(batch) == ImportState.IMPORTED and StatementLine.objects.filter(batch=batch).count() == 1


def test_an_import_no_worker_starts_is_handed_over_and_never_given_up(capture):
    batch = stranded_upload()
    now = timezone.now() + LATER
    for _ in range(6):
        with capture():  # each hand-off waits in a queue no worker takes
            assert imports_sweep(now=now).handed_over == [batch.pk]
        batch.refresh_from_db()
        now = batch.next_handoff_at

    assert imports_sweep(now=now).given_up == []
    assert state(batch) == ImportState.UPLOADED and (batch.handoffs, batch.attempts) == (7, 0)


def test_an_import_whose_insert_dies_each_time_fails_after_its_starts_and_the_desk_retries_it(
    capture, finance_client, monkeypatch
):
    batch = upload(capture, csv_bytes(ROWS), "b.csv")
    with capture():  # confirmed; its task is lost
        import_services.import_confirm(batch_id=batch.pk)

    def worker_dies(batch, lines):
        raise SystemExit  # a killed worker: the insert's transaction is rolled back

    monkeypatch.setattr(import_services, "insert_lines", worker_dies)
    now = timezone.now() + LATER
    for started in (1, 2):
        with capture() as published:
            assert imports_sweep(now=now).handed_over == [batch.pk]
        with pytest.raises(SystemExit):
            published[0]()
        batch.refresh_from_db()
        assert (batch.state, batch.attempts) == (ImportState.IMPORTING, started)
        now = batch.next_handoff_at

    assert imports_sweep(now=now).given_up == [batch.pk]
    assert state(batch) == ImportState.FAILED
    assert batch.message == (
        "A worker started this import 2 times and never finished it; nothing was imported. Retry it."
    )
    page = finance_client.get(f"/finance/imports/{batch.pk}/")
    assert f'action="/finance/imports/{batch.pk}/retry/"' in page.text

    monkeypatch.undo()
    with capture(execute=True):
        finance_client.post(f"/finance/imports/{batch.pk}/retry/")

    assert state(batch) == ImportState.VALID
    assert (batch.message, batch.handoffs, batch.attempts) == ("", 0, 1)


def test_a_database_error_mid_import_leaves_it_importing_for_a_retry(capture, monkeypatch):
    batch = upload(capture, csv_bytes(ROWS), "b.csv")
    with capture():  # confirmed; the insert is run by hand below
        import_services.import_confirm(batch_id=batch.pk)

    def lost_connection(batch, lines):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(import_services, "insert_lines", lost_connection)
    with pytest.raises(OperationalError):
        import_services.import_commit(batch_id=batch.pk)
    assert state(batch) == ImportState.IMPORTING  # not failed: nothing is wrong with the file

    monkeypatch.undo()
    assert import_services.import_commit(batch_id=batch.pk).state == ImportState.IMPORTED


def test_a_checked_import_cannot_be_retried(capture, finance_user):
    batch = upload(capture, csv_bytes(ROWS), "b.csv")

    with pytest.raises(TransitionRefused, match="only a failed or stuck import can be retried"):
        import_retry(batch_id=batch.pk, actor=finance_user)


def test_retrying_an_import_needs_the_permission(client, agent):
    batch = stranded_upload()
    client.force_login(agent)

    assert client.post(f"/finance/imports/{batch.pk}/retry/").status_code == 403


def test_a_stuck_run_can_be_retried_by_the_service(capture):
    stuck = stranded_run()
    ReconciliationRun.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - LATER)

    with capture(execute=True):
        run, created = reconciliation_retry(run_id=stuck.pk)

    assert (run.pk, created) == (stuck.pk, False) and state(stuck) == RunState.DONE
