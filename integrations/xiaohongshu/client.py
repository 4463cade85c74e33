"""Xiaohongshu (小红书电商开放平台, open.xiaohongshu.com) HTTP client for one shop. HTTP only: mapping
lives in mapping.py, push messages in push.py.

Documents followed (research notes for issue #16 §B; fixtures and their sources:
integrations/tests/payloads/SOURCES.md §18): the docs site as mirrored in
`AndersonBY/xiaohongshu-ecommerce-python-sdk` `docs/小红书官方文档/` (XHS-DOC: 038 授权流程, 039 签名算法,
040 请求与响应, 047 订单接入方案, 050/051 数据加解密, 292 限流, and the API specs order_getOrderList,
order_getOrderDetail, order_getOrderReceiverInfo, data_batchDecrypt, inventory_syncSkuStock,
order_orderDeliver) and the official Java SDK `com.xiaohongshu.fls.opensdk` (Utils.addSign,
BaseRequest, BaseResponse, OrderClient, DataClient, OrderReceiverInfo).

- The call (§B1): every method is one POST to `{base}/ark/open_api/v3/common_controller` with a
  flat JSON body: `method, appId, timestamp (unix s, a string), version "2.0", sign`
  (signing.py), `accessToken` for business methods, and the method's own parameters.
- The envelope (XHS-DOC 040, XHS-JAVA BaseResponse, XHS-GO): `{success, error_code, error_msg,
  data}`; some APIs (after-sale, inventory V2) answer `code` / `msg` instead. A call succeeded when
  `success` is true and the code is 0.
- Tokens (XHS-DOC 038): oauth.getAccessToken {code} / oauth.refreshToken {refreshToken} →
  accessToken, accessTokenExpiresAt (ms), refreshToken, refreshTokenExpiresAt (ms), sellerId; kept on
  the channel. Refreshing with more than 30 minutes left returns the same tokens, so the client
  refreshes once the access token has less than 30 minutes to live.
- NOT PUBLISHED: the error body of a rate-limited call and of an expired token (XHS publishes no
  platform error-code list, notes §B1 / §C.12). Chosen conservatively here: HTTP 429 / 503, or an
  error message with 频繁 / 限流 / "too many" / "rate limit" is a rate limit (core.http.RateLimited,
  retried later); an error message naming the token as expired or invalid refreshes the token once
  and repeats the call. Any other error in a 200 body is a refusal (not retried by itself).
- Orders (§B2): order.getOrderList by update time (timeType 2) in windows of at most 30 minutes,
  startTime / endTime in seconds, pageNo from 1 (≤ 100), pageSize ≤ 100. The list is newest first,
  so the pages are read from `maxPageNo` down to 1 ("倒序拉取 最后一页到第一页"): an order updated
  while the pages are read leaves the window and can only repeat an order, never hide one. Page 1
  is read first to learn `maxPageNo`, and read again last. The list has no money or lines: each order
  is read with order.getOrderDetail. Times in responses are ms.
- Receivers (§B3): order.getOrderReceiverInfo {receiverQueries[{orderId, openAddressId}], isReturn}
  gives the ciphertexts, only while the order is 待发货; they are read for the orders of a page in
  that state and kept with the order (RECEIVER_KEY). data.batchDecrypt (≤ 100 baseInfos
  {dataTag, encryptedData}, actionType, appUserId) decrypts them on demand, with per-item errorCode.
- Stock (§B5): inventory.syncSkuStock {skuId, qty}; response.code -9028 is a success with a warning.
- After-sales (§B7): afterSale.listAfterSaleInfos (times in ms, timeType 2 ≤ 30 min) and
  afterSale.getAfterSaleInfo per request; money there is in YUAN (JSON numbers), read in
  after_sales.py.
- Parcels (§B6): order.orderDeliver {orderId, expressNo, expressCompanyCode, deliveringTime (ms),
  unpack + skuIdList for one parcel of a split order}; codes from common.getExpressCompanyList."""

import math
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import PlatformError, RateLimited, json_object, refusal
from integrations.clients import credentials_write_back
from integrations.writeback_contract import ShipmentNotice, WriteBackResult
from integrations.xiaohongshu import signing

DEFAULT_BASE_URL = "https://ark.xiaohongshu.com"
PATH = "/ark/open_api/v3/common_controller"
GET_ORDER_LIST = "order.getOrderList"
GET_ORDER_DETAIL = "order.getOrderDetail"
GET_RECEIVER_INFO = "order.getOrderReceiverInfo"
BATCH_DECRYPT = "data.batchDecrypt"
SYNC_SKU_STOCK = "inventory.syncSkuStock"
ORDER_DELIVER = "order.orderDeliver"
LIST_AFTER_SALES = "afterSale.listAfterSaleInfos"
GET_AFTER_SALE = "afterSale.getAfterSaleInfo"
AFTER_SALE_DETAIL = "_conduitAfterSaleInfo"  # getAfterSaleInfo's data, added by this client
AFTER_SALE_PAGE_SIZE = 50  # pageSize ≤ 100 (the fixture's request: 50)
MAX_AFTER_SALE_ROWS = 50000  # pageNo × pageSize ≤ 50000
GET_ACCESS_TOKEN = "oauth.getAccessToken"
REFRESH_TOKEN = "oauth.refreshToken"
TOKEN_METHODS = {GET_ACCESS_TOKEN, REFRESH_TOKEN}
UPDATED = 2  # timeType 2: by update time, end − start ≤ 30 minutes
MAX_WINDOW = timedelta(minutes=30)
PAGE_SIZE = 100  # pageSize ≤ 100
MAX_PAGE_NO = 100  # pageNo ≤ 100: a window with more pages is read in halves
MAX_DECRYPT = 100  # data.batchDecrypt: at most 100 baseInfos
DECRYPT_ACTION = "2"  # actionType 2 批量解密打单 (1 单个查看, 3 面向三方下发, 4 其他)
APP_USER_ID = "conduit"  # appUserId: free text, non-empty
REFRESH_BEFORE = timedelta(minutes=30)  # refreshing earlier returns the same tokens
STOCK_WARNING = -9028  # "同步成功，但有占用库存未扣减…": a success with a warning
TO_SHIP = 4  # orderStatus 4 待发货: the only state getOrderReceiverInfo answers in
CANCELLED_STATUSES = {8, 9}  # 已关闭, 已取消
RECEIVER_KEY = "_conduitReceiverInfo"  # added by this client, not an XHS field (see iter_orders)
DEFAULT_RETRY_AFTER = 60.0  # nothing published: the sync backs off from here
# NOT PUBLISHED (see the module docstring): the words taken to mean "slow down" / "token expired".
RATE_LIMIT_WORDS = ("频繁", "限流", "too many", "rate limit")
TOKEN_WORDS = ("token",)
EXPIRED_WORDS = ("过期", "失效", "expired", "invalid", "无效")
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class XiaohongshuClient:
    """One Xiaohongshu shop. `channel.api_credentials`: app_id, app_secret, access_token,
    refresh_token, optional access_token_expires_at (ms), base_url and seller_id."""

    writeback_requires_carrier_code = True  # expressCompanyCode from common.getExpressCompanyList

    def __init__(self, channel, *, http: httpx.Client | None = None):
        self.channel = channel
        credentials = dict(channel.api_credentials or {})
        self.app_id = str(credentials.get("app_id") or "")
        self.app_secret = str(credentials.get("app_secret") or "")
        self.access_token = str(credentials.get("access_token") or "")
        self.refresh_token = str(credentials.get("refresh_token") or "")
        self.expires_at_ms = _int(credentials.get("access_token_expires_at"))
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        missing = [name for name in ("app_id", "app_secret") if not getattr(self, name)]
        if not (self.access_token or self.refresh_token):
            missing.append("access_token")
        if missing:
            raise PlatformError(
                _("Xiaohongshu credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.pages_fetched = 0
        self.refreshes = 0

    # --- tokens ---------------------------------------------------------------------------------

    def access_token_get(self, code: str) -> dict:
        """oauth.getAccessToken with an authorisation code (valid 10 minutes); the tokens are kept."""
        return self._tokens_keep(self.call(GET_ACCESS_TOKEN, {"code": code}))

    def token_refresh(self) -> dict:
        if not self.refresh_token:
            raise refusal(_("The Xiaohongshu channel has no refresh token: authorise the shop again."))
        data = self.call(REFRESH_TOKEN, {"refreshToken": self.refresh_token})
        self.refreshes += 1
        return self._tokens_keep(data)

    def _tokens_keep(self, data: dict) -> dict:
        access, refresh = data.get("accessToken"), data.get("refreshToken")
        if not access:
            raise PlatformError(_("Xiaohongshu answered the token call without an access token."))
        self.access_token, self.refresh_token = str(access), str(refresh or self.refresh_token)
        self.expires_at_ms = _int(data.get("accessTokenExpiresAt"))
        tokens = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_token_expires_at": self.expires_at_ms,
        }
        for key, field in (("refresh_token_expires_at", "refreshTokenExpiresAt"), ("seller_id", "sellerId")):
            if data.get(field) not in (None, ""):
                tokens[key] = data[field]
        credentials_write_back(self.channel, tokens)
        return data

    def _token_due(self) -> bool:
        if not self.access_token:
            return True
        if not self.expires_at_ms:
            return False  # no expiry known: used until the platform refuses it
        left_ms = self.expires_at_ms - time.time() * 1000
        return left_ms < REFRESH_BEFORE.total_seconds() * 1000

    # --- orders (polling) -----------------------------------------------------------------------

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Every order updated in [since, until) as order.getOrderDetail gives it, read window by
        window (≤ 30 min) and in each window last page first. An order met twice (the same
        updateTime in two windows or pages) is read once. An order 待发货 carries its receiver's
        ciphertexts under RECEIVER_KEY (order.getOrderReceiverInfo's receiverInfos item)."""
        if timezone.is_naive(updated_since) or timezone.is_naive(updated_until):
            raise ValueError("updated_since / updated_until must be aware datetimes")
        seen: set[tuple[str, int]] = set()
        for start, end in windows(updated_since, updated_until):
            yield from self._window(start, end, seen)

    def _list(self, start: int, end: int, page: int) -> tuple[list[dict], int]:
        data = self.call(
            GET_ORDER_LIST,
            {
                "startTime": start,
                "endTime": end,
                "timeType": UPDATED,
                "orderType": 0,
                "orderStatus": 0,
                "pageNo": page,
                "pageSize": PAGE_SIZE,
            },
        )
        self.pages_fetched += 1
        orders = data.get("orderList") or []
        if not isinstance(orders, list):
            raise PlatformError(_("Xiaohongshu answered order.getOrderList without a list of orders."))
        last = _int(data.get("maxPageNo")) or math.ceil(_int(data.get("total")) / PAGE_SIZE)
        return orders, last

    def _window(self, start: int, end: int, seen: set) -> Iterator[dict]:
        first, last = self._list(start, end, 1)
        if last > MAX_PAGE_NO and end - start > 1:  # more than the API pages: halve the window
            middle = (start + end) // 2
            yield from self._window(start, middle, seen)
            yield from self._window(middle, end, seen)
            return
        if last <= 1:
            yield from self._details(first, seen)
            return
        for page in range(min(last, MAX_PAGE_NO), 0, -1):
            orders, _last = self._list(start, end, page)
            yield from self._details(orders, seen)

    def _details(self, summaries: list[dict], seen: set) -> Iterator[dict]:
        details = []
        for summary in summaries:
            key = (str(summary.get("orderId") or ""), _int(summary.get("updateTime")))
            if not key[0] or key in seen:
                continue
            seen.add(key)
            details.append(self.order_detail(key[0]))
        self._receivers_attach(details)
        yield from details

    def order_detail(self, order_id: str) -> dict:
        order_id = str(order_id)
        detail = self.call(GET_ORDER_DETAIL, {"orderId": order_id})
        if not isinstance(detail, dict) or str(detail.get("orderId") or "") != order_id:
            raise PlatformError(_("Xiaohongshu answered order %(id)s without its detail.") % {"id": order_id})
        return detail

    def order(self, order_id: str) -> dict:
        """One order as polling stores it: its detail, with its receiver's ciphertexts when 待发货."""
        detail = self.order_detail(order_id)
        self._receivers_attach([detail])
        return detail

    # --- protected receiver data (integrations.protected_data) ----------------------------------

    def receiver_infos(self, queries: list[tuple[str, str]]) -> dict[str, dict]:
        """order.getOrderReceiverInfo for (orderId, openAddressId) pairs: {orderId: receiverInfo}
        of the matched ones. The request's size limit is not published: one page's orders at most."""
        if not queries:
            return {}
        data = self.call(
            GET_RECEIVER_INFO,
            {
                "receiverQueries": [{"orderId": oid, "openAddressId": address} for oid, address in queries],
                "isReturn": False,
            },
        )
        return {
            str(info.get("orderId")): info
            for info in data.get("receiverInfos") or []
            if isinstance(info, dict) and info.get("matched")
        }

    def _receivers_attach(self, details: list[dict]) -> None:
        queries = [
            (str(d["orderId"]), str(d["openAddressId"]))
            for d in details
            if _int(d.get("orderStatus")) == TO_SHIP and d.get("openAddressId")
        ]
        found = self.receiver_infos(queries)
        for detail in details:
            if str(detail.get("orderId")) in found:
                detail[RECEIVER_KEY] = found[str(detail["orderId"])]

    def decrypt_receiver(self, order_external_id: str, protected: dict) -> dict[str, str]:
        """{"name", "phone", "address"} in plain text. The receiver is read again first
        (order.getOrderReceiverInfo by the stored openAddressId: the buyer may have changed it;
        notes §B3 "call again right before shipping"); when XHS no longer gives it (the order is
        past 待发货) the stored ciphertexts are decrypted. data.batchDecrypt, one item per field; a
        per-item errorCode (-2000701 解密限额…) is a refusal naming the field."""
        order_id = str(order_external_id)
        wanted = {name: str((protected.get(name) or {}).get("cipher") or "") for name in FIELDS}
        address_id = str((protected.get("open_address_id") or {}).get("value") or "")
        if address_id:
            try:
                fresh = self.receiver_infos([(order_id, address_id)]).get(order_id)
            except PlatformError:
                fresh = None  # a refusal (the order moved on): the stored ciphertexts stand
            for name, field in RECEIVER_FIELDS.items():
                if fresh and fresh.get(field):
                    wanted[name] = str(fresh[field])
        wanted = {name: cipher for name, cipher in wanted.items() if cipher}
        if not wanted:
            return {}
        data = self.call(
            BATCH_DECRYPT,
            {
                "baseInfos": [{"dataTag": order_id, "encryptedData": c} for c in wanted.values()][
                    :MAX_DECRYPT
                ],
                "actionType": DECRYPT_ACTION,
                "appUserId": APP_USER_ID,
            },
        )
        by_cipher = {str(item.get("encryptedData")): item for item in data.get("dataInfoList") or []}
        plain = {}
        for name, cipher in wanted.items():
            item = by_cipher.get(cipher)
            if item is None or _int(item.get("errorCode")):
                raise refusal(
                    _("Xiaohongshu did not decrypt the receiver's %(field)s: %(error)s")
                    % {
                        "field": name,
                        "error": (item or {}).get("errorMsg")
                        or (item or {}).get("errorCode")
                        or _("no answer"),
                    }
                )
            plain[name] = str(item.get("decryptedData") or "")
        return plain

    # --- stock push -----------------------------------------------------------------------------

    def sync_stock(self, *, sku_id: str, qty: int) -> dict:
        """inventory.syncSkuStock: `qty` is the SKU's TOTAL stock on XHS (sellable + what XHS holds
        for unpaid orders and channel / activity stock); XHS sets sellable = qty − (its total − its
        sellable). See integrations.stock_sync for the figure sent."""
        if qty < 0:
            raise refusal(_("A Xiaohongshu stock quantity cannot be negative (%(n)s).") % {"n": qty})
        if not sku_id:
            raise refusal(_("A Xiaohongshu stock push names no skuId."))
        data = self.call(SYNC_SKU_STOCK, {"skuId": str(sku_id), "qty": qty})
        outcome = data.get("response") or {}
        if isinstance(outcome, dict) and outcome.get("success") is False:
            raise refusal(
                _("Xiaohongshu refused the stock of SKU %(sku)s: %(code)s %(msg)s")
                % {"sku": sku_id, "code": outcome.get("code"), "msg": outcome.get("message") or ""}
            )
        return data

    # --- shipment write-back ----------------------------------------------------------------------

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Tell XHS that a parcel shipped (integrations.writeback_contract), with order.orderDeliver.

        The order is read first (order.getOrderDetail): a parcel whose tracking number the order
        already shows (`expressTrackingNo`, or a parcel of `simpleDeliveryOrderList`) is
        `already_done` — an earlier attempt landed, its answer was lost; a closed or cancelled order
        is refused. A parcel carrying every unit of every SKU of an order with nothing shipped yet is
        delivered whole; any other parcel goes with `unpack: true` and the XHS skuIds it carries
        (skuIdList: XHS takes SKUs, not units, for a split parcel)."""
        order_id = str(notice.order_external_id)
        tracking = (notice.tracking_number or "").strip()
        company = (notice.carrier_code or "").strip()
        if not tracking:
            raise refusal(
                _("Parcel %(parcel)s has no tracking number for Xiaohongshu.")
                % {"parcel": notice.shipment_number}
            )
        if not company:
            raise refusal(
                _(
                    "Carrier “%(carrier)s” has no Xiaohongshu express company code "
                    "(common.getExpressCompanyList)."
                )
                % {"carrier": notice.carrier_name}
            )
        units = notice.units_by_platform_line()  # by XHS skuId
        if not units:
            raise refusal(
                _("Parcel %(parcel)s carries no SKU Xiaohongshu sold.") % {"parcel": notice.shipment_number}
            )
        detail = self.order_detail(order_id)
        parcels = [p for p in detail.get("simpleDeliveryOrderList") or [] if isinstance(p, dict)]
        shipped = {str(p.get("expressTrackingNo") or "") for p in parcels} | {
            str(detail.get("expressTrackingNo") or "")
        }
        shipped.discard("")
        if tracking in shipped:
            return WriteBackResult(reference="", already_done=True)
        if _int(detail.get("orderStatus")) in CANCELLED_STATUSES:
            raise refusal(_("Xiaohongshu order %(id)s is closed: nothing to ship.") % {"id": order_id})
        sold_skus = {str(s.get("skuId")) for s in detail.get("skuList") or []}
        unknown = sorted(set(units) - sold_skus)
        if unknown:
            raise refusal(
                _("Xiaohongshu order %(id)s has no SKU %(skus)s.")
                % {"id": order_id, "skus": ", ".join(unknown)}
            )
        moment = notice.shipped_at or timezone.now()
        params: dict[str, Any] = {
            "orderId": order_id,
            "expressNo": tracking,
            "expressCompanyCode": company,
            "deliveringTime": int(moment.timestamp() * 1000),
        }
        whole = not shipped and set(units) == sold_skus and all(c >= s for c, s in units.values())
        if not whole:
            params |= {"unpack": True, "skuIdList": list(units)}
        self.call(ORDER_DELIVER, params)
        return WriteBackResult(reference="")

    # --- after-sales (integrations.after_sales) ---------------------------------------------------

    def iter_after_sales(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """After-sales updated in [since, until): afterSale.listAfterSaleInfos by update time
        (timeType 2, startTime / endTime in ms, windows ≤ 30 min; notes §B7, fixture
        xhs_after_sale_list_after_sale_infos_request.json), pageNo from 1, pageSize 50. The list's
        order is not documented: page 1 tells totalCount, then the pages are read last first as for
        orders, so a request updated meanwhile can only repeat. Each item gets its
        afterSale.getAfterSaleInfo answer (SKUs, refund status and amount) under AFTER_SALE_DETAIL."""
        if timezone.is_naive(updated_since) or timezone.is_naive(updated_until):
            raise ValueError("updated_since / updated_until must be aware datetimes")
        seen: set[tuple[str, int]] = set()
        for start, end in windows(updated_since, updated_until):
            items, last = self._after_sale_page(start, end, 1)
            pages = (
                [items]
                if last <= 1
                else (self._after_sale_page(start, end, p)[0] for p in range(last, 0, -1))
            )
            for page in pages:
                for item in page:
                    key = (str(item.get("returnsId") or ""), _int(item.get("updatedAt")))
                    if not key[0] or key in seen:
                        continue
                    seen.add(key)
                    yield {**item, AFTER_SALE_DETAIL: self.after_sale_info(key[0])}

    def _after_sale_page(self, start: int, end: int, page: int) -> tuple[list[dict], int]:
        data = self.call(
            LIST_AFTER_SALES,
            {
                "pageNo": page,
                "pageSize": AFTER_SALE_PAGE_SIZE,
                "timeType": UPDATED,
                "startTime": start * 1000,
                "endTime": end * 1000,
            },
        )
        self.pages_fetched += 1
        items = data.get("afterSaleBasicInfos") or []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise PlatformError(_("Xiaohongshu answered afterSale.listAfterSaleInfos without a list."))
        last = math.ceil(_int(data.get("totalCount")) / AFTER_SALE_PAGE_SIZE)
        return items, min(last, MAX_AFTER_SALE_ROWS // AFTER_SALE_PAGE_SIZE)

    def after_sale_info(self, returns_id: str) -> dict:
        """afterSale.getAfterSaleInfo {returnsId, needNegotiateRecord}: {afterSaleInfo, logisticsInfo}."""
        data = self.call(GET_AFTER_SALE, {"returnsId": str(returns_id), "needNegotiateRecord": False})
        if not isinstance(data.get("afterSaleInfo"), dict):
            raise PlatformError(
                _("Xiaohongshu answered after-sale %(id)s without its detail.") % {"id": returns_id}
            )
        return data

    # --- the call -------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict:
        """One signed call; the `data` of a success. An access token with under 30 minutes left (or
        one the platform calls expired) is refreshed once and the call made (again)."""
        refreshed = False
        if method not in TOKEN_METHODS and self._token_due() and self.refresh_token:
            self.token_refresh()
            refreshed = True
        try:
            return self._call(method, params)
        except TokenExpired as exc:
            if method in TOKEN_METHODS or refreshed:
                raise refusal(str(exc)) from None
            self.token_refresh()
            try:
                return self._call(method, params)
            except TokenExpired as again:
                raise refusal(str(again)) from None

    def _call(self, method: str, params: dict[str, Any] | None) -> dict:
        timestamp = str(int(time.time()))
        body: dict[str, Any] = {
            "method": method,
            "appId": self.app_id,
            "timestamp": timestamp,
            "version": signing.VERSION,
            "sign": signing.sign(
                method=method, app_id=self.app_id, timestamp=timestamp, app_secret=self.app_secret
            ),
        }
        if method not in TOKEN_METHODS:
            body["accessToken"] = self.access_token
        body |= {key: value for key, value in (params or {}).items() if value is not None}
        try:
            response = self.http.post(
                f"{self.base_url}{PATH}",
                json=body,
                headers={"Content-Type": "application/json;charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise PlatformError(_("Xiaohongshu could not be reached: %(error)s") % {"error": exc}) from exc
        if response.status_code in (429, 503):  # NOT PUBLISHED: taken as "slow down"
            raise RateLimited(DEFAULT_RETRY_AFTER)
        answer = json_object("Xiaohongshu", response)
        raw_code = answer.get("error_code", answer.get("code"))
        code = _int(raw_code) if raw_code not in (None, "") else 0
        if answer.get("success") is True and code == 0 and response.status_code == 200:
            data = answer.get("data")
            return data if isinstance(data, dict) else {}
        raise _error(method, answer, code, response.status_code)


FIELDS = ("name", "phone", "address")
# canonical protected field → order.getOrderReceiverInfo field (XHS-JAVA OrderReceiverInfo)
RECEIVER_FIELDS = {"name": "receiverName", "phone": "receiverPhone", "address": "receiverAddress"}


def windows(since: datetime, until: datetime) -> list[tuple[int, int]]:
    """[since, until) as consecutive windows of at most 30 minutes, in unix seconds (startTime /
    endTime); each window starts where the one before ended (an order on the boundary is read
    twice, which the version dedupe absorbs)."""
    start, end = int(since.timestamp()), math.ceil(until.timestamp())
    step = int(MAX_WINDOW.total_seconds())
    found = []
    while start < end:
        found.append((start, min(start + step, end)))
        start += step
    return found


class TokenExpired(PlatformError):
    """An error naming the access token as expired or invalid (words chosen, not published)."""


def _error(method: str, answer: dict, code: int, status: int) -> Exception:
    msg = str(answer.get("error_msg") or answer.get("msg") or "")
    lowered = msg.lower()
    if any(word in lowered for word in RATE_LIMIT_WORDS):  # NOT PUBLISHED: see the module docstring
        return RateLimited(DEFAULT_RETRY_AFTER)
    text = _("Xiaohongshu error %(code)s on %(method)s: %(msg)s") % {
        "code": code if code or status == 200 else f"HTTP {status}",
        "method": method,
        "msg": msg,
    }
    expired = any(w in lowered for w in TOKEN_WORDS) and any(w in lowered for w in EXPIRED_WORDS)
    error = TokenExpired(text) if expired else PlatformError(text)
    error.code, error.msg = code, msg
    error.status_code = None if status == 200 else status
    error.temporary = status >= 500
    return error


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
