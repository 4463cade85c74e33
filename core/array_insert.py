"""Bulk inserts of model instances as one array statement (PostgreSQL): `INSERT … SELECT FROM
unnest(%s::type[], …)`, one array per column. Same rows as `bulk_create`, without what makes it
slow for thousands of rows (issue #18: ~70 % of an ingest batch was bulk_create compiling one
placeholder per field value): here the statement has one placeholder per column, whatever the
number of rows, and values are read straight from the instances.

Parameters travel in binary (binary_cursor). Only for PostgreSQL: callers keep `bulk_create` for
other databases (`make run` uses SQLite).
The ids come back in the order the rows were given, as with `bulk_create`, which relies on the
same property of `INSERT … SELECT … RETURNING` on PostgreSQL."""

import json
from collections.abc import Sequence

import psycopg
from django.db import connection
from django.db.models import Model

# Internal types whose Python values psycopg adapts as they are (after pre_save); any other
# field goes through its own get_db_prep_save, JSON is dumped by its field's encoder.
_NATIVE = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "EmailField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
}
_plans: dict[type[Model], list[tuple]] = {}


def binary_cursor():
    """A cursor on Django's connection (same transaction, same query logging) that binds its
    parameters on the server, so `%b` arrays travel in binary: Django's own cursors quote every
    element into the query text in Python, about four times slower for arrays of thousands."""
    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def _is_native(field, internal: str) -> bool:
    """A Django field of a native type whose value conversions are Django's own (not overridden
    by a third-party subclass such as a time-zone field)."""
    return internal in _NATIVE and all(
        getattr(type(field), name).__module__.startswith("django.db.models")
        for name in ("get_prep_value", "get_db_prep_value", "get_db_prep_save")
    )


def _plan(model: type[Model]) -> list[tuple]:
    """(field, column, array type, select expression, how to read the value) per inserted column."""
    if model not in _plans:
        plan = []
        for field in model._meta.concrete_fields:
            if field.primary_key:
                continue  # the sequence gives it
            internal = field.get_internal_type()
            if internal == "JSONField":
                array_type, expression, kind = "text[]", "{}::jsonb", "json"
            else:
                array_type = f"{field.cast_db_type(connection)}[]"
                expression, kind = "{}", "native" if _is_native(field, internal) else "prep"
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                kind = "pre_save"
            plan.append((field, field.column, array_type, expression, kind))
        _plans[model] = plan
    return _plans[model]


def _column(field, kind: str, objs: Sequence[Model]) -> list:
    attname = field.attname
    if kind == "native":
        return [getattr(obj, attname) for obj in objs]
    if kind == "json":
        encoder = field.encoder
        return [None if (v := getattr(obj, attname)) is None else json.dumps(v, cls=encoder) for obj in objs]
    if kind == "pre_save":
        return [field.pre_save(obj, True) for obj in objs]
    return [field.get_db_prep_save(getattr(obj, attname), connection) for obj in objs]


def insert_instances(
    objs: Sequence[Model], *, conflict_nothing: bool = False, returning: Sequence[str] = ("id",)
) -> list[tuple]:
    """Insert unsaved instances of one model in one statement; returns the `returning` columns of
    the inserted rows (in the given order). With `conflict_nothing` a row that breaks a unique
    constraint is skipped (ON CONFLICT DO NOTHING) and returns nothing: callers match the rows
    back by a unique column they asked for. Instances without conflicts get their pk set."""
    if not objs:
        return []
    model = type(objs[0])
    plan = _plan(model)
    columns = [_column(field, kind, objs) for field, _c, _a, _e, kind in plan]
    # A column whose rows all hold one value (the blank fields of an order, the batch's time)
    # travels as one scalar, not an array of as many copies: dumping arrays was a tenth of a batch.
    # One array always stays, so a single row still has its row count.
    constant = [len(objs) > 1 and values.count(values[0]) == len(values) for values in columns]
    if all(constant):
        constant[0] = False
    selected, arrays, scalars, unnested = [], [], [], []
    for i, ((_f, _c, array_type, expression, _k), values) in enumerate(zip(plan, columns, strict=True)):
        if constant[i]:
            selected.append(expression.format(f"%b::{array_type[:-2]}"))
            scalars.append(values[0])
        else:
            selected.append(expression.format(f"t.c{i}"))
            unnested.append((f"%b::{array_type}", f"c{i}"))
            arrays.append(values)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
        f"({', '.join(connection.ops.quote_name(column) for _f, column, *_r in plan)}) "
        f"SELECT {', '.join(selected)} FROM unnest({', '.join(p for p, _n in unnested)}) "
        f"AS t({', '.join(n for _p, n in unnested)})"
        f"{' ON CONFLICT DO NOTHING' if conflict_nothing else ''}"
    )
    if returning:
        sql += f" RETURNING {', '.join(connection.ops.quote_name(name) for name in returning)}"
    params = [*scalars, *arrays]  # in the order their placeholders appear
    with binary_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if returning else []
    if not conflict_nothing and tuple(returning[:1]) == ("id",):
        for obj, row in zip(objs, rows, strict=True):
            obj.pk = row[0]
            obj._state.adding = False
            obj._state.db = connection.alias
    return rows


def insert_all(objs, *, returning: bool = True) -> list:
    """bulk_create's rows as one array statement on PostgreSQL; bulk_create elsewhere (SQLite,
    which `make run` uses). Returns the instances, with their ids unless `returning` is False."""
    objs = list(objs)
    if not objs:
        return objs
    if connection.vendor == "postgresql":
        insert_instances(objs, returning=("id",) if returning else ())
        return objs
    return type(objs[0]).objects.bulk_create(objs)
