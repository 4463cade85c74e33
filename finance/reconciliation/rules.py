"""The difference rules, each written once. A rule's condition is built from a few tests on the
facts of an order; every test renders itself both as SQL over the grouped query's columns (named
after the OrderFacts fields) and as a Python predicate over OrderFacts. The grouped query keeps
the orders where any rule's SQL holds (RULES_SQL); classify() applies the same rules to the
facts of each of those orders and words what differs."""

from collections.abc import Callable
from dataclasses import dataclass

from finance.reconciliation.facts import OrderFacts
from finance.reconciliation.models import DifferenceClass as D
from finance.reconciliation.sql import constants

NONE = "—"
# Sums come back as floats on SQLite: amounts differ when they are at least a cent apart.
HALF_CENT = "0.005"


@dataclass(frozen=True)
class Condition:
    """One condition in its two readings; & and | combine both alike."""

    sql: str
    test: Callable[[OrderFacts], bool]

    def __and__(self, other: "Condition") -> "Condition":
        return Condition(f"{self.sql} AND {other.sql}", lambda f: self.test(f) and other.test(f))

    def __or__(self, other: "Condition") -> "Condition":
        return Condition(f"({self.sql} OR {other.sql})", lambda f: self.test(f) or other.test(f))


# --- the tests conditions are built from. A side without rows is 0 in both readings (the
# grouped query never hands back NULL for a count or an amount), so the two agree. ---


def nonzero(name: str) -> Condition:
    """A count (or the paid flag) is above zero."""
    return Condition(f"{name} <> 0", lambda f: getattr(f, name) != 0)


def zero(name: str) -> Condition:
    """A count is zero (or the order is not paid)."""
    return Condition(f"{name} = 0", lambda f: getattr(f, name) == 0)


def other_than(name: str, value: str) -> Condition:
    return Condition(f"{name} <> {constants([value])}", lambda f: getattr(f, name) != value)


def amounts_differ(name: str, *others: str) -> Condition:
    """The amount `name` is not the sum of the amounts `others`."""
    summed = others[0] if len(others) == 1 else f"({' + '.join(others)})"
    return Condition(
        f"ABS({name} - {summed}) > {HALF_CENT}",
        lambda f: getattr(f, name) != sum(getattr(f, other) for other in others),
    )


def currencies_differ(name: str) -> Condition:
    """Some currency of a side is not the order's (only where the side has rows: NULL otherwise)."""
    return Condition(
        f"({name}_min <> currency OR {name}_max <> currency)",
        lambda f: any(c != f.currency for c in getattr(f, name)),
    )


def periods_differ(name: str, other: str) -> Condition:
    """Two sides are booked in different periods (only where both have rows: NULL otherwise)."""
    return Condition(
        f"({name}_min <> {other}_min OR {name}_max <> {other}_max)",
        lambda f: set(getattr(f, name)) != set(getattr(f, other)),
    )


# --- how a difference is worded -----------------------------------------------------------------

Wording = Callable[[OrderFacts, dict[int, str]], str]


def _nothing(f: OrderFacts, period_labels: dict[int, str]) -> str:
    return NONE


def _total(f: OrderFacts, period_labels: dict[int, str]) -> str:
    return str(f.total)


def _total_in_currency(f: OrderFacts, period_labels: dict[int, str]) -> str:
    return f"{f.total} {f.currency}"


def _value(name: str) -> Wording:
    return lambda f, period_labels: str(getattr(f, name))


def _sum(*names: str) -> Wording:
    return lambda f, period_labels: str(sum(getattr(f, name) for name in names))


def _listed(name: str) -> Wording:
    return lambda f, period_labels: ", ".join(getattr(f, name))


def _periods(name: str) -> Wording:
    return lambda f, period_labels: (
        ", ".join(period_labels.get(pk, str(pk)) for pk in getattr(f, name)) or NONE
    )


def _received(f: OrderFacts, period_labels: dict[int, str]) -> str:
    return str(f.st_income if f.sale_n else f.bank_amount)


# --- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    difference: str
    column: str  # the matrix cell that differs: erp / payment / settlement / bank
    when: Condition
    expected: Wording
    actual: Wording


@dataclass(frozen=True)
class Difference:
    difference: str
    column: str
    expected: str
    actual: str


# In this order; where two rules name the same cell the first that holds words it (a currency
# that differs makes comparing the amounts pointless).
RULES = (
    Rule(
        D.MISSING_PAYMENT,
        "payment",
        zero("pay_n") & zero("sale_n") & zero("bank_n") & nonzero("paid") & other_than("status", "cancelled"),
        expected=_total,
        actual=_nothing,
    ),
    Rule(
        D.MISSING_PAYMENT,
        "erp",
        zero("pay_n") & zero("paid") & (nonzero("sale_n") | nonzero("bank_n")),
        expected=_received,
        actual=_nothing,
    ),
    Rule(
        D.AMOUNT_MISMATCH,
        "payment",
        nonzero("pay_n") & currencies_differ("pay_currencies"),
        expected=_total_in_currency,
        actual=_listed("pay_currencies"),
    ),
    Rule(
        D.AMOUNT_MISMATCH,
        "payment",
        nonzero("pay_n") & amounts_differ("pay_amount", "total"),
        expected=_total,
        actual=_value("pay_amount"),
    ),
    Rule(
        D.AMOUNT_MISMATCH,
        "settlement",
        nonzero("st_n") & currencies_differ("st_currencies"),
        expected=_total_in_currency,
        actual=_listed("st_currencies"),
    ),
    Rule(
        D.AMOUNT_MISMATCH,
        "settlement",
        nonzero("sale_n") & amounts_differ("st_income", "total"),
        expected=_total,
        actual=_value("st_income"),
    ),
    Rule(
        D.AMOUNT_MISMATCH,
        "bank",
        nonzero("bank_n") & amounts_differ("bank_amount", "total"),
        expected=_total,
        actual=_value("bank_amount"),
    ),
    Rule(
        D.REFUND_NOT_REFLECTED,
        "settlement",
        nonzero("st_n") & amounts_differ("st_refunds", "erp_refunds"),
        expected=_value("erp_refunds"),
        actual=_value("st_refunds"),
    ),
    Rule(
        D.FEE_NOT_ATTRIBUTED,
        "settlement",
        nonzero("st_n") & amounts_differ("st_deductions", "commission", "pay_fee"),
        expected=_sum("commission", "pay_fee"),
        actual=_value("st_deductions"),
    ),
    Rule(  # no statement shows the order: the payment provider's refunds are all we have
        D.REFUND_NOT_REFLECTED,
        "payment",
        zero("st_n") & nonzero("pay_n") & amounts_differ("pay_refunded", "erp_refunds"),
        expected=_value("erp_refunds"),
        actual=_value("pay_refunded"),
    ),
    Rule(
        D.PERIOD_MISMATCH,
        "settlement",
        nonzero("pay_n") & nonzero("sale_n") & periods_differ("pay_periods", "sale_periods"),
        expected=_periods("pay_periods"),
        actual=_periods("sale_periods"),
    ),
    Rule(
        D.PERIOD_MISMATCH,
        "bank",
        nonzero("pay_n") & nonzero("bank_n") & periods_differ("pay_periods", "bank_periods"),
        expected=_periods("pay_periods"),
        actual=_periods("bank_periods"),
    ),
    Rule(
        D.MISSING_SETTLEMENT,
        "settlement",
        nonzero("pay_settled_n") & zero("st_n"),
        expected=_total,
        actual=_nothing,
    ),
    Rule(
        D.MISSING_BANK_LINE,
        "bank",
        nonzero("pay_transfer_n") & zero("bank_n"),
        expected=_total,
        actual=_nothing,
    ),
)

RULES_SQL = "\n OR ".join(f"({rule.when.sql})" for rule in RULES)


def classify(f: OrderFacts, period_labels: dict[int, str]) -> list[Difference]:
    found: dict[tuple[str, str], Difference] = {}
    for rule in RULES:
        cell = (rule.difference, rule.column)
        if cell not in found and rule.when.test(f):
            found[cell] = Difference(
                rule.difference, rule.column, rule.expected(f, period_labels), rule.actual(f, period_labels)
            )
    return list(found.values())
