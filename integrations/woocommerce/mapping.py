"""WooCommerce REST v3 order JSON → canonical order."""

from decimal import ROUND_CEILING, Decimal

from integrations.adapters import CENT, money

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


def order_to_canonical(payload: dict, channel) -> dict | None:
    if not payload.get("line_items"):  # order.deleted carries only the id
        return None
    lines = [_line(item) for item in payload["line_items"]]
    line_discounts = sum((Decimal(line["discount"]) for line in lines), Decimal("0.00"))
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
        "lines": lines,
        "shipping_fee": str(money(payload.get("shipping_total"))),
        # discount_total (coupons) is already spread over the lines; keep only what is left.
        "discount": str(max(money(payload.get("discount_total")) - line_discounts, Decimal("0.00"))),
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


def gmt(value: str | None) -> str | None:
    """Woo's *_gmt fields are UTC written without an offset: say so, or they would be read as
    the channel's local time."""
    if not value:
        return None
    value = str(value)
    if value.endswith("Z") or "+" in value[10:] or "-" in value[10:]:
        return value
    return f"{value}+00:00"


def _line(item: dict) -> dict:
    """Woo's `price` is the line total after discounts divided by the quantity; the unit price
    before discounts comes from `subtotal`. It is rounded up to the cent so that the discount
    (unit × quantity − total) is never negative and the line's net amount equals Woo's `total`."""
    quantity, subtotal = item.get("quantity"), item.get("subtotal")
    line = {"sku": item.get("sku") or "", "quantity": quantity}
    if subtotal in (None, "") or not isinstance(quantity, int) or quantity < 1:
        return {**line, "unit_price": str(money(item.get("price"))), "discount": "0.00"}
    unit_price = (Decimal(str(subtotal)) / quantity).quantize(CENT, rounding=ROUND_CEILING)
    total = money(item.get("total") if item.get("total") not in (None, "") else subtotal)
    discount = max(unit_price * quantity - total, Decimal("0.00"))
    return {**line, "unit_price": str(unit_price), "discount": str(discount)}


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
