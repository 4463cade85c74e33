"""Pinduoduo after-sales requests as canonical after-sales (integrations.after_sales contract).

Sources (research notes jd-pinduoduo.md A2/A5, SOURCES.md §16): a record is one element of
`pdd.refund.list.increment.get` → `refund_increment_get_response.refund_list[]` (PDD-JAVA
`RefundIncrementGetResponseRefundListItem`; money **yuan strings**, times `yyyy-MM-dd HH:mm:ss`
Beijing or unix-second strings) with the `pdd.refund.information.get` answer under
"refund_information" (PDD-JAVA `PddRefundInformationGetResponse`, unwrapped; money **fen**
integers). Fixtures: pdd_refund_list_increment_response.json, pdd_refund_information_get_response.json.

- kind: the detail's `after_sales_type` (documented: 1 仅退款, 2 退货退款, 3 换货, 4 补寄, 5 维修 — the
  last two are not returns: None). Without a detail, the list's value read with the REQUEST's enum
  (2 仅退款, 3 退货退款, 4 换货), which the response is not documented to share (an assumption).
- state: `after_sales_status` (notes A2's enum): 2/3 待商家处理 and 8 平台处理中 → requested; 4/5 退款中,
  31 同意拒收, 33 待商家召回 → approved; 6 驳回退款, 9 平台拒绝 → rejected; 7 待用户发货 → awaiting_return;
  10 退款成功 → refunded; 11 买家撤销, 12/13 逾期 → closed. Anything else (换货补寄 14–18, 维修 21–25, 27,
  32) is not placed: ValueError naming it.
- money: the list's `refund_amount` (yuan); when the detail's `refund_amount` (fen) says otherwise
  the record is refused rather than one of them guessed.
- lines: one, `sku_id` / `outer_id` (the seller's code) × `goods_number`.
- return waybill: the list's `shipping_name` / `tracking_number` (the detail's `express_no`), taken
  as the buyer's return parcel (the fields sit on the after-sale, not the order).
- updated_at: the list's `updated_time` (Beijing)."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from core.timezones import parse_beijing_time

CENT = Decimal("0.01")
REFUND_INFORMATION = "refund_information"  # = integrations.pdd.client.REFUND_INFORMATION
DETAIL_KINDS = {1: "refund_only", 2: "return", 3: "exchange", 4: None, 5: None}
LIST_KINDS = {2: "refund_only", 3: "return", 4: "exchange", 5: None, 6: None}  # request enum (assumed)
STATES = {
    2: "requested",
    3: "requested",
    8: "requested",
    4: "approved",
    5: "approved",
    31: "approved",
    33: "approved",
    6: "rejected",
    9: "rejected",
    7: "awaiting_return",
    10: "refunded",
    11: "closed",
    12: "closed",
    13: "closed",
}


def after_sale_to_canonical(record: dict, channel) -> dict | None:
    detail = record.get(REFUND_INFORMATION)
    detail = detail if isinstance(detail, dict) else None
    ref = _text(record.get("id"))
    if not ref:
        raise ValueError(_("The Pinduoduo after-sale has no id."))
    if detail is not None:
        kind = DETAIL_KINDS.get(_int(detail, "after_sales_type"), "?")
    else:
        kind = LIST_KINDS.get(_int(record, "after_sales_type"), "?")
    if kind == "?":
        raise ValueError(
            _("Unknown Pinduoduo after_sales_type %(v)r.") % {"v": (detail or record).get("after_sales_type")}
        )
    if kind is None:
        return None
    status = _int(record, "after_sales_status")
    if status not in STATES:
        raise ValueError(_("Pinduoduo after_sales_status %(v)r is not handled here.") % {"v": status})
    amount = _yuan(record.get("refund_amount"))
    if detail is not None and detail.get("refund_amount") not in (None, ""):
        fen = (Decimal(int(detail["refund_amount"])) / 100).quantize(CENT)
        if amount is None:
            amount = fen
        elif fen != amount:
            raise ValueError(
                _(
                    "Pinduoduo after-sale %(id)s: refund_amount %(yuan)s yuan in the list, "
                    "%(fen)s fen in the detail."
                )
                % {"id": ref, "yuan": amount, "fen": detail["refund_amount"]}
            )
    sku_id, outer_id = _text(record.get("sku_id")), _text(record.get("outer_id"))
    quantity = _int(record, "goods_number") or (_int(detail, "goods_number") if detail else None)
    lines = (
        [
            {
                "platform_line_id": None,
                "platform_sku_id": sku_id or None,
                "seller_code": outer_id or None,
                "quantity": quantity,
            }
        ]
        if (sku_id or outer_id) and quantity
        else []
    )
    return {
        "external_ref": f"pdd:{ref}",
        "order_external_id": _text(record.get("order_sn")),
        "kind": kind,
        "state": STATES[status],
        "refund_amount": amount,
        "currency": "CNY",
        "lines": lines,
        "reason": _text(record.get("after_sale_reason") or (detail or {}).get("after_sales_reason")),
        "return_carrier": _text(record.get("shipping_name") or (detail or {}).get("shipping_name")),
        "return_tracking": _text(record.get("tracking_number") or (detail or {}).get("express_no")),
        "updated_at": _time(record.get("updated_time") or (detail or {}).get("updated_time")),
    }


def _text(value) -> str:
    return "" if value in (None, 0) else str(value).strip()


def _int(data: dict, key: str) -> int | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(  # noqa: B904 - the field named is the message
            _("Pinduoduo field %(field)s is not a number: %(value)r") % {"field": key, "value": value}
        )


def _yuan(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
        cents = amount.quantize(CENT)
    except InvalidOperation:
        raise ValueError(_("Pinduoduo refund_amount is not an amount: %(v)r") % {"v": value})  # noqa: B904
    if amount != cents:  # more than cents: refused, never rounded
        raise ValueError(_("Pinduoduo refund_amount is not an amount: %(v)r") % {"v": value})
    return cents


def _time(value) -> datetime:
    """`yyyy-MM-dd HH:mm:ss` Beijing (2018 example) or unix seconds as a string (2026 example)."""
    text = _text(value)
    if not text:
        raise ValueError(_("The Pinduoduo after-sale has no updated_time."))
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    return parse_beijing_time(text).astimezone(UTC)
