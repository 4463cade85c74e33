"""The answer to a created order (CreatedOrderOutput), for many orders at once, rendered from narrow
rows (orders.selectors.created_order_rows) instead of model instances walked by DRF (issue #18:
in the order intake writer, reading the batch's orders back as instances and rendering them took
a third of its time; a single POST waits for its whole batch).

Same fields, same order, same formats: the order's own fields go through CreatedOrderOutput itself
(its three lists left out); each value of a line, event or reservation is formatted by that
serializer's own field (its `to_representation`), read from the row by name instead of through
its `source`. Where a row cannot say what the instance would (a reservation of no line of its
order, a bundle line outside the order), that order is rendered the DRF way. The lists' fields are
checked against the serializers when first used, and tests compare both ways on varied orders."""

from functools import cache

from django.utils.translation import gettext as _

from core.thread_serializers import per_thread_and_language
from orders import selectors
from orders.api.serializers import CreatedOrderOutput, OrderEventOutput, OrderLineOutput, ReservationOutput
from orders.models import Order

LISTS = ("lines", "reservations", "events")


class _OrderPart(CreatedOrderOutput):
    """CreatedOrderOutput without its three lists (rendered from rows below)."""

    lines = reservations = events = None

    class Meta(CreatedOrderOutput.Meta):
        fields = [name for name in CreatedOrderOutput.Meta.fields if name not in LISTS]
        read_only_fields = fields


# Each list field: its row key, when not the field's own name, or how the value is computed from
# the row and its order's lines ({line id: row}).
_LINE_VALUES = {
    "sku": "sku_code",
    "name": "sku_name",
    "parent_line_no": lambda row, lines: (
        lines[row["parent_line_id"]]["line_no"] if row["parent_line_id"] is not None else None
    ),
    "net_amount": lambda row, _lines: (
        row["unit_price"] * row["quantity"]
        + row["adjustment"]
        - row["discount"]
        - row["order_discount_share"]
    ),
}
_EVENT_VALUES = {"actor": lambda row, _lines: row["username"] if row["actor_id"] is not None else _("system")}
_RESERVATION_VALUES = {
    "line_no": lambda row, lines: lines[row["order_line_id"]]["line_no"],
    "sku": "sku_code",
    "warehouse": "warehouse_code",
    "pool": "pool_code",
    "lot": "lot_code",
}
_SERIALIZERS = {
    "lines": (OrderLineOutput, _LINE_VALUES),
    "events": (OrderEventOutput, _EVENT_VALUES),
    "reservations": (ReservationOutput, _RESERVATION_VALUES),
}
_order_part = per_thread_and_language(_OrderPart)
_list_fields = {
    key: per_thread_and_language(lambda serializer_class=serializer_class: serializer_class().fields)
    for key, (serializer_class, _values) in _SERIALIZERS.items()
}


@cache
def _plans() -> dict[str, list[tuple[str, object]]]:
    """Per list: (field name, row key or function) in the serializer's field order; checked once
    against the rows' keys, so that a field added to a serializer is not silently missing here."""
    row_keys = selectors.created_order_row_keys()
    plans = {}
    for key, (serializer_class, values) in _SERIALIZERS.items():
        plan = []
        for name in serializer_class.Meta.fields:
            value = values.get(name, name)
            if isinstance(value, str) and value not in row_keys[key]:
                raise LookupError(f"{serializer_class.__name__}.{name}: no column read for it")
            plan.append((name, value))
        plans[key] = plan
    return plans


def created_order_bodies(orders: list[Order]) -> dict[int, dict]:
    """{order id: the body CreatedOrderOutput gives for it}, for orders whose creating transaction
    committed (their lines, events and reservations read with one round trip)."""
    if not orders:
        return {}
    rows = selectors.created_order_rows([order.pk for order in orders])
    plans, bodies, by_drf = _plans(), {}, []
    fields = {key: _list_fields[key]() for key in LISTS}
    for order in orders:
        lines = {row["id"]: row for row in rows["lines"][order.pk]}
        if not _rows_complete(lines, rows["reservations"][order.pk]):
            by_drf.append(order)
            continue
        lists = {
            key: [_rendered(row, lines, plans[key], fields[key]) for row in rows[key][order.pk]]
            for key in LISTS
        }
        part = _order_part().to_representation(order)
        bodies[order.pk] = {
            name: lists[name] if name in lists else part[name] for name in CreatedOrderOutput.Meta.fields
        }
    if by_drf:
        selectors.attach_order_details(by_drf)
        bodies.update((order.pk, CreatedOrderOutput().to_representation(order)) for order in by_drf)
    return bodies


def _rows_complete(lines: dict[int, dict], reservations: list[dict]) -> bool:
    """Every line a row points at is among the order's own lines."""
    return all(
        row["parent_line_id"] is None or row["parent_line_id"] in lines for row in lines.values()
    ) and all(row["order_line_id"] in lines for row in reservations)


def _rendered(row: dict, lines: dict[int, dict], plan, fields) -> dict:
    """As Serializer.to_representation: None stays None, any other value goes through the field."""
    body = {}
    for name, value in plan:
        value = row[value] if isinstance(value, str) else value(row, lines)
        body[name] = None if value is None else fields[name].to_representation(value)
    return body
