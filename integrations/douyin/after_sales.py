"""Douyin after-sales as canonical after-sales (integrations.after_sales contract).

Source: research notes douyin-xiaohongshu.md A9 (DY-GO `AfterSaleListData`, `AfterSaleDetailData`)
and SOURCES.md §16; fixtures douyin_after_sale_list_response.json, douyin_after_sale_detail_response.json.
A record is one `afterSale.List` item {aftersale_info, order_info{shop_order_id,
related_order_info[]}, text_part}; one without related_order_info carries its afterSale.Detail
answer under "after_sale_detail" (ids there are JSON numbers; Python reads them exactly).

- kind (`aftersale_type`): 0 退货退款 → return; 1 已发货仅退款, 2 未发货仅退款 → refund-only; 3 换货 →
  exchange; 6 价保, 7 补寄, 8 维修 → None (not a return).
- state (`aftersale_status`, read with the standard status enum of the list request, as the
  fixture's 6 "待商家处理" shows): 6 待商家同意 → requested; 7 待买家退货 → awaiting_return; 11 待商家二次同意
  (goods sent back, seller to confirm) and 8 待商家发货 / 13 待买家收货 / 14 换货成功 (exchange) → returned;
  12 成功 → refunded when `refund_status` is 3 (成功), else approved; 27 商家一次拒绝, 29 商家二次拒绝 →
  rejected; 28 失败 → closed. Others: ValueError naming them.
- money (fen): `refund_amount` + `refund_post_amount` (the fixture: 80.00 + 10.00 postage = 90.00,
  the detail's refund_total_amount "含运费").
- lines: related_order_info[] — `sku_order_id` (our line's platform line id), `shop_sku_code`
  (the seller's code) × `aftersale_item_num` (else `item_num`); from the detail: sku_order_infos[]
  with `sku_id`, `item_quantity`.
- return waybill: `return_logistics_code` (no carrier field is published in the list: carrier "").
- reason: text_part.reason_text (detail: reason). updated_at: `update_time` (unix seconds)."""

from datetime import UTC, datetime

from django.utils.translation import gettext as _

from integrations.douyin.mapping import fen

AFTER_SALE_DETAIL = "after_sale_detail"  # = integrations.douyin.client.AFTER_SALE_DETAIL
KINDS = {0: "return", 1: "refund_only", 2: "refund_only", 3: "exchange", 6: None, 7: None, 8: None}
STATES = {
    6: "requested",
    7: "awaiting_return",
    8: "returned",
    11: "returned",
    13: "returned",
    14: "returned",
    27: "rejected",
    29: "rejected",
    28: "closed",
}
SUCCESS = 12
REFUND_SUCCEEDED = 3


def after_sale_to_canonical(record: dict, channel) -> dict | None:
    info = record.get("aftersale_info")
    detail = record.get(AFTER_SALE_DETAIL) if isinstance(record.get(AFTER_SALE_DETAIL), dict) else {}
    if not isinstance(info, dict):
        raise ValueError(_("The Douyin after-sale has no aftersale_info."))
    ref = _id(info.get("aftersale_id"))
    if not ref:
        raise ValueError(_("The Douyin after-sale has no aftersale_id."))
    kind_code = _int(info, "aftersale_type")
    if kind_code not in KINDS:
        raise ValueError(_("Unknown Douyin aftersale_type %(v)r.") % {"v": info.get("aftersale_type")})
    if KINDS[kind_code] is None:
        return None
    status = _int(info, "aftersale_status")
    if status == SUCCESS:
        state = "refunded" if _int(info, "refund_status") == REFUND_SUCCEEDED else "approved"
    elif status in STATES:
        state = STATES[status]
    else:
        raise ValueError(_("Douyin aftersale_status %(v)r is not handled here.") % {"v": status})
    order_info = record.get("order_info") if isinstance(record.get("order_info"), dict) else {}
    detail_order = detail.get("order_info") if isinstance(detail.get("order_info"), dict) else {}
    order_id = _id(order_info.get("shop_order_id") or detail_order.get("shop_order_id"))
    if info.get("refund_amount") in (None, ""):
        amount = None
    else:
        amount = fen(info.get("refund_amount")) + fen(info.get("refund_post_amount"))
    text = record.get("text_part") if isinstance(record.get("text_part"), dict) else {}
    process = (detail.get("process_info") or {}).get("after_sale_info") or {}
    updated = info.get("update_time")
    if updated in (None, "", 0, "0"):
        raise ValueError(_("The Douyin after-sale has no update_time."))
    return {
        "external_ref": f"douyin:{ref}",
        "order_external_id": order_id,
        "kind": KINDS[kind_code],
        "state": state,
        "refund_amount": amount,
        "currency": "CNY",
        "lines": _lines(order_info, detail_order),
        "reason": str(text.get("reason_text") or process.get("reason") or "").strip(),
        "return_carrier": "",
        "return_tracking": str(info.get("return_logistics_code") or "").strip(),
        "updated_at": datetime.fromtimestamp(int(updated), UTC),
    }


def _lines(order_info: dict, detail_order: dict) -> list[dict]:
    lines = []
    for item in order_info.get("related_order_info") or []:
        quantity = _int(item, "aftersale_item_num") or _int(item, "item_num")
        if quantity:
            lines.append(
                {
                    "platform_line_id": _id(item.get("sku_order_id")) or None,
                    "platform_sku_id": None,
                    "seller_code": str(item.get("shop_sku_code") or "").strip() or None,
                    "quantity": quantity,
                }
            )
    if lines:
        return lines
    for item in detail_order.get("sku_order_infos") or []:
        quantity = _int(item, "after_sale_item_count") or _int(item, "item_quantity")
        if quantity:
            lines.append(
                {
                    "platform_line_id": _id(item.get("sku_order_id")) or None,
                    "platform_sku_id": _id(item.get("sku_id")) or None,
                    "seller_code": str(item.get("shop_sku_code") or "").strip() or None,
                    "quantity": quantity,
                }
            )
    return lines


def _id(value) -> str:
    return "" if value in (None, "", 0) else str(value).strip()


def _int(data: dict, key: str) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(  # noqa: B904 - the field named is the message
            _("Douyin field %(field)s is not a number: %(value)r") % {"field": key, "value": value}
        )
