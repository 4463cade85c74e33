"""`filter(field__any=ids)`: membership in a long list of values as one array parameter (issue #18).

Django's `__in` writes one placeholder per value and prepares each value through the lookup
machinery; with the hundreds of ids a batch router or intake passes, building that statement, and
psycopg parsing it again (its cache misses: the template differs with each list's length), cost
more than running it: 4.3 ms against 2.0 ms for a read by 200 ids that found no row. On PostgreSQL
this lookup writes `field = ANY(%s)` with the values as one array: one template whatever the list's
length, each value converted once, by the field. On other databases it writes `__in`'s `IN (…)`.
An empty list matches nothing. On a foreign key it takes ids (`order__any=[3, 5]`,
`order_id__any=…`), not instances."""

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False  # each value goes through the field's own get_db_prep_value below

    def get_prep_lookup(self):
        if hasattr(self.rhs, "resolve_expression"):
            raise ValueError("__any takes a list of values; use __in with a queryset.")
        return [value for value in self.rhs if value is not None]  # as __in: NULL is never a member

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s{_array_cast(field, connection)})", (*lhs_params, values)
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", (*lhs_params, *values)


_INTEGERS = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
}


def _array_cast(field, connection) -> str:
    """An array of integers is cast to the column's own type. psycopg sends the smallest integer
    type the values fit, and PostgreSQL cannot hash a cross-type `bigint = ANY(smallint[])`: it
    compared every row with every value (10 ms against 1.6 ms for 600 of 10,800 order lines).
    Other values are left to PostgreSQL to type from the column (a cast to `varchar(n)[]` would
    truncate)."""
    target = field.target_field if field.is_relation else field
    return f"::{field.db_type(connection)}[]" if target.get_internal_type() in _INTEGERS else ""


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # relations keep a registry of their own
