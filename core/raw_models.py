"""Model instances read by hand-written SQL, for a hot read path where compiling the queryset costs
more than running it (the order detail answered after every POST of an order: three prefetches
with their select_related took ~4.5 ms of CPU, most of it the ORM building SQL).

`Columns` lists a model's concrete columns once, reads them back into a full instance with the
converters the ORM itself applies (so JSON, decimals and times come back as from a queryset), and
`join` sets the to-one caches select_related would set. A join to a missing row (LEFT JOIN, null
foreign key) gives None."""

from django.db import connection as default_connection
from django.db.models import Model


class Columns:
    """The concrete columns of `model` under a table alias, in `_meta.concrete_fields` order; or
    only the fields named in `only` (by name or attname, in that order), whose rows are read as
    values, not instances."""

    def __init__(self, model: type[Model], alias: str, only: list[str] | None = None) -> None:
        self.model = model
        self.alias = alias
        self.fields = (
            list(model._meta.concrete_fields) if only is None else [model._meta.get_field(n) for n in only]
        )
        self.attnames = [field.attname for field in self.fields]
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self.width = len(self.fields)
        self._pk_index = self.fields.index(model._meta.pk) if only is None else None
        self._converters: dict[str, list[tuple[int, list, object]]] = {}

    def _converters_for(self, connection) -> list[tuple[int, list, object]]:
        """(index, converters, expression) of the columns whose values the ORM would convert."""
        if connection.vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.alias)
                converters = connection.ops.get_db_converters(expression) + field.get_db_converters(
                    connection
                )
                if converters:
                    found.append((index, converters, expression))
            self._converters[connection.vendor] = found
        return self._converters[connection.vendor]

    def read(self, row, start: int, connection=default_connection) -> Model | None:
        """The instance in row[start:start + width], or None when its primary key is null."""
        if row[start + self._pk_index] is None:
            return None
        return self.model.from_db(connection.alias, self.attnames, self.values(row, start, connection))

    def values(self, row, start: int, connection=default_connection) -> list:
        """The values in row[start:start + width], converted as a queryset would convert them."""
        values = list(row[start : start + self.width])
        for index, converters, expression in self._converters_for(connection):
            value = values[index]
            for converter in converters:
                value = converter(value, expression, connection)
            values[index] = value
        return values


def join(instance: Model, field_name: str, related: Model | None) -> None:
    """Cache `related` as instance.<field_name>, as select_related does (no query on access)."""
    instance._meta.get_field(field_name).set_cached_value(instance, related)


def prefetched(instance: Model, related_name: str, objects: list[Model]) -> None:
    """Cache `objects` as instance.<related_name>.all() of a reverse foreign key, each pointing
    back at `instance`, as prefetch_related does (django.db.models.query.prefetch_one_level)."""
    manager = getattr(instance, related_name)
    for obj in objects:
        manager.field.set_cached_value(obj, instance)
    queryset = manager.get_queryset()
    queryset._result_cache = objects
    queryset._prefetch_done = True
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[manager.field.remote_field.cache_name] = queryset


def any_of(values) -> tuple[str, list]:
    """(`= ANY(%s)`, [the values as one array]) on PostgreSQL: one statement text whatever the
    number of values, so a prepared statement is reused; (`IN (%s, …)`, the values) elsewhere.
    Give at least one value."""
    values = list(values)
    if default_connection.vendor == "postgresql":
        return "= ANY(%s)", [values]
    return f"IN ({', '.join(['%s'] * len(values))})", values
