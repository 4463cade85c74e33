"""Taobao / Tmall trade (TOP `Trade` with its `orders.order[]`) → canonical order.

TOP writes times as "yyyy-MM-dd HH:mm:ss" in Beijing time with no offset; they are made aware in
Asia/Shanghai here, so nothing downstream can read them as UTC or as the channel's zone.

Money (TOP's Trade and Order structures, taobao.trade.fullinfo.get / trades.sold.increment.get;
the definitions and the published trades they were checked on are in
integrations/tests/payloads/SOURCES.md):
- A line (Order) sells `num` × `price`, changed by the seller's `adjust_fee` (signed), less its
  own `discount_fee`; TOP states the result as `total_fee` (= price × num + adjust_fee −
  discount_fee). When `total_fee` disagrees with price × num (a combo sold as a set: the
  published trade paid 86.03 has price 168.00 × num 4 with total_fee 64.00 = 168.00 − 104.00,
  and Trade.total_fee 296.00 = Σ price), TOP's own line figure wins: the line's list amount is
  total_fee + discount_fee − adjust_fee, spread over its units.
- `part_mjz_discount` is the line's share of the shop-wide discount; the order discount is their
  sum. When no line states it, the order discount is the trade's `discount_fee` less the lines'
  own discounts, spread by the intake.
- A line's paid amount is `divide_order_fee` (分摊之后的实付金额). Without it, `payment` is used
  as TOP defines it: price × num + adjust_fee − discount_fee (so less the line's
  part_mjz_discount) on a trade of several lines, and the trade's whole payment (postage
  included: less `post_fee`) on a trade of one line.
- The trade's `payment` is what the buyer paid; `post_fee` is shipping. TOP states no tax.
- A line refunded in full (refund_status SUCCESS) is left out of the order. The trade's
  `payment` still counts it (the published refunded trade keeps payment 2499.00 while that
  line's own payment fell to 0.00), so the paid amount is the trade's payment less what that
  line was paid (its divide_order_fee, else what its amounts give).
- Ids: `num_iid` and `sku_id` are the platform's item and SKU ids; `outer_sku_id` (else
  `outer_iid`) is the seller code and, when there is one, our SKU code."""

from decimal import Decimal

from django.utils.translation import gettext as _

from core.timezones import parse_beijing_time
from integrations.adapters import money, unit_price

# TOP trade statuses (Trade.status). Anything else is refused rather than guessed.
UNPAID_STATUSES = {"TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"}
PAID_STATUSES = {
    "WAIT_SELLER_SEND_GOODS",
    "SELLER_CONSIGNED_PART",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED",
    "TRADE_FINISHED",
    "PAID_FORBID_CONSIGN",  # paid, group buy not yet complete: not to be shipped yet
}
CANCELLED_STATUSES = {"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"}
REFUNDED = "SUCCESS"  # Order.refund_status of a line whose refund went through
ZERO = Decimal("0.00")
MAX_TITLE = 255


def trade_id(trade: dict) -> str:
    return str(trade["tid"])


def trade_to_canonical(trade: dict, channel) -> dict | None:
    items = (trade.get("orders") or {}).get("order") or []
    if not items:
        return None
    status = trade.get("status")
    if status not in UNPAID_STATUSES | PAID_STATUSES | CANCELLED_STATUSES:
        raise ValueError(_("Unknown Taobao trade status %(status)r.") % {"status": status})
    kept = [item for item in items if item.get("refund_status") != REFUNDED]
    refunded = [item for item in items if item.get("refund_status") == REFUNDED]
    # A trade whose every line was refunded is cancelled; its lines stay so the order can exist.
    cancelled = status in CANCELLED_STATUSES or not kept
    if not kept:
        kept, refunded = items, []
    multi = len(items) > 1
    post_fee = money(trade.get("post_fee"))
    lines = [_line(item, multi=multi, post_fee=post_fee) for item in kept]
    paid = status in PAID_STATUSES and not cancelled
    canonical = {
        "channel": channel.code,
        "external_id": trade_id(trade),
        "placed_at": beijing_time(trade.get("created")),
        "updated_at": beijing_time(trade.get("modified")),
        "currency": "CNY",
        "customer": {"name": trade.get("buyer_nick") or "", "email": "", "phone": ""},
        "lines": lines,
        "shipping_fee": str(post_fee),
        "paid": paid,
        "cancelled": cancelled,
        "note": trade.get("buyer_message") or "",
    }
    if not any(_stated(item, "part_mjz_discount") for item in items):
        # No shares stated: the trade's discount_fee less the lines' own discounts (refunded
        # lines' too), spread over the lines we keep.
        for line in lines:
            del line["order_discount_share"]
        line_discounts = sum((money(item.get("discount_fee")) for item in items), ZERO)
        canonical["discount"] = str(max(money(trade.get("discount_fee")) - line_discounts, ZERO))
        if multi and canonical["discount"] != "0.00":
            # `payment` of a line of several is before the order discount: it is not what the
            # line was paid, and no stated share says what was. The intake computes it.
            for line, item in zip(lines, kept, strict=True):
                if not _stated(item, "divide_order_fee"):
                    line.pop("paid_amount", None)
    if _stated(trade, "payment"):
        refunded_paid = sum((_refunded_line_paid(item) for item in refunded), ZERO)
        canonical["paid_amount"] = str(money(trade["payment"]) - refunded_paid)
    if any(trade.get(field) for field in ("receiver_state", "receiver_city", "receiver_address")):
        # none of them: the trade carries no address (not asked for, or nothing to ship); the
        # order waits for one rather than being refused
        canonical["shipping_address"] = _address(trade)
    if trade.get("oaid"):
        # Taobao's receiver handle (Open Addressee ID): a Cainiao waybill takes it with the masked
        # receiver instead of plain text (integrations.carriers.waybills).
        canonical["protected_receiver"] = {"oaid": {"value": str(trade["oaid"])}}
    if paid and trade.get("pay_time"):
        canonical["paid_at"] = beijing_time(trade["pay_time"])
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    return canonical


ADDRESS_FIELDS = ("receiver_state", "receiver_city", "receiver_address")


def missing_detail(trade: dict) -> list[str]:
    """What a paid trade lacks that taobao.trade.fullinfo.get gives (the increment API "只包含了
    订单的部分数据", SOURCES.md §10): the trade's `payment`, a sub-order's `divide_order_fee` (every
    published paid trade states it, §6–§9), the receiver's address. Empty for a trade that has
    them, and for an unpaid or closed one (it is read again once paid; nothing of it ships).
    `part_mjz_discount` is no sign: TOP leaves it out of lines without a shop discount (§7, §8)."""
    if trade.get("status") not in PAID_STATUSES:
        return []
    items = (trade.get("orders") or {}).get("order") or []
    missing = [] if _stated(trade, "payment") else ["payment"]
    missing += [
        f"orders[{i}].divide_order_fee"
        for i, item in enumerate(items)
        if not _stated(item, "divide_order_fee")
    ]
    if not any(_stated(trade, field) for field in ADDRESS_FIELDS):
        missing.append("receiver")
    return missing


def beijing_time(value: str | None) -> str | None:
    """ "2026-02-16 01:00:00" (Beijing) → "2026-02-16T01:00:00+08:00"."""
    if not value:
        return None
    return parse_beijing_time(str(value)).isoformat()


def _line(item: dict, *, multi: bool, post_fee: Decimal) -> dict:
    quantity = _quantity(item)
    adjustment = money(item.get("adjust_fee"))
    unit, remainder = unit_price(
        _list_amount(item), quantity if isinstance(quantity, int) and quantity > 0 else 1
    )
    seller_code = str(item.get("outer_sku_id") or item.get("outer_iid") or "")
    line = {
        "sku": seller_code or None,
        "platform_line_id": _id(item.get("oid_str") or item.get("oid")),
        "platform_item_id": _id(item.get("num_iid")),
        "platform_sku_id": _id(item.get("sku_id")),
        "seller_code": seller_code,
        "title": str(item.get("title") or "")[:MAX_TITLE],
        "quantity": quantity,
        "unit_price": str(unit),
        "adjustment": str(adjustment + remainder),
        "discount": str(money(item.get("discount_fee"))),
        "order_discount_share": str(money(item.get("part_mjz_discount"))),
    }
    paid = _stated_paid(item, multi=multi, post_fee=post_fee)
    if paid is not None:
        line["paid_amount"] = str(paid)
    return line


def _list_amount(item: dict) -> Decimal:
    """price × num, unless TOP's own total_fee says the line sold for another amount."""
    quantity = _quantity(item)
    listed = money(item.get("price")) * (quantity if isinstance(quantity, int) else 0)
    if not _stated(item, "total_fee"):
        return listed
    from_total = money(item["total_fee"]) + money(item.get("discount_fee")) - money(item.get("adjust_fee"))
    return listed if from_total == listed else from_total


def _stated_paid(item: dict, *, multi: bool, post_fee: Decimal) -> Decimal | None:
    """What TOP says the line was paid: divide_order_fee, else `payment` as TOP defines it."""
    if _stated(item, "divide_order_fee"):
        return money(item["divide_order_fee"])
    if not _stated(item, "payment"):
        return None
    if multi:
        return money(item["payment"]) - money(item.get("part_mjz_discount"))
    return money(item["payment"]) - post_fee


def _quantity(item: dict):
    """`num` as TOP sends it (a number, or its text in some SDKs' output); anything else is left
    for the canonical validation to name."""
    quantity = item.get("num")
    return int(quantity) if isinstance(quantity, str) and quantity.isdigit() else quantity


def _refunded_line_paid(item: dict) -> Decimal:
    """What a refunded line was paid as sold: divide_order_fee, else what its amounts give
    (its `payment` falls to what is left after the refund)."""
    if _stated(item, "divide_order_fee"):
        return money(item["divide_order_fee"])
    return (
        _list_amount(item)
        + money(item.get("adjust_fee"))
        - money(item.get("discount_fee"))
        - money(item.get("part_mjz_discount"))
    )


def _stated(obj: dict, key: str) -> bool:
    return obj.get(key) not in (None, "")


def _id(value) -> str:
    return "" if value in (None, "") else str(value)


def _address(trade: dict) -> dict:
    return {
        "name": trade.get("receiver_name") or "",
        "country": "CN",
        "province": trade.get("receiver_state") or "",
        "city": trade.get("receiver_city") or "",
        "district": trade.get("receiver_district") or "",
        "line1": trade.get("receiver_address") or "",
        "line2": "",
        "postcode": trade.get("receiver_zip") or "",
        "phone": trade.get("receiver_mobile") or trade.get("receiver_phone") or "",
    }
