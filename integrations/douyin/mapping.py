"""Douyin shop order (`order.searchList` / `order.orderDetail` ShopOrder with its `sku_order_list`)
→ canonical order.

Fields as the official Go SDK documents them (`doudian-sdk-golang` 1.1.0,
`api/order_searchList/response/order_searchList_response.go`; research notes for #16 §A4,
SOURCES.md §17): every amount is an integer in fen (分), every time unix seconds.

Per sku order line (`order_level` 3):
- `origin_amount` is the unit price (商品现价) and `item_num` the units: `sum_amount` =
  origin_amount × item_num, the line's list amount.
- Its discounts: `promotion_shop_amount` (the shop pays: merchant-funded) and
  `promotion_platform_amount` + `promotion_talent_amount` (the platform / the 达人 pays: funded by
  the platform); `promotion_amount` is their sum. The shop is credited the platform's part, the
  buyer paid without either.
- `modify_amount` (改价, signed) is the seller's price change: the line's adjustment.
- `pay_amount` is what the buyer paid for the line, its `post_amount` included (the constructed
  fixtures' reading, SOURCES.md §17: to verify on a live order): the line's paid amount is
  pay_amount − post_amount; `tax_amount` the line's tax (included in the price: `has_tax`).
- A line with `given_product_type` FREE is a gift.
Per shop order: `post_amount` is the shipping paid and `post_promotion_amount` its discount
(the fee is their sum, `post_origin_amount`); `pay_amount` is what the buyer paid; `promotion_pay_amount`
(a payment-channel discount) is not a goods discount and is left to the paid-amount check.
`goods_price` (read by some third-party code) is not in the SDK's structs and is not used.

order_status (Go SDK comments): 1 待确认/待支付 → unpaid; 105 已支付 (风控中: paid, not to be
shipped) → paid (its money and stock taken as a paid order), tagged and held with a reason a person
reads (canonical `platform_hold`): it is never routed, and a later version at 2 备货中 (or any other
status) releases it; 2 备货中, 101 部分发货, 3 已发货, 5 已完成 → paid; 4 已取消 → cancelled (its
stock released by the intake).
A line whose after-sale refund succeeded (`after_sale_info.refund_status` 3) is left out unless
every line was refunded (then the order is cancelled with its lines).

Receivers come encrypted (`encrypt_post_receiver`, `encrypt_post_tel`, `post_addr.encrypt_detail`)
with masked twins (`mask_post_receiver`, `mask_post_tel`, `mask_post_addr.detail`): the masked text
goes to the address, both into `protected_receiver` (integrations.protected_data)."""

from datetime import UTC, datetime
from decimal import Decimal

from django.utils.translation import gettext as _

UNPAID, RISK_CHECK, TO_SHIP, PART_SHIPPED, SHIPPED, CANCELLED, DONE = 1, 105, 2, 101, 3, 4, 5
PAID_STATUSES = {RISK_CHECK, TO_SHIP, PART_SHIPPED, SHIPPED, DONE}
KNOWN_STATUSES = PAID_STATUSES | {UNPAID, CANCELLED}
REFUND_SUCCEEDED = 3  # after_sale_info.refund_status 3 退款成功
RISK_TAG = "douyin-risk-check"
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_TITLE = 255


def fen(value) -> Decimal:
    """An amount in fen (an integer, or its text) as yuan to the cent, exactly."""
    if value in (None, ""):
        return ZERO
    if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
        raise ValueError(_("Not an amount in fen: %(value)r") % {"value": value})
    return Decimal(int(value)) * FEN


def unix_time(value) -> str | None:
    """Unix seconds → ISO 8601 UTC; None for 0 / absent (Douyin sends 0 for "not yet")."""
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC).isoformat()


def order_id(order: dict) -> str:
    return str(order["order_id"])


def status_of(order: dict) -> int:
    status = order.get("order_status")
    try:
        status = int(status)
    except (TypeError, ValueError):
        status = None
    if status not in KNOWN_STATUSES:
        raise ValueError(_("Unknown Douyin order_status %(status)r.") % {"status": order.get("order_status")})
    return status


def order_to_canonical(order: dict, channel) -> dict | None:
    items = order.get("sku_order_list") or []
    if not items:
        return None
    status = status_of(order)
    refunded = [item for item in items if _refunded(item)]
    kept = [item for item in items if not _refunded(item)]
    cancelled = status == CANCELLED or not kept
    if not kept:
        kept, refunded = items, []
    lines = [_line(item) for item in kept]
    paid = status in PAID_STATUSES and not cancelled
    # post_origin_amount = post_amount + post_promotion_amount (Go SDK comment): the fee before
    # its discount; post_amount is what the buyer paid for shipping.
    shipping = fen(order.get("post_amount")) + fen(order.get("post_promotion_amount"))
    canonical = {
        "channel": channel.code,
        "external_id": order_id(order),
        "placed_at": unix_time(order.get("create_time")),
        "updated_at": unix_time(order.get("update_time")),
        "currency": "CNY",
        "customer": {"name": "", "email": "", "phone": ""},
        "lines": lines,
        "shipping_fee": str(shipping),
        "shipping_discount": str(fen(order.get("post_promotion_amount"))),
        "tax_included": True,
        "paid": paid,
        "cancelled": cancelled,
        "note": str(order.get("buyer_words") or "")[:2000],
        "paid_amount": str(
            fen(order.get("pay_amount")) - sum((fen(item.get("pay_amount")) for item in refunded), ZERO)
        ),
    }
    if status == RISK_CHECK and not cancelled:
        canonical["tags"] = [RISK_TAG]
        canonical["platform_hold"] = _("Douyin risk check: do not ship until Douyin releases it")
    if paid and order.get("pay_time"):
        canonical["paid_at"] = unix_time(order["pay_time"])
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    address, protected = _receiver(order)
    if address is not None:
        canonical["shipping_address"] = address
    if protected:
        canonical["protected_receiver"] = protected
    return canonical


def _refunded(item: dict) -> bool:
    info = item.get("after_sale_info") or {}
    try:
        return int(info.get("refund_status") or 0) == REFUND_SUCCEEDED
    except (TypeError, ValueError):
        return False


def _line(item: dict) -> dict:
    quantity = item.get("item_num")
    quantity = int(quantity) if isinstance(quantity, str) and quantity.isdigit() else quantity
    allocations = []
    shop = fen(item.get("promotion_shop_amount"))
    if shop:
        allocations.append({"amount": str(shop), "funded_by": "merchant", "title": "promotion_shop_amount"})
    platform = fen(item.get("promotion_platform_amount"))
    if platform:
        allocations.append(
            {"amount": str(platform), "funded_by": "platform", "title": "promotion_platform_amount"}
        )
    talent = fen(item.get("promotion_talent_amount"))
    if talent:
        allocations.append(
            {"amount": str(talent), "funded_by": "platform", "title": "promotion_talent_amount"}
        )
    seller_code = str(item.get("code") or item.get("out_sku_id") or "")
    line = {
        "sku": seller_code or None,
        "platform_line_id": _id(item.get("order_id")),
        "platform_item_id": _id(item.get("product_id_str") or item.get("product_id")),
        "platform_sku_id": _id(item.get("sku_id")),
        "seller_code": seller_code,
        "title": str(item.get("product_name") or "")[:MAX_TITLE],
        "quantity": quantity,
        "unit_price": str(fen(item.get("origin_amount"))),
        "adjustment": str(fen(item.get("modify_amount"))),
        "discount_allocations": allocations,
        "order_discount_share": "0.00",
        "tax_amount": str(fen(item.get("tax_amount"))),
        "paid_amount": str(fen(item.get("pay_amount")) - fen(item.get("post_amount"))),
        # a gift (given_product_type FREE) is a gift line only when it carries no price
        "gift": str(item.get("given_product_type") or "").upper() == "FREE"
        and not fen(item.get("origin_amount")),
    }
    return line


def _id(value) -> str:
    return "" if value in (None, "", 0) else str(value)


def _name(region) -> str:
    return str((region or {}).get("name") or "") if isinstance(region, dict) else ""


def _receiver(order: dict) -> tuple[dict | None, dict]:
    """(shipping address with the masked text, protected_receiver). Plain fields win when a shop
    is not encrypted (post_receiver / post_tel / post_addr.detail)."""
    addr = order.get("post_addr") or {}
    masked = order.get("mask_post_addr") or addr
    city = _name(addr.get("city")) or _name(masked.get("city"))
    detail = str(addr.get("detail") or masked.get("detail") or "")
    street = _name(addr.get("street")) or _name(masked.get("street"))
    protected = {}
    for field, cipher, mask in (
        ("name", order.get("encrypt_post_receiver"), order.get("mask_post_receiver")),
        ("phone", order.get("encrypt_post_tel"), order.get("mask_post_tel")),
        ("address", addr.get("encrypt_detail"), masked.get("detail")),
    ):
        if cipher:
            protected[field] = {"masked": str(mask or ""), "cipher": str(cipher)}
    if not (city and (detail or street)):
        return None, protected
    line1 = " ".join(filter(None, [street, detail]))
    address = {
        "name": str(order.get("post_receiver") or order.get("mask_post_receiver") or "")[:120],
        "country": "CN",
        "province": _name(addr.get("province")) or _name(masked.get("province")),
        "city": city,
        "district": _name(addr.get("town")) or _name(masked.get("town")),
        "line1": line1[:255],
        "line2": "",
        "postcode": "",
        "phone": str(order.get("post_tel") or order.get("mask_post_tel") or "")[:32],
    }
    return address, protected
