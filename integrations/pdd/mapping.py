"""Pinduoduo order (`order_sn_increment_get_response.order_sn_list[]` of
pdd.order.number.list.increment.get, the same object as `order_info_get_response.order_info` of
pdd.order.information.get) → canonical order.

Documents followed: the official Java SDK com.pdd.pop.sdk (pop-sdk-ext-1724605200, classes
`OrderSnIncrementGetResponseOrderSnListItem` / `OrderInfoGetResponseOrderInfo` and their field
docs), the PDD doc pages of pdd.order.list.get / 订单查询常见FAQ and the 2018 doc examples
(integrations/tests/payloads/SOURCES.md §16, research notes A2).

Money is yuan, sent as JSON numbers (Double in the SDK): read through the number's text
(`Decimal(str(x))`), never summed as floats. The SDK field docs define:
- goods_amount 商品金额 = goods_price × goods_count − order_change_amount (改价折扣). Each line sells
  goods_count × goods_price; the seller's price change is a (negative) seller adjustment, spread
  over the lines by their goods value (to the cent, adding up exactly).
- discount_amount 折扣金额 = platform_discount 平台优惠 + seller_discount 店铺优惠 +
  capital_free_discount 团长免单优惠金额: the order discount (PDD states no per-line share; the
  intake spreads it). The platform's part is platform_discount; seller_discount and
  capital_free_discount are kept as the seller's (the SDK states no funder for 团长免单, so it is
  not counted as the platform's).
- postage 邮费 is the shipping fee; pay_amount 支付金额 = goods − discount + postage (+ 服务费) is
  what the buyer paid. Service fees (service_fee_detail) have no canonical field: an order with
  them disagrees with its computed total and the intake holds it for a person (paid mismatch).
- duo_duo_pay_reduction (多多支付立减) and promotion_detail_list are not in that formula and are
  not read (promotion type 30 以旧换新 is already inside platform_discount, per the SDK).
- gift_list (赠品) lines come with no price.
Ids: goods_id / sku_id are PDD's item and SKU ids (strings in 2018, longs in the 2024 SDK); outer_id
(SKU 外部编码, else outer_goods_id) is the seller code.

Status: PDD lists an order only once it is paid and its group formed (confirm_status 1 已成交);
confirm_status 0 (未成交) is not yet a sale, 2 (已取消) is cancelled. A paid order is undone by a
refund: refund_status 4 (退款成功) cancels it (its stock is released); 2 (售后处理中) and 3 (退款中)
tag it. Times are "yyyy-MM-dd HH:mm:ss" in Beijing time (SDK `Constants.DATE_TIMEZONE` GMT+8); an
empty string is unset.

Receiver: the plaintext fields receiver_name / receiver_phone / receiver_address (详细地址, "不拼接
省市区") carry ciphertext while the order waits to ship and are empty afterwards; the *_mask fields
are always there. The order keeps the masked text (ship_*) and, in protected_receiver, the masked
text and ciphertext per field. PDD has no search-index fields. Masked data is never an identity:
the customer gets no phone (see orders.building)."""

from decimal import Decimal

from django.utils.translation import gettext as _

from core.timezones import parse_beijing_time
from integrations.adapters import money
from orders.amounts import spread

ZERO = Decimal("0.00")
MAX_TITLE = 255
CONFIRMED, NOT_CONFIRMED, CONFIRM_CANCELLED = 1, 0, 2  # confirm_status 成交状态
REFUND_NONE, AFTER_SALE, REFUNDING, REFUNDED = 1, 2, 3, 4  # refund_status 售后状态
REFUND_TAGS = {AFTER_SALE: "pdd-after-sale", REFUNDING: "pdd-refunding", REFUNDED: "pdd-refunded"}


def order_sn(order: dict) -> str:
    return str(order["order_sn"])


def beijing_time(value) -> str | None:
    """ "2026-05-12 10:05:11" (Beijing) → "2026-05-12T10:05:11+08:00"; None for ""."""
    if value in (None, ""):
        return None
    return parse_beijing_time(str(value)).isoformat()


def _int(order: dict, key: str, default: int | None = None) -> int | None:
    value = order.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(  # noqa: B904 - the field named is the message
            _("Pinduoduo field %(field)s is not a number: %(value)r") % {"field": key, "value": value}
        )


def _id(value) -> str:
    return "" if value in (None, "", 0) else str(value)


# What the mapping needs of an order; the increment API returns whole orders (the SDK's list item
# has every field of pdd.order.information.get), so an order lacking one is read again with it.
NEEDED = ("item_list", "goods_amount", "discount_amount", "postage", "pay_amount", "created_time")


def missing_detail(order: dict) -> list[str]:
    """The fields the mapping needs that this order came without (empty when complete)."""
    return [key for key in NEEDED if order.get(key) in (None, "", [])]


def order_to_canonical(order: dict, channel) -> dict:
    items = order.get("item_list") or []
    if not items:
        raise ValueError(_("Pinduoduo order %(sn)s has no item_list.") % {"sn": order.get("order_sn")})
    confirm = _int(order, "confirm_status", CONFIRMED)
    refund = _int(order, "refund_status", REFUND_NONE)
    if confirm not in (CONFIRMED, NOT_CONFIRMED, CONFIRM_CANCELLED):
        raise ValueError(_("Unknown Pinduoduo confirm_status %(v)r.") % {"v": confirm})
    if refund not in (REFUND_NONE, AFTER_SALE, REFUNDING, REFUNDED):
        raise ValueError(_("Unknown Pinduoduo refund_status %(v)r.") % {"v": refund})
    cancelled = confirm == CONFIRM_CANCELLED or refund == REFUNDED
    lines = [_line(item) for item in items]
    _spread_price_change(lines, money(order.get("order_change_amount")))
    lines += [_line(gift, gift=True) for gift in order.get("gift_list") or []]
    _check_goods_amount(order, lines)
    canonical = {
        "channel": channel.code,
        "external_id": order_sn(order),
        "placed_at": beijing_time(order.get("created_time")),
        "updated_at": beijing_time(order.get("updated_at")),
        "currency": "CNY",
        "customer": {"name": str(order.get("receiver_name_mask") or ""), "phone": "", "email": ""},
        "lines": lines,
        "shipping_fee": str(money(order.get("postage"))),
        "discount": str(money(order.get("discount_amount"))),
        "platform_discount": str(money(order.get("platform_discount"))),
        "paid_amount": str(money(order.get("pay_amount"))),
        "paid": confirm == CONFIRMED and not cancelled,
        "cancelled": cancelled,
        "note": str(order.get("buyer_memo") or "")[:2000],
        "tags": [REFUND_TAGS[refund]] if refund in REFUND_TAGS else [],
        "shipping_address": _address(order),
        "protected_receiver": protected_receiver(order),
    }
    paid_at = beijing_time(order.get("pay_time") or order.get("confirm_time"))
    if canonical["paid"] and paid_at:
        canonical["paid_at"] = paid_at
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    return canonical


def _line(item: dict, *, gift: bool = False) -> dict:
    count = item.get("goods_count")
    quantity = int(count) if isinstance(count, int | str) and str(count).isdigit() else count
    seller_code = str(item.get("outer_id") or item.get("outer_goods_id") or "")
    title = " ".join(filter(None, [str(item.get("goods_name") or ""), str(item.get("goods_spec") or "")]))
    return {
        "sku": seller_code or None,
        # PDD gives an order's lines no id of their own: the SKU id names the line in its order
        # (what a shipment write-back reports, integrations.writeback).
        "platform_line_id": _id(item.get("sku_id")),
        "platform_item_id": _id(item.get("goods_id")),
        "platform_sku_id": _id(item.get("sku_id")),
        "seller_code": seller_code,
        "title": title[:MAX_TITLE],
        "quantity": quantity,
        "unit_price": "0.00" if gift else str(money(item.get("goods_price"))),
        "adjustment": "0.00",
        "gift": gift,
    }


def _goods(line: dict) -> Decimal:
    quantity = line["quantity"] if isinstance(line["quantity"], int) else 0
    return Decimal(line["unit_price"]) * quantity


def _spread_price_change(lines: list[dict], change: Decimal) -> None:
    """order_change_amount (改价折扣) lowers the goods: a negative seller adjustment per line."""
    if not change:
        return
    for line, share in zip(lines, spread(change, [_goods(line) for line in lines]), strict=True):
        line["adjustment"] = str(-share)


def _check_goods_amount(order: dict, lines: list[dict]) -> None:
    """goods_amount = Σ goods_price × goods_count − order_change_amount (SDK field doc): an order
    whose lines do not give PDD's own figure is refused rather than taken with other money."""
    if order.get("goods_amount") in (None, ""):
        return
    ours = sum((_goods(line) + Decimal(line["adjustment"]) for line in lines if not line["gift"]), ZERO)
    stated = money(order["goods_amount"])
    if ours != stated:
        raise ValueError(
            _("Pinduoduo order %(sn)s: goods_amount %(stated)s differs from its lines (%(ours)s).")
            % {"sn": order.get("order_sn"), "stated": stated, "ours": ours}
        )


def _address(order: dict) -> dict:
    return {
        "name": str(order.get("receiver_name_mask") or ""),
        "country": "CN",
        "province": str(order.get("province") or ""),
        "city": str(order.get("city") or ""),
        "district": str(order.get("town") or ""),
        "line1": str(order.get("receiver_address_mask") or ""),
        "line2": "",
        "postcode": "",
        "phone": str(order.get("receiver_phone_mask") or ""),
    }


# canonical protected field → (ciphertext field, masked field)
PROTECTED_FIELDS = {
    "name": ("receiver_name", "receiver_name_mask"),
    "phone": ("receiver_phone", "receiver_phone_mask"),
    "address": ("receiver_address", "receiver_address_mask"),
}


def protected_receiver(order: dict) -> dict[str, dict[str, str]]:
    """{"name"|"phone"|"address": {"masked", "cipher", "index"}}: the ciphertext as PDD sent it
    (empty once the order has shipped, been refunded or is under risk review), no index."""
    return {
        name: {
            "masked": str(order.get(masked) or ""),
            "cipher": str(order.get(cipher) or ""),
            "index": "",
        }
        for name, (cipher, masked) in PROTECTED_FIELDS.items()
    }
