"""Each difference rule reads the same in SQL (the grouped query's filter) and in Python
(classify): an order's facts are kept by the query exactly when classify finds a difference."""

from dataclasses import fields, replace
from decimal import Decimal

import pytest
from django.db import connection

from core.money import ZERO
from finance.reconciliation.facts import OrderFacts
from finance.reconciliation.rules import RULES_SQL, classify

pytestmark = pytest.mark.django_db

CLEAN = OrderFacts(
    order_id=1,
    number="SO20260110000001",
    status="paid",
    currency="CNY",
    total=Decimal("212.80"),
    commission=Decimal("3.20"),
    paid=True,
    pay_n=1,
    pay_amount=Decimal("212.80"),
    pay_currencies=("CNY",),
    pay_fee=Decimal("1.28"),
    pay_periods=(7,),
    pay_settled_n=1,
    st_n=3,
    sale_n=1,
    st_income=Decimal("212.80"),
    st_deductions=Decimal("4.48"),
    sale_periods=(7,),
    st_currencies=("CNY",),
)
NO_PAYMENT = {"pay_n": 0, "pay_amount": ZERO, "pay_currencies": (), "pay_fee": ZERO, "pay_periods": (),
              "pay_settled_n": 0}  # fmt: skip
NO_STATEMENT = {"st_n": 0, "sale_n": 0, "st_income": ZERO, "st_deductions": ZERO, "sale_periods": (),
                "st_currencies": ()}  # fmt: skip
CASES = {
    "clean": (CLEAN, set()),
    "no money anywhere": (replace(CLEAN, **NO_PAYMENT, **NO_STATEMENT), {("missing_payment", "payment")}),
    "cancelled without money": (replace(CLEAN, **NO_PAYMENT, **NO_STATEMENT, status="cancelled"), set()),
    "sold, not paid here": (
        replace(CLEAN, **NO_PAYMENT, paid=False, st_deductions=Decimal("3.20")),
        {("missing_payment", "erp")},
    ),
    "payment in another currency": (
        replace(CLEAN, pay_currencies=("CNY", "USD"), pay_amount=Decimal("1.00")),
        {("amount_mismatch", "payment")},
    ),
    "payment short": (replace(CLEAN, pay_amount=Decimal("200.00")), {("amount_mismatch", "payment")}),
    "statement in another currency": (
        replace(CLEAN, st_currencies=("USD",)),
        {("amount_mismatch", "settlement")},
    ),
    "sale short": (replace(CLEAN, st_income=Decimal("200.00")), {("amount_mismatch", "settlement")}),
    "bank short": (
        replace(CLEAN, bank_n=1, bank_amount=Decimal("200.00"), bank_periods=(7,)),
        {("amount_mismatch", "bank")},
    ),
    "statement refund": (
        replace(CLEAN, st_refunds=Decimal("30.00")),
        {("refund_not_reflected", "settlement")},
    ),
    "fee not attributed": (
        replace(CLEAN, st_deductions=Decimal("5.00")),
        {("fee_not_attributed", "settlement")},
    ),
    "provider refund": (
        replace(CLEAN, **NO_STATEMENT, pay_settled_n=0, pay_refunded=Decimal("10.00")),
        {("refund_not_reflected", "payment")},
    ),
    "settled a month later": (replace(CLEAN, sale_periods=(8,)), {("period_mismatch", "settlement")}),
    "bank a month later": (
        replace(CLEAN, bank_n=1, bank_amount=Decimal("212.80"), bank_periods=(7, 8)),
        {("period_mismatch", "bank")},
    ),
    "no statement": (replace(CLEAN, **NO_STATEMENT), {("missing_settlement", "settlement")}),
    "transfer without bank line": (replace(CLEAN, pay_transfer_n=1), {("missing_bank_line", "bank")}),
}


SQL_TYPES = {int: "integer", bool: "integer", Decimal: "numeric", str: "text"}


def kept_by_sql(facts: OrderFacts) -> bool:
    """Run the rules' SQL over one row holding the facts, named as the grouped query names them."""
    columns = {}  # name → (SQL type, value)
    for field in fields(OrderFacts):
        value = getattr(facts, field.name)
        if isinstance(value, tuple):
            sql_type = SQL_TYPES[field.type.__args__[0]]
            columns[f"{field.name}_min"] = (sql_type, min(value, default=None))
            columns[f"{field.name}_max"] = (sql_type, max(value, default=None))
        else:
            columns[field.name] = (SQL_TYPES[field.type], int(value) if isinstance(value, bool) else value)
    select = ", ".join(f"CAST(%s AS {sql_type}) AS {name}" for name, (sql_type, _value) in columns.items())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT {select}) facts WHERE {RULES_SQL}",  # noqa: S608
            [value for _type, value in columns.values()],
        )
        return cursor.fetchone()[0] == 1


@pytest.mark.parametrize("case", CASES)
def test_the_query_keeps_an_order_exactly_when_classify_finds_a_difference(case):
    facts, expected = CASES[case]

    found = {(d.difference, d.column) for d in classify(facts, {7: "2026-01", 8: "2026-02"})}

    assert found == expected
    assert kept_by_sql(facts) == bool(found)


def test_a_currency_that_differs_is_reported_instead_of_the_amount():
    facts = replace(CLEAN, pay_currencies=("USD",), pay_amount=Decimal("30.00"))

    (difference,) = classify(facts, {7: "2026-01"})

    assert (difference.expected, difference.actual) == ("212.80 CNY", "USD")
