"""JD JOS (京东宙斯开放平台) HTTP client for one JD POP shop. HTTP only: mapping lives in mapping.py.

Documents followed (research notes /tmp/h/research16_jd_pdd.md §B1–§B6; fixtures and sources in
integrations/tests/payloads/SOURCES.md §15. "JD-JAVA" is JD's current Java SDK
`com.jd.open.api.sdk`, "JD-NET" its .NET SDK `Jd.Api`, "JD-PHP" lostinfo/jos-open-api (JOS doc
text in each request class), "JD-GO" XiBao/jos):

- Every call: the gateway https://api.jd.com/routerjson with the system parameters method,
  app_key, access_token, timestamp ("yyyy-MM-dd HH:mm:ss" Beijing time — JOS allows ±6 minutes;
  always formatted in Asia/Shanghai, never the host's zone), v=2.0, format=json, and
  `360buy_param_json` (the business parameters as one JSON text), signed by signing.py. As
  JD-JAVA `DefaultJdClient.execute` does, the system parameters and `sign` travel in the URL query
  and `360buy_param_json` in the form body.
- Answers: `{"<method with . → _>_responce": {"code": "0", …}}` (JD's spelling) or a gateway
  error `{"error_response": {"code", "zh_desc", "en_desc"}}` (JD-NET `JdResponse`, JD-GO). The
  gateway codes (JOS table as reproduced at blog.csdn.net/DianSan_ERP/article/details/142364242):
  2 "App Call Limited" is flow control → core.http.RateLimited; 8 an invalid timestamp, 12 an
  invalid signature, 15 an unknown method and the rest are refusals the same request cannot
  change, except "66", which JD-NET's client retries by itself (meaning not published). An
  error naming the access token (JOS publishes no code for it) asks for the shop to authorise
  again (`token_error`). Business results carry their own status (`apiResult.success`,
  `sopjosshipment_result.success`, the stock call's `success`).
- `jingdong.pop.order.enSearch` (JD-PHP PopOrderEnSearch.php; JD-NET PopOrderEnSearchRequest):
  start_date / end_date (≤ 1 month apart; "此时间仅针对订单状态及运单号修改的时间"), order_state (a
  comma list, required), optional_fields (required: fields not named are not returned), page,
  page_size (≤ 100), sortType 0 ascending, dateType 0 modification time →
  `searchorderinfo_result{apiResult, orderTotal, orderInfoList}`.
- `jingdong.pop.order.enGet` (order_id, optional_fields, order_state) →
  `orderDetailInfo{apiResult, orderInfo}`: read before a write-back.
- `jingdong.pop.order.shipment` (SOP出库发货; JD-PHP PopOrderShipment.php: orderId, logiCoprId —
  "只可通过获取商家物流公司接口获得" — logiNo) → `sopjosshipment_result{success, chineseErrCode,
  englishErrCode, errorCode}` (JD-JAVA OperatorResult; `success` may arrive as "true").
- `jingdong.stock.write.updateSkuStock` (设置sku库存, a full set; JD-PHP StockWriteUpdateSkuStock.php:
  skuId, stockNum) → `{success}` (JD-NET StockWriteUpdateSkuStockResponse).
- `jingdong.jos.order.oaid.decrypt` (JD-JAVA JosOrderOaidDecryptRequest:
  getReceiverInfoListReqVO{orderInfos[{orderId, oaid}]}) → `returnType{code, message, requestId,
  data[{orderId, oaid, customerName, consMobilePhone, customerPhone, address, …}]}`. The success
  value of `returnType.code` is not published: an answer is used only when `data` holds the
  order asked for."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import PlatformError, RateLimited, http_error, json_object, refusal
from core.timezones import BEIJING, format_beijing_time
from integrations.jd import mapping, signing
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

DEFAULT_BASE_URL = "https://api.jd.com/routerjson"
SEARCH_METHOD = "jingdong.pop.order.enSearch"
GET_METHOD = "jingdong.pop.order.enGet"
SHIPMENT_METHOD = "jingdong.pop.order.shipment"
STOCK_METHOD = "jingdong.stock.write.updateSkuStock"
DECRYPT_METHOD = "jingdong.jos.order.oaid.decrypt"
# 无界电子面单 (notes/platform-waybills.md §D): `360buy_param_json` = {"request": {...}}.
WAYBILL_CREATE_METHOD = "jingdong.logistics.ewaybill.waybill.create"
WAYBILL_CANCEL_METHOD = "jingdong.logistics.ewaybill.waybill.cancel"
PAGE_SIZE = 100  # enSearch's maximum
REFUND_APPLY_METHOD = "jingdong.pop.afs.soa.refundapply.queryPageList"
REFUND_APPLY_PAGE_SIZE = 50  # pageSize 1–50 (notes B5)
REFUND_APPLY_MAX_PAGE = 100  # pageIndex 1–100
MAX_RESTARTS = 3  # a window read again from page 1 when it changed under the pages
MAX_WINDOW = timedelta(days=28)  # JOS: start_date and end_date at most one month apart
RATE_LIMIT_CODES = {"2"}  # App Call Limited
RETRIED_CODES = {"66"}  # JD-NET DefaultJdClient retries these itself
DEFAULT_RETRY_AFTER = 60.0
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Every state an order can be polled in (the fixture request, SOURCES.md §15).
ORDER_STATES = (
    "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L,TRADE_CANCELED,LOCKED,POP_ORDER_PAUSE"
)
# Exactly what mapping.py and the write-back read.
ORDER_FIELDS = ",".join(
    [
        "orderId",
        "venderId",
        "orderType",
        "payType",
        "orderTotalPrice",
        "orderSellerPrice",
        "orderPayment",
        "freightPrice",
        "sellerDiscount",
        "balanceUsed",
        "orderState",
        "orderStateRemark",
        "orderStartTime",
        "orderEndTime",
        "paymentConfirmTime",
        "modified",
        "waybill",
        "logisticsId",
        "consigneeInfo",
        "itemInfoList",
        "couponDetailList",
    ]
)


def windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) as consecutive windows of at most MAX_WINDOW, in Beijing time, to the second."""
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ValueError("updated_since / updated_until must be aware datetimes")
    start = since.astimezone(BEIJING).replace(microsecond=0)
    end = until.astimezone(BEIJING).replace(microsecond=0)
    slices = []
    while start < end:
        slice_end = min(start + MAX_WINDOW, end)
        slices.append((start, slice_end))
        start = slice_end
    return slices


class JdClient:
    """One JD POP shop. `channel.api_credentials`: app_key, app_secret, access_token (the shop's
    authorisation), optional base_url and page_size."""

    # logiCoprId only from JD's own carrier list: never a free name.
    writeback_requires_carrier_code = True

    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        self.app_key = str(credentials.get("app_key") or "")
        self.app_secret = str(credentials.get("app_secret") or "")
        self.access_token = str(credentials.get("access_token") or "")
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL)
        missing = [name for name in ("app_key", "app_secret", "access_token") if not getattr(self, name)]
        if missing:
            raise PlatformError(
                _("JD credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        try:
            self.page_size = min(max(int(credentials.get("page_size") or PAGE_SIZE), 1), PAGE_SIZE)
        except (TypeError, ValueError):
            raise PlatformError(_("The JD page_size must be a number from 1 to 100.")) from None
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.pages_fetched = 0

    # --- orders (polling) ---------------------------------------------------------------------

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Orders whose state or waybill changed in the window (dateType 0), oldest first, page by
        page until orderTotal is reached.

        An order changed while the pages are read leaves the window (its new `modified` is past
        the end), so every later order moves up one place and one would fall between two pages
        unseen. A page whose orderTotal differs from the first page's shows that: the window is
        read again from page 1 (orders seen twice are the same stored version), at most
        MAX_RESTARTS times, then the run fails and the sync reads the window again later."""
        for start, end in windows(updated_since, updated_until):
            yield from self._window(start, end)

    def _window(self, start: datetime, end: datetime) -> Iterator[dict]:
        for _attempt in range(MAX_RESTARTS + 1):
            page, first_total = 1, None
            while True:
                result = self._search_page(start, end, page)
                orders = result.get("orderInfoList") or []
                if not isinstance(orders, list):
                    raise PlatformError(_("JD answered orderInfoList with something other than a list."))
                stated = result.get("orderTotal")
                total = _int(stated) if stated not in (None, "") else None
                if page == 1:
                    first_total = total
                elif total != first_total:
                    break  # the window changed under the pages: read it again
                yield from orders
                if not orders or len(orders) < self.page_size:
                    return
                if total is not None and page * self.page_size >= total:
                    return
                page += 1
        raise PlatformError(
            _("JD orders kept changing while the window %(start)s – %(end)s was read; read again later.")
            % {"start": format_beijing_time(start), "end": format_beijing_time(end)}
        )

    def _search_page(self, start: datetime, end: datetime, page: int) -> dict:
        params = {
            "start_date": format_beijing_time(start),
            "end_date": format_beijing_time(end),
            "order_state": ORDER_STATES,
            "optional_fields": ORDER_FIELDS,
            "page": str(page),
            "page_size": str(self.page_size),
            "sortType": 0,
            "dateType": 0,
        }
        result = _business(self.call(SEARCH_METHOD, params), SEARCH_METHOD, "searchorderinfo_result")
        self.pages_fetched += 1
        return result

    def get_order(self, order_id: str) -> dict:
        """One order as jingdong.pop.order.enGet returns it."""
        params = {"order_id": order_id, "optional_fields": ORDER_FIELDS, "order_state": ORDER_STATES}
        detail = _business(self.call(GET_METHOD, params), GET_METHOD, "orderDetailInfo")
        info = detail.get("orderInfo")
        if not isinstance(info, dict):
            raise PlatformError(_("JD answered order %(id)s without orderInfo.") % {"id": order_id})
        return info

    # --- stock push ---------------------------------------------------------------------------

    def set_stock(self, *, sku_id: int, quantity: int) -> None:
        """Set the SKU's stock to `quantity` (jingdong.stock.write.updateSkuStock, a full set, so a
        repeated push is harmless)."""
        if quantity < 0:
            raise refusal(_("A JD stock quantity cannot be negative (%(n)s).") % {"n": quantity})
        answer = _envelope(self.call(STOCK_METHOD, {"skuId": sku_id, "stockNum": quantity}), STOCK_METHOD)
        if not _true(answer.get("success")):
            raise PlatformError(_("JD did not set the stock of SKU %(sku)s.") % {"sku": sku_id})

    # --- shipment write-back --------------------------------------------------------------------

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Tell JD the order shipped: jingdong.pop.order.shipment (integrations.writeback_contract).

        JD's SOP shipment declares the whole order out of the warehouse with its waybill(s); it has
        no per-line form. So the order is read first (enGet):
        - WAIT_SELLER_STOCK_OUT (等待出库): sent with this parcel's carrier id and waybill;
        - already shipped with this parcel's waybill among its `waybill`: already done (an earlier
          attempt whose answer was lost, or the outbox delivering twice);
        - already shipped with another waybill: already done for a parcel of an order that has
          more than one (the first parcel declared the order), refused otherwise, naming both;
        - cancelled, locked or paused: refused (nothing may ship).
        A `success: false` answer reads the order again: done when it now shows this waybill."""
        order_id = str(notice.order_external_id)
        if not order_id.isdigit():
            raise refusal(_("JD order id %(id)r is not a number.") % {"id": order_id})
        logi_no = (notice.tracking_number or "").strip()
        carrier = (notice.carrier_code or "").strip()
        if not logi_no:
            raise refusal(
                _("Parcel %(parcel)s has no tracking number for JD.") % {"parcel": notice.shipment_number}
            )
        if not carrier:
            raise refusal(
                _("Carrier “%(carrier)s” has no JD logistics id (logiCoprId).")
                % {"carrier": notice.carrier_name}
            )
        if self._shipped_already(self.get_order(order_id), logi_no, notice):
            return WriteBackResult(reference="", already_done=True)
        params = {"orderId": int(order_id), "logiCoprId": carrier, "logiNo": logi_no}
        answer = _envelope(self.call(SHIPMENT_METHOD, params), SHIPMENT_METHOD)
        result = answer.get("sopjosshipment_result")
        result = result if isinstance(result, dict) else {}
        if _true(result.get("success")):
            return WriteBackResult(reference="")
        if self._shipped_already(self.get_order(order_id), logi_no, notice):
            return WriteBackResult(reference="", already_done=True)
        error = refusal(
            _("JD refused the shipment of order %(id)s: %(code)s %(msg)s")
            % {
                "id": order_id,
                "code": result.get("errorCode") or "",
                "msg": result.get("chineseErrCode") or result.get("englishErrCode") or "",
            }
        )
        raise error

    @staticmethod
    def _shipped_already(info: dict, logi_no: str, notice: ShipmentNotice) -> bool:
        state = info.get("orderState")
        if state == mapping.TO_SHIP:
            return False
        if state in mapping.SHIPPED_STATES:
            # "不同物流公司的运单号用|分隔，同一物流公司多个运单号用英文逗号分隔"
            waybills = {
                w.strip() for part in str(info.get("waybill") or "").split("|") for w in part.split(",")
            }
            if logi_no in waybills or notice.parcel_count > 1:
                return True
            raise refusal(
                _("JD order %(id)s is already shipped with waybill %(theirs)s, not %(ours)s.")
                % {"id": info.get("orderId"), "theirs": info.get("waybill") or "?", "ours": logi_no}
            )
        raise refusal(
            _("JD order %(id)s is %(state)s: it cannot be marked shipped.")
            % {"id": info.get("orderId"), "state": state or "?"}
        )

    # --- protected receiver -----------------------------------------------------------------------

    def decrypt_receiver(self, order_external_id: str, protected: dict) -> dict[str, str]:
        """The receiver in plain text via jingdong.jos.order.oaid.decrypt (integrations.protected_data)."""
        oaid = str((protected.get("oaid") or {}).get("value") or "")
        if not oaid or not str(order_external_id).isdigit():
            raise refusal(
                _("JD order %(id)s has no oaid to decrypt its receiver with.") % {"id": order_external_id}
            )
        request = {
            "getReceiverInfoListReqVO": {"orderInfos": [{"orderId": int(order_external_id), "oaid": oaid}]}
        }
        answer = _envelope(self.call(DECRYPT_METHOD, request), DECRYPT_METHOD)
        returned = answer.get("returnType") if isinstance(answer.get("returnType"), dict) else {}
        for row in returned.get("data") or []:
            if isinstance(row, dict) and str(row.get("orderId")) == str(order_external_id):
                return {
                    "name": str(row.get("customerName") or ""),
                    "phone": str(row.get("consMobilePhone") or row.get("customerPhone") or ""),
                    "address": str(row.get("address") or ""),
                }
        raise PlatformError(
            _("JD did not decrypt the receiver of order %(id)s: %(code)s %(msg)s")
            % {
                "id": order_external_id,
                "code": returned.get("code", ""),
                "msg": returned.get("message") or "",
            }
        )

    # --- the call -------------------------------------------------------------------------------

    # --- after-sales (integrations.after_sales) -----------------------------------------------

    def iter_after_sales(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Refund requests before shipment (jingdong.pop.afs.soa.refundapply.queryPageList, notes
        B5: `queryResult{totalCount, result[…]}`, pageIndex 1–100, pageSize 1–50, times
        yyyy-MM-dd HH:mm:ss). JD publishes no update-time filter: a window reads the requests
        APPLIED in it (applyTimeStart/End) and those CHECKED in it (checkTimeStart/End); one found
        by both is the same stored version. A change with neither time (JD finance's refund,
        status 3/4, after the check) is only seen when it comes with a check in the window."""
        for start, end in windows(updated_since, updated_until):
            for prefix in ("applyTime", "checkTime"):
                page = 1
                while True:
                    params = {
                        f"{prefix}Start": format_beijing_time(start),
                        f"{prefix}End": format_beijing_time(end),
                        "pageIndex": str(page),
                        "pageSize": str(REFUND_APPLY_PAGE_SIZE),
                    }
                    result = _envelope(self.call(REFUND_APPLY_METHOD, params), REFUND_APPLY_METHOD).get(
                        "queryResult"
                    )
                    self.pages_fetched += 1
                    if not isinstance(result, dict) or not _true(result.get("success")):
                        error = result if isinstance(result, dict) else {}
                        raise refusal(
                            _("JD refused %(method)s: %(code)s %(msg)s")
                            % {
                                "method": REFUND_APPLY_METHOD,
                                "code": error.get("errorCode") or "",
                                "msg": error.get("errorMsg") or "",
                            }
                        )
                    records = result.get("result") or []
                    if not isinstance(records, list):
                        raise PlatformError(
                            _("JD answered the refund requests with something other than a list.")
                        )
                    yield from records
                    total = result.get("totalCount")
                    total = _int(total) if total not in (None, "") else None
                    if (
                        len(records) < REFUND_APPLY_PAGE_SIZE
                        or total is None
                        or page * REFUND_APPLY_PAGE_SIZE >= total
                    ):
                        break
                    if page >= REFUND_APPLY_MAX_PAGE:
                        raise PlatformError(
                            _("More JD refund requests in %(start)s – %(end)s than 100 pages hold.")
                            % {"start": format_beijing_time(start), "end": format_beijing_time(end)}
                        )
                    page += 1

    # --- electronic waybills (issue #17) -----------------------------------------------------------

    def waybill_create(self, request: dict[str, Any]) -> dict:
        """jingdong.logistics.ewaybill.waybill.create: the `Response` object (capital R, JD Java SDK
        @JsonProperty("Response")) with statusCode / statusMessage / data.waybillCodeInfoList."""
        answer = _envelope(self.call(WAYBILL_CREATE_METHOD, {"request": request}), WAYBILL_CREATE_METHOD)
        response = answer.get("Response")
        if not isinstance(response, dict):
            raise PlatformError(_("JD answered the waybill request without its Response."))
        return response

    def waybill_cancel(self, request: dict[str, Any]) -> dict:
        """jingdong.logistics.ewaybill.waybill.cancel; its response fields are not published
        (notes §D6): the envelope is returned as it came."""
        return _envelope(self.call(WAYBILL_CANCEL_METHOD, request), WAYBILL_CANCEL_METHOD)

    def call(self, method: str, business_params: dict[str, Any]) -> dict:
        """One signed JOS call; the decoded JSON body of an answer that is not a gateway error."""
        system = {
            "method": method,
            "app_key": self.app_key,
            "access_token": self.access_token,
            "timestamp": format_beijing_time(timezone.now()),
            "v": "2.0",
            "format": "json",
        }
        param_json = json.dumps(business_params, ensure_ascii=False, separators=(",", ":"))
        system["sign"] = signing.sign({**system, "360buy_param_json": param_json}, self.app_secret)
        try:
            response = self.http.post(self.base_url, params=system, data={"360buy_param_json": param_json})
        except httpx.HTTPError as exc:
            raise PlatformError(_("JD could not be reached: %(error)s") % {"error": exc}) from exc
        if response.status_code in (429, 503):
            raise RateLimited(DEFAULT_RETRY_AFTER)
        body = json_object("JD", response)
        if "error_response" in body:
            raise _error(body["error_response"])
        if response.status_code != 200:
            raise http_error("JD", response.status_code)
        return body


# --- answers and errors ------------------------------------------------------------------------------


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_responce"


def _envelope(body: dict, method: str) -> dict:
    answer = body.get(response_key(method))
    if not isinstance(answer, dict):
        raise PlatformError(_("JD answered without %(key)s.") % {"key": response_key(method)})
    if str(answer.get("code", "0")) != "0":
        raise refusal(
            _("JD answered %(method)s with code %(code)s.") % {"method": method, "code": answer["code"]}
        )
    return answer


def _business(body: dict, method: str, key: str) -> dict:
    """The result object under `key`, whose apiResult must say success."""
    result = _envelope(body, method).get(key)
    if not isinstance(result, dict):
        raise PlatformError(_("JD answered %(method)s without %(key)s.") % {"method": method, "key": key})
    api = result.get("apiResult") if isinstance(result.get("apiResult"), dict) else {}
    if api and not _true(api.get("success")):
        raise refusal(
            _("JD refused %(method)s: %(code)s %(msg)s")
            % {
                "method": method,
                "code": api.get("numberCode") or "",
                "msg": api.get("chineseErrCode") or api.get("englishErrCode") or "",
            }
        )
    return result


def _true(value) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _error(error: Any) -> Exception:
    """RateLimited for App Call Limited; a PlatformError with JD's code and texts for the rest,
    `token_error` when it names the access token (the shop must authorise again)."""
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    if code in RATE_LIMIT_CODES:
        return RateLimited(DEFAULT_RETRY_AFTER)
    zh, en = str(error.get("zh_desc") or ""), str(error.get("en_desc") or "")
    names = {"code": code, "zh": zh, "en": en}
    token_error = "token" in f"{zh} {en}".lower()
    if token_error:
        message = _("JD refused the shop's access token (%(code)s %(zh)s %(en)s): authorise the shop again.")
    else:
        message = _("JD error %(code)s: %(zh)s %(en)s")
    exc = PlatformError(message % names)
    exc.code, exc.zh_desc, exc.en_desc, exc.token_error = code, zh, en, token_error
    exc.temporary = code in RETRIED_CODES
    return exc
