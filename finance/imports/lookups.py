"""Looking rows up by many text keys at once: one array query on PostgreSQL (one parameter,
however many keys), IN-list chunks elsewhere. The keys go as one JSON array the server unpacks:
psycopg quotes a list's items one by one in Python (0.1 s for 100k keys), json.dumps at C speed."""

import json

from django.db import connection

CHUNK = 500  # SQLite allows a few hundred variables per statement on old builds


def values_in(model, field: str, keys: list[str], fields: tuple[str, ...], **equal) -> list[tuple]:
    """`fields` of the rows whose `field` is one of `keys` (and whose other fields equal `equal`)."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    if connection.vendor != "postgresql":
        rows = []
        for start in range(0, len(keys), CHUNK):
            rows += model.objects.filter(
                **{f"{field}__in": keys[start : start + CHUNK]}, **equal
            ).values_list(*fields)
        return rows
    quote = connection.ops.quote_name
    column = {f.name: f.column for f in model._meta.concrete_fields} | {
        f.column: f.column for f in model._meta.concrete_fields
    }
    conditions = "".join(f" AND t.{quote(column[name])} = %s" for name in equal)
    # A join, not `= ANY(ARRAY(SELECT …))`: that array is a parameter the planner cannot see, and
    # it may scan the table comparing every row with every key (minutes for 100k × 100k).
    sql = (
        f"SELECT {', '.join('t.' + quote(column[name]) for name in fields)} "  # noqa: S608
        f"FROM {quote(model._meta.db_table)} AS t "
        f"JOIN jsonb_array_elements_text(%s::jsonb) AS wanted(key) ON t.{quote(column[field])} = wanted.key"
        f"{conditions}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(keys), *equal.values()])
        return cursor.fetchall()
