"""A refund that went through, told to invoicing (finance.invoices): what each order line and the
shipping gave back, so the order's e-invoice is reversed (红字) by as much and no later invoice
covers it. Called by the refund-succeeded service (lifecycle.refund_record_outcome), in its
transaction."""

from decimal import Decimal

from core.money import ZERO
from finance.invoices.services import invoice_refund_recorded
from orders.amounts import spread
from returns.models import ReturnRefund


def refund_shares(refund: ReturnRefund) -> tuple[dict[int, Decimal], Decimal]:
    """(goods given back per order line number, shipping given back), adding up to the refund:
    shipping first (up to what the refund gave for it), the rest over the lines by what each was
    quoted (a kept restocking fee or a cap lowers every line alike)."""
    shipping = min(refund.shipping_amount, refund.amount)
    quoted = [(int(line["line"]), Decimal(line["amount"])) for line in refund.detail.get("lines", [])]
    goods = refund.amount - shipping
    if not quoted:
        return {}, shipping  # nothing per line: the refund's amount lowers the order's total
    shares = spread(goods, [amount for _no, amount in quoted])
    lines: dict[int, Decimal] = {}
    for (line_no, _amount), share in zip(quoted, shares, strict=True):
        lines[line_no] = lines.get(line_no, ZERO) + share
    return lines, shipping


def refund_tell_invoicing(refund: ReturnRefund) -> None:
    lines, shipping = refund_shares(refund)
    invoice_refund_recorded(
        order_id=refund.order_id,
        key=f"refund:{refund.rma.number}",
        amount=refund.amount,
        lines=lines,
        shipping=shipping,
    )
