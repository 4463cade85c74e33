"""Inserting a confirmed batch's checked lines: each booked in its period (looked up once per
month), matched to the order and payment it names, then written with one COPY on PostgreSQL or
bulk_create batches elsewhere, inside the caller's transaction."""

import logging
from collections import defaultdict
from typing import NamedTuple

from django.db import DatabaseError, connection, connections

from core.timezones import business_zone
from finance.imports.models import ImportBatch, StatementLine
from finance.imports.references import references_resolve
from finance.imports.staging import StagedLine
from finance.periods import booking_note, period_for, period_for_booking

logger = logging.getLogger(__name__)

INSERT_BATCH = 5_000
COPY_PROGRESS_EVERY = 20_000
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


class Booking(NamedTuple):
    period_id: int
    note: str  # why a line sits in another period than its date's (that one is closed); "" if not


def insert_lines(batch: ImportBatch, lines: list[StagedLine]) -> int:
    # Lines another import brought in since the check collide on the unique constraint: the
    # whole import then fails (IntegrityError) and a new upload skips them.
    bookings = book_periods(lines)
    references = references_resolve(lines, batch.source)
    rows = []
    for line in lines:
        booking = bookings[line.row_number]
        found = references.match(line)
        rows.append(
            (
                batch.pk,
                batch.source,
                line.account,
                line.entry_id,
                line.kind,
                line.occurred_at,
                booking.period_id,
                booking.note,
                line.amount,
                line.currency,
                line.transaction_id,
                line.order_ref,
                line.counterparty,
                line.memo,
                line.description,
                line.method,
                line.row_number,
                found.order_id,
                found.payment_id,
                found.matched_by,
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
                if index % COPY_PROGRESS_EVERY == 0:
                    progress(index)
    finally:
        progress.close()


class _OutOfBandProgress:
    """Progress written on a second connection, so the page sees it while the import's own
    transaction is still open."""

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.connection = None
        self.given_up = False

    def __call__(self, rows: int) -> None:
        if self.given_up:
            return
        try:
            if self.connection is None:
                self.connection = connections.create_connection("default")
                if self.connection.vendor == "postgresql":
                    with self.connection.cursor() as cursor:
                        # The import's own transaction may hold the batch row (import_commit locks
                        # it): waiting for that lock would be waiting for ourselves, for ever.
                        cursor.execute("SET lock_timeout = '200ms'")
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {ImportBatch._meta.db_table} SET processed_rows = %s WHERE id = %s",  # noqa: S608
                    [rows, self.batch_id],
                )
        except DatabaseError:  # progress is a nicety; the import goes on without it
            self.given_up = True
            logger.warning("import %s: progress not recorded", self.batch_id)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def book_periods(lines: list[StagedLine]) -> dict[int, Booking]:
    """Row number → booking. Periods are looked up once per month; only lines dated in a closed
    month get their own note (the next open period, and when they were dated)."""
    by_month: dict[tuple[int, int], list[StagedLine]] = defaultdict(list)
    zone = business_zone()
    for line in lines:
        local = line.occurred_at.astimezone(zone)
        by_month[(local.year, local.month)].append(line)
    booked = {}
    for month_lines in by_month.values():
        first = month_lines[0].occurred_at
        period, note = period_for_booking(first)
        if not note:
            booked.update({line.row_number: Booking(period.pk, "") for line in month_lines})
            continue
        own = period_for(first)  # closed: the month's own period, for the notes
        booked.update(
            {
                line.row_number: Booking(period.pk, booking_note(line.occurred_at, own, period))
                for line in month_lines
            }
        )
    return booked
