"""Order reads for the desk and the API."""

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django_fsm import has_transition_perm

from core.raw_models import Columns, join, prefetched
from inventory.models import SKU, Lot, Reservation, StockBalance, StockPool, Warehouse
from orders.models import (
    TRANSITION_CONFIRM,
    TRANSITION_LABELS,
    TRANSITIONS_NEEDING_REASON,
    Order,
    OrderEvent,
    OrderLine,
)
from orders.services import TRANSITIONS


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("channel").order_by("-placed_at", "-pk")


def order_detail(number: str) -> Order:
    """The order with its channel, customer, lines, events and reservations (attach_order_detail)."""
    order = Order.objects.select_related("channel", "customer").get(number=number)
    attach_order_detail(order)
    return order


class _DetailColumns:
    """The statements of attach_order_detail, written out once."""

    def __init__(self) -> None:
        self.line, self.line_sku = Columns(OrderLine, "l"), Columns(SKU, "s")
        self.event, self.actor = Columns(OrderEvent, "e"), Columns(get_user_model(), "u")
        self.reservation, self.reservation_sku = Columns(Reservation, "r"), Columns(SKU, "rs")
        self.balance, self.warehouse, self.pool, self.lot = (
            Columns(StockBalance, "b"),
            Columns(Warehouse, "w"),
            Columns(StockPool, "sp"),
            Columns(Lot, "lt"),
        )
        line, event, reservation, balance = (
            OrderLine._meta.db_table,
            OrderEvent._meta.db_table,
            Reservation._meta.db_table,
            StockBalance._meta.db_table,
        )
        # A line's bundle line and a reservation's line are lines of the same order, read by the
        # first statement: joined in Python, not again in SQL (a join the planner could run as a
        # scan of every order line while the table's statistics lag behind its growth).
        # What follows SELECT, shared with the narrow statements of created_order_rows.
        self.lines_from = (
            f"FROM {line} l LEFT JOIN {SKU._meta.db_table} s ON s.id = l.sku_id "
            "WHERE l.order_id IN ({ids}) ORDER BY l.order_id, l.line_no, l.id"
        )
        self.events_from = (
            f"FROM {event} e LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = e.actor_id "
            "WHERE e.order_id IN ({ids}) ORDER BY e.order_id, e.created_at, e.id"
        )
        self.reservations_from = (
            f"FROM {reservation} r "
            f"JOIN {SKU._meta.db_table} rs ON rs.id = r.sku_id "
            f"JOIN {balance} b ON b.id = r.balance_id "
            f"JOIN {Warehouse._meta.db_table} w ON w.id = b.warehouse_id "
            f"JOIN {StockPool._meta.db_table} sp ON sp.id = b.pool_id "
            f"LEFT JOIN {Lot._meta.db_table} lt ON lt.id = b.lot_id "
            "WHERE r.order_id IN ({ids}) ORDER BY r.order_id, r.id"
        )
        self.lines_sql = f"SELECT {self.line.sql}, {self.line_sku.sql} {self.lines_from}"
        self.events_sql = f"SELECT {self.event.sql}, {self.actor.sql} {self.events_from}"
        self.reservations_sql = (
            f"SELECT {self.reservation.sql}, {self.reservation_sku.sql}, {self.balance.sql}, "
            f"{self.warehouse.sql}, {self.pool.sql}, {self.lot.sql} {self.reservations_from}"
        )


@cache
def _detail_columns() -> _DetailColumns:
    """Built on first use (the user model must be loaded), then kept."""
    return _DetailColumns()


def attach_order_detail(order: Order) -> None:
    """The order's lines (with SKU and bundle line), events (with actor) and reservations (with SKU,
    line and balance with warehouse, pool and lot), cached on it as prefetch_related and
    select_related would cache them, read by three written-out statements: compiling the
    equivalent querysets cost ~4.5 ms of CPU, and the API answers every POST of an order with its
    detail."""
    attach_order_details([order])


def attach_order_details(orders: list[Order]) -> None:
    """attach_order_detail for many orders with the same three statements (the order intake
    writer answers a batch of POSTs at once)."""
    if not orders:
        return
    c = _detail_columns()
    ids = [order.pk for order in orders]
    placeholders = ", ".join(["%s"] * len(ids))
    statements = [sql.format(ids=placeholders) for sql in (c.lines_sql, c.events_sql, c.reservations_sql)]
    with connection.cursor() as cursor:
        line_rows, event_rows, reservation_rows = _results(cursor, statements, ids)
    lines, events, reservations = ({order_id: [] for order_id in ids} for _ in range(3))
    lines_by_id = {}
    for row in line_rows:
        line = c.line.read(row, 0)
        join(line, "sku", c.line_sku.read(row, c.line.width))
        lines[line.order_id].append(line)
        lines_by_id[line.pk] = line
    for row in event_rows:
        event = c.event.read(row, 0)
        join(event, "actor", c.actor.read(row, c.event.width))
        events[event.order_id].append(event)
    for row in reservation_rows:
        reservation = _reservation(c, row)
        reservations[reservation.order_id].append(reservation)
    _join_lines(lines_by_id, [(line, "parent_line", line.parent_line_id) for line in lines_by_id.values()])
    _join_lines(
        lines_by_id,
        [
            (reservation, "order_line", reservation.order_line_id)
            for found in reservations.values()
            for reservation in found
        ],
    )
    for order in orders:
        prefetched(order, "lines", lines[order.pk])
        prefetched(order, "events", events[order.pk])
        prefetched(order, "reservations", reservations[order.pk])


class _AnswerColumns:
    """The statements of created_order_rows: the tables, joins and order of attach_order_details,
    but only the columns a created order's answer shows, and no instances."""

    def __init__(self) -> None:
        self.line = Columns(
            OrderLine,
            "l",
            only=[
                *("id", "order_id", "line_no", "kind", "parent_line_id", "platform_item_id"),
                *("platform_line_id", "platform_sku_id", "seller_code", "title", "quantity"),
                *("cancelled_quantity", "unit_price", "discount", "discount_allocations"),
                *("platform_discount", "adjustment", "order_discount_share", "tax_amount", "tax_rate"),
                *("paid_amount", "presale"),
            ],
        )
        self.event = Columns(
            OrderEvent,
            "e",
            only=[
                "order_id",
                "kind",
                "actor_id",
                "from_status",
                "to_status",
                "reason",
                "payload",
                "created_at",
            ],
        )
        self.reservation = Columns(
            Reservation,
            "r",
            only=[
                *("order_id", "order_line_id", "fingerprint", "quantity", "original_quantity", "state"),
                "expires_at",
            ],
        )
        user = get_user_model()
        username = user._meta.get_field(user.USERNAME_FIELD).column
        self.keys = {
            "lines": [*self.line.attnames, "sku_code", "sku_name"],
            "events": [*self.event.attnames, "username"],
            "reservations": [
                *self.reservation.attnames,
                "sku_code",
                "warehouse_code",
                "pool_code",
                "lot_code",
            ],
        }
        c = _detail_columns()  # the same tables, joins and order as the full detail
        self.statements = [
            f"SELECT {self.line.sql}, s.code, s.name {c.lines_from}",
            f'SELECT {self.event.sql}, u."{username}" {c.events_from}',
            f"SELECT {self.reservation.sql}, rs.code, w.code, sp.code, lt.code {c.reservations_from}",
        ]


@cache
def _answer_columns() -> _AnswerColumns:
    return _AnswerColumns()


def created_order_row_keys() -> dict[str, list[str]]:
    """The keys of created_order_rows' rows, per list."""
    return _answer_columns().keys


def created_order_rows(order_ids: list[int]) -> dict[str, dict[int, list[dict]]]:
    """What the answer to a created order shows of its lines (with the SKU's code and name as
    `sku_code`, `sku_name`), events (with the actor's `username`) and reservations (with `sku_code`,
    `warehouse_code`, `pool_code`, `lot_code`): {"lines" | "events" | "reservations": {order id:
    rows as dicts}}, for many orders with one round trip on PostgreSQL. Rows, not instances: the
    order intake writer renders them straight into its answers (orders.api.created_bodies)."""
    c = _answer_columns()
    placeholders = ", ".join(["%s"] * len(order_ids))
    statements = [sql.format(ids=placeholders) for sql in c.statements]
    with connection.cursor() as cursor:
        found = _results(cursor, statements, list(order_ids))
    rows: dict[str, dict[int, list[dict]]] = {}
    for key, rows_found, columns in zip(c.keys, found, (c.line, c.event, c.reservation), strict=True):
        names = c.keys[key]
        by_order: dict[int, list[dict]] = {order_id: [] for order_id in order_ids}
        for row in rows_found:
            found_row = dict(zip(names, [*columns.values(row, 0), *row[columns.width :]], strict=True))
            by_order[found_row["order_id"]].append(found_row)
        rows[key] = by_order
    return rows


def _results(cursor, statements: list[str], params: list) -> list[list]:
    """The rows of each statement (each taking `params`); on PostgreSQL in one round trip (Django's
    client-side binding cursor sends several statements at once; a server-side binding one could
    not)."""
    one_trip = connection.vendor == "postgresql" and not connection.settings_dict.get("OPTIONS", {}).get(
        "server_side_binding"
    )
    if not one_trip:
        found = []
        for statement in statements:
            cursor.execute(statement, params)
            found.append(cursor.fetchall())
        return found
    cursor.execute("; ".join(statements), params * len(statements))
    found = [cursor.fetchall()]
    while cursor.nextset():
        found.append(cursor.fetchall())
    return found


def _join_lines(lines_by_id: dict[int, OrderLine], links: list[tuple]) -> None:
    """Each (instance, field, line id) joined to its line among the order lines read; a line not
    among them (none is expected: a bundle line and a reserved line belong to the same order) is
    read on its own."""
    missing = {line_id for _instance, _field, line_id in links if line_id is not None} - lines_by_id.keys()
    if missing:
        lines_by_id = {**lines_by_id, **OrderLine.objects.in_bulk(missing)}
    for instance, field, line_id in links:
        join(instance, field, None if line_id is None else lines_by_id[line_id])


def _reservation(c: _DetailColumns, row) -> Reservation:
    offset = 0
    parts = []
    for columns in (c.reservation, c.reservation_sku, c.balance, c.warehouse, c.pool, c.lot):
        parts.append(columns.read(row, offset))
        offset += columns.width
    reservation, sku, balance, warehouse, pool, lot = parts
    join(reservation, "sku", sku)
    join(reservation, "balance", balance)
    join(balance, "warehouse", warehouse)
    join(balance, "pool", pool)
    join(balance, "lot", lot)
    return reservation


def order_available_actions(order: Order, user) -> list[dict]:
    """Transitions this user may run on the order now (the desk's buttons)."""
    return [
        {
            "name": name,
            "label": TRANSITION_LABELS[name],
            "needs_reason": name in TRANSITIONS_NEEDING_REASON,
            "confirm": TRANSITION_CONFIRM.get(name, ""),
        }
        for name in TRANSITIONS
        if has_transition_perm(getattr(order, name), user)
    ]


def sku_choices(query: str, *, limit: int = 20) -> list[dict]:
    """Active SKUs whose code starts with, or whose name contains, `query` (the order edit form's
    SKU search), by code."""
    query = (query or "").strip()[:64]
    if not query:
        return []
    found = (
        SKU.objects.filter(is_active=True)
        .filter(Q(code__istartswith=query) | Q(name__icontains=query))
        .order_by("code")
        .values("code", "name")[:limit]
    )
    return list(found)
