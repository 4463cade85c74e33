"""Pinduoduo Open Platform (拼多多开放平台, POP) HTTP client for one shop. HTTP only: mapping lives in
mapping.py.

Documents followed (research notes for issue #16, part A; SOURCES.md §16): the PDD doc page
"API调用指南" (https://open.pinduoduo.com/application/document/browse?idStr=8EC06C399636041E: public
parameters, the sign rule and its test vector, the error-code table), the official Java SDK
com.pdd.pop.sdk (pop-sdk-ext-1724605200, as vendored in pdd-utils/pdd-utils-webflux @ 9b8bbb7b:
`PopBaseHttpRequest.getParamsMap`, `AbstractPopClient`, the request/response classes named below),
the PDD doc FAQ 订单查询常见FAQ and the 2018 doc examples (niltor/open-pdd-net-sdk).

- Every call: POST https://gw-api.pinduoduo.com/api/router, a flat JSON object of strings (the Java
  SDK's body): type (the API), client_id, access_token, timestamp (UNIX seconds, within 10 minutes
  of PDD's clock), data_type=JSON, version=V1, the business parameters, sign (signing.py).
  Success answers `{"<x>_response": {...}}`; an error answers HTTP 200 with
  `{"error_response": {error_code, error_msg, sub_code, sub_msg, request_id}}`.
- Errors (the doc's 返回错误码说明): 52101 当前接口被限流 and 70031 调用过于频繁 are rate limits
  (core.http.RateLimited); 52102/52103 (接口/服务暂时不可用, 降级), 50000/50002 (系统内部错误) and
  52001/52002 (网关错误) may be retried; 10019 access_token已过期 and every other code (parameters,
  signature 20004, permissions 20031…) is a refusal retrying cannot change.
- `pdd.order.number.list.increment.get` (`PddOrderNumberListIncrementGetRequest`): orders updated
  between start_updated_at and end_updated_at (UNIX seconds), at most 30 minutes apart; order_status
  5 and refund_status 5 (全部); page_size ≤ 100. The class doc and the FAQ require paging newest
  first read from the LAST page backwards ("必须采用倒序的分页方式（从最后一页往回取）"): a first call
  with use_has_next=false gives total_count, then the pages are read from the last to the first
  with use_has_next=true. The FAQ asks end_updated_at to stay 3 minutes behind PDD's clock and the
  start to move back a few minutes: the sync's 5-minute overlap (SyncCursor.overlap_seconds) re-reads
  them. The increment API returns whole orders (same fields as pdd.order.information.get).
- `pdd.order.information.get` (`PddOrderInformationGetRequest{order_sn}` →
  `order_info_get_response.order_info`): one order, read before a write-back, and for a polled
  order that came without a field the mapping needs (mapping.missing_detail).
- `pdd.open.decrypt.batch` (`PddOpenDecryptBatchRequest{data_list[{data_tag, encrypted_data}]}` →
  `open_decrypt_batch_response.data_decrypt_list[]`, per-item error_code): `decrypt_receiver`.
- `pdd.goods.quantity.update` (`PddGoodsQuantityUpdateRequest{goods_id, sku_id, quantity,
  update_type}` → `goods_quantity_update_response.is_success`): `set_quantity`, update_type 1 (全量),
  so a repeated push is harmless.
- `pdd.logistics.online.send` (`PddLogisticsOnlineSendRequest{order_sn, logistics_id,
  tracking_number}` → `logistics_online_send_response.is_success`, Boolean in the SDK, 1 in the 2018
  example): `write_back_shipment`. logistics_id is PDD's company id (pdd.logistics.companies.get),
  kept in the carrier code map."""

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import PlatformError, RateLimited, http_error, json_object, refusal
from integrations.pdd import mapping, signing
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

DEFAULT_BASE_URL = "https://gw-api.pinduoduo.com/api/router"
INCREMENT_TYPE = "pdd.order.number.list.increment.get"
INCREMENT_RESPONSE = "order_sn_increment_get_response"
INFORMATION_TYPE = "pdd.order.information.get"
INFORMATION_RESPONSE = "order_info_get_response"
DECRYPT_TYPE = "pdd.open.decrypt.batch"
DECRYPT_RESPONSE = "open_decrypt_batch_response"
QUANTITY_TYPE = "pdd.goods.quantity.update"
QUANTITY_RESPONSE = "goods_quantity_update_response"
ONLINE_SEND_TYPE = "pdd.logistics.online.send"
ONLINE_SEND_RESPONSE = "logistics_online_send_response"
PAGE_SIZE = 100  # the increment API's maximum
# 电子面单 (notes/platform-waybills.md §B): the request is one JSON parameter (signing.param_text).
WAYBILL_GET_TYPE = "pdd.waybill.get"
WAYBILL_GET_RESPONSE = "pdd_waybill_get_response"
WAYBILL_CANCEL_TYPE = "pdd.waybill.cancel"
WAYBILL_CANCEL_RESPONSE = "pdd_waybill_cancel_response"
WAYBILL_REQUEST_PARAM = "param_waybill_cloud_print_apply_new_request"
REFUND_INCREMENT_TYPE = "pdd.refund.list.increment.get"
REFUND_INCREMENT_RESPONSE = "refund_increment_get_response"
REFUND_INFORMATION_TYPE = "pdd.refund.information.get"  # answers unwrapped (notes A1 pitfall 5)
REFUND_INFORMATION = "refund_information"  # where iter_after_sales puts the detail of a record
ALL_AFTER_SALE_TYPES = 1  # after_sales_type 1 全部 (request enum)
# after_sales_status values read (notes A2): 2/3 待商家处理, 4/5 退款中, 6 驳回, 7 待用户发货, 8 平台处理中,
# 9 平台拒绝, 10 退款成功, 11 买家撤销, 12/13 逾期, 31 同意拒收, 33 待商家召回.
AFTER_SALE_STATUSES = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 31, 33)
MAX_WINDOW = timedelta(minutes=30)  # "一次请求只能查询时间跨度为30分钟的增量交易记录"
ALL = 5  # order_status / refund_status 5 = 全部
FULL_UPDATE = 1  # update_type 1 全量
TO_SHIP = 1  # order_status 1 待发货
DEFAULT_RETRY_AFTER = 60.0
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

RATE_LIMIT_CODES = {52101, 70031}
RETRYABLE_CODES = {50000, 50002, 52001, 52002, 52102, 52103}
TOKEN_EXPIRED = 10019


def half_hour_slices(since: datetime, until: datetime) -> list[tuple[int, int]]:
    """[since, until) as consecutive windows of at most 30 minutes, in UNIX seconds."""
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ValueError("updated_since / updated_until must be aware datetimes")
    start, end = int(since.timestamp()), int(until.timestamp())
    step = int(MAX_WINDOW.total_seconds())
    return [(s, min(s + step, end)) for s in range(start, end, step)]


class PddClient:
    """One Pinduoduo shop. `channel.api_credentials`: client_id, client_secret, access_token (the
    shop's authorisation), optional base_url."""

    # PDD takes only its own logistics company ids (pdd.logistics.companies.get).
    writeback_requires_carrier_code = True

    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        self.client_id = str(credentials.get("client_id") or "")
        self.client_secret = str(credentials.get("client_secret") or "")
        self.access_token = str(credentials.get("access_token") or "")
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL)
        missing = [n for n in ("client_id", "client_secret", "access_token") if not getattr(self, n)]
        if missing:
            raise PlatformError(
                _("Pinduoduo credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.pages_fetched = 0

    # --- orders (polling) ---------------------------------------------------------------------

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Orders updated in the window, 30 minutes at a time; in each window the pages are read
        from the last one back to the first (PDD's anti-miss rule)."""
        for start, end in half_hour_slices(updated_since, updated_until):
            first = self._increment_page(start, end, 1, use_has_next=False)
            total = first.get("total_count")
            if not isinstance(total, int) or total < 0:
                raise PlatformError(_("Pinduoduo answered the order increment without total_count."))
            pages = math.ceil(total / PAGE_SIZE)
            if pages <= 1:
                yield from self.completed(_orders_of(first))
                continue
            for page in range(pages, 0, -1):
                yield from self.completed(
                    _orders_of(self._increment_page(start, end, page, use_has_next=True))
                )

    def completed(self, orders: list[dict]) -> Iterator[dict]:
        """Each order, read again with pdd.order.information.get when it lacks what the mapping
        needs (mapping.missing_detail); what that call returns wins."""
        for order in orders:
            if not order.get("order_sn") or not mapping.missing_detail(order):
                yield order  # (one without an order_sn is stored and refused when processed)
                continue
            yield {**order, **self.order_information(mapping.order_sn(order))}

    def _increment_page(self, start: int, end: int, page: int, *, use_has_next: bool) -> dict:
        answer = self.call(
            INCREMENT_TYPE,
            {
                "start_updated_at": start,
                "end_updated_at": end,
                "order_status": ALL,
                "refund_status": ALL,
                "is_lucky_flag": 0,
                "page": page,
                "page_size": PAGE_SIZE,
                "use_has_next": use_has_next,
            },
            INCREMENT_RESPONSE,
        )
        self.pages_fetched += 1
        return answer

    def order_information(self, order_sn: str) -> dict:
        """One order (pdd.order.information.get)."""
        answer = self.call(INFORMATION_TYPE, {"order_sn": str(order_sn)}, INFORMATION_RESPONSE)
        info = answer.get("order_info")
        if not isinstance(info, dict):
            raise PlatformError(_("Pinduoduo answered order %(sn)s without order_info.") % {"sn": order_sn})
        return info

    # --- protected receiver -------------------------------------------------------------------

    def decrypt_receiver(self, order_external_id: str, protected: dict) -> dict[str, str]:
        """Plain name, phone and address of an order's receiver (pdd.open.decrypt.batch, one call
        for the fields that have ciphertext; data_tag is the order_sn). Integrations.protected_data
        calls this and audits it. A field PDD refuses (error_code ≠ 0) refuses the whole call."""
        wanted = {
            name: str((protected.get(name) or {}).get("cipher") or "")
            for name in mapping.PROTECTED_FIELDS
            if (protected.get(name) or {}).get("cipher")
        }
        if not wanted:
            return {}
        data_list = [{"data_tag": str(order_external_id), "encrypted_data": c} for c in wanted.values()]
        answer = self.call(DECRYPT_TYPE, {"data_list": data_list}, DECRYPT_RESPONSE)
        results = answer.get("data_decrypt_list")
        if not isinstance(results, list):
            raise PlatformError(_("Pinduoduo answered the decryption without data_decrypt_list."))
        by_cipher = {str(r.get("encrypted_data")): r for r in results if isinstance(r, dict)}
        plain = {}
        for name, cipher in wanted.items():
            result = by_cipher.get(cipher)
            if result is None:
                raise PlatformError(
                    _("Pinduoduo did not decrypt the receiver's %(field)s.") % {"field": name}
                )
            if result.get("error_code") not in (0, "0", None):
                raise refusal(
                    _("Pinduoduo refused to decrypt the receiver's %(field)s: %(code)s %(msg)s")
                    % {"field": name, "code": result.get("error_code"), "msg": result.get("error_msg") or ""}
                )
            plain[name] = str(result.get("decrypted_data") or "")
        return plain

    # --- stock push ---------------------------------------------------------------------------

    def set_quantity(self, *, goods_id: int, sku_id: int, quantity: int) -> None:
        """Set a SKU's stock to `quantity` (pdd.goods.quantity.update, update_type 1 全量)."""
        if quantity < 0:
            raise refusal(_("A Pinduoduo stock quantity cannot be negative (%(n)s).") % {"n": quantity})
        answer = self.call(
            QUANTITY_TYPE,
            {"goods_id": goods_id, "sku_id": sku_id, "quantity": quantity, "update_type": FULL_UPDATE},
            QUANTITY_RESPONSE,
        )
        if answer.get("is_success") not in (True, 1, "true"):
            raise PlatformError(_("Pinduoduo answered the stock update without success."))

    # --- shipment write-back ------------------------------------------------------------------

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Tell PDD the order shipped (pdd.logistics.online.send), integrations.writeback_contract.

        PDD ships a whole order with one waybill per call (no lines). The order is read first
        (pdd.order.information.get):
        - still 待发货 (order_status 1): sent, with this parcel's logistics_id and tracking number;
        - shipped already with this waybill (tracking_number or extra_delivery_list): already done
          (an earlier attempt landed, its answer lost);
        - shipped with another waybill: already done for a later parcel of a split order (PDD was
          told with the first one), refused for the order's first parcel, naming both numbers;
        - refunded (refund_status 4) or cancelled (confirm_status 2): refused, nothing to ship."""
        order_sn = str(notice.order_external_id)
        tracking = (notice.tracking_number or "").strip()
        logistics_id = (notice.carrier_code or "").strip()
        if not tracking:
            raise refusal(
                _("Parcel %(parcel)s has no tracking number for Pinduoduo.")
                % {"parcel": notice.shipment_number}
            )
        if not logistics_id.isdigit():
            raise refusal(
                _("Carrier “%(carrier)s” has no Pinduoduo logistics id (pdd.logistics.companies.get).")
                % {"carrier": notice.carrier_name}
            )
        order = self.order_information(order_sn)
        if self._shipped_or_refused(order, notice, tracking):
            return WriteBackResult(reference="", already_done=True)
        answer = self.call(
            ONLINE_SEND_TYPE,
            {"order_sn": order_sn, "logistics_id": int(logistics_id), "tracking_number": tracking},
            ONLINE_SEND_RESPONSE,
        )
        if answer.get("is_success") not in (True, 1, "true"):
            # neither an error nor a success: unknown whether it landed; the next attempt reads first
            raise PlatformError(
                _("Pinduoduo answered the shipment of order %(sn)s without success.") % {"sn": order_sn}
            )
        return WriteBackResult(reference="")

    @staticmethod
    def _shipped_or_refused(order: dict, notice: ShipmentNotice, tracking: str) -> bool:
        sn = order.get("order_sn") or notice.order_external_id
        if order.get("refund_status") in (mapping.REFUNDED, str(mapping.REFUNDED)) or order.get(
            "confirm_status"
        ) in (mapping.CONFIRM_CANCELLED, str(mapping.CONFIRM_CANCELLED)):
            raise refusal(_("Pinduoduo order %(sn)s is refunded or cancelled: nothing to ship.") % {"sn": sn})
        if order.get("order_status") in (TO_SHIP, str(TO_SHIP)):
            return False
        waybills = [str(order.get("tracking_number") or "")] + [
            str(extra.get("tracking_number") or "")
            for extra in order.get("extra_delivery_list") or []
            if isinstance(extra, dict)
        ]
        if tracking in waybills or notice.parcel_index > 1:
            return True
        raise refusal(
            _("Pinduoduo order %(sn)s is already shipped with waybill %(theirs)s, not %(ours)s.")
            % {"sn": sn, "theirs": waybills[0] or "?", "ours": tracking}
        )

    # --- after-sales (integrations.after_sales) -----------------------------------------------

    def iter_after_sales(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """After-sales requests updated in the window (pdd.refund.list.increment.get, notes A5:
        30-minute windows, page_size ≤ 100, after_sales_type 1 全部). `after_sales_status` is
        required and names ONE status (the order API's enum, notes A2; no "all" value is
        published), so each status the returns desk acts on is read in turn. Each record comes with
        its pdd.refund.information.get answer under REFUND_INFORMATION: the list's
        after_sales_type enum is not documented (SOURCES.md), the detail's is (1 仅退款 2 退货退款
        3 换货). The list's money is yuan strings, the detail's fen: kept apart, never merged."""
        for start, end in half_hour_slices(updated_since, updated_until):
            for status in AFTER_SALE_STATUSES:
                page = 1
                while True:
                    answer = self.call(
                        REFUND_INCREMENT_TYPE,
                        {
                            "after_sales_status": status,
                            "after_sales_type": ALL_AFTER_SALE_TYPES,
                            "start_updated_at": start,
                            "end_updated_at": end,
                            "page": page,
                            "page_size": PAGE_SIZE,
                        },
                        REFUND_INCREMENT_RESPONSE,
                    )
                    self.pages_fetched += 1
                    records = answer.get("refund_list") or []
                    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                        raise PlatformError(
                            _("Pinduoduo answered refund_list with something other than a list.")
                        )
                    for record in records:
                        yield {**record, REFUND_INFORMATION: self.refund_information(record)}
                    total = answer.get("total_count")
                    if len(records) < PAGE_SIZE or not isinstance(total, int) or page * PAGE_SIZE >= total:
                        break
                    page += 1

    def refund_information(self, record: dict) -> dict:
        """One after-sales request (pdd.refund.information.get{order_sn, after_sales_id}): an
        unwrapped object (notes A1/A5), money in fen."""
        params = {
            "order_sn": str(record.get("order_sn") or ""),
            "after_sales_id": str(record.get("id") or ""),
        }
        answer = self.call(REFUND_INFORMATION_TYPE, params, None)
        if not answer.get("id"):
            raise PlatformError(
                _("Pinduoduo answered after-sale %(id)s without its id.") % {"id": params["after_sales_id"]}
            )
        return answer

    # --- electronic waybills (issue #17) -------------------------------------------------------

    def waybill_get(self, request: dict[str, Any]) -> list[dict]:
        """pdd.waybill.get (拼多多电子面单取号): the `modules` (a plain list), one per
        `trade_order_info_dtos` entry, matched by `object_id`."""
        answer = self.call(WAYBILL_GET_TYPE, {WAYBILL_REQUEST_PARAM: request}, WAYBILL_GET_RESPONSE)
        modules = answer.get("modules") or []
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise PlatformError(_("Pinduoduo answered the waybill request without its modules."))
        return modules

    def waybill_cancel(self, *, wp_code: str, waybill_code: str) -> bool:
        """pdd.waybill.cancel: whether the number was cancelled (false = refused)."""
        params = {"wp_code": wp_code, "waybill_code": waybill_code}
        answer = self.call(WAYBILL_CANCEL_TYPE, params, WAYBILL_CANCEL_RESPONSE)
        return answer.get("cancel_result") in (True, "true")

    # --- the call -------------------------------------------------------------------------------

    def call(self, api_type: str, business_params: dict[str, Any], response_key: str | None) -> dict:
        """One signed POP call; the `<x>_response` object of a success."""
        params = {
            "type": api_type,
            "client_id": self.client_id,
            "access_token": self.access_token,
            "timestamp": int(datetime.now(UTC).timestamp()),
            "data_type": "JSON",
            "version": "V1",
            **business_params,
        }
        params = {
            k: signing.param_text(v)
            for k, v in params.items()
            if v is not None and signing.param_text(v) != ""
        }
        params["sign"] = signing.sign(params, self.client_secret)
        try:
            response = self.http.post(self.base_url, json=params)
        except httpx.HTTPError as exc:
            raise PlatformError(_("Pinduoduo could not be reached: %(error)s") % {"error": exc}) from exc
        if response.status_code == 429:
            raise RateLimited(DEFAULT_RETRY_AFTER)
        body = json_object("Pinduoduo", response)
        if "error_response" in body:
            raise _error(body["error_response"])
        if response.status_code != 200:
            raise http_error("Pinduoduo", response.status_code)
        answer = body if response_key is None else body.get(response_key)  # None: unwrapped answer
        if not isinstance(answer, dict):
            raise PlatformError(_("Pinduoduo answered without %(key)s.") % {"key": response_key})
        return answer


def _orders_of(page: dict) -> list[dict]:
    orders = page.get("order_sn_list") or []
    if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
        raise PlatformError(_("Pinduoduo answered order_sn_list with something other than a list of orders."))
    return orders


def _error(error: Any) -> Exception:
    """RateLimited for 52101 / 70031; otherwise a PlatformError with the code, message and whether
    it may be retried (`temporary`, core.http.is_temporary)."""
    error = error if isinstance(error, dict) else {}
    code = error.get("error_code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if code in RATE_LIMIT_CODES:
        return RateLimited(DEFAULT_RETRY_AFTER)
    msg = str(error.get("error_msg") or "")
    detail = " ".join(filter(None, [str(error.get("sub_code") or ""), str(error.get("sub_msg") or "")]))
    if code == TOKEN_EXPIRED:
        text = _(
            "Pinduoduo error 10019: the shop's access_token has expired; authorise the shop again (%(msg)s)."
        )
        exc = PlatformError(text % {"msg": msg})
    else:
        exc = PlatformError(
            _("Pinduoduo error %(code)s: %(msg)s%(detail)s")
            % {"code": code, "msg": msg, "detail": f" ({detail})" if detail else ""}
        )
    exc.code, exc.msg, exc.sub_code = code, msg, str(error.get("sub_code") or "")
    exc.temporary = code in RETRYABLE_CODES
    return exc
