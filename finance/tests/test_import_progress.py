"""An import's progress during its insert is written on a second connection while import_commit
holds the batch row: that write must give up rather than wait for the import's own lock (a
100k-row import used to hang for ever at its first progress report, 20,000 rows in)."""

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from finance.imports import insertion
from finance.imports.models import ImportBatch, StatementLine
from finance.tests.statements import BANK_HEADER, csv_bytes, import_file

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WATCHDOG_SECONDS = 10


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def _cancel_lock_waits(settings_dict) -> None:
    """Without the fix the test would hang: cancel whatever waits on a lock in this database."""
    with psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname=settings_dict["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )


def test_an_import_reporting_progress_while_its_batch_is_locked_finishes(
    settings, tmp_path, monkeypatch, capture
):
    # given: progress reported every 2 rows of the COPY
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(insertion, "COPY_CHUNK", 2)
    monkeypatch.setattr(insertion, "COPY_PROGRESS_EVERY", 2)
    rows = [BANK_HEADER] + [
        ["2026-01-05 10:00:00", f"{n}.00", "CNY", "客户", "货款", f"P{n:04d}"] for n in range(1, 11)
    ]
    watchdog = threading.Timer(WATCHDOG_SECONDS, _cancel_lock_waits, [connection.settings_dict])
    watchdog.start()
    started = time.monotonic()
    try:
        # when
        batch = import_file(capture, csv_bytes(rows), "bank.csv")
    finally:
        watchdog.cancel()
    elapsed = time.monotonic() - started

    # then: imported, and well before the watchdog would have freed it
    assert batch.state == "imported"
    assert StatementLine.objects.filter(batch=batch).count() == 10
    assert elapsed < WATCHDOG_SECONDS / 2


def test_progress_skips_a_locked_batch_row_at_once_and_is_written_once_the_row_is_free():
    batch = ImportBatch.objects.create(source="bank", layout_name="x", file_name="x.csv")
    progress = insertion._OutOfBandProgress(batch.pk)
    try:
        with transaction.atomic():
            ImportBatch.objects.select_for_update().get(pk=batch.pk)  # as import_commit holds it

            progress(5)

            assert not progress.given_up  # waiting would have hit the lock timeout and given up
        progress(7)
    finally:
        progress.close()

    batch.refresh_from_db()
    assert batch.processed_rows == 7 and not progress.given_up
