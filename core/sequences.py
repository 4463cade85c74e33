"""Gap-tolerant daily sequences that never block concurrent callers for long.

PostgreSQL: one native sequence per (name, day). `nextval` takes no row lock and is not rolled
back, so concurrent order creation never serialises on a counter row; a rolled-back order leaves
a gap, which order numbers tolerate. Other databases (SQLite, which serialises writers anyway):
an upsert on core_dailysequence.
"""

import re
from datetime import date

from django.db import connection, transaction

from core.models import DailySequence

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def next_values(*, name: str, day: date, count: int = 1) -> list[int]:
    """Reserve `count` consecutive-or-not, strictly increasing values of the day's sequence."""
    if not _NAME.match(name):
        raise ValueError(f"invalid sequence name {name!r}")
    if count < 1:
        raise ValueError("count must be positive")
    if connection.vendor == "postgresql":
        return _pg_next_values(f"seq_{name}_{day:%Y%m%d}", count)
    return _table_next_values(name, day, count)


def _pg_next_values(sequence: str, count: int) -> list[int]:
    with connection.cursor() as cursor:
        # One statement when the day's sequence exists: nextval is strict, so a sequence that
        # does not exist yet (to_regclass gives NULL) yields NULLs instead of an error.
        cursor.execute("SELECT nextval(to_regclass(%s)) FROM generate_series(1, %s)", [sequence, count])
        values = [row[0] for row in cursor.fetchall()]
        if values[0] is not None:
            return values
        _pg_create_sequence(cursor, sequence)
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [sequence, count])
        return [row[0] for row in cursor.fetchall()]


def _pg_create_sequence(cursor, sequence: str) -> None:
    # Concurrent CREATE SEQUENCE IF NOT EXISTS can still collide in the catalog; an advisory
    # lock held to the end of the (outer) transaction makes the first creator win cleanly.
    with transaction.atomic():
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [sequence])
        cursor.execute(f'CREATE SEQUENCE IF NOT EXISTS "{sequence}"')


def _table_next_values(name: str, day: date, count: int) -> list[int]:
    table = DailySequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, day, last_value) VALUES (%s, %s, %s) "
            f"ON CONFLICT (name, day) DO UPDATE SET last_value = {table}.last_value + %s "
            "RETURNING last_value",
            [name, day, count, count],
        )
        last = cursor.fetchone()[0]
    return list(range(last - count + 1, last + 1))
