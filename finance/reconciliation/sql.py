"""What the reconciliation's hand-written SQL shares: quoted table names, our own constants as
SQL literals, and the batch size of its id lists and bulk writes."""

from collections.abc import Iterable

from django.db import connection

CHUNK = 2_000  # ids per IN-list, rows per bulk write


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def constants(values: Iterable[str]) -> str:
    """Constants defined in this package (never user input) as a list of SQL string literals."""
    return ", ".join(f"'{value}'" for value in values)
