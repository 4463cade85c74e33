"""What a difference is, given the facts about one order from every side (ERP, payments,
settlement / POS statements, bank). The set-based SQL and the per-row baseline both produce
OrderFacts; this one function decides, so both paths classify alike."""

from dataclasses import dataclass
from decimal import Decimal

from core.money import CENT, ZERO
from finance.reconciliation.models import DifferenceClass as D

# Payments through these providers are settled by a statement we import; bank transfers show up
# on the bank statement.
SETTLED_PROVIDERS = ("alipay", "wechat_pay", "platform")
TRANSFER_PROVIDERS = ("bank_transfer",)
NONE = "—"


def money(value) -> Decimal:
    """SQL sums as exact cents (SQLite hands back floats)."""
    if value is None:
        return ZERO
    return Decimal(str(value)).quantize(CENT)


@dataclass
class OrderFacts:
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


@dataclass(frozen=True)
class Difference:
    difference: str
    column: str  # erp / payment / settlement / bank
    expected: str
    actual: str


def _periods(ids: tuple[int, ...], labels: dict[int, str]) -> str:
    return ", ".join(labels.get(pk, str(pk)) for pk in ids) or NONE


def classify(f: OrderFacts, period_labels: dict[int, str]) -> list[Difference]:
    found: list[Difference] = []
    total = str(f.total)
    if not (f.pay_n or f.sale_n or f.bank_n):
        if f.paid and f.status != "cancelled":
            found.append(Difference(D.MISSING_PAYMENT, "payment", total, NONE))
    elif not f.pay_n and not f.paid:
        received = f.st_income if f.sale_n else f.bank_amount
        found.append(Difference(D.MISSING_PAYMENT, "erp", str(received), NONE))

    if f.pay_n:
        if any(c != f.currency for c in f.pay_currencies):
            found.append(
                Difference(D.AMOUNT_MISMATCH, "payment", f"{total} {f.currency}", ", ".join(f.pay_currencies))
            )
        elif f.pay_amount != f.total:
            found.append(Difference(D.AMOUNT_MISMATCH, "payment", total, str(f.pay_amount)))
    if f.st_n and any(c != f.currency for c in f.st_currencies):
        found.append(
            Difference(D.AMOUNT_MISMATCH, "settlement", f"{total} {f.currency}", ", ".join(f.st_currencies))
        )
    elif f.sale_n and f.st_income != f.total:
        found.append(Difference(D.AMOUNT_MISMATCH, "settlement", total, str(f.st_income)))
    if f.bank_n and f.bank_amount != f.total:
        found.append(Difference(D.AMOUNT_MISMATCH, "bank", total, str(f.bank_amount)))

    if f.st_n:
        if f.st_refunds != f.erp_refunds:
            found.append(
                Difference(D.REFUND_NOT_REFLECTED, "settlement", str(f.erp_refunds), str(f.st_refunds))
            )
        attributed = f.commission + f.pay_fee
        if f.st_deductions != attributed:
            found.append(
                Difference(D.FEE_NOT_ATTRIBUTED, "settlement", str(attributed), str(f.st_deductions))
            )
    elif f.pay_n and f.pay_refunded != f.erp_refunds:
        found.append(Difference(D.REFUND_NOT_REFLECTED, "payment", str(f.erp_refunds), str(f.pay_refunded)))

    if f.pay_n and f.sale_n and set(f.pay_periods) != set(f.sale_periods):
        found.append(
            Difference(
                D.PERIOD_MISMATCH,
                "settlement",
                _periods(f.pay_periods, period_labels),
                _periods(f.sale_periods, period_labels),
            )
        )
    if f.pay_n and f.bank_n and set(f.pay_periods) != set(f.bank_periods):
        found.append(
            Difference(
                D.PERIOD_MISMATCH,
                "bank",
                _periods(f.pay_periods, period_labels),
                _periods(f.bank_periods, period_labels),
            )
        )

    if f.pay_settled_n and not f.st_n:
        found.append(Difference(D.MISSING_SETTLEMENT, "settlement", total, NONE))
    if f.pay_transfer_n and not f.bank_n:
        found.append(Difference(D.MISSING_BANK_LINE, "bank", total, NONE))
    return found
