"""Xiaohongshu after-sales as canonical after-sales (integrations.after_sales contract).

Source: research notes douyin-xiaohongshu.md §B7 (XHS-DOC `售后API`: afterSale_listAfterSaleInfos,
afterSale_getAfterSaleInfo) and SOURCES.md §18; fixtures xhs_after_sale_list_after_sale_infos_response.json,
xhs_after_sale_get_after_sale_info_response.json. A record is one `afterSaleBasicInfos[]` item with
the afterSale.getAfterSaleInfo answer ({afterSaleInfo, logisticsInfo}) under AFTER_SALE_DETAIL.

- kind (`returnType`): 1 退货退款 → return; 2 换货 → exchange; 3 仅退款 (old), 4 仅退款 (已发货),
  5 未发货仅退款 → refund-only.
- state (`status`): 1 待审核 and 14 平台介入中 → requested; 2 待用户寄回, 3 待商家收货 → awaiting_return;
  12 换货待商家发货, 13 换货待用户确认收货 → returned (the goods came back); 4 完成 → refunded when
  the detail's `refundStatus` is 2 (退款成功), returned for an exchange, else approved (the refund
  is under way); 9 商家审核拒绝, 9001 商家收货拒绝 → rejected; 5 取消, 6 关闭 → closed. Others:
  ValueError naming them.
- money in YUAN as JSON numbers (unlike orders, in fen): read with Decimal(str(x)) to the cent,
  never float arithmetic. Refunded: the detail's `refundAmountYuan` (含定金); before that
  `expectedRefundAmountYuan` (goods + shipping: the fixture's 80.0 + 10.0 = 90.0). The list's and
  the detail's expected amounts must agree, else the record is refused rather than one guessed.
- lines: the detail's `skus[]` — `skuId` (our line's platform line id: XHS aggregates an order's
  lines by SKU), `skuERPCode` (the seller's code) × `appliedCount`.
- return waybill: `logisticsInfo.afterSale` has no published fields (null in the fixture): carrier
  and tracking stay "".
- reason: `reasonNameZh`; updated_at: `updatedAt` (ms)."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from integrations.xiaohongshu.client import AFTER_SALE_DETAIL

CENT = Decimal("0.01")
KINDS = {1: "return", 2: "exchange", 3: "refund_only", 4: "refund_only", 5: "refund_only"}
STATES = {
    1: "requested",
    14: "requested",
    2: "awaiting_return",
    3: "awaiting_return",
    12: "returned",
    13: "returned",
    9: "rejected",
    9001: "rejected",
    5: "closed",
    6: "closed",
}
DONE = 4  # 完成
REFUND_SUCCEEDED = 2  # refundStatus 2 成功


def after_sale_to_canonical(record: dict, channel) -> dict | None:
    answer = record.get(AFTER_SALE_DETAIL) if isinstance(record.get(AFTER_SALE_DETAIL), dict) else {}
    detail = answer.get("afterSaleInfo") if isinstance(answer.get("afterSaleInfo"), dict) else {}
    ref = _text(record.get("returnsId"))
    if not ref:
        raise ValueError(_("The Xiaohongshu after-sale has no returnsId."))
    kind = KINDS.get(_int(record, "returnType"))
    if kind is None:
        raise ValueError(_("Unknown Xiaohongshu returnType %(v)r.") % {"v": record.get("returnType")})
    status = _int(detail, "status") if detail.get("status") is not None else _int(record, "status")
    refunded = _int(detail, "refundStatus") == REFUND_SUCCEEDED
    if status == DONE:
        state = "refunded" if refunded else "returned" if kind == "exchange" else "approved"
    elif status in STATES:
        state = STATES[status]
    else:
        raise ValueError(_("Xiaohongshu after-sale status %(v)r is not handled here.") % {"v": status})
    expected = _yuan(record.get("expectedRefundAmountYuan"))
    stated = _yuan(detail.get("expectedRefundAmountYuan"))
    if expected is not None and stated is not None and expected != stated:
        raise ValueError(
            _(
                "Xiaohongshu after-sale %(id)s: expectedRefundAmountYuan %(a)s in the list, "
                "%(b)s in the detail."
            )
            % {"id": ref, "a": expected, "b": stated}
        )
    amount = _yuan(detail.get("refundAmountYuan")) if state == "refunded" else (expected or stated)
    lines = [
        {
            "platform_line_id": _text(sku.get("skuId")) or None,
            "platform_sku_id": _text(sku.get("skuId")) or None,
            "seller_code": _text(sku.get("skuERPCode")) or None,
            "quantity": _int(sku, "appliedCount"),
        }
        for sku in detail.get("skus") or []
        if isinstance(sku, dict) and _int(sku, "appliedCount")
    ]
    updated = _int(record, "updatedAt") or _int(detail, "updatedAt")
    if not updated:
        raise ValueError(_("The Xiaohongshu after-sale has no updatedAt."))
    return {
        "external_ref": f"xiaohongshu:{ref}",
        "order_external_id": _text(record.get("orderId") or detail.get("orderId")),
        "kind": kind,
        "state": state,
        "refund_amount": amount,
        "currency": "CNY",
        "lines": lines,
        "reason": _text(record.get("reasonNameZh") or detail.get("reasonNameZh")),
        "return_carrier": "",
        "return_tracking": "",
        "updated_at": datetime.fromtimestamp(updated / 1000, UTC),
    }


def _text(value) -> str:
    return "" if value in (None, 0) else str(value).strip()


def _int(data: dict, key: str) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(
            _("Xiaohongshu field %(field)s is not a number: %(value)r") % {"field": key, "value": value}
        )
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(  # noqa: B904 - the field named is the message
            _("Xiaohongshu field %(field)s is not a number: %(value)r") % {"field": key, "value": value}
        )


def _yuan(value) -> Decimal | None:
    """A yuan amount XHS sends as a JSON number (90.0) to the cent, exactly as written."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(_("Not an amount in yuan: %(v)r") % {"v": value})
    try:
        amount = Decimal(str(value))
        cents = amount.quantize(CENT)
    except InvalidOperation:
        raise ValueError(_("Not an amount in yuan: %(v)r") % {"v": value})  # noqa: B904
    if amount != cents:  # more than cents: refused, never rounded
        raise ValueError(_("Not an amount in yuan: %(v)r") % {"v": value})
    return cents
