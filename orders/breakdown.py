"""The order's money as the order page shows it (issue #14): per line — list price, quantity,
each discount with who funds it, seller adjustment, share of the order discount, tax (rate,
included or not), net and paid — and per order, down to the total and what the platform says was
paid, with the difference spelled out. A read: it builds display rows from an order whose lines
are loaded (orders.selectors.order_detail), with amounts as Money in the order's currency."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.money import ZERO, Money
from orders import amounts
from orders.models import LineKind, Order, OrderLine

FUNDED_BY = {"platform": gettext_lazy("platform"), "merchant": gettext_lazy("merchant")}


@dataclass
class DiscountRow:
    amount: Money
    funded_by: str  # "platform" or "merchant"; "" when the platform did not itemise it
    title: str

    @property
    def funder(self) -> str:
        return str(FUNDED_BY.get(self.funded_by, "")) if self.funded_by else ""


@dataclass
class LineRow:
    line: OrderLine
    is_component: bool
    label: str  # SKU code, or the platform's id while unmapped
    name: str
    list_price: Money
    goods: Money
    discounts: list[DiscountRow]
    adjustment: Money
    order_discount_share: Money
    tax: Money
    tax_rate: str  # "8%", "" when not stated
    net: Money
    paid: Money

    @property
    def is_unmapped(self) -> bool:
        return self.line.sku_id is None


@dataclass
class OrderRow:
    label: str
    amount: Money
    sign: str = ""  # "−" for what is taken off
    strong: bool = False
    note: str = ""
    key: str = ""  # a CSS hook (money-total, money-paid…)


@dataclass
class Breakdown:
    currency: str
    lines: list[LineRow]
    rows: list[OrderRow]
    tax_included: bool
    paid: Money | None
    difference: Money | None  # paid − total; None when the platform did not say or it matches
    commission: Money | None = None
    warning: str = ""
    # Units cancelled after the sale: what they were paid, and what is owed back for them.
    cancelled: Money | None = None
    refund_due: Money | None = None


def _pct(rate: Decimal | None) -> str:
    if rate is None:
        return ""
    return f"{(rate * 100).normalize():f}%"


def line_label(line: OrderLine) -> str:
    if line.sku_id:
        return line.sku.code
    return _("not mapped: platform id %(id)s") % {
        "id": line.platform_sku_id or line.platform_item_id or line.seller_code or "—"
    }


def _line_row(line: OrderLine, currency: str) -> LineRow:
    def money(amount: Decimal) -> Money:
        return Money(amount, currency)

    discounts = [
        DiscountRow(money(Decimal(a["amount"])), a.get("funded_by", "merchant"), a.get("title", ""))
        for a in line.discount_allocations or []
    ]
    itemised = sum((d.amount.amount for d in discounts), ZERO)
    if line.discount - itemised:
        discounts.append(DiscountRow(money(line.discount - itemised), "", _("not itemised")))
    return LineRow(
        line=line,
        is_component=line.kind == LineKind.COMPONENT,
        label=line_label(line),
        name=(line.sku.name if line.sku_id else "") or line.title,
        list_price=money(line.unit_price),
        goods=money(line.unit_price * line.quantity),
        discounts=discounts,
        adjustment=money(line.adjustment),
        order_discount_share=money(line.order_discount_share),
        tax=money(line.tax_amount),
        tax_rate=_pct(line.tax_rate),
        net=money(line.net_amount),
        paid=money(line.paid_amount),
    )


def _ordered(lines: list[OrderLine]) -> list[OrderLine]:
    """Lines as sold in their order, each bundle's components right after it."""
    components: dict[int, list[OrderLine]] = {}
    for line in lines:
        if line.kind == LineKind.COMPONENT and line.parent_line_id:
            components.setdefault(line.parent_line_id, []).append(line)
    placed = {c.pk for group in components.values() for c in group}
    ordered = []
    for line in sorted(lines, key=lambda line: line.line_no):
        if line.pk in placed:
            continue
        ordered.append(line)
        ordered.extend(sorted(components.get(line.pk, []), key=lambda c: c.line_no))
    known = {line.pk for line in ordered}
    ordered.extend(c for c in sorted(lines, key=lambda line: line.line_no) if c.pk not in known)
    return ordered


def order_breakdown(order: Order) -> Breakdown:
    currency = order.currency

    def money(amount: Decimal) -> Money:
        return Money(amount, currency)

    lines = [_line_row(line, currency) for line in _ordered(list(order.lines.all()))]
    discounts = order.line_discount_amount + order.discount
    merchant = discounts - order.platform_discount_amount
    tax_note = _("included in the prices") if order.tax_included else _("added to the prices")
    rows = [
        OrderRow(_("Goods at list price"), money(order.goods_amount)),
        OrderRow(_("Seller adjustments"), money(order.adjustment_amount)),
        OrderRow(_("Line discounts"), money(order.line_discount_amount), sign="−"),
        OrderRow(_("Order discount"), money(order.discount), sign="−"),
        OrderRow(
            _("Discounts funded by the merchant"),
            money(merchant),
            note=_("of the discounts above"),
            key="money-merchant",
        ),
        OrderRow(
            _("Discounts funded by the platform"),
            money(order.platform_discount_amount),
            note=_("of the discounts above"),
            key="money-platform",
        ),
        OrderRow(_("Shipping"), money(order.shipping_fee)),
        OrderRow(_("Shipping discount"), money(order.shipping_discount), sign="−"),
        OrderRow(_("Shipping tax"), money(order.shipping_tax), note=tax_note),
        OrderRow(_("Tax"), money(order.tax_amount), note=tax_note, key="money-tax"),
        OrderRow(_("Total"), money(order.total), strong=True, key="money-total"),
    ]
    cancelled = cancelled_value(order)
    if cancelled:
        rows += [
            OrderRow(
                _("Cancelled units"),
                money(cancelled),
                sign="−",
                note=_("what they were paid"),
                key="money-cancelled",
            ),
            OrderRow(
                _("Total for the units still ordered"),
                money(order.total - cancelled),
                strong=True,
                key="money-live-total",
            ),
        ]
    difference = amounts.paid_difference(order)
    warning = ""
    if difference:
        if difference > 0:
            warning = _("Differs from the total: the buyer paid %(amount)s more — refund %(amount)s.")
        else:
            warning = _("Differs from the total: the buyer paid %(amount)s less — collect %(amount)s.")
        warning %= {"amount": money(abs(difference))}
    return Breakdown(
        currency=currency,
        lines=lines,
        rows=rows,
        tax_included=order.tax_included,
        paid=money(order.paid_amount) if order.paid_amount is not None else None,
        difference=money(difference) if difference else None,
        commission=money(order.platform_commission),
        warning=warning,
        cancelled=money(cancelled) if cancelled else None,
        refund_due=money(cancelled) if cancelled and is_paid(order) else None,
    )


def cancelled_value(order: Order) -> Decimal:
    """What the buyer paid for the units cancelled after the sale: each line's paid amount less
    what its live units were paid (orders.amounts.units_paid, to the cent). Component lines share
    their bundle line's money and are left out, as in every sum over an order's lines."""
    return sum(
        (
            line.paid_amount - amounts.units_paid(line)
            for line in order.lines.all()
            if line.cancelled_quantity and line.kind != LineKind.COMPONENT
        ),
        ZERO,
    )


def is_paid(order: Order) -> bool:
    return order.paid_at is not None
