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
    conditions = " ".join(f"AND {quote(column[name])} = %s" for name in equal)
    sql = (
        f"SELECT {', '.join(quote(column[name]) for name in fields)} FROM {quote(model._meta.db_table)} "  # noqa: S608
        f"WHERE {quote(column[field])} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb))) {conditions}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(keys), *equal.values()])
        return cursor.fetchall()
