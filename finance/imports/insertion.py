"""Inserting a confirmed batch's checked lines: each booked in its period (looked up once per
month), matched to the order and payment it names, then written with one COPY on PostgreSQL or
bulk_create batches elsewhere, inside the caller's transaction."""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import DatabaseError, connection, connections

from core.timezones import business_zone
from finance.imports.models import ImportBatch, StatementLine
from finance.imports.references import references_resolve
from finance.imports.staging import StagedLine
from finance.periods import booking_note, period_for, period_for_booking

logger = logging.getLogger(__name__)

INSERT_BATCH = 5_000
COPY_CHUNK = 5_000
COPY_PROGRESS_EVERY = 20_000  # a multiple of COPY_CHUNK
COPY_NULL = "\\N"
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
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
    if not lines:
        return 0
    bookings = book_periods(lines)
    references = references_resolve(lines, batch.source)
    count = len(lines)
    # column by column: the transpositions are zip's work (C), not a Python call per line
    period_ids, notes = zip(*[bookings[line.row_number] for line in lines], strict=True)
    order_ids, payment_ids, matched_by = zip(*map(references.match, lines), strict=True)
    columns = dict(zip(StagedLine._fields, zip(*lines, strict=True), strict=True)) | {
        "batch_id": (batch.pk,) * count,
        "source": (batch.source,) * count,
        "period_id": period_ids,
        "period_note": notes,
        "order_id": order_ids,
        "payment_id": payment_ids,
        "matched_by": matched_by,
    }
    rows = list(zip(*[columns[name] for name in COLUMNS], strict=True))
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
    """The rows in COPY's text format, made column by column (one Python call per column, not per
    value: psycopg's write_row took 0.5 s for 100k rows), COPY_CHUNK rows at a time so that the
    server is at work on a chunk while the next one is made."""
    table = StatementLine._meta.db_table
    progress = _OutOfBandProgress(batch_id)
    try:
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,  # noqa: S608
        ):
            for start in range(0, len(rows), COPY_CHUNK):
                chunk = rows[start : start + COPY_CHUNK]
                columns = map(_copy_texts, zip(*chunk, strict=True))
                copy.write("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n")
                if (start + len(chunk)) % COPY_PROGRESS_EVERY == 0:
                    progress(start + len(chunk))
    finally:
        progress.close()


def _copy_texts(values: tuple) -> Sequence[str]:
    """One column's values as COPY text, all at once by their type."""
    kinds = set(map(type, values))

    def only(*types) -> bool:
        return all(issubclass(kind, types) for kind in kinds)

    if only(str):
        joined = "".join(values)
        if any(char in joined for char in "\\\t\n\r"):
            return [value.translate(COPY_ESCAPES) for value in values]
        return values
    if only(datetime):
        return list(map(datetime.isoformat, values))
    if only(int, Decimal) and bool not in kinds:
        return list(map(str, values))
    if only(int, type(None)) and bool not in kinds:
        return [COPY_NULL if value is None else str(value) for value in values]
    raise ValueError(f"no COPY text for {kinds}")  # the import fails whole, as an internal error


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
            table = ImportBatch._meta.db_table
            # Not while the row is locked (import_commit holds it for the whole insert): SKIP
            # LOCKED updates nothing at once, where waiting out the lock timeout cost 0.2 s.
            row = f"(SELECT id FROM {table} WHERE id = %s FOR UPDATE SKIP LOCKED)"  # noqa: S608
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET processed_rows = %s WHERE id = {row}",  # noqa: S608
                    [rows, self.batch_id],
                )
        except DatabaseError:  # progress is a nicety; the import goes on without it
            self.given_up = True
            logger.warning("import %s: progress not recorded", self.batch_id)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def lines_by_month(lines: list[StagedLine]) -> dict[tuple[int, int], list[StagedLine]]:
    """The lines by (year, month) in the business time zone. A moment between the 3rd and the 26th
    of its month is in that month in any zone (UTC offsets are under a day, two zones' under two
    days apart): only the others are converted."""
    zone = business_zone()
    by_month: dict[tuple[int, int], list[StagedLine]] = defaultdict(list)
    for line in lines:
        moment = line.occurred_at
        if not 3 <= moment.day <= 26:
            moment = moment.astimezone(zone)
        by_month[moment.year, moment.month].append(line)
    return by_month


def book_periods(lines: list[StagedLine]) -> dict[int, Booking]:
    """Row number → booking. Periods are looked up once per month; only lines dated in a closed
    month get their own note (the next open period, and when they were dated)."""
    booked = {}
    for month_lines in lines_by_month(lines).values():
        first = month_lines[0].occurred_at
        period, note = period_for_booking(first)
        if not note:
            booked.update(dict.fromkeys([line.row_number for line in month_lines], Booking(period.pk, "")))
            continue
        own = period_for(first)  # closed: the month's own period, for the notes
        booked.update(
            {
                line.row_number: Booking(period.pk, booking_note(line.occurred_at, own, period))
                for line in month_lines
            }
        )
    return booked
