"""Douyin shop (抖店开放平台, op.jinritemai.com) HTTP client for one shop. HTTP only: mapping lives
in mapping.py, push messages in push.py.

Documents followed (research notes for issue #16 §A; fixtures and their sources:
integrations/tests/payloads/SOURCES.md §17):

- The call (official SDKs: Go `doudian-sdk-golang` 1.1.0 `core/`, Java `com.doudian.open`
  `DoudianOpRequest`, Python `DoudianOpApiClient`): HTTP POST to `{gateway}/{method with . → /}`
  with `app_key, method, timestamp (unix seconds), v=2, sign, sign_method, access_token` in the
  query and `param_json` (signing.py) as the JSON body; header `x-open-no-old-err-code: 1` asks
  for the `code/msg/sub_code/sub_msg` envelope. Success is code 10000 (the old envelope's
  err_no 0 is read too: the doc samples use it).
- Errors (平台基础错误码, op.jinritemai.com/docs/guide-docs/212/1427): 60000 isv.traffic-limited is
  flow control (core.http RateLimited); 40003 isv.access-token-expired / isv.access-token-no-existed
  refreshes the token once and repeats the call (what the official Java SDK does); 20000
  dop.service-error may be retried; every other code is a refusal.
- `token.create` / `token.refresh` (Go SDK `api/token_create`, `api/token_refresh`): the new
  access and refresh tokens are written back to the channel's credentials.
- `order.searchList` (Go SDK `api/order_searchList`): update_time_start/end (unix s), page from 0,
  size ≤ 100, order_by update_time ascending; pages are read until page × size reaches `total`.
- `order.orderDetail` (`shop_order_id` → `shop_order_detail`), `order.batchDecrypt` (≤ 50
  `cipher_infos[{auth_id, cipher_text}]` → `decrypt_infos[]`, per-item err_no),
  `sku.syncStock` (sku_id / code, product_id, stock_num, incremental false = the absolute number),
  `order.logisticsAdd` (order_id, company_code, logistics_code) and
  `order.logisticsAddMultiPack` (order_id, request_id = idempotency key, pack_list[{shipped_order_info
  [{shipped_order_id, shipped_num}], company_code, logistics_code}])."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import PlatformError, RateLimited, json_object, refusal
from integrations.clients import credentials_write_back
from integrations.douyin import signing
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

DEFAULT_BASE_URL = "https://openapi-fxg.jinritemai.com"
SEARCH_LIST = "order.searchList"
ORDER_DETAIL = "order.orderDetail"
BATCH_DECRYPT = "order.batchDecrypt"
SYNC_STOCK = "sku.syncStock"
LOGISTICS_ADD = "order.logisticsAdd"
LOGISTICS_ADD_MULTI_PACK = "order.logisticsAddMultiPack"
TOKEN_CREATE = "token.create"
# 电子面单 (notes/platform-waybills.md §C): per-item results in one call.
WAYBILL_CREATE = "logistics.newCreateOrder"
WAYBILL_CANCEL = "logistics.cancelOrder"
TOKEN_REFRESH = "token.refresh"
TOKEN_METHODS = {TOKEN_CREATE, TOKEN_REFRESH}
PAGE_SIZE = 100  # order.searchList: size ≤ 100 (afterSale.List too)
AFTER_SALE_LIST = "afterSale.List"
AFTER_SALE_DETAIL_METHOD = "afterSale.Detail"
AFTER_SALE_DETAIL = "after_sale_detail"  # where iter_after_sales puts an item's detail
MAX_CIPHERS = 50  # order.batchDecrypt: at most 50 cipher_infos
SUCCESS = 10000
SERVICE_ERROR = 20000  # dop.service-error: retry
TRAFFIC_LIMITED = 60000  # isv.traffic-limited 请求太频繁，请稍后重试
TOKEN_EXPIRED_SUB_CODES = {"isv.access-token-expired", "isv.access-token-no-existed"}
DEFAULT_RETRY_AFTER = 60.0  # no figure published: the sync backs off from here
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# order_status of a shop order that has shipped (3 已发货, 5 已完成) or is closed (4 已取消).
SHIPPED_STATUSES = {3, 5}
CANCELLED_STATUS = 4


class DouyinClient:
    """One Douyin shop. `channel.api_credentials`: app_key, app_secret, access_token,
    refresh_token, optional base_url, sign_method (md5 | hmac-sha256) and shop_id."""

    writeback_requires_carrier_code = True  # company_code from order.logisticsCompanyList

    def __init__(self, channel, *, http: httpx.Client | None = None):
        self.channel = channel
        credentials = dict(channel.api_credentials or {})
        self.app_key = str(credentials.get("app_key") or "")
        self.app_secret = str(credentials.get("app_secret") or "")
        self.access_token = str(credentials.get("access_token") or "")
        self.refresh_token = str(credentials.get("refresh_token") or "")
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        missing = [name for name in ("app_key", "app_secret") if not getattr(self, name)]
        if not (self.access_token or self.refresh_token):
            missing.append("access_token")
        if missing:
            raise PlatformError(
                _("Douyin credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        try:
            self.sign_method = signing.sign_method_name(credentials.get("sign_method"))
        except ValueError as exc:
            raise PlatformError(
                _("Unknown Douyin sign method %(method)r.") % {"method": credentials.get("sign_method")}
            ) from exc
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.pages_fetched = 0
        self.refreshes = 0

    # --- tokens ---------------------------------------------------------------------------------

    def token_create(
        self, *, code: str = "", grant_type: str = "authorization_self", shop_id: str = ""
    ) -> dict:
        """token.create: an authorization code (authorization_code) or a self-use shop
        (authorization_self, shop_id). The tokens are kept on the channel."""
        params = {"code": code, "grant_type": grant_type, "shop_id": shop_id or None}
        return self._tokens_keep(self.call(TOKEN_CREATE, params))

    def token_refresh(self) -> dict:
        if not self.refresh_token:
            raise refusal(_("The Douyin channel has no refresh token: authorise the shop again."))
        data = self.call(TOKEN_REFRESH, {"grant_type": "refresh_token", "refresh_token": self.refresh_token})
        self.refreshes += 1
        return self._tokens_keep(data)

    def _tokens_keep(self, data: dict) -> dict:
        access, refresh = data.get("access_token"), data.get("refresh_token")
        if not access:
            raise PlatformError(_("Douyin answered the token call without an access token."))
        self.access_token, self.refresh_token = str(access), str(refresh or self.refresh_token)
        tokens = {"access_token": self.access_token, "refresh_token": self.refresh_token}
        if data.get("expires_in") not in (None, ""):
            tokens["expires_in"] = data["expires_in"]
        credentials_write_back(self.channel, tokens)
        return data

    # --- orders (polling) -----------------------------------------------------------------------

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Shop orders updated in [since, until) (order.searchList by update_time, ascending),
        page 0, 1, … until page × size reaches `total`."""
        if timezone.is_naive(updated_since) or timezone.is_naive(updated_until):
            raise ValueError("updated_since / updated_until must be aware datetimes")
        start, end = int(updated_since.timestamp()), int(updated_until.timestamp())
        page = 0
        while True:
            data = self.call(
                SEARCH_LIST,
                {
                    "update_time_start": start,
                    "update_time_end": end,
                    "order_by": "update_time",
                    "order_asc": True,
                    "page": page,
                    "size": PAGE_SIZE,
                },
            )
            self.pages_fetched += 1
            orders = data.get("shop_order_list") or []
            if not isinstance(orders, list):
                raise PlatformError(_("Douyin answered order.searchList without a list of orders."))
            yield from orders
            total = _int(data.get("total"))
            if not orders or (page + 1) * PAGE_SIZE >= total:
                return
            page += 1

    def order_detail(self, shop_order_id: str) -> dict:
        shop_order_id = str(shop_order_id)
        if not shop_order_id.isdigit():
            raise refusal(_("Douyin order id %(id)r is not a number.") % {"id": shop_order_id})
        detail = self.call(ORDER_DETAIL, {"shop_order_id": shop_order_id}).get("shop_order_detail")
        if not isinstance(detail, dict):
            raise PlatformError(_("Douyin answered order %(id)s without its detail.") % {"id": shop_order_id})
        return detail

    # --- protected receiver data (integrations.protected_data) ----------------------------------

    def decrypt_receiver(self, order_external_id: str, protected: dict) -> dict[str, str]:
        """{"name", "phone", "address"} in plain text by order.batchDecrypt; fields without a
        ciphertext are left out. A per-item error (err_no) is a refusal naming the field."""
        wanted = {
            name: str((protected.get(name) or {}).get("cipher") or "")
            for name in ("name", "phone", "address")
        }
        wanted = {name: cipher for name, cipher in wanted.items() if cipher}
        if not wanted:
            return {}
        infos = [{"auth_id": str(order_external_id), "cipher_text": c} for c in wanted.values()]
        data = self.call(BATCH_DECRYPT, {"cipher_infos": infos[:MAX_CIPHERS]})
        custom = data.get("custom_err") or {}
        if _int(custom.get("err_code")):
            raise refusal(
                _("Douyin refused to decrypt: %(msg)s")
                % {"msg": custom.get("err_msg") or custom.get("err_code")}
            )
        by_cipher = {str(item.get("cipher_text")): item for item in data.get("decrypt_infos") or []}
        plain = {}
        for name, cipher in wanted.items():
            item = by_cipher.get(cipher)
            if item is None or _int(item.get("err_no")):
                raise refusal(
                    _("Douyin did not decrypt the receiver's %(field)s: %(error)s")
                    % {"field": name, "error": (item or {}).get("err_msg") or _("no answer for it")}
                )
            plain[name] = str(item.get("decrypt_text") or "")
        return plain

    # --- stock push -----------------------------------------------------------------------------

    def sync_stock(self, *, product_id: str, sku_id: str = "", code: str = "", stock_num: int) -> dict:
        """sku.syncStock with the absolute number (incremental false): a repeated push is harmless."""
        if stock_num < 0:
            raise refusal(_("A Douyin stock number cannot be negative (%(n)s).") % {"n": stock_num})
        if not (sku_id or code):
            raise refusal(_("A Douyin stock push names no sku_id or code."))
        params: dict[str, Any] = {
            "product_id": _wire_id(product_id),
            "stock_num": stock_num,
            "incremental": False,
        }
        if sku_id:
            params["sku_id"] = _wire_id(sku_id)
        if code:
            params["code"] = code
        return self.call(SYNC_STOCK, params)

    # --- shipment write-back ----------------------------------------------------------------------

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Tell Douyin that a parcel shipped (integrations.writeback_contract).

        The order is read first (order.orderDetail): a parcel whose tracking number the order's
        `logistics_info` already shows is `already_done` (an earlier attempt landed), a cancelled
        order is refused. A parcel carrying every unit of every line of an order still wholly
        unshipped goes with order.logisticsAdd; any other parcel (a part of the order, or a later
        parcel) with order.logisticsAddMultiPack, one pack of its lines (shipped_order_id = the
        sku order id, shipped_num = its units here) and request_id = our shipment number, which
        Douyin answers with the first success when repeated."""
        order_id = str(notice.order_external_id)
        if not order_id.isdigit():
            raise refusal(_("Douyin order id %(id)r is not a number.") % {"id": order_id})
        tracking = (notice.tracking_number or "").strip()
        company = (notice.carrier_code or "").strip()
        if not tracking:
            raise refusal(
                _("Parcel %(parcel)s has no tracking number for Douyin.") % {"parcel": notice.shipment_number}
            )
        if not company:
            raise refusal(
                _("Carrier “%(carrier)s” has no Douyin company code (order.logisticsCompanyList).")
                % {"carrier": notice.carrier_name}
            )
        lines = notice.units_by_platform_line()
        for line_id in lines:
            if not line_id.isdigit():
                raise refusal(_("Douyin sku order id %(id)r is not a number.") % {"id": line_id})
        if not lines:
            raise refusal(
                _("Parcel %(parcel)s carries no line Douyin sold (no sku order id).")
                % {"parcel": notice.shipment_number}
            )
        detail = self.order_detail(order_id)
        shipped = {str(info.get("tracking_no") or "") for info in detail.get("logistics_info") or []}
        if tracking in shipped:
            return WriteBackResult(reference="", already_done=True)
        if _int(detail.get("order_status")) == CANCELLED_STATUS:
            raise refusal(_("Douyin order %(id)s is cancelled: nothing to ship.") % {"id": order_id})
        sku_orders = {str(s.get("order_id")) for s in detail.get("sku_order_list") or []}
        unknown = sorted(set(lines) - sku_orders)
        if unknown:
            raise refusal(
                _("Douyin order %(id)s has no sku order %(lines)s.")
                % {"id": order_id, "lines": ", ".join(unknown)}
            )
        whole = (
            not shipped - {""}
            and set(lines) == sku_orders
            and all(units >= sold for units, sold in lines.values())
        )
        if whole:
            self.call(
                LOGISTICS_ADD, {"order_id": order_id, "company_code": company, "logistics_code": tracking}
            )
            return WriteBackResult(reference="")
        data = self.call(
            LOGISTICS_ADD_MULTI_PACK,
            {
                "order_id": order_id,
                "request_id": f"conduit-{notice.shipment_number}",
                "pack_list": [
                    {
                        "company_code": company,
                        "logistics_code": tracking,
                        "shipped_order_info": [
                            {"shipped_order_id": line_id, "shipped_num": units}
                            for line_id, (units, _sold) in lines.items()
                        ],
                    }
                ],
            },
        )
        packs = data.get("pack_list") or []
        reference = next(
            (str(p.get("pack_id") or "") for p in packs if str(p.get("logistics_code")) == tracking), ""
        )
        return WriteBackResult(reference=reference)

    # --- the call -------------------------------------------------------------------------------

    # --- after-sales (integrations.after_sales) -----------------------------------------------

    def iter_after_sales(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """After-sales updated in [since, until) (afterSale.List by update_start_time /
        update_end_time in seconds, order_by ["update_time asc"], page 0, 1, … of size ≤ 100 while
        has_more; notes douyin-xiaohongshu.md A9, fixture douyin_after_sale_list_request.json).
        An item without its sku orders (order_info.related_order_info) gets the afterSale.Detail
        answer under AFTER_SALE_DETAIL."""
        if timezone.is_naive(updated_since) or timezone.is_naive(updated_until):
            raise ValueError("updated_since / updated_until must be aware datetimes")
        start, end = int(updated_since.timestamp()), int(updated_until.timestamp())
        page = 0
        while True:
            data = self.call(
                AFTER_SALE_LIST,
                {
                    "update_start_time": start,
                    "update_end_time": end,
                    "order_by": ["update_time asc"],
                    "page": page,
                    "size": PAGE_SIZE,
                },
            )
            self.pages_fetched += 1
            items = data.get("items") or []
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise PlatformError(_("Douyin answered afterSale.List without a list of after-sales."))
            for item in items:
                related = (item.get("order_info") or {}).get("related_order_info")
                if not related:
                    info = item.get("aftersale_info") or {}
                    item = {**item, AFTER_SALE_DETAIL: self.after_sale_detail(info.get("aftersale_id"))}
                yield item
            if not items or not data.get("has_more"):
                return
            page += 1

    def after_sale_detail(self, after_sale_id) -> dict:
        """One after-sale (afterSale.Detail{after_sale_id}): {process_info, order_info}."""
        after_sale_id = str(after_sale_id or "")
        if not after_sale_id.isdigit():
            raise refusal(_("Douyin after-sale id %(id)r is not a number.") % {"id": after_sale_id})
        data = self.call(AFTER_SALE_DETAIL_METHOD, {"after_sale_id": after_sale_id})
        if not isinstance(data.get("process_info"), dict):
            raise PlatformError(
                _("Douyin answered after-sale %(id)s without its detail.") % {"id": after_sale_id}
            )
        return data

    # --- electronic waybills (issue #17) -----------------------------------------------------------

    def waybill_create(self, params: dict[str, Any]) -> dict:
        """logistics.newCreateOrder: `data` with `ebill_infos` (numbers) and `err_infos` (refusals
        per order, e.g. 10701 电子面单库存不足), matched by order_id and pack_id."""
        return self.call(WAYBILL_CREATE, params)

    def waybill_cancel(self, *, logistics_code: str, track_no: str) -> bool:
        """logistics.cancelOrder: whether Douyin says the number was cancelled."""
        data = self.call(WAYBILL_CANCEL, {"logistics_code": logistics_code, "track_no": track_no})
        return ((data.get("cancel_result") or {}).get("success")) is True

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict:
        """One signed call; the `data` of a success. An expired access token is refreshed once
        and the call repeated."""
        try:
            return self._call(method, params)
        except TokenExpired:
            if method in TOKEN_METHODS:
                raise refusal(_("Douyin refused the token call: the token expired.")) from None
            self.token_refresh()
            try:
                return self._call(method, params)
            except TokenExpired as exc:
                raise refusal(str(exc)) from None

    def _call(self, method: str, params: dict[str, Any] | None) -> dict:
        body = signing.param_json(params)
        timestamp = str(int(timezone.now().timestamp()))
        query = {
            "app_key": self.app_key,
            "method": method,
            "timestamp": timestamp,
            "v": signing.VERSION,
            "sign_method": self.sign_method,
            "sign": signing.sign(
                app_key=self.app_key,
                app_secret=self.app_secret,
                method=method,
                param_json=body,
                timestamp=timestamp,
                sign_method=self.sign_method,
            ),
        }
        if method not in TOKEN_METHODS:
            query["access_token"] = self.access_token
        try:
            response = self.http.post(
                f"{self.base_url}/{method.replace('.', '/')}",
                params=query,
                content=body.encode("utf-8"),
                headers={"Content-Type": "application/json;charset=UTF-8", "x-open-no-old-err-code": "1"},
            )
        except httpx.HTTPError as exc:
            raise PlatformError(_("Douyin could not be reached: %(error)s") % {"error": exc}) from exc
        if response.status_code in (429, 503):
            raise RateLimited(DEFAULT_RETRY_AFTER)
        answer = json_object("Douyin", response)
        code = answer.get("code", answer.get("err_no"))
        code = _int(code) if code not in (None, "") else None
        if code in (SUCCESS, 0) and response.status_code == 200:
            data = answer.get("data")
            return data if isinstance(data, dict) else {"items": data} if isinstance(data, list) else {}
        raise _error(method, answer, code, response.status_code)


class TokenExpired(PlatformError):
    """40003 isv.access-token-expired / isv.access-token-no-existed."""


def _error(method: str, answer: dict, code: int | None, status: int) -> Exception:
    sub_code = str(answer.get("sub_code") or "")
    msg = str(answer.get("msg") or answer.get("message") or "")
    sub_msg = str(answer.get("sub_msg") or "")
    if code == TRAFFIC_LIMITED or sub_code == "isv.traffic-limited":
        return RateLimited(DEFAULT_RETRY_AFTER)
    detail = " ".join(filter(None, [sub_code, sub_msg]))
    text = _("Douyin error %(code)s on %(method)s: %(msg)s%(detail)s") % {
        "code": code if code is not None else f"HTTP {status}",
        "method": method,
        "msg": msg,
        "detail": f" ({detail})" if detail else "",
    }
    error = TokenExpired(text) if sub_code in TOKEN_EXPIRED_SUB_CODES else PlatformError(text)
    error.code, error.msg, error.sub_code = code, msg, sub_code
    error.status_code = None if status == 200 else status
    error.temporary = code == SERVICE_ERROR or status >= 500
    return error


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _wire_id(value) -> int | str:
    """Douyin's numeric ids (int64 in the SDK structs) as a JSON number; Python's int is exact."""
    text = str(value)
    return int(text) if text.isdigit() else text
