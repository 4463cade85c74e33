"""What an order's invoice says, per tax rate, exact to the cent (issue #20).

Rules:
- each order line counts what its live units were paid (orders.amounts.units_paid: after every
  discount, with its tax; cancelled units count nothing), less what succeeded refunds gave back
  for it (finance.invoices.models.InvoiceRefund);
- shipping as the buyer paid it (orders.amounts.shipping_net) less refunded shipping, at the rate
  of the goods it came with: a charge beyond the price (价外费用) follows the goods' rate — with
  several rates, the rate of the line that was paid most;
- a line with no tax rate takes INVOICE_DEFAULT_TAX_RATE; without one, no invoice (we do not
  guess a rate for the tax office);
- never more than what was paid net of refunds: min(order total, stated paid amount) less every
  refund; anything above is cut, spread over the rates by their amounts (largest remainder);
- per rate: tax = amount × rate / (1 + rate), rounded half up to the cent; amount excluding tax =
  amount − tax, so the three always add up exactly (Nuonuo checks |net × rate − tax| ≤ 0.06).

`rate_amounts` is pure arithmetic (property-tested); `order_invoice_lines` reads the order.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.money import ZERO, quantize
from orders.amounts import shipping_net, spread, units_paid
from orders.models import Order


@dataclass(frozen=True)
class RateLine:
    tax_rate: Decimal
    amount: Decimal  # price and tax together
    net_amount: Decimal
    tax_amount: Decimal


@dataclass(frozen=True)
class SoldLine:
    line_no: int
    tax_rate: Decimal
    paid: Decimal


@dataclass(frozen=True)
class RefundShare:
    amount: Decimal
    lines: dict[int, Decimal]  # line_no → goods given back
    shipping: Decimal


def split_tax(amount: Decimal, rate: Decimal) -> RateLine:
    tax = quantize(amount * rate / (1 + rate))
    return RateLine(tax_rate=rate, amount=amount, net_amount=amount - tax, tax_amount=tax)


def rate_amounts(
    sold: Sequence[SoldLine], *, shipping: Decimal, paid: Decimal, refunds: Iterable[RefundShare]
) -> list[RateLine]:
    """The invoice per tax rate (ascending rate, zero rates left out); see the module rules.
    `paid` is what the buyer paid for the order, before refunds."""
    refunds = list(refunds)
    by_rate: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for line in sold:
        back = sum((refund.lines.get(line.line_no, ZERO) for refund in refunds), ZERO)
        by_rate[line.tax_rate] += max(line.paid - back, ZERO)
    shipping_left = max(shipping - sum((refund.shipping for refund in refunds), ZERO), ZERO)
    if shipping_left and sold:
        main = max(sold, key=lambda line: (line.paid, -line.line_no))
        by_rate[main.tax_rate] += shipping_left
    cap = max(paid - sum((refund.amount for refund in refunds), ZERO), ZERO)
    rates = sorted(by_rate)
    amounts = [by_rate[rate] for rate in rates]
    if sum(amounts, ZERO) > cap:
        amounts = spread(cap, amounts)
    return [split_tax(amount, rate) for rate, amount in zip(rates, amounts, strict=True) if amount > 0]


def order_paid(order: Order) -> Decimal:
    """What the buyer paid for the order: the total, or the platform's stated figure if lower."""
    if order.paid_amount is not None and order.paid_amount < order.total:
        return order.paid_amount
    return order.total


def sold_lines(order: Order) -> list[SoldLine]:
    default = settings.INVOICE_DEFAULT_TAX_RATE
    lines = []
    for line in order.lines.order_by("line_no"):
        rate = line.tax_rate if line.tax_rate is not None else (Decimal(default) if default else None)
        if rate is None:
            raise DomainError(
                _("Line %(line)s of %(order)s has no tax rate: set one before invoicing.")
                % {"line": line.line_no, "order": order.number},
                field="tax_rate",
            )
        lines.append(SoldLine(line_no=line.line_no, tax_rate=Decimal(rate), paid=units_paid(line)))
    return lines


def order_invoice_lines(order: Order, refunds: Iterable[RefundShare]) -> list[RateLine]:
    return rate_amounts(
        sold_lines(order), shipping=shipping_net(order), paid=order_paid(order), refunds=refunds
    )
