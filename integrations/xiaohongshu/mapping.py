"""Xiaohongshu order (`order.getOrderDetail` data, with the receiver the client adds) → canonical
order.

Fields as XHS-DOC documents them (`api/订单API/order_getOrderDetail_订单详情.json`; research notes for
#16 §B2, SOURCES.md §18): order money in fen (分, integers), times in ms.

Per SKU line (`skuList[]`, the same SKU aggregated, "金额为价格总和 单位 分"):
- `skuQuantity` units; the list price is `rawPricePerSku` (原价) of each unit in `skuDetailList[]`
  (× its `quantity`): the line's goods amount, as a unit price (core's unit_price: a remainder of
  under half a cent per unit is kept as the line's adjustment).
- Its discounts: `totalMerchantDiscount` (商家承担: merchant-funded) and `totalRedDiscount` (平台承担:
  funded by XHS). `totalPaidAmount` (商品总实付) is what the buyer paid for the line; raw − merchant
  − red = paid in the doc's own per-unit example (115 − 10 − 5 = 100). XHS states its price change
  (改价, `totalChangePriceAmount`) only per order, so whatever the stated paid amount differs from
  raw − discounts by is the line's seller adjustment: every stated figure is kept, and the
  intake's order-level check (Σ lines + shipping = totalPayAmount) still stands on its own.
- `totalTaxAmount` the line's tax, included in the price (tax_included); `skuTag` 1 = 赠品: a gift
  line when it carries no price.
- Line id: XHS has no line id; the SKU is aggregated per order, so `skuId` names the line (it is
  what order.orderDeliver's skuIdList takes).
Per order: `totalShippingFree` is the shipping paid (实付运费; no shipping discount is stated);
`totalPayAmount` (订单实付, 含运费和定金) what the buyer paid. `merchantActualReceiveAmount` adds XHS's
discount (pay + deposit + platform discount) and is not the buyer's figure; `outPromotionAmount`
(支付渠道优惠) is left to the paid-amount check.

orderStatus: 1 待付款 → unpaid; 2 已支付处理中 and 3 清关中 → taken unpaid and tagged (XHS is still
processing / clearing customs: nothing ships until XHS moves it to 4); 4 待发货, 5 部分发货, 6 待收货,
7 已完成, 10 换货申请中 → paid; 8 已关闭, 9 已取消 → cancelled (its stock released by the intake).
Lines are kept whatever their `skuAfterSaleStatus`: refunds and returns go to after-sales.
`cancelStatus` (0/1) is not documented beyond its values and is not read.

Receiver (§B3): the detail gives no name, phone or street ("暂不返回 详情通过getOrderReceiverInfo获取"),
only province / city / district names and `openAddressId`. The address holds those names and "***"
for the street; the ciphertexts of order.getOrderReceiverInfo (`#<index>#<cipher>#<type>##`, kept
whole, the search index beside it) go to `protected_receiver` with the openAddressId, which is what
identifies the receiver — the masked text never does. XHS gives masked text only through
data.batchDesensitise, whose request is not published: no masked name or phone is stored."""

from datetime import UTC, datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from integrations.adapters import unit_price
from integrations.xiaohongshu.client import RECEIVER_FIELDS, RECEIVER_KEY

UNPAID, PROCESSING, CUSTOMS, TO_SHIP, PART_SHIPPED, SHIPPED, DONE, CLOSED, CANCELLED, EXCHANGE = range(1, 11)
# 2 已支付处理中 and 3 清关中 are paid but not yet to be shipped: a paid order held by the
# platform (canonical `platform_hold`, as Douyin's 105), released by the version at 4 待发货.
PAID_STATUSES = {PROCESSING, CUSTOMS, TO_SHIP, PART_SHIPPED, SHIPPED, DONE, EXCHANGE}
CANCELLED_STATUSES = {CLOSED, CANCELLED}
HELD_STATUSES = {PROCESSING, CUSTOMS}
KNOWN_STATUSES = PAID_STATUSES | CANCELLED_STATUSES | HELD_STATUSES | {UNPAID}
PROCESSING_TAG = "xhs-processing"
GIFT_TAG = 1  # skuTag 1 赠品
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MASKED_STREET = "***"
MAX_TITLE = 255


def fen(value) -> Decimal:
    """An amount in fen (an integer, or its text) as yuan to the cent, exactly."""
    if value in (None, ""):
        return ZERO
    if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
        raise ValueError(_("Not an amount in fen: %(value)r") % {"value": value})
    return Decimal(int(value)) * FEN


def ms_time(value) -> str | None:
    """Unix milliseconds → ISO 8601 UTC; None for 0 / absent (XHS sends 0 for "not yet")."""
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC).isoformat()


def order_id(order: dict) -> str:
    return str(order["orderId"])


def status_of(order: dict) -> int:
    try:
        status = int(order.get("orderStatus"))
    except (TypeError, ValueError):
        status = None
    if status not in KNOWN_STATUSES:
        raise ValueError(
            _("Unknown Xiaohongshu orderStatus %(status)r.") % {"status": order.get("orderStatus")}
        )
    return status


def order_to_canonical(order: dict, channel) -> dict | None:
    items = order.get("skuList") or []
    if not items:
        return None
    status = status_of(order)
    paid = status in PAID_STATUSES
    canonical = {
        "channel": channel.code,
        "external_id": order_id(order),
        "placed_at": ms_time(order.get("createdTime")),
        "updated_at": ms_time(order.get("updateTime")),
        "currency": "CNY",
        "customer": {"name": "", "email": "", "phone": ""},
        "lines": [_line(item) for item in items],
        "shipping_fee": str(fen(order.get("totalShippingFree"))),
        "tax_included": True,
        "paid": paid,
        "cancelled": status in CANCELLED_STATUSES,
        "note": str(order.get("customerRemark") or "")[:2000],
        "paid_amount": str(fen(order.get("totalPayAmount"))),
    }
    if status in HELD_STATUSES and not canonical["cancelled"]:
        canonical["tags"] = [PROCESSING_TAG]
        canonical["platform_hold"] = (
            _("Xiaohongshu is still processing the payment: do not ship until it releases the order")
            if status == PROCESSING
            else _("Xiaohongshu customs clearance: do not ship until it releases the order")
        )
    if paid and order.get("paidTime"):
        canonical["paid_at"] = ms_time(order["paidTime"])
    if canonical["updated_at"] is None:
        del canonical["updated_at"]
    address = _address(order)
    if address is not None:
        canonical["shipping_address"] = address
    protected = protected_receiver(order)
    if protected:
        canonical["protected_receiver"] = protected
    return canonical


def _line(item: dict) -> dict:
    quantity = int(item.get("skuQuantity"))
    raw = sum(
        (fen(d.get("rawPricePerSku")) * int(d.get("quantity") or 0) for d in item.get("skuDetailList") or []),
        ZERO,
    )
    unit, remainder = unit_price(raw, quantity) if quantity else (ZERO, ZERO)
    merchant, red = fen(item.get("totalMerchantDiscount")), fen(item.get("totalRedDiscount"))
    paid = fen(item.get("totalPaidAmount"))
    allocations = []
    if merchant:
        allocations.append(
            {"amount": str(merchant), "funded_by": "merchant", "title": "totalMerchantDiscount"}
        )
    if red:
        allocations.append({"amount": str(red), "funded_by": "platform", "title": "totalRedDiscount"})
    seller_code = str(item.get("erpcode") or "")
    return {
        "sku": seller_code or None,
        "platform_line_id": _id(item.get("skuId")),
        "platform_item_id": _id(item.get("itemId")),
        "platform_sku_id": _id(item.get("skuId")),
        "seller_code": seller_code,
        "title": str(item.get("skuName") or item.get("itemName") or "")[:MAX_TITLE],
        "quantity": quantity,
        "unit_price": str(unit),
        # the remainder of the unit price, and whatever else the stated paid amount says (改价)
        "adjustment": str(paid - (raw - merchant - red) + remainder),
        "discount_allocations": allocations,
        "order_discount_share": "0.00",
        "tax_amount": str(fen(item.get("totalTaxAmount"))),
        "paid_amount": str(paid),
        "gift": str(item.get("skuTag")) == str(GIFT_TAG) and not raw,
    }


def _id(value) -> str:
    return "" if value in (None, "", 0) else str(value)


def _address(order: dict) -> dict | None:
    city = str(order.get("receiverCityName") or "")
    if not city:
        return None
    return {
        "name": "",
        "country": "CN",
        "province": str(order.get("receiverProvinceName") or "")[:60],
        "city": city[:60],
        "district": str(order.get("receiverDistrictName") or "")[:60],
        "line1": MASKED_STREET,
        "line2": "",
        "postcode": "",
        "phone": "",
    }


def search_index(cipher: str) -> str:
    """The search index of an XHS ciphertext `#<index>#<cipher>#<type>##` (051 加密算法介绍)."""
    parts = cipher.split("#")
    return parts[1] if len(parts) > 3 and cipher.startswith("#") else ""


def protected_receiver(order: dict) -> dict[str, dict[str, str]]:
    """The ciphertexts as given (each with its search index) and the openAddressId."""
    info = order.get(RECEIVER_KEY) or {}
    protected = {}
    for name, field in RECEIVER_FIELDS.items():
        cipher = str(info.get(field) or "") if isinstance(info, dict) else ""
        if cipher:
            protected[name] = {"masked": "", "cipher": cipher, "index": search_index(cipher)}
    if order.get("openAddressId"):
        protected["open_address_id"] = {"value": str(order["openAddressId"])}
    return protected
