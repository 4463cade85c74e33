"""WooCommerce REST v3 order JSON → canonical order.

Money, from the REST v3 Order (https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties):
- WooCommerce keeps every line, fee and shipping figure without tax, whatever the shop's tax
  setting: a line's `subtotal` is before discounts, `total` after them, `subtotal_tax` and
  `total_tax` their tax, `taxes[]` the tax per rate (unrounded). Shipping is `shipping_total`
  with `shipping_tax`; `discount_total` (with `discount_tax`) is the coupons, already taken off
  the lines (`coupon_lines` name them); `cart_tax` is the tax on lines and fees, `total` what the
  buyer pays.
- `prices_include_tax` says how the shop shows prices. When it does, the canonical order says
  so and carries the figures with their tax (list price = subtotal + subtotal tax, shipping =
  shipping + its tax); when it does not, the figures without tax and the tax on top. Both give
  the same total.
- A line's rate is the sum of the `rate_percent` of its `taxes[]` rates (from `tax_lines`), when
  every one is known and none is compound; older stores do not send `rate_percent` (the REST docs'
  own sample order 727): no rate then.
- Fee lines (`fee_lines`, positive or negative) are price changes the shop made: spread over the
  lines as seller adjustments, their tax onto the lines' tax.

Rounding. WooCommerce stores line amounts with more decimals than it sends (the REST API
rounds them to the store's decimals) and rounds the order's own figures from the unrounded
ones, so the rounded lines may differ from the order by cents (the docs' sample order 728:
line taxes 1.13 + 0.23 + 0.90 = 2.26, `cart_tax` 2.25, from 1.125 + 0.225 + 0.9). The order's
figures are authoritative: `cart_tax` is spread over the lines by their unrounded `taxes[]`,
and what the rounded line totals still miss of `total` (at most a cent a line) is spread over
the lines as an adjustment. A larger difference is not rounding: it is left for the intake to
hold the order on. A unit price that is not a whole cent (subtotal 10.00 for 3) is rounded and
the remainder kept as an adjustment (adapters.unit_price). Line discounts are each line's
subtotal − total as sent; their sum may differ from `discount_total` by the same rounding."""

import html
from decimal import Decimal

from core.money import CENT
from integrations.adapters import money, unit_price
from orders.amounts import spread

# WooCommerce sends Chinese provinces as codes. The names are the Chinese half of WooCommerce's own
# labels, verbatim, from woocommerce/woocommerce plugins/woocommerce/i18n/states.php ('CN' array,
# e.g. 'CN1' => 'Yunnan / 云南'). CN6 is written there with the traditional 內; it is stored in
# simplified Chinese like every other province, or routing by province would not recognise it.
CHINESE_PROVINCES = {
    "CN1": "云南",
    "CN2": "北京",
    "CN3": "天津",
    "CN4": "河北",
    "CN5": "山西",
    "CN6": "内蒙古",
    "CN7": "辽宁",
    "CN8": "吉林",
    "CN9": "黑龙江",
    "CN10": "上海",
    "CN11": "江苏",
    "CN12": "浙江",
    "CN13": "安徽",
    "CN14": "福建",
    "CN15": "江西",
    "CN16": "山东",
    "CN17": "河南",
    "CN18": "湖北",
    "CN19": "湖南",
    "CN20": "广东",
    "CN21": "广西壮族",
    "CN22": "海南",
    "CN23": "重庆",
    "CN24": "四川",
    "CN25": "贵州",
    "CN26": "陕西",
    "CN27": "甘肃",
    "CN28": "青海",
    "CN29": "宁夏",
    "CN30": "澳门",
    "CN31": "西藏",
    "CN32": "新疆",
}
PAID_STATUSES = {"processing", "completed"}
CANCELLED_STATUSES = {"cancelled", "refunded", "failed"}


ZERO = Decimal("0.00")
MAX_TITLE, MAX_DISCOUNT_TITLE = 255, 120


def order_to_canonical(payload: dict, channel) -> dict | None:
    if not payload.get("line_items"):  # order.deleted carries only the id
        return None
    status = payload.get("status")
    billing = payload.get("billing") or {}
    canonical = {
        "channel": channel.code,
        "external_id": str(payload["id"]),
        "placed_at": gmt(payload.get("date_created_gmt")),
        "updated_at": gmt(payload.get("date_modified_gmt")),
        "currency": payload.get("currency"),
        "customer": {
            "name": _name(billing),
            "email": billing.get("email") or "",
            "phone": billing.get("phone") or "",
        },
        **_money(payload),
        "paid": status in PAID_STATUSES,
        "cancelled": status in CANCELLED_STATUSES,
        "buyer_ip": payload.get("customer_ip_address") or None,
        "note": payload.get("customer_note") or "",
    }
    shipping = payload.get("shipping") or {}
    if any(shipping.get(field) for field in ("country", "city", "address_1")):
        # An empty block (virtual goods or a missing address) leaves the order to wait for one.
        canonical["shipping_address"] = _address(shipping, billing)
    if canonical["paid"] and payload.get("date_paid_gmt"):
        canonical["paid_at"] = gmt(payload["date_paid_gmt"])
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    return canonical


class _Line:
    """One line item's figures as WooCommerce sends them (without tax)."""

    def __init__(self, item: dict, rates: dict):
        self.item = item
        self.quantity = item.get("quantity")
        if item.get("subtotal") in (None, "") or not isinstance(self.quantity, int) or self.quantity < 1:
            # No subtotal: `price` (after discounts, per unit) is all there is.
            count = self.quantity if isinstance(self.quantity, int) else 0
            self.subtotal = self.total = money(item.get("price")) * count
        else:
            self.subtotal = money(item["subtotal"])
            self.total = money(item["total"]) if item.get("total") not in (None, "") else self.subtotal
        self.subtotal_tax = money(item.get("subtotal_tax"))
        self.sent_tax = self.tax = money(item.get("total_tax"))
        taxes = [t for t in item.get("taxes") or [] if isinstance(t, dict)]
        self.exact_tax = sum((_exact(t.get("total")) for t in taxes), Decimal(0)) if taxes else self.tax
        self.rate = _rate([t.get("id") for t in taxes if _exact(t.get("total"))], rates)
        self.adjustment = ZERO


def _money(payload: dict) -> dict:
    included = bool(payload.get("prices_include_tax"))
    rates = {
        tax_line.get("rate_id"): tax_line
        for tax_line in payload.get("tax_lines") or []
        if isinstance(tax_line, dict)
    }
    lines = [_Line(item, rates) for item in payload["line_items"]]
    fees = [fee for fee in payload.get("fee_lines") or [] if isinstance(fee, dict)]
    fee_total = sum((money(fee.get("total")) for fee in fees), ZERO)
    fee_tax = sum((money(fee.get("total_tax")) for fee in fees), ZERO)
    fee_exact_tax = sum((_exact(fee.get("total_tax")) for fee in fees), Decimal(0))
    shipping_fee = (
        money(payload["shipping_total"])
        if payload.get("shipping_total") not in (None, "")
        else sum((money(s.get("total")) for s in payload.get("shipping_lines") or []), ZERO)
    )
    shipping_tax = money(payload.get("shipping_tax"))
    rounding_limit = CENT * (len(lines) + len(fees))

    # Tax on lines and fees: `cart_tax`, spread by the unrounded taxes when rounding split it.
    if payload.get("cart_tax") not in (None, ""):
        cart_tax = money(payload["cart_tax"])
        stated = sum((line.tax for line in lines), ZERO) + fee_tax
        if stated != cart_tax and abs(stated - cart_tax) <= rounding_limit:
            shares = spread(cart_tax, [line.exact_tax for line in lines] + [fee_exact_tax])
            for line, share in zip(lines, shares, strict=False):
                line.tax = share
            fee_tax = shares[-1]

    # Fees become adjustments (and tax) on the lines, by their totals.
    weights = [line.total for line in lines]
    for line, share in zip(lines, spread(fee_total, weights), strict=True):
        line.adjustment += share
    fee_tax_shares = spread(fee_tax, weights)

    # What the rounded lines miss of the order's total: rounding, onto the lines' adjustments.
    if payload.get("total") not in (None, ""):
        tax = sum((line.tax for line in lines), ZERO) + fee_tax
        computed = (
            sum((line.total + line.adjustment for line in lines), ZERO) + shipping_fee + tax + shipping_tax
        )
        missing = money(payload["total"]) - computed
        if missing and abs(missing) <= rounding_limit:
            for line, share in zip(lines, spread(missing, weights), strict=True):
                line.adjustment += share

    codes = [str(c.get("code") or "") for c in payload.get("coupon_lines") or [] if isinstance(c, dict)]
    coupon_title = ", ".join(code for code in codes if code)[:MAX_DISCOUNT_TITLE]
    canonical_lines = [
        _canonical_line(line, fee_tax_share, included=included, coupon_title=coupon_title)
        for line, fee_tax_share in zip(lines, fee_tax_shares, strict=True)
    ]
    result = {
        "lines": canonical_lines,
        "shipping_fee": str(shipping_fee + shipping_tax if included else shipping_fee),
        "shipping_tax": str(shipping_tax),
        "tax_included": included,
        # Coupons are on the lines (each line's subtotal − total): no order-level discount.
        "discount": "0.00",
    }
    if payload.get("total") not in (None, ""):
        result["paid_amount"] = str(money(payload["total"]))
    return result


def _canonical_line(line: _Line, fee_tax: Decimal, *, included: bool, coupon_title: str) -> dict:
    item = line.item
    if included:  # figures with their tax, as the shop shows them
        list_amount = line.subtotal + line.subtotal_tax
        discount = list_amount - (line.total + line.sent_tax)
        # the tax's rounding cent (cart_tax spread) changes the price with its tax: not a discount
        adjustment = line.adjustment + fee_tax + line.tax - line.sent_tax
    else:
        list_amount, discount, adjustment = line.subtotal, line.subtotal - line.total, line.adjustment
    if discount < 0:  # a line dearer after "discounts": a price change, not a negative discount
        adjustment, discount = adjustment - discount, ZERO
    quantity = line.quantity if isinstance(line.quantity, int) and line.quantity > 0 else 1
    unit, remainder = unit_price(list_amount, quantity)
    sku = item.get("sku") or ""
    canonical = {
        "sku": sku or None,
        "platform_line_id": _id(item.get("id")),
        "platform_item_id": _id(item.get("product_id")),
        "platform_sku_id": _id(item.get("variation_id")),
        "seller_code": sku,
        "title": html.unescape(str(item.get("name") or ""))[:MAX_TITLE],  # Woo sends "&ndash;"
        "quantity": line.quantity,
        "unit_price": str(unit),
        "adjustment": str(adjustment + remainder),
        "discount": str(discount),
        "tax_amount": str(line.tax + fee_tax),
    }
    if discount and coupon_title:
        canonical["discount_allocations"] = [
            {"amount": str(discount), "funded_by": "merchant", "title": coupon_title}
        ]
    if line.rate is not None:
        canonical["tax_rate"] = str(line.rate)
    return canonical


def _exact(value) -> Decimal:
    """An unrounded Woo amount ("1.125", "0.9", 3): the decimal text as sent."""
    return Decimal(0) if value in (None, "") else Decimal(str(value))


def _rate(rate_ids: list, rates: dict) -> Decimal | None:
    """The line's tax rate as a fraction: the sum of its rates' `rate_percent`, when every one is
    stated and none is compound (a compound rate is charged on the other taxes too)."""
    if not rate_ids:
        return None
    total = Decimal(0)
    for rate_id in rate_ids:
        tax_line = rates.get(rate_id) or {}
        percent = tax_line.get("rate_percent")
        if percent in (None, "") or tax_line.get("compound"):
            return None
        total += Decimal(str(percent))
    rate = total / 100
    exact = rate.quantize(Decimal("0.0001"))
    return exact if exact == rate and 0 <= rate <= 1 else None


def _id(value) -> str:
    return "" if value in (None, "", 0, "0") else str(value)


def gmt(value: str | None) -> str | None:
    """Woo's *_gmt fields are UTC written without an offset: say so, or they would be read as
    the channel's local time."""
    if not value:
        return None
    value = str(value)
    if value.endswith("Z") or "+" in value[10:] or "-" in value[10:]:
        return value
    return f"{value}+00:00"


def _name(address: dict) -> str:
    return " ".join(filter(None, [address.get("first_name"), address.get("last_name")]))


def _address(shipping: dict, billing: dict) -> dict:
    return {
        "name": _name(shipping),
        "country": shipping.get("country") or "",
        "province": _province(shipping.get("country"), shipping.get("state") or ""),
        "city": shipping.get("city") or "",
        "line1": shipping.get("address_1") or "",
        "line2": shipping.get("address_2") or "",
        "postcode": shipping.get("postcode") or "",
        "phone": shipping.get("phone") or billing.get("phone") or "",
    }


def _province(country: str | None, state: str) -> str:
    if country == "CN":
        return CHINESE_PROVINCES.get(state, state)
    return state
