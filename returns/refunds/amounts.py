"""How much an inspected RMA refunds, and who pays it back (R-R4).

Amount rules (returns.models.ReturnPolicy holds the percentages):
- goods: each unit at the price actually paid for it — the line's paid amount as sold
  (orders.amounts: after adjustments, every discount and the order discount share, with its
  tax), split evenly over its units; never more than the line paid;
- intact units in full; damaged units in full when the seller was at fault (the customer's
  reason was damaged / wrong item / not as described), otherwise `damaged_refund_percent`;
  units that turned out to be a wrong item get nothing (they are investigated);
- no-reason returns keep `restocking_fee_percent` of the goods;
- shipping is refunded once per order when the seller was at fault;
- never more than the order total less what was already refunded.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Sum

from core.money import ZERO, MoneySum, quantize
from finance.models import Payment, PaymentProvider, PaymentStatus, RevenueKind, RevenueLine
from orders.amounts import shipping_net, units_paid
from orders.models import Order, OrderLine
from returns.models import (
    RefundProvider,
    ReturnLine,
    ReturnPolicy,
    ReturnReason,
    ReturnRefund,
    ReturnRequest,
)


@dataclass
class Quote:
    """The refund an RMA gives, and how each line contributes (shown on the RMA)."""

    goods: Decimal = ZERO
    shipping: Decimal = ZERO
    restocking_fee: Decimal = ZERO
    total: Decimal = ZERO
    lines: list[dict] = field(default_factory=list)
    capped: bool = False  # cut down to what the order has left to refund


def unit_paid(line: OrderLine) -> Decimal:
    """What the customer paid for one unit of the line (unrounded, shown on the RMA)."""
    return line.paid_amount / line.quantity


def _units_refunded_before(line: ReturnLine, rma: ReturnRequest) -> int:
    """Units of the same order line that other, refunded RMAs gave money back for."""
    earlier = (
        ReturnLine.objects.filter(order_line_id=line.order_line_id, rma__refund__isnull=False)
        .exclude(rma=rma)
        .aggregate(intact=Sum("intact_quantity"), damaged=Sum("damaged_quantity"))
    )
    return (earlier["intact"] or 0) + (earlier["damaged"] or 0)


def _paid_for_units(line: OrderLine, start: int, count: int) -> Decimal:
    """What units start+1 … start+count of the line were paid, to the cent."""
    return units_paid(line, start + count) - units_paid(line, start)


def already_refunded(order: Order) -> Decimal:
    """What finance has booked as refunded on the order so far (refund lines are negative)."""
    booked = RevenueLine.objects.filter(
        order=order, kind=RevenueKind.REFUND, currency=order.currency
    ).aggregate(total=MoneySum("amount"))["total"]
    return -(booked or ZERO)


def quote_refund(rma: ReturnRequest, policy: ReturnPolicy) -> Quote:
    """The refund the inspected RMA gives (see the module docstring for the rules)."""
    order = rma.order
    fault = rma.is_seller_at_fault
    result = Quote()
    goods, refunded_units = ZERO, 0
    for line in rma.lines.select_related("order_line", "sku").order_by("order_line__line_no"):
        unit = unit_paid(line.order_line)
        full = line.intact_quantity + (line.damaged_quantity if fault else 0)
        partial = 0 if fault else line.damaged_quantity
        # Units at what each was paid to the cent, counted on from the units earlier RMAs
        # refunded: all the line's refunds together never pass what the line paid.
        before = _units_refunded_before(line, rma)
        amount = (
            _paid_for_units(line.order_line, before, full)
            + _paid_for_units(line.order_line, before + full, partial)
            * Decimal(policy.damaged_refund_percent)
            / 100
        )
        refunded_units += full + partial
        goods += amount
        result.lines.append(
            {
                "line": line.order_line.line_no,
                "sku": line.sku.code,
                "unit_paid": str(quantize(unit)),
                "full": full,
                "partial": partial,
                "wrong_item": line.wrong_item_quantity,
                "amount": str(quantize(amount)),
            }
        )
    result.goods = quantize(goods)
    if rma.reason == ReturnReason.NO_REASON and policy.restocking_fee_percent:
        result.restocking_fee = quantize(result.goods * Decimal(policy.restocking_fee_percent) / 100)
    shipping_refunded = (
        ReturnRefund.objects.filter(order=order, shipping_amount__gt=0).exclude(rma=rma).exists()
    )
    if fault and policy.refund_shipping_on_seller_fault and refunded_units and not shipping_refunded:
        result.shipping = shipping_net(order)
    total = result.goods - result.restocking_fee + result.shipping
    room = order.total - already_refunded(order)
    if total > room:
        total, result.capped = room, True
    result.total = max(quantize(total), ZERO)
    return result


def choose_provider(order: Order, amount: Decimal) -> tuple[str, Payment | None]:
    """Back the way the money came: the latest Stripe, Alipay or WeChat Pay payment with room for
    it; the platform when the order was paid there (Shopify); otherwise finance pays out by hand."""
    payments = (
        Payment.objects.filter(
            order=order,
            currency=order.currency,
            provider__in=[PaymentProvider.STRIPE, PaymentProvider.ALIPAY, PaymentProvider.WECHAT_PAY],
        )
        .exclude(status=PaymentStatus.REFUNDED)
        .order_by("-paid_at", "-pk")
    )
    for payment in payments:
        if payment.amount - payment.refunded_amount >= amount:
            return payment.provider, payment
    if order.channel.platform == "shopify":
        return RefundProvider.SHOPIFY, None
    return RefundProvider.MANUAL, None
