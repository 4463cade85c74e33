"""JD refund requests before shipment as canonical after-sales (integrations.after_sales contract).

Source: research notes jd-pinduoduo.md B5 and SOURCES.md §16 — `jingdong.pop.afs.soa.refundapply.
queryPageList` → `queryResult.result[]` (JD-JAVA `RefundApplyVo{id, orderId, buyerId, buyerName,
applyTime, checkTime, applyRefundSum, status, checkUserName, checkRemark, reason, systemId,
storeId}`); fixture jd_refundapply_query_page_list_response.json.

- kind: always refund-only (售前退款: the order has not shipped; no goods come back). The records
  name no lines (`skuVoList` is not confirmed by any source): lines are [] — the whole order.
- state (`status`, JD-PHP doc text): 0 未审核 → requested; 1 审核通过, 5 人工审核通过, 6 拦截并退款,
  7 青龙拦截成功, 8 青龙拦截失败, 10 物流待跟进 → approved; 2 审核不通过 → rejected; 3 京东财务审核通过
  (退款成功) → refunded; 4 京东财务审核不通过(退款失败) → approved (no money moved: a person looks);
  9 强制关单并退款 → approved (it does not say the refund succeeded); 11 用户撤销 → closed. Only status 3
  books money.
- money: `applyRefundSum`'s unit is NOT published (SDK type Double; one third-party table says 分).
  Read conservatively as yuan, JD's unit for every other amount (notes B6: money strings in yuan),
  refusing a value with more than two decimals; the returns service refuses a refund above what
  the order has left, so an amount that was really fen (100× too big) fails its message instead of
  being booked.
- updated_at: `checkTime` when set, else `applyTime` (Beijing): JD gives no update time.
- reason: `reason`, with the seller's `checkRemark` when there is one."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from integrations.jd.mapping import beijing_time

CENT = Decimal("0.01")
STATES = {
    0: "requested",
    1: "approved",
    5: "approved",
    6: "approved",
    7: "approved",
    8: "approved",
    10: "approved",
    4: "approved",
    9: "approved",
    2: "rejected",
    3: "refunded",
    11: "closed",
}


def after_sale_to_canonical(record: dict, channel) -> dict | None:
    ref = str(record.get("id") or "").strip()
    if not ref:
        raise ValueError(_("The JD refund request has no id."))
    try:
        status = int(record.get("status"))
    except (TypeError, ValueError):
        raise ValueError(_("JD refund request status %(v)r is not a number.") % {"v": record.get("status")})  # noqa: B904
    if status not in STATES:
        raise ValueError(_("JD refund request status %(v)r is not handled here.") % {"v": status})
    moment = beijing_time(record.get("checkTime")) or beijing_time(record.get("applyTime"))
    if moment is None:
        raise ValueError(_("The JD refund request has neither checkTime nor applyTime."))
    reason = str(record.get("reason") or "").strip()
    remark = str(record.get("checkRemark") or "").strip()
    return {
        "external_ref": f"jd:{ref}",
        "order_external_id": str(record.get("orderId") or "").strip(),
        "kind": "refund_only",
        "state": STATES[status],
        "refund_amount": _amount(record.get("applyRefundSum")),
        "currency": "CNY",
        "lines": [],
        "reason": f"{reason} ({remark})" if remark else reason,
        "return_carrier": "",
        "return_tracking": "",
        "updated_at": datetime.fromisoformat(moment).astimezone(UTC),
    }


def _amount(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(_("JD applyRefundSum is not an amount: %(v)r") % {"v": value})  # noqa: B904
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise ValueError(_("JD applyRefundSum %(v)r is not an amount in yuan.") % {"v": value})
    return amount.quantize(CENT)
