"""The order's money as sold, per line and per order (issue #14, SPEC R-M2).

Per line:   net  = unit price × quantity + seller adjustment − line discounts − order discount share
            paid = net + tax, or net when prices include tax
Per order:  total = goods + adjustments − line discounts − order discount
                    + shipping − shipping discount + tax (when prices exclude it)
            and total = Σ line paid + shipping − shipping discount + shipping tax (when excluded).

The order discount is spread over the lines by their amount before it (largest remainder, to the
cent) unless the platform states each line's share (Taobao's part_mjz_discount). What the platform
says was paid (per line and per order) is kept as stated; the intake holds an order whose stated
paid amount differs from the total computed here (`paid_mismatch`).

Everything here is pure arithmetic on Decimals: no database access."""

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from core.money import CENT, ZERO

NO_CENTS = Decimal(0) * CENT  # Decimal("0.00"), what spread gives a line that gets nothing


def spread(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`amount` split over `weights` in proportion, to the cent, adding up exactly (largest
    remainder; ties go to the earlier weight). All-zero weights split evenly."""
    if not weights:
        return []
    if amount == 0:  # nothing to spread (most orders): what the arithmetic below gives, at once
        return [NO_CENTS] * len(weights)
    weights = [max(w, ZERO) for w in weights]
    whole = sum(weights, ZERO)
    if whole == 0:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    cents = int((amount / CENT).to_integral_value())
    exact = [Decimal(cents) * w / whole for w in weights]
    floors = [int(x.to_integral_value(rounding=ROUND_FLOOR)) for x in exact]
    left = cents - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[: max(left, 0)]:
        floors[i] += 1
    return [Decimal(c) * CENT for c in floors]


def before_order_discount(line: dict) -> Decimal:
    """A canonical line's amount before the order discount: what the order discount is spread by."""
    return line["unit_price"] * line["quantity"] + line.get("adjustment", ZERO) - line.get("discount", ZERO)


def line_net(line: dict) -> Decimal:
    return before_order_discount(line) - line.get("order_discount_share", ZERO)


def line_paid(line: dict, *, tax_included: bool) -> Decimal:
    """What the buyer paid for a canonical line, computed (the platform's own figure aside)."""
    net = line_net(line)
    return net if tax_included else net + line.get("tax_amount", ZERO)


def share_order_discount(lines: list[dict], discount: Decimal) -> None:
    """Give each canonical line its share of the order discount, unless the platform stated them."""
    if all("order_discount_share" in line for line in lines):
        return
    for line, share in zip(
        lines, spread(discount, [before_order_discount(line) for line in lines]), strict=True
    ):
        line["order_discount_share"] = share


def order_amounts(data: dict) -> dict[str, Decimal | bool | None]:
    """The order's amount fields from a validated canonical order (lines already have their
    order discount shares)."""
    lines = data["lines"]
    tax_included = data.get("tax_included", False)
    goods = sum((line["unit_price"] * line["quantity"] for line in lines), ZERO)
    adjustments = sum((line.get("adjustment", ZERO) for line in lines), ZERO)
    line_discounts = sum((line.get("discount", ZERO) for line in lines), ZERO)
    discount = data.get("discount", ZERO)
    shipping_fee = data.get("shipping_fee", ZERO)
    shipping_discount = data.get("shipping_discount", ZERO)
    shipping_tax = data.get("shipping_tax", ZERO)
    tax = sum((line.get("tax_amount", ZERO) for line in lines), ZERO) + shipping_tax
    platform_discounts = sum((line.get("platform_discount", ZERO) for line in lines), ZERO) + data.get(
        "platform_discount", ZERO
    )
    total = goods + adjustments - line_discounts - discount + shipping_fee - shipping_discount
    if not tax_included:
        total += tax
    return {
        "goods_amount": goods,
        "adjustment_amount": adjustments,
        "line_discount_amount": line_discounts,
        "discount": discount,
        "platform_discount_amount": platform_discounts,
        "shipping_fee": shipping_fee,
        "shipping_discount": shipping_discount,
        "tax_amount": tax,
        "shipping_tax": shipping_tax,
        "tax_included": tax_included,
        "platform_commission": data.get("platform_commission", ZERO),
        "total": total,
        "paid_amount": data.get("paid_amount"),
    }


def shipping_net(order) -> Decimal:
    """Shipping as the buyer paid it: fee less its discount, plus its tax when prices exclude it."""
    extra = ZERO if order.tax_included else order.shipping_tax
    return order.shipping_fee - order.shipping_discount + extra


def paid_mismatch(order) -> tuple[Decimal, Decimal] | None:
    """(stated paid amount, computed total) when the platform's figure differs from ours."""
    if order.paid_amount is None or order.paid_amount == order.total:
        return None
    return order.paid_amount, order.total


def units_paid(line, quantity: int | None = None) -> Decimal:
    """What `quantity` units of a saved order line were paid (default: every live unit), to the
    cent: the line's paid amount split evenly over its units, so all its units together never
    come to more than the line paid."""
    quantity = line.live_quantity if quantity is None else min(quantity, line.quantity)
    if quantity <= 0:
        return ZERO
    return sum(spread(line.paid_amount, [Decimal(1)] * line.quantity)[:quantity], ZERO)


# --- a line edited during review (orders.edits) ---------------------------------------------------

LINE_MONEY_FIELDS = (
    "unit_price",
    "discount",
    "discount_allocations",
    "platform_discount",
    "adjustment",
    "order_discount_share",
    "tax_amount",
    "paid_amount",
)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def edited_line(line: dict, *, quantity: int, unit_price: Decimal, tax_included: bool) -> dict:
    """A saved line's money fields after its quantity or unit price is edited (a dict with the
    line's current `quantity`, `tax_rate` and LINE_MONEY_FIELDS; allocations as stored).

    The line keeps its amounts per unit: a new quantity changes its discounts (each allocation,
    still adding up to the line discount), seller adjustment and order discount share in
    proportion, to the cent. A new unit price changes only the goods. Tax keeps the line's own
    rate: the rate its amounts give (tax ÷ net) while the net was not zero, else the stated
    `tax_rate` (on the net, or inside it when prices include tax). `paid_amount` becomes what the
    line computes to (`line_paid`): the platform's figure was for the line as sold."""
    was = line["quantity"]

    def per_unit(amount: Decimal) -> Decimal:
        return amount if quantity == was else _cents(amount * quantity / was)

    discount = per_unit(line["discount"])
    allocations = [dict(a) for a in line.get("discount_allocations") or []]
    if allocations:
        for allocation, amount in zip(
            allocations, spread(discount, [Decimal(a["amount"]) for a in allocations]), strict=True
        ):
            allocation["amount"] = str(amount)
        platform = sum((Decimal(a["amount"]) for a in allocations if a.get("funded_by") == "platform"), ZERO)
    else:
        platform = per_unit(line["platform_discount"])
    new = {
        "quantity": quantity,
        "unit_price": unit_price,
        "discount": discount,
        "discount_allocations": allocations,
        "platform_discount": platform,
        "adjustment": per_unit(line["adjustment"]),
        "order_discount_share": per_unit(line["order_discount_share"]),
    }
    old_net, net = line_net(line), line_net(new)
    rate = line.get("tax_rate")
    if old_net:
        tax = _cents(line["tax_amount"] * net / old_net)
    elif rate:
        tax = _cents(net * rate / (1 + rate) if tax_included else net * rate)
    else:
        tax = per_unit(line["tax_amount"])
    new["tax_amount"] = tax
    new["paid_amount"] = line_paid(new, tax_included=tax_included)
    return new


def order_deltas(old: dict, new: dict, *, tax_included: bool) -> dict[str, Decimal]:
    """How the order's amount fields move when one line's money goes from `old` to `new` (dicts
    as for `edited_line`). The total moves by what the line computes to, so it stays
    goods + adjustments − discounts + shipping (+ tax when excluded) whatever the platform said."""

    def goods(line):
        return line["unit_price"] * line["quantity"]

    return {
        "goods_amount": goods(new) - goods(old),
        "adjustment_amount": new["adjustment"] - old["adjustment"],
        "line_discount_amount": new["discount"] - old["discount"],
        "discount": new["order_discount_share"] - old["order_discount_share"],
        "platform_discount_amount": new["platform_discount"] - old["platform_discount"],
        "tax_amount": new["tax_amount"] - old["tax_amount"],
        "total": line_paid(new, tax_included=tax_included) - line_paid(old, tax_included=tax_included),
    }


def paid_difference(order) -> Decimal | None:
    """What the platform says was paid less the order's total: positive = the buyer paid more
    (refund it), negative = the buyer paid less (collect it); None when the platform is silent."""
    if order.paid_amount is None:
        return None
    return order.paid_amount - order.total
