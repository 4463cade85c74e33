"""Statement imports: upload → check every row (a Celery task, with progress) → preview →
confirm → insert everything in one transaction (a Celery task), or reject the file with its
errors. Nothing is written for a file with any error, and an entry imported before is never
overwritten.

Fast path: the fast XLSX/CSV reader, validation in Python, the checked rows staged as one
compressed file, then at confirm one COPY (PostgreSQL) or bulk_create batches (SQLite), with
periods booked per month and orders / payments resolved with a few set lookups.
"""

import gc
import json
import logging
import re
import uuid
import zlib
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import PurePosixPath

from django.core.files.base import ContentFile
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.timezones import business_zone
from finance.imports.layouts import layout_from_snapshot, layout_get
from finance.imports.lookups import values_in
from finance.imports.models import ImportBatch, ImportState, StatementLine, StatementSource
from finance.imports.readers import EXTENSIONS, FileRejected, read_sheet
from finance.imports.validation import (
    CheckResult,
    RowError,
    check_statement,
    preview_rows,
    summarise,
)
from finance.periods import booking_note, period_for, period_for_booking

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 60 * 1024 * 1024
STALE_CHECK = timedelta(minutes=10)  # a check takes seconds; one "checking" this long lost its worker
INSERT_BATCH = 5_000
PAGE_ERRORS = 200  # errors shown on the batch's page; the error report has all of them
TMALL_MERCHANT_ORDER = re.compile(r"^T\d{3}P(\d{6,})$")  # Tmall orders in Alipay statements: T200P<tid>


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

        transaction.on_commit(partial(validate_import.delay, batch.pk))
    return batch


# --- checking ----------------------------------------------------------------------------------


def _progress(batch_id: int, rows: int) -> None:
    ImportBatch.objects.filter(pk=batch_id).update(processed_rows=rows)


def import_validate(*, batch_id: int) -> ImportBatch:
    """Check every row of an uploaded file; idempotent (a batch is checked once)."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        stale = batch.updated_at < timezone.now() - STALE_CHECK
        interrupted = batch.state == ImportState.VALIDATING and stale
        if batch.state != ImportState.UPLOADED and not interrupted:
            return batch  # checked already, or being checked by another worker
        if not interrupted:  # a worker that died mid-check: its redelivered task checks again
            batch.start_validation()
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
        batch.staged.save(f"{uuid.uuid4().hex}.json.z", ContentFile(_stage(result.lines)), save=False)
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


def _stage(lines: list[tuple]) -> bytes:
    rows = [[*line[:4], line[4].isoformat(), str(line[5]), *line[6:]] for line in lines]
    return zlib.compress(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode(), 1)


def _unstage(data: bytes) -> list[tuple]:
    return [
        (*row[:4], datetime.fromisoformat(row[4]), Decimal(row[5]), *row[6:])
        for row in json.loads(zlib.decompress(data))
    ]


def _closed_months(lines: list[tuple]) -> list[str]:
    from finance.models import AccountingPeriod, PeriodState

    zone = business_zone()
    months = {(local.year, local.month) for local in (line[4].astimezone(zone) for line in lines)}
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
        batch.save()
        from finance.tasks import commit_import

        transaction.on_commit(partial(commit_import.delay, batch.pk))
    return batch


def import_commit(*, batch_id: int) -> ImportBatch:
    """Insert a confirmed batch's lines, all or none; safe to run twice (the second finds it done)."""
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.state != ImportState.IMPORTING:
        return batch
    try:
        with batch.staged.open("rb") as handle, collector_paused():
            lines = _unstage(handle.read())
        with transaction.atomic(), collector_paused():
            _serialise(batch.pk)
            batch = ImportBatch.objects.get(pk=batch_id)
            if batch.state != ImportState.IMPORTING:
                return batch
            count = _insert(batch, lines)
            batch.imported_count = count
            batch.processed_rows = batch.total_rows = len(lines)
            batch.finish(at=timezone.now())
            batch.save()
    except DomainError as exc:
        return _fail(batch_id, exc.message)
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


def _serialise(batch_id: int) -> None:
    """Two workers committing the same batch take turns (SQLite writers already do)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7301, batch_id])


def _insert(batch: ImportBatch, lines: list[tuple]) -> int:
    # Lines another import brought in since the check collide on the unique constraint: the
    # whole import then fails (IntegrityError) and a new upload skips them.
    periods = _book_periods(lines)
    orders, payments = references_resolve(lines, batch.source)
    rows = []
    for line in lines:
        period_id, note = periods[line[0]]
        order_id, payment_id, matched_by = reference_match(line, batch.source, orders, payments)
        rows.append(
            (
                batch.pk,
                batch.source,
                line[2],
                line[1],
                line[3],
                line[4],
                period_id,
                note,
                line[5],
                line[6],
                line[7],
                line[8],
                line[9],
                line[10],
                line[11],
                line[12],
                line[0],
                order_id,
                payment_id,
                matched_by,
            )
        )
    if connection.vendor == "postgresql":
        _copy(rows, batch.pk)
    else:
        for start in range(0, len(rows), INSERT_BATCH):
            StatementLine.objects.bulk_create(
                [
                    StatementLine(**dict(zip(COLUMNS, row, strict=True)))
                    for row in rows[start : start + INSERT_BATCH]
                ]
            )
    return len(rows)


COLUMNS = (
    "batch_id",
    "source",
    "account",
    "entry_id",
    "kind",
    "occurred_at",
    "period_id",
    "period_note",
    "amount",
    "currency",
    "transaction_id",
    "order_ref",
    "counterparty",
    "memo",
    "description",
    "method",
    "row_number",
    "order_id",
    "payment_id",
    "matched_by",
)


def _copy(rows: list[tuple], batch_id: int) -> None:
    table = StatementLine._meta.db_table
    progress = _OutOfBandProgress(batch_id)
    try:
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,  # noqa: S608
        ):
            for index, row in enumerate(rows, start=1):
                copy.write_row(row)
                if index % 20_000 == 0:
                    progress(index)
    finally:
        progress.close()


class _OutOfBandProgress:
    """Progress written on a second connection, so the page sees it while the import's own
    transaction is still open."""

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.connection = None

    def __call__(self, rows: int) -> None:
        try:
            if self.connection is None:
                self.connection = connections.create_connection("default")
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {ImportBatch._meta.db_table} SET processed_rows = %s WHERE id = %s",  # noqa: S608
                    [rows, self.batch_id],
                )
        except DatabaseError:  # progress is a nicety; the import goes on without it
            logger.warning("import %s: progress not recorded", self.batch_id)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def _book_periods(lines: list[tuple]) -> dict[int, tuple[int, str]]:
    """Row number → (period id, note). Periods are looked up once per month; only lines dated in a
    closed month get their own note (the next open period, and when they were dated)."""
    by_month: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    zone = business_zone()
    for line in lines:
        local = line[4].astimezone(zone)
        by_month[(local.year, local.month)].append(line)
    booked = {}
    for month_lines in by_month.values():
        period, note = period_for_booking(month_lines[0][4])
        if not note:
            booked.update({line[0]: (period.pk, "") for line in month_lines})
            continue
        own = period_for(month_lines[0][4])  # closed: the month's own period, for the notes
        booked.update({line[0]: (period.pk, booking_note(line[4], own, period)) for line in month_lines})
    return booked


def references_resolve(lines: list[tuple], source: str) -> tuple[dict, dict]:
    """Order ids by reference (our number, or a platform order id naming exactly one order) and
    payment (id, order id) by transaction id (naming exactly one payment)."""
    from finance.models import Payment
    from orders.models import Order

    refs = sorted({line[8] for line in lines if line[8]})
    orders: dict[str, int] = dict(values_in(Order, "number", refs, ("number", "id")))
    found: dict[str, list[int]] = defaultdict(list)
    external = sorted({_external_ref(ref) for ref in refs if ref not in orders})
    for external_id, order_id in values_in(Order, "external_id", external, ("external_id", "id")):
        found[external_id].append(order_id)
    orders.update({f"external:{key}": ids[0] for key, ids in found.items() if len(ids) == 1})
    transaction_ids = {line[7] for line in lines if line[7]}
    if source == StatementSource.BANK:
        transaction_ids |= {
            line[1] for line in lines
        }  # a bank transfer is recorded with the bank's reference
    payments: dict[str, tuple[int, int] | None] = {}
    rows = values_in(Payment, "transaction_id", sorted(transaction_ids), ("transaction_id", "id", "order_id"))
    for transaction_id, payment_id, order_id in rows:
        payments[transaction_id] = None if transaction_id in payments else (payment_id, order_id)
    return orders, payments


def _external_ref(ref: str) -> str:
    tmall = TMALL_MERCHANT_ORDER.match(ref)
    return tmall.group(1) if tmall else ref


def reference_match(line: tuple, source: str, orders: dict, payments: dict) -> tuple:
    """(order id, payment id, matched by) for one line, from references_resolve's lookups."""
    order_id = payment_id = None
    matched_by = ""
    ref = line[8]
    if ref:
        order_id = orders.get(ref)
        if order_id is not None:
            matched_by = "order_number"
        else:
            order_id = orders.get(f"external:{_external_ref(ref)}")
            matched_by = "external_id" if order_id is not None else ""
    payment = payments.get(line[7]) if line[7] else None
    if payment is None and source == StatementSource.BANK:
        payment = payments.get(line[1])
    if payment is not None and (order_id is None or order_id == payment[1]):
        payment_id = payment[0]
        if order_id is None:
            order_id, matched_by = payment[1], "transaction_id"
    return order_id, payment_id, matched_by


# --- error report ------------------------------------------------------------------------------


def import_error_rows(batch: ImportBatch):
    """(row, column, value, problem) for the downloadable error report."""
    for error in batch.errors:
        yield (error["row"] or "", error["column"], error.get("value", ""), error["message"])
    if batch.error_count > len(batch.errors):
        yield ("", "", "", _("… and %(n)s more errors.") % {"n": batch.error_count - len(batch.errors)})
