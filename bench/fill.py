"""Set-based fixtures that survive new columns: the loaders' `INSERT … SELECT` statements name the
columns they care about; every other NOT NULL column gets its model field's default (else the
zero of its type) as a database default first, so a migration that adds a column does not break
them."""

import json
from datetime import datetime
from decimal import Decimal

from django.db.models.fields import NOT_PROVIDED

ZEROS = {"CharField": "''", "TextField": "''", "BooleanField": "false", "JSONField": "'{}'::jsonb"}


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return "'" + json.dumps(value).replace("'", "''") + "'::jsonb"
    if isinstance(value, datetime):
        return f"timestamptz '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def column_defaults(*models) -> None:
    """Give every NOT NULL column of these models' tables that has no database default the model
    field's default (else the zero of its type), in the benchmark's throw-away database: the
    loaders' INSERT … SELECT statements then keep working when a migration adds a column. The
    ORM is unaffected (it always sends every value)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            for field in model._meta.concrete_fields:
                if field.primary_key or field.null or field.db_default is not NOT_PROVIDED:
                    continue
                if field.has_default():
                    default = field.get_default()
                    value = "now()" if isinstance(default, datetime) else _literal(default)
                elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                    value = "now()"
                elif field.get_internal_type() in ZEROS:
                    value = ZEROS[field.get_internal_type()]
                elif field.get_internal_type().endswith(("IntegerField", "DecimalField", "FloatField")):
                    value = "0"
                else:
                    continue  # a foreign key or the like: the loader must give it
                cursor.execute(
                    f"ALTER TABLE {model._meta.db_table} ALTER COLUMN {field.column} SET DEFAULT {value}"
                )
