"""The grouped comparison: one query computes, for every order in scope (a payment or a statement
line booked in the period, or paid in it), its totals on each side and returns the facts of only
the orders where a difference rule holds."""

from contextlib import contextmanager, nullcontext

from django.conf import settings
from django.db import connection

from finance.imports.models import StatementLine, StatementSource
from finance.models import AccountingPeriod, Payment, RevenueKind, RevenueLine
from finance.reconciliation.facts import (
    ORDER_KINDS,
    SETTLED_PROVIDERS,
    TRANSFER_PROVIDERS,
    OrderFacts,
    money,
)
from finance.reconciliation.rules import RULES_SQL
from finance.reconciliation.sql import constants, table
from orders.models import Order


def _range_sql() -> str:
    """The order ids the period touches lie between these two (ids grow with time)."""
    pay, lines, orders = table(Payment), table(StatementLine), table(Order)
    return f"""
    SELECT MIN(lo), MAX(hi) FROM (
        SELECT MIN(order_id) AS lo, MAX(order_id) AS hi FROM {pay} WHERE period_id = %s
        UNION ALL
        SELECT MIN(order_id), MAX(order_id) FROM {lines} WHERE period_id = %s
        UNION ALL
        SELECT MIN(id), MAX(id) FROM {orders} WHERE paid_at >= %s AND paid_at < %s
    ) bounds
    """  # noqa: S608


def _facts_sql(part: int = 0) -> str:
    """Every side's totals for each order of the id range lo{part}…hi{part}, grouped straight off
    the order_id indexes (no join to a scope table: that made it three times slower), keeping the
    orders the period touches (a payment or a line booked in it, or paid in it) where a rule holds.
    An order's rows in other periods are in its totals too: that is how a period mismatch shows.
    Each column is named after its OrderFacts field, the name the rules' SQL uses; a side without
    rows reads as 0 (as in OrderFacts), so that a rule's SQL and its Python test agree."""
    pay, lines, orders, revenue = table(Payment), table(StatementLine), table(Order), table(RevenueLine)
    settled, transfers = constants(SETTLED_PROVIDERS), constants(TRANSFER_PROVIDERS)
    order_kinds = constants(ORDER_KINDS)
    bank = StatementSource.BANK
    return f"""
    WITH pay AS (
        SELECT p.order_id, COUNT(*) AS n, SUM(p.amount) AS amount, MIN(p.currency) AS cur_min,
               MAX(p.currency) AS cur_max, SUM(p.refunded_amount) AS refunded, SUM(p.fee) AS fee,
               MIN(p.period_id) AS period_min, MAX(p.period_id) AS period_max,
               COUNT(*) FILTER (WHERE p.provider IN ({settled})) AS settled_n,
               COUNT(*) FILTER (WHERE p.provider IN ({transfers})) AS transfer_n,
               COUNT(*) FILTER (WHERE p.period_id = %(period)s) AS in_period
          FROM {pay} p
         WHERE p.order_id BETWEEN %(lo{part})s AND %(hi{part})s
         GROUP BY p.order_id
    ),
    st AS (
        SELECT l.order_id,
               COUNT(*) AS st_n,
               COUNT(*) FILTER (WHERE l.kind = 'sale') AS sale_n,
               SUM(l.amount) FILTER (WHERE l.kind IN ('sale', 'platform_discount')) AS income,
               -SUM(l.amount) FILTER (WHERE l.kind = 'refund') AS refunds,
               -SUM(l.amount) FILTER (WHERE l.kind IN ('fee', 'commission')) AS deductions,
               MIN(l.period_id) FILTER (WHERE l.kind = 'sale') AS sale_period_min,
               MAX(l.period_id) FILTER (WHERE l.kind = 'sale') AS sale_period_max,
               MIN(l.currency) AS cur_min,
               MAX(l.currency) AS cur_max,
               COUNT(*) FILTER (WHERE l.period_id = %(period)s) AS in_period
          FROM {lines} l
         WHERE l.order_id BETWEEN %(lo{part})s AND %(hi{part})s
           AND l.source <> '{bank}' AND l.kind IN ({order_kinds})
         GROUP BY l.order_id
    ),
    bk AS (
        SELECT l.order_id, COUNT(*) AS bank_n, SUM(l.amount) AS bank_amount,
               MIN(l.period_id) AS bank_period_min, MAX(l.period_id) AS bank_period_max,
               COUNT(*) FILTER (WHERE l.period_id = %(period)s) AS in_period
          FROM {lines} l
         WHERE l.order_id BETWEEN %(lo{part})s AND %(hi{part})s AND l.source = '{bank}'
         GROUP BY l.order_id
    ),
    rf AS (
        SELECT r.order_id, -SUM(r.amount) AS refunds
          FROM {revenue} r
         WHERE r.kind = '{RevenueKind.REFUND}' AND r.order_id BETWEEN %(lo{part})s AND %(hi{part})s
         GROUP BY r.order_id
    )
    SELECT * FROM (
        SELECT o.id AS order_id, o.number AS number, o.status AS status, o.currency AS currency,
               o.total AS total, o.platform_commission AS commission,
               CASE WHEN o.paid_at IS NULL THEN 0 ELSE 1 END AS paid,
               COALESCE(rf.refunds, 0) AS erp_refunds,
               COALESCE(pay.n, 0) AS pay_n, COALESCE(pay.amount, 0) AS pay_amount,
               pay.cur_min AS pay_currencies_min, pay.cur_max AS pay_currencies_max,
               COALESCE(pay.refunded, 0) AS pay_refunded, COALESCE(pay.fee, 0) AS pay_fee,
               pay.period_min AS pay_periods_min, pay.period_max AS pay_periods_max,
               COALESCE(pay.settled_n, 0) AS pay_settled_n, COALESCE(pay.transfer_n, 0) AS pay_transfer_n,
               COALESCE(st.st_n, 0) AS st_n, COALESCE(st.sale_n, 0) AS sale_n,
               COALESCE(st.income, 0) AS st_income, COALESCE(st.refunds, 0) AS st_refunds,
               COALESCE(st.deductions, 0) AS st_deductions,
               st.sale_period_min AS sale_periods_min, st.sale_period_max AS sale_periods_max,
               st.cur_min AS st_currencies_min, st.cur_max AS st_currencies_max,
               COALESCE(bk.bank_n, 0) AS bank_n, COALESCE(bk.bank_amount, 0) AS bank_amount,
               bk.bank_period_min AS bank_periods_min, bk.bank_period_max AS bank_periods_max
          FROM {orders} o
          LEFT JOIN pay ON pay.order_id = o.id
          LEFT JOIN st ON st.order_id = o.id
          LEFT JOIN bk ON bk.order_id = o.id
          LEFT JOIN rf ON rf.order_id = o.id
         WHERE o.id BETWEEN %(lo{part})s AND %(hi{part})s
           AND (pay.in_period > 0 OR st.in_period > 0 OR bk.in_period > 0
                OR (o.paid_at >= %(start)s AND o.paid_at < %(end)s))
    ) facts
    WHERE {RULES_SQL}
    """  # noqa: S608


def _pair(low, high) -> tuple:
    return tuple(sorted({v for v in (low, high) if v is not None}))


def _currencies(low, high) -> tuple:
    return tuple(sorted({v for v in (low, high) if v}))


def facts_from_row(row: dict) -> OrderFacts:
    """OrderFacts from a row of the grouped query, by column name."""
    return OrderFacts(
        order_id=row["order_id"],
        number=row["number"],
        status=row["status"],
        currency=row["currency"],
        total=money(row["total"]),
        commission=money(row["commission"]),
        paid=bool(row["paid"]),
        erp_refunds=money(row["erp_refunds"]),
        pay_n=row["pay_n"],
        pay_amount=money(row["pay_amount"]),
        pay_currencies=_currencies(row["pay_currencies_min"], row["pay_currencies_max"]),
        pay_refunded=money(row["pay_refunded"]),
        pay_fee=money(row["pay_fee"]),
        pay_periods=_pair(row["pay_periods_min"], row["pay_periods_max"]),
        pay_settled_n=row["pay_settled_n"],
        pay_transfer_n=row["pay_transfer_n"],
        st_n=row["st_n"],
        sale_n=row["sale_n"],
        st_income=money(row["st_income"]),
        st_refunds=money(row["st_refunds"]),
        st_deductions=money(row["st_deductions"]),
        sale_periods=_pair(row["sale_periods_min"], row["sale_periods_max"]),
        st_currencies=_currencies(row["st_currencies_min"], row["st_currencies_max"]),
        bank_n=row["bank_n"],
        bank_amount=money(row["bank_amount"]),
        bank_periods=_pair(row["bank_periods_min"], row["bank_periods_max"]),
    )


# The parts are independent id ranges, each grouped whole by one process (a PostgreSQL parallel
# worker or the leader) under a Parallel Append. Workers share the run's transaction, so they see
# the lines matched a moment ago. Partial scans are kept out (the minimum sizes): with them the
# planner splits the orders between workers but has every worker group all the payments again.
# Set for this one query and put back after it: the run's other statements plan as usual.
def _parallel_settings(parts: int) -> dict[str, str]:
    return {
        "parallel_setup_cost": "0",
        "parallel_tuple_cost": "0",
        "min_parallel_table_scan_size": "64GB",
        "min_parallel_index_scan_size": "64GB",
        # a worker per part: the planner does not count on the leader to take a whole part
        "max_parallel_workers_per_gather": str(parts),
    }


def comparison_settings(parts: int) -> dict[str, str]:
    # a million orders grouped in memory, not on disk
    return {"work_mem": "64MB"} | (_parallel_settings(parts) if parts > 1 else {})


@contextmanager
def query_settings(cursor, values: dict[str, str]):
    """Transaction-local settings for the statements inside, the earlier values restored after.
    Not restored when they fail: the failed transaction cannot run a statement, and rolling it
    back (or back to its savepoint) undoes the settings anyway."""
    names = list(values)
    cursor.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
    earlier = dict(zip(names, cursor.fetchone(), strict=True))
    pairs = [item for name in names for item in (name, values[name])]
    cursor.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names), pairs)
    yield
    pairs = [item for name in names for item in (name, earlier[name])]
    cursor.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names), pairs)


def _split(lo: int, hi: int, parts: int) -> dict[str, int]:
    """`parts` consecutive id ranges covering lo…hi, as the query's lo0, hi0, lo1, hi1… values."""
    size = (hi - lo) // parts + 1
    bounds = {}
    for part in range(parts):
        bounds[f"lo{part}"] = lo + part * size
        bounds[f"hi{part}"] = hi if part == parts - 1 else lo + (part + 1) * size - 1
    return bounds


def differing_orders(period: AccountingPeriod) -> list[OrderFacts]:
    """Facts of the orders the period touches where some side disagrees."""
    adapt = connection.ops.adapt_datetimefield_value
    start, end = adapt(period.starts_at), adapt(period.ends_at)
    with connection.cursor() as cursor:
        cursor.execute(_range_sql(), [period.pk, period.pk, start, end])
        lo, hi = cursor.fetchone()
        if lo is None:
            return []
        parts, planner = 1, nullcontext()
        if connection.vendor == "postgresql":
            parts = max(1, settings.RECONCILE_QUERY_PARTS)
            planner = query_settings(cursor, comparison_settings(parts))
        params = {"period": period.pk, "start": start, "end": end} | _split(lo, hi, parts)
        # One part is the bare query: SQLite refuses a parenthesised one.
        sql = _facts_sql() if parts == 1 else "\nUNION ALL\n".join(f"({_facts_sql(p)})" for p in range(parts))
        with planner:
            cursor.execute(sql, params)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        return [facts_from_row(dict(zip(names, row, strict=True))) for row in rows]
