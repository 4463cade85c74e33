"""Taobao / Tmall trade (TOP `Trade` with its `orders.order[]`) → canonical order.

TOP writes times as "yyyy-MM-dd HH:mm:ss" in Beijing time with no offset; they are made aware in
Asia/Shanghai here, so nothing downstream can read them as UTC or as the channel's zone."""

from decimal import Decimal

from django.utils.translation import gettext as _

from core.timezones import parse_beijing_time
from integrations.adapters import money

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
    # A trade whose every line was refunded is cancelled; its lines stay so the order can exist.
    cancelled = status in CANCELLED_STATUSES or not kept
    lines = [_line(item) for item in kept or items]
    # Trade.discount_fee covers the lines' own discounts (refunded lines' too): keep the rest.
    line_discounts = sum((money(item.get("discount_fee")) for item in items), Decimal("0.00"))
    paid = status in PAID_STATUSES and not cancelled
    canonical = {
        "channel": channel.code,
        "external_id": trade_id(trade),
        "placed_at": beijing_time(trade.get("created")),
        "updated_at": beijing_time(trade.get("modified")),
        "currency": "CNY",
        "customer": {"name": trade.get("buyer_nick") or "", "email": "", "phone": ""},
        "shipping_address": _address(trade),
        "lines": lines,
        "shipping_fee": str(money(trade.get("post_fee"))),
        "discount": str(max(money(trade.get("discount_fee")) - line_discounts, Decimal("0.00"))),
        "paid": paid,
        "cancelled": cancelled,
        "note": trade.get("buyer_message") or "",
    }
    if paid and trade.get("pay_time"):
        canonical["paid_at"] = beijing_time(trade["pay_time"])
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    return canonical


def beijing_time(value: str | None) -> str | None:
    """ "2026-02-16 01:00:00" (Beijing) → "2026-02-16T01:00:00+08:00"."""
    if not value:
        return None
    return parse_beijing_time(str(value)).isoformat()


def _line(item: dict) -> dict:
    return {
        "sku": item.get("outer_sku_id") or item.get("outer_iid") or "",
        "quantity": item.get("num"),
        "unit_price": str(money(item.get("price"))),
        "discount": str(money(item.get("discount_fee"))),
    }


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
