"""The facts about one order from every side (ERP, payments, settlement / POS statements, bank)
that the difference rules judge. The set-based comparison reads them in one grouped query, the
per-row baseline of the benchmark with the ORM; both produce OrderFacts."""

from dataclasses import dataclass
from decimal import Decimal

from core.money import CENT, ZERO
from finance.imports.models import StatementKind

# Payments through these providers are settled by a statement we import; bank transfers show up
# on the bank statement.
SETTLED_PROVIDERS = ("alipay", "wechat_pay", "platform")
TRANSFER_PROVIDERS = ("bank_transfer",)
# Settlement / POS lines about an order; payouts and other lines are about the account.
ORDER_KINDS = (
    StatementKind.SALE,
    StatementKind.REFUND,
    StatementKind.FEE,
    StatementKind.COMMISSION,
    StatementKind.PLATFORM_DISCOUNT,
)


def money(value) -> Decimal:
    """SQL sums as exact cents (SQLite hands back floats)."""
    if value is None:
        return ZERO
    return Decimal(str(value)).quantize(CENT)


@dataclass
class OrderFacts:
    """The grouped query names its columns after these fields; a tuple field (the distinct values
    of a side) comes as its lowest and highest value, <field>_min and <field>_max."""

    order_id: int
    number: str
    status: str
    currency: str
    total: Decimal
    commission: Decimal
    paid: bool
    erp_refunds: Decimal = ZERO
    pay_n: int = 0
    pay_amount: Decimal = ZERO
    pay_currencies: tuple[str, ...] = ()
    pay_refunded: Decimal = ZERO
    pay_fee: Decimal = ZERO
    pay_periods: tuple[int, ...] = ()
    pay_settled_n: int = 0
    pay_transfer_n: int = 0
    st_n: int = 0  # settlement / POS lines about the order (sales, refunds, fees, discounts)
    sale_n: int = 0
    st_income: Decimal = ZERO  # sales + platform-funded discounts
    st_refunds: Decimal = ZERO
    st_deductions: Decimal = ZERO  # fees + commission
    sale_periods: tuple[int, ...] = ()
    st_currencies: tuple[str, ...] = ()
    bank_n: int = 0
    bank_amount: Decimal = ZERO
    bank_periods: tuple[int, ...] = ()
