"""JD POP order (`orderInfo` of jingdong.pop.order.enSearch / enGet) → canonical order.

Documents followed (research notes /tmp/h/research16_jd_pdd.md §B2, §B3, §B6; fixtures and their
sources in integrations/tests/payloads/SOURCES.md §15): the JD Java SDK class `OrderSearchInfo`
(`com.jd.open.api.sdk.domain.order.OrderQueryJsfService.response.get`), the JD .NET SDK classes
`OrderSearchInfo` / `ItemInfo` / `CouponDetail` / `UserInfo`, and the JOS field definitions as
copied into XiBao/jos (`api/order/order.interface.go`).

Times are "yyyy-MM-dd HH:mm:ss" Beijing time without an offset; "0001-01-01 00:00:00" (and
"1970-01-01 00:00:00") mean "not set". They are made aware in Asia/Shanghai here.

Money (strings, yuan, two decimals), as JOS defines the fields:
- `orderTotalPrice` 订单总金额 = Σ jdPrice × itemTotal, before discounts and freight;
- `sellerDiscount` 商家优惠金额, `orderSellerPrice` = orderTotalPrice − sellerDiscount;
- `orderPayment` 用户应付金额 = orderSellerPrice − 用户优惠 − balanceUsed + freightPrice (+ taxFee +
  serviceFee, which JOS says carry no value today);
- `couponDetailList[{skuId, couponType "<code>-<label>", couponPrice}]`: a coupon naming a skuId
  (only `30-单品促销优惠` does) is that line's own discount; the others are order-wide.
Which coupon types the seller pays for is a third-party reading (SOURCES.md §15): 20 套装, 30 单品促销,
35 满返满送, 100 店铺优惠 are the seller's and add up to `sellerDiscount`; 京豆 (39), 京东券 (41), 礼品卡
(52), 手机红包 (34) are JD's — the "用户优惠" term. So here: a line's coupons are its discount
(each an allocation funded by the seller or JD by its type); the order discount is the seller's
part not on a line (`sellerDiscount` less the lines' seller coupons: JD's own total wins over the
type reading) plus JD's order-wide coupons, and JD's part is the platform discount.
- The paid amount is `orderPayment` + `balanceUsed` (余额: the buyer paid it from the JD account;
  orderPayment is what was left to pay after it). The intake holds an order whose figures do not
  add up to it.
- JD states no per-line paid amount ("详细的sku优惠/分摊金额 请联系jos找ofc提供对应接口"): the
  intake spreads the order discount.

Receiver (consigneeInfo): `fullname` / `fullAddress` are JD TDE ciphertext, `mobile` /
`telephone` masked, `desen_mobile` an index for equality search, `oaid` the handle
jingdong.jos.order.oaid.decrypt takes. They are kept as `protected_receiver`; the shipping
address holds what is plain (province, city, county, town) and the masked phone. JD sends no
masked name or street: those stay blank / "***"."""

from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from core.timezones import parse_beijing_time
from integrations.adapters import money

ZERO = Decimal("0.00")
MAX_TITLE = 255
NOT_SET = {"0001-01-01 00:00:00", "1970-01-01 00:00:00"}
MASKED_STREET = "***"

# orderState (JOS enSearch doc text, research notes §B2)
TO_SHIP = "WAIT_SELLER_STOCK_OUT"  # 等待出库: paid, awaiting shipment
SHIPPED_STATES = {"WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L"}  # 等待确认收货, 完成
CANCELLED = "TRADE_CANCELED"  # 取消
LOCKED = "LOCKED"  # 已锁定
PAUSED_STATES = {"PAUSE", "POP_ORDER_PAUSE"}  # 暂停, pop业务暂停
OTHER_LIVE_STATES = {"WAIT_SELLER_DELIVERY", "WAIT_SEND_CODE"}  # 等待境内发货 (海外购), LOC
LIVE_STATES = {TO_SHIP, LOCKED} | SHIPPED_STATES | PAUSED_STATES | OTHER_LIVE_STATES
KNOWN_STATES = LIVE_STATES | {CANCELLED}

# couponType codes the seller pays for (third-party reading, see the module docstring)
SELLER_COUPON_CODES = {"20", "30", "35", "100"}
CASH_ON_DELIVERY = "1"  # payType "1-货到付款"


def order_id(info: dict) -> str:
    return str(info["orderId"])


def beijing_time(value) -> str | None:
    """ "2026-05-12 10:05:11" (Beijing) → "2026-05-12T10:05:11+08:00"; JD's "not set" → None."""
    if not value or str(value).strip() in NOT_SET:
        return None
    return parse_beijing_time(str(value)).isoformat()


def updated_at(info: dict) -> datetime | None:
    moment = beijing_time(info.get("modified"))
    return datetime.fromisoformat(moment) if moment else None


def coupon_code(coupon: dict) -> str:
    """ "30-单品促销优惠" → "30"."""
    return str(coupon.get("couponType") or "").partition("-")[0].strip()


def order_to_canonical(info: dict, channel) -> dict | None:
    items = info.get("itemInfoList") or []
    if not items:
        return None
    state = info.get("orderState")
    if state not in KNOWN_STATES:
        raise ValueError(_("Unknown JD order state %(state)r.") % {"state": state})
    lines = [_line(item) for item in items]
    by_sku = {line["platform_sku_id"]: line for line in lines}
    seller_on_lines = ZERO
    platform_order_wide = ZERO
    for coupon in info.get("couponDetailList") or []:
        amount = money(coupon.get("couponPrice"))
        by_seller = coupon_code(coupon) in SELLER_COUPON_CODES
        sku_id = str(coupon.get("skuId") or "")
        line = by_sku.get(sku_id) if sku_id else None
        if line is not None:
            line["discount_allocations"].append(
                {
                    "amount": str(amount),
                    "funded_by": "merchant" if by_seller else "platform",
                    "title": str(coupon.get("couponType") or "")[:120],
                }
            )
            seller_on_lines += amount if by_seller else ZERO
        elif not by_seller:
            platform_order_wide += amount
    seller_order_wide = money(info.get("sellerDiscount")) - seller_on_lines
    if seller_order_wide < 0:
        raise ValueError(
            _("JD order %(id)s: its lines' seller coupons (%(lines)s) exceed sellerDiscount %(total)s.")
            % {"id": order_id(info), "lines": seller_on_lines, "total": info.get("sellerDiscount")}
        )
    for line in lines:
        if not line["discount_allocations"]:
            del line["discount_allocations"]
    cancelled = state == CANCELLED
    canonical = {
        "channel": channel.code,
        "external_id": order_id(info),
        "placed_at": beijing_time(info.get("orderStartTime")),
        "currency": "CNY",
        "lines": lines,
        "shipping_fee": str(money(info.get("freightPrice"))),
        "discount": str(seller_order_wide + platform_order_wide),
        "platform_discount": str(platform_order_wide),
        "paid": not cancelled,
        "cancelled": cancelled,
        "note": str(info.get("orderRemark") or "")[:2000],
        "tags": _tags(info, state),
    }
    if info.get("orderPayment") not in (None, ""):
        canonical["paid_amount"] = str(money(info["orderPayment"]) + money(info.get("balanceUsed")))
    modified = beijing_time(info.get("modified"))
    if modified:
        canonical["updated_at"] = modified
    paid_at = beijing_time(info.get("paymentConfirmTime"))
    if paid_at and not cancelled:
        canonical["paid_at"] = paid_at
    consignee = info.get("consigneeInfo")
    if isinstance(consignee, dict) and (consignee.get("city") or consignee.get("province")):
        canonical["shipping_address"] = _address(consignee)
        canonical["protected_receiver"] = protected_receiver(consignee)
    return canonical


def protected_receiver(consignee: dict) -> dict:
    """What JD protects, as given: ciphertext, masked text, search index; `oaid` is the handle the
    decrypt API (jingdong.jos.order.oaid.decrypt) takes."""
    masked_phone = str(consignee.get("mobile") or consignee.get("telephone") or "")
    protected = {
        "name": {"masked": "", "cipher": str(consignee.get("fullname") or ""), "index": ""},
        "phone": {
            "masked": masked_phone,
            "cipher": "",
            "index": str(consignee.get("desen_mobile") or consignee.get("desen_telephone") or ""),
        },
        "address": {"masked": MASKED_STREET, "cipher": str(consignee.get("fullAddress") or ""), "index": ""},
    }
    if consignee.get("oaid"):
        protected["oaid"] = {"value": str(consignee["oaid"])}
    return protected


def _tags(info: dict, state: str) -> list[str]:
    tags = []
    if state == LOCKED:
        tags.append("jd:locked")  # 已锁定
    if state in PAUSED_STATES:
        tags.append("jd:paused")
    if str(info.get("payType") or "").partition("-")[0] == CASH_ON_DELIVERY:
        tags.append("cod")
    return tags


def _line(item: dict) -> dict:
    quantity = item.get("itemTotal")
    quantity = int(quantity) if isinstance(quantity, str) and quantity.isdigit() else quantity
    seller_code = str(item.get("outerSkuId") or "")
    sku_id = "" if item.get("skuId") in (None, "") else str(item["skuId"])
    return {
        "sku": seller_code or None,
        "platform_line_id": sku_id,
        "platform_item_id": "" if item.get("wareId") in (None, "") else str(item["wareId"]),
        "platform_sku_id": sku_id,
        "seller_code": seller_code,
        "title": str(item.get("skuName") or "")[:MAX_TITLE],
        "quantity": quantity,
        "unit_price": str(money(item.get("jdPrice"))),
        "discount_allocations": [],
    }


def _address(consignee: dict) -> dict:
    return {
        "name": "",
        "country": "CN",
        "province": str(consignee.get("province") or ""),
        "city": str(consignee.get("city") or consignee.get("province") or ""),
        "district": str(consignee.get("county") or ""),
        "line1": MASKED_STREET,
        "line2": str(consignee.get("town") or ""),
        "postcode": "",
        "phone": str(consignee.get("mobile") or consignee.get("telephone") or ""),
    }
