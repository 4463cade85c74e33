"""Statement imports: upload → check every row (a Celery task, with progress) → preview →
confirm → insert everything in one transaction (a Celery task), or reject the file with its
errors. Nothing is written for a file with any error, and an entry imported before is never
overwritten.

Fast path: the fast XLSX/CSV reader (readers.py), validation in Python (validation.py), the
checked rows staged as one compressed file (staging.py), then at confirm one COPY (PostgreSQL) or
bulk_create batches (SQLite), with periods booked per month and orders / payments resolved with a
few set lookups (insertion.py).
"""

import gc
import logging
import uuid
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.handoff import INFRASTRUCTURE_ERRORS, publish_on_commit, record_start
from finance.imports.insertion import insert_lines, lines_by_month
from finance.imports.layouts import layout_from_snapshot, layout_get
from finance.imports.models import ImportBatch, ImportState
from finance.imports.readers import EXTENSIONS, FileRejected, read_sheet
from finance.imports.staging import StagedLine, stage, unstage
from finance.imports.validation import (
    CheckResult,
    RowError,
    check_statement,
    preview_rows,
    summarise,
)

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 60 * 1024 * 1024
STALE_CHECK = timedelta(minutes=10)  # a check takes seconds; one "checking" this long lost its worker
PAGE_ERRORS = 200  # errors shown on the batch's page; the error report has all of them


@contextmanager
def collector_paused():
    """A 100k-row file makes about a million long-lived objects and no reference cycles; the
    cyclic garbage collector would rescan them over and over (half the import's time). Reference
    counting still frees everything; the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _require(actor, perm: str, message: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(message)


# --- upload ------------------------------------------------------------------------------------


def import_upload(*, file, layout_key: str, actor=None) -> ImportBatch:
    """Store the file and queue its check. `file` is an uploaded file (name, size, chunks)."""
    _require(actor, "finance.add_importbatch", _("You are not allowed to import statements."))
    layout = layout_get(layout_key)
    name = PurePosixPath(str(getattr(file, "name", "") or "upload")).name
    suffix = PurePosixPath(name.lower()).suffix
    if suffix not in EXTENSIONS:
        raise FileRejected(_("Upload an Excel (.xlsx) or CSV (.csv) file."))
    if not file.size:
        raise FileRejected(_("The file is empty."))
    if file.size > MAX_UPLOAD_BYTES:
        raise FileRejected(
            _("The file is larger than %(mb)s MB.") % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)}
        )
    with transaction.atomic():
        batch = ImportBatch(
            source=layout.source,
            layout_name=layout.name[:100],
            layout=layout.snapshot(),
            file_name=name[:255],
            created_by=actor,
        )
        batch.file.save(f"{uuid.uuid4().hex}{suffix}", file, save=False)
        batch.save()
        from finance.tasks import validate_import

        publish_on_commit(validate_import, batch.pk)  # the sweeper hands it over if this is lost
    return batch


# --- checking ----------------------------------------------------------------------------------


def _progress(batch_id: int, rows: int) -> None:
    # updated_at is the check's heartbeat: one silent for STALE_CHECK lost its worker.
    ImportBatch.objects.filter(pk=batch_id).update(processed_rows=rows, updated_at=timezone.now())


def import_validate(*, batch_id: int) -> ImportBatch:
    """Check every row of an uploaded file; idempotent (a batch is checked once). Its start is
    counted (in `attempts`, for the sweeper) in a transaction of its own, before the check."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        stale = batch.updated_at < timezone.now() - STALE_CHECK
        interrupted = batch.state == ImportState.VALIDATING and stale
        if batch.state != ImportState.UPLOADED and not interrupted:
            return batch  # checked already, or being checked by another worker
        if not interrupted:  # a worker that died mid-check: its redelivered task checks again
            batch.start_validation()
        batch.attempts += 1
        batch.save()
    layout = layout_from_snapshot(batch.layout)
    try:
        with batch.file.open("rb") as handle:
            data = handle.read()
        with collector_paused():
            sheet = read_sheet(data, batch.file_name)
            batch.total_rows = sheet.row_count
            ImportBatch.objects.filter(pk=batch.pk).update(total_rows=sheet.row_count, processed_rows=0)
            result = check_statement(sheet, layout, progress=partial(_progress, batch.pk))
    except FileRejected as exc:
        return _reject(
            batch, exc.message, CheckResult(errors=[RowError(0, _("file"), exc.message)], error_count=1)
        )
    except INFRASTRUCTURE_ERRORS:
        raise  # not the file's fault: the check goes silent and the sweeper has it done again
    except Exception:
        logger.exception("statement import %s could not be checked", batch.pk)
        return _fail(
            batch.pk, _("The file could not be checked because of an internal error; nothing was imported.")
        )
    batch.processed_rows = batch.total_rows = result.rows_read
    if result.error_count:
        message = _(
            "%(n)s errors: nothing will be imported. Correct the rows named below and upload the file again."
        ) % {"n": result.error_count}
        return _reject(batch, message, result)
    if not result.lines:
        message = _("Every line of this file was imported before: nothing new to import.")
        batch.duplicate_count = result.duplicates
        return _reject(batch, message, result)
    with transaction.atomic(), collector_paused():
        batch.staged.save(f"{uuid.uuid4().hex}.json.z", ContentFile(stage(result.lines)), save=False)
        batch.line_count = len(result.lines)
        batch.duplicate_count = result.duplicates
        batch.preview = preview_rows(result)
        batch.summary = {**summarise(result), "closed_months": _closed_months(result.lines)}
        batch.accept()
        batch.save()
    return batch


def _reject(batch: ImportBatch, message: str, result: CheckResult) -> ImportBatch:
    with transaction.atomic():
        batch.errors = [error.as_dict() for error in result.errors]
        batch.error_count = result.error_count
        batch.reject(message=message)
        batch.finished_at = timezone.now()
        batch.save()
    return batch


def _fail(batch_id: int, message: str) -> ImportBatch:
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.state in (ImportState.UPLOADED, ImportState.VALIDATING, ImportState.IMPORTING):
            batch.fail(message=message, at=timezone.now())
            batch.save()
    return batch


def _closed_months(lines: list[StagedLine]) -> list[str]:
    from finance.models import AccountingPeriod, PeriodState

    months = set(lines_by_month(lines))
    closed = set(AccountingPeriod.objects.filter(state=PeriodState.CLOSED).values_list("year", "month"))
    return [f"{year:04d}-{month:02d}" for year, month in sorted(months & closed)]


# --- confirming and importing ---------------------------------------------------------------


def import_confirm(*, batch_id: int, actor=None) -> ImportBatch:
    _require(actor, "finance.add_importbatch", _("You are not allowed to import statements."))
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.state != ImportState.VALID:
            raise TransitionRefused(
                _("This import is %(state)s: only a checked file without errors can be imported.")
                % {"state": batch.get_state_display().lower()}
            )
        batch.confirm(by=actor, at=timezone.now())
        batch.processed_rows, batch.total_rows = 0, batch.line_count
        # the sweeper's counts start afresh for the insert
        batch.handoffs, batch.next_handoff_at, batch.attempts = 0, None, 0
        batch.save()
        from finance.tasks import commit_import

        publish_on_commit(commit_import, batch.pk)
    return batch


def import_commit(*, batch_id: int) -> ImportBatch:
    """Insert a confirmed batch's lines, all or none; safe to run twice (the second finds it done).
    The batch row stays locked while its lines go in: two workers take turns, and the sweeper
    leaves a batch being imported alone. A database error (a restart, a lost connection) is
    raised for the task to retry; the batch stays "importing" and nothing was written. The
    start is counted first, committed on its own (the insert's rollback keeps it)."""
    importing = ImportBatch.objects.filter(pk=batch_id, state=ImportState.IMPORTING)
    if not record_start(importing, started="attempts"):
        return ImportBatch.objects.get(pk=batch_id)
    batch = ImportBatch.objects.get(pk=batch_id)
    try:
        with batch.staged.open("rb") as handle, collector_paused():
            lines = unstage(handle.read())
        with transaction.atomic(), collector_paused():
            batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
            if batch.state != ImportState.IMPORTING:
                return batch
            count = insert_lines(batch, lines)
            batch.imported_count = count
            batch.processed_rows = batch.total_rows = len(lines)
            batch.finish(at=timezone.now())
            batch.save()
    except DomainError as exc:
        return _fail(batch_id, exc.message)
    except INFRASTRUCTURE_ERRORS:
        raise
    except IntegrityError:
        return _fail(
            batch_id,
            _(
                "Some of these entries were imported by another import meanwhile; nothing was imported. "
                "Upload the file again."
            ),
        )
    except (DatabaseError, OSError, ValueError):
        logger.exception("statement import %s failed", batch_id)
        return _fail(batch_id, _("The import failed because of an internal error; nothing was imported."))
    return batch


# --- error report ------------------------------------------------------------------------------


def import_error_rows(batch: ImportBatch):
    """(row, column, value, problem) for the downloadable error report."""
    for error in batch.errors:
        yield (error["row"] or "", error["column"], error.get("value", ""), error["message"])
    if batch.error_count > len(batch.errors):
        yield ("", "", "", _("… and %(n)s more errors.") % {"n": batch.error_count - len(batch.errors)})
