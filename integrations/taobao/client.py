"""Taobao Open Platform (TOP) HTTP client for one Taobao / Tmall shop. HTTP only: mapping lives in
mapping.py, the message service (TMC) in tmc.py.

Documents followed (research notes for issue #15, §3; "SDK" is the TOP PHP SDK as copied in
P79N6A/topsdk @ dced2d6a8f5f62cc0fb1f914dc2c090e09f5ebbd, `top/request/*.php` and `top/domain/*.php`):

- Every call: the TOP gateway with the system parameters method, app_key, session, timestamp
  ("yyyy-MM-dd HH:mm:ss", Beijing time), format=json, v=2.0, sign_method and sign (signing.py;
  SDK `top/TopClient.php` `execute`, which sends no `session` for calls made without one).
  An error answers `{"error_response": {code, msg, sub_code, sub_msg}}`. What may be retried
  follows TOP's error-code page (https://developer.alibaba.com/docs/doc.htm?articleId=102707&docType=1&treeId=19):
  a sub_code starting "isp." is a server fault ("try again some time later"); code 7 and the
  *call-limited sub codes are flow control (RateLimited, for as long as "This ban will last for N
  more seconds" says); the logistics codes S01 "数据异常，稍后请重试" and B150 "发货异常，请稍等后重试"
  ask to try again. Every other error (isv.* business errors, codes below 100 such as an invalid
  session or signature) is a refusal the same request cannot change.
- `taobao.trades.sold.increment.get` (https://open.taobao.com/api.htm?docId=128): trades changed
  in a window, start_modified / end_modified at most one day apart, paged with `use_has_next`.
  The page says its result "只包含了订单的部分数据，可通过taobao.trade.fullinfo.get获取订单详情"
  (SOURCES.md §10), so a paid trade that comes back without what the money and address mapping
  needs (mapping.missing_detail) is read again with fullinfo before it is handed on.
- `taobao.trade.fullinfo.get` (http://developer.alibaba.com/docs/api.htm?apiId=54; SDK
  `TradeFullinfoGetRequest.php`: `fields`, `tid`): answers `trade_fullinfo_get_response.trade`.
  Sub-order fields come with `orders` (SOURCES.md §10), so `orders` is asked for whole.
- `taobao.logistics.offline.send` (自己联系物流发货; SDK `LogisticsOfflineSendRequest.php`: tid,
  out_sid, company_code, is_split, sub_tid ≤ 50 oids): `write_back_shipment`. Answers
  `logistics_offline_send_response.shipping.is_success` (SDK domain `Shipping.php`).
- `taobao.item.quantity.update` (SDK `ItemQuantityUpdateRequest.php`: num_iid, sku_id, quantity,
  type 1 = 全量 / 2 = 增量; the Tmall twin's page https://developer.alibaba.com/docs/api.htm?apiId=38973):
  `set_quantity`, always the absolute number (type 1), so a repeated push is harmless.
- `taobao.tmc.messages.consume` / `taobao.tmc.messages.confirm` (TOP docs
  http://open.alitrip.com/docs/doc.htm?articleId=21986&docType=2&treeId=34 and articleId=21985;
  SDK `TmcMessagesConsumeRequest.php`: group_name, quantity 10–200; `TmcMessagesConfirmRequest.php`:
  s_message_ids ≤ 200, group_name): app-level calls, made without a session as the doc's example
  does. Message ids exceed 2^53 and are kept as text."""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import PlatformError, RateLimited, http_error, json_object, refusal
from core.timezones import BEIJING, format_beijing_time
from integrations.taobao import mapping, signing
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

DEFAULT_BASE_URL = "https://eco.taobao.com/router/rest"
INCREMENT_METHOD = "taobao.trades.sold.increment.get"
INCREMENT_RESPONSE = "trades_sold_increment_get_response"
FULLINFO_METHOD = "taobao.trade.fullinfo.get"
FULLINFO_RESPONSE = "trade_fullinfo_get_response"
OFFLINE_SEND_METHOD = "taobao.logistics.offline.send"
OFFLINE_SEND_RESPONSE = "logistics_offline_send_response"
QUANTITY_UPDATE_METHOD = "taobao.item.quantity.update"
QUANTITY_UPDATE_RESPONSE = "item_quantity_update_response"
TMC_CONSUME_METHOD = "taobao.tmc.messages.consume"
TMC_CONSUME_RESPONSE = "tmc_messages_consume_response"
TMC_CONFIRM_METHOD = "taobao.tmc.messages.confirm"
TMC_CONFIRM_RESPONSE = "tmc_messages_confirm_response"
# Cainiao e-waybills through TOP (notes/platform-waybills.md §A): the one business parameter is a
# JSON text (Java SDK JSONWriter), sent and signed as that text.
WAYBILL_GET_METHOD = "cainiao.waybill.ii.get"
WAYBILL_GET_RESPONSE = "cainiao_waybill_ii_get_response"
WAYBILL_CANCEL_METHOD = "cainiao.waybill.ii.cancel"
WAYBILL_CANCEL_RESPONSE = "cainiao_waybill_ii_cancel_response"
WAYBILL_REQUEST_PARAM = "param_waybill_cloud_print_apply_new_request"
PAGE_SIZE = 100  # the increment API's maximum
MAX_WINDOW = timedelta(days=1)  # end_modified - start_modified <= 1 day
MAX_SUB_TIDS = 50  # SDK check: checkMaxListSize($this->subTid, 50, "subTid")
TMC_QUANTITY = (10, 200)  # SDK check: checkMinValue 10, checkMaxValue 200
TMC_CONFIRM_MAX = 200  # SDK check: checkMaxListSize($this->sMessageIds, 200, ...)
FULL_UPDATE = 1  # item.quantity.update type: 1 全量更新
DEFAULT_RETRY_AFTER = 60.0
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Exactly what mapping.py reads; TOP returns only the fields asked for.
TRADE_FIELDS = ",".join(
    [
        "tid",
        "status",
        "created",
        "modified",
        "pay_time",
        "buyer_nick",
        "buyer_message",
        "payment",
        "post_fee",
        "discount_fee",
        "receiver_name",
        "receiver_mobile",
        "receiver_phone",
        "receiver_state",
        "receiver_city",
        "receiver_district",
        "receiver_address",
        "receiver_zip",
        "oaid",  # the receiver's handle for Cainiao e-waybills (notes/platform-waybills.md §A2)
        "orders.oid",
        "orders.num_iid",
        "orders.sku_id",
        "orders.outer_sku_id",
        "orders.outer_iid",
        "orders.title",
        "orders.num",
        "orders.price",
        "orders.total_fee",
        "orders.adjust_fee",
        "orders.discount_fee",
        "orders.part_mjz_discount",
        "orders.divide_order_fee",
        "orders.payment",
        "orders.refund_status",
    ]
)
# fullinfo: the same trade fields, and the sub-orders whole ("orders"): the fields mapping reads
# and those a write-back checks (Order.status, invoice_no 子订单所在包裹的运单号, consign_time).
FULLINFO_FIELDS = ",".join([f for f in TRADE_FIELDS.split(",") if not f.startswith("orders.")] + ["orders"])
WRITE_BACK_FIELDS = "tid,status,orders"

# Code 7 is "App Call Limited" (sub codes accesscontrol.limited-by-*); isv./isp. call-limited
# sub codes are the per-API flow controls. sub_msg says e.g. "This ban will last for 71 more seconds".
RATE_LIMIT_CODES = {7}
RATE_LIMIT_SUB_CODE = re.compile(r"^(accesscontrol\.limited|is[pv]\.[\w-]*call-limited)")
BAN_SECONDS = re.compile(r"(\d+)\s*more\s+seconds?", re.IGNORECASE)
# Logistics errors that ask to try again (research notes §3.2, TOP's logistics error table):
# S01 数据异常，稍后请重试; B150 发货异常，请稍等后重试.
RETRYABLE_LOGISTICS_CODES = {"S01", "B150"}
ALREADY_SHIPPED_CODE = "B04"  # 该物流订单已经发货或者已关闭，不能重复发货

# Sub-order (Order.status) states, SDK domain Order.php: what can still be shipped, what has been.
TO_SHIP = "WAIT_SELLER_SEND_GOODS"
SHIPPED_STATUSES = {"WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED"}
CLOSED_STATUSES = mapping.CANCELLED_STATUSES


def day_slices(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into consecutive windows of at most one day, in Beijing time, to the
    second (TOP's resolution)."""
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


class TaobaoClient:
    """One Taobao / Tmall shop. `channel.api_credentials`: app_key, app_secret, session (the
    seller's access token), optional base_url and sign_method (md5, hmac, hmac-sha256); for the
    message service also tmc (true to consume), tmc_group and seller_nick (tmc.py)."""

    # Taobao takes only its own company codes (taobao.logistics.companies.get), never a free name.
    writeback_requires_carrier_code = True

    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        self.app_key = str(credentials.get("app_key") or "")
        self.app_secret = str(credentials.get("app_secret") or "")
        self.session = str(credentials.get("session") or "")
        self.base_url = str(credentials.get("base_url") or DEFAULT_BASE_URL)
        missing = [name for name in ("app_key", "app_secret", "session") if not getattr(self, name)]
        if missing:
            raise PlatformError(
                _("Taobao credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        try:
            self.sign_method = signing.sign_method_name(credentials.get("sign_method"))
        except ValueError as exc:
            raise PlatformError(
                _("Unknown Taobao sign method %(method)r.") % {"method": credentials.get("sign_method")}
            ) from exc
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.pages_fetched = 0
        self.fullinfo_fetched = 0

    # --- orders (polling) ---------------------------------------------------------------------

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Trades modified in the window, one day slice after another, following has_next; a
        paid trade the increment API returned without what the mapping needs is read again with
        taobao.trade.fullinfo.get first (one call per such trade; a rate limit stops the run and
        the sync reads the window again later)."""
        for start, end in day_slices(updated_since, updated_until):
            page_no = 1
            while True:
                page = self._trades_page(start, end, page_no)
                trades = (page.get("trades") or {}).get("trade") or []
                yield from self.completed(trades)
                if page.get("has_next") not in (True, "true"):
                    break
                if not trades:  # has_next on an empty page would loop for ever
                    raise PlatformError(_("Taobao announced a next page after an empty one."))
                page_no += 1

    def completed(self, trades: Iterable[dict]) -> Iterator[dict]:
        """Each trade, read again with fullinfo when it lacks detail (mapping.missing_detail):
        what fullinfo returns wins, the sub-orders are fullinfo's."""
        for trade in trades:
            if not trade.get("tid") or not mapping.missing_detail(trade):
                yield trade  # (one without a tid is stored as it is and refused when processed)
                continue
            full = self.trade_fullinfo(mapping.trade_id(trade))
            yield {**trade, **full}

    def _trades_page(self, start: datetime, end: datetime, page_no: int) -> dict:
        body = self.call(
            INCREMENT_METHOD,
            {
                "fields": TRADE_FIELDS,
                "start_modified": format_beijing_time(start),
                "end_modified": format_beijing_time(end),
                "use_has_next": True,
                "page_no": page_no,
                "page_size": PAGE_SIZE,
            },
        )
        self.pages_fetched += 1
        return _answer(body, INCREMENT_RESPONSE)

    def trade_fullinfo(self, tid: str, fields: str = FULLINFO_FIELDS) -> dict:
        """One trade with the fields asked for (taobao.trade.fullinfo.get)."""
        tid = str(tid)
        if not tid.isdigit():
            raise refusal(_("Taobao trade id %(tid)r is not a number.") % {"tid": tid})
        answer = _answer(self.call(FULLINFO_METHOD, {"fields": fields, "tid": tid}), FULLINFO_RESPONSE)
        trade = answer.get("trade")
        if not isinstance(trade, dict):
            raise PlatformError(
                _("Taobao answered fullinfo of trade %(tid)s without the trade.") % {"tid": tid}
            )
        self.fullinfo_fetched += 1
        return trade

    # --- stock push ---------------------------------------------------------------------------

    def set_quantity(self, *, num_iid: int, sku_id: int | None, quantity: int) -> dict:
        """Set the item's (or its SKU's) stock to `quantity` (taobao.item.quantity.update, type 1:
        全量更新). Answers the item as TOP returns it."""
        if quantity < 0:
            raise refusal(_("A Taobao stock quantity cannot be negative (%(n)s).") % {"n": quantity})
        params = {"num_iid": num_iid, "quantity": quantity, "type": FULL_UPDATE}
        if sku_id:
            params["sku_id"] = sku_id
        answer = _answer(self.call(QUANTITY_UPDATE_METHOD, params), QUANTITY_UPDATE_RESPONSE)
        item = answer.get("item")
        if not isinstance(item, dict):
            raise PlatformError(_("Taobao answered the stock update without the item."))
        return item

    # --- shipment write-back --------------------------------------------------------------------

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Tell Taobao that a parcel shipped: taobao.logistics.offline.send for the parcel's
        sub-orders (oids), integrations.writeback_contract.

        Taobao ships whole sub-orders only (no quantity: a sub-order of 2 units cannot go out
        in two parcels). The rule here: a sub-order is declared shipped with the first parcel
        written back that carries any of its units, under that parcel's waybill; a later parcel
        with the rest of it has nothing left to declare for it. A parcel whose sub-orders are all
        declared already is `already_done` — also when an earlier attempt of this very parcel
        went through but its answer was lost.

        The trade is read first (fullinfo: each sub-order's status and waybill `invoice_no`):
        - sub-orders still WAIT_SELLER_SEND_GOODS are sent. Without `is_split` / `sub_tid` when
          they are every sub-order still to ship and none has shipped (TOP: CD29 "订单不是拆单订单，
          拆单标记和子订单列表都不能传入"); otherwise with is_split=1 and sub_tid = their oids (CD22–27:
          "订单已拆单，必须传入子交易号列表（和拆单标记）").
        - a sub-order already shipped counts as done when its waybill is this parcel's, or when
          this parcel carries only part of it (the first parcel declared it). Shipped under
          another waybill although this parcel carries all of it: refused, naming both numbers.
        - a closed sub-order (refunded, or the trade closed) is left out; a parcel of nothing
          but closed sub-orders is refused.
        An answer B04 ("已经发货或者已关闭，不能重复发货") reads the trade again: done when these
        sub-orders now show this waybill, refused otherwise."""
        tid = str(notice.order_external_id)
        if not tid.isdigit():
            raise refusal(_("Taobao trade id %(tid)r is not a number.") % {"tid": tid})
        out_sid = (notice.tracking_number or "").strip()
        company_code = (notice.carrier_code or "").strip()
        if not out_sid:
            raise refusal(
                _("Parcel %(parcel)s has no tracking number for Taobao.") % {"parcel": notice.shipment_number}
            )
        if not company_code:
            raise refusal(
                _("Carrier “%(carrier)s” has no Taobao company code (taobao.logistics.companies.get).")
                % {"carrier": notice.carrier_name}
            )
        parcel = _parcel_oids(notice)
        plan = ship_plan(self.trade_fullinfo(tid, WRITE_BACK_FIELDS), parcel, out_sid)
        if not plan.send:
            return WriteBackResult(reference="", already_done=True)
        params: dict[str, Any] = {"tid": tid, "out_sid": out_sid, "company_code": company_code}
        if plan.split:
            params.update(is_split=1, sub_tid=",".join(plan.send))
        try:
            answer = _answer(self.call(OFFLINE_SEND_METHOD, params), OFFLINE_SEND_RESPONSE)
        except PlatformError as exc:
            if _logistics_code(getattr(exc, "sub_code", "")) != ALREADY_SHIPPED_CODE:
                raise
            # Shipped meanwhile (or a lost answer of ours landed): done only if it is this parcel.
            again = ship_plan(self.trade_fullinfo(tid, WRITE_BACK_FIELDS), parcel, out_sid)
            if again.send:
                raise
            return WriteBackResult(reference="", already_done=True)
        shipping = answer.get("shipping") if isinstance(answer.get("shipping"), dict) else {}
        if shipping.get("is_success") not in (True, "true"):
            # No error and no success: whether it landed is unknown; the next attempt reads first.
            raise PlatformError(
                _("Taobao answered the shipment of trade %(tid)s without success.") % {"tid": tid}
            )
        return WriteBackResult(reference="")

    # --- Cainiao electronic waybills (issue #17) --------------------------------------------------

    def waybill_get(self, request: dict[str, Any]) -> list[dict]:
        """cainiao.waybill.ii.get (菜鸟电子面单取号): the `waybill_cloud_print_response` modules, one
        per `trade_order_info_dtos` entry, matched by `object_id`. A refusal is TOP's whole-call
        error_response (PlatformError with `sub_code` / `sub_msg`, notes §A5)."""
        text = json.dumps(request, ensure_ascii=False, separators=(",", ":"))
        answer = _answer(self.call(WAYBILL_GET_METHOD, {WAYBILL_REQUEST_PARAM: text}), WAYBILL_GET_RESPONSE)
        modules = (answer.get("modules") or {}).get("waybill_cloud_print_response") or []
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise PlatformError(_("Cainiao answered the waybill request without its modules."))
        return modules

    def waybill_cancel(self, *, cp_code: str, waybill_code: str) -> bool:
        """cainiao.waybill.ii.cancel: whether Cainiao cancelled the number (false = refused)."""
        params = {"cp_code": cp_code, "waybill_code": waybill_code}
        answer = _answer(self.call(WAYBILL_CANCEL_METHOD, params), WAYBILL_CANCEL_RESPONSE)
        return answer.get("cancel_result") in (True, "true")

    # --- message service (TMC) -----------------------------------------------------------------

    def tmc_consume(self, *, group_name: str = "", quantity: int = 100) -> list[dict]:
        """Up to `quantity` messages of the app's queue (the group's, else the default group's).
        An empty queue may answer without `messages`."""
        low, high = TMC_QUANTITY
        params: dict[str, Any] = {"quantity": min(max(quantity, low), high)}
        if group_name:
            params["group_name"] = group_name
        answer = _answer(self.call(TMC_CONSUME_METHOD, params, session=False), TMC_CONSUME_RESPONSE)
        messages = (answer.get("messages") or {}).get("tmc_message") or []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise PlatformError(_("Taobao answered the message queue with something other than a list."))
        return messages

    def tmc_confirm(self, message_ids: Iterable[str], *, group_name: str = "") -> None:
        """Tell TMC these messages are handled (stored): they are not delivered again."""
        ids = [str(message_id) for message_id in message_ids]
        for start in range(0, len(ids), TMC_CONFIRM_MAX):
            params: dict[str, Any] = {"s_message_ids": ",".join(ids[start : start + TMC_CONFIRM_MAX])}
            if group_name:
                params["group_name"] = group_name
            answer = _answer(self.call(TMC_CONFIRM_METHOD, params, session=False), TMC_CONFIRM_RESPONSE)
            if answer.get("is_success") not in (True, "true"):
                raise PlatformError(_("Taobao did not confirm the messages."))

    # --- the call -------------------------------------------------------------------------------

    def call(self, method: str, business_params: dict[str, Any], *, session: bool = True) -> dict:
        """One signed TOP call (form-encoded POST); the decoded JSON body of a success."""
        params = {
            "method": method,
            "app_key": self.app_key,
            "session": self.session if session else None,
            "timestamp": format_beijing_time(timezone.now()),
            "format": "json",
            "v": "2.0",
            "sign_method": self.sign_method,
            **business_params,
        }
        params = {key: signing.param_text(value) for key, value in params.items() if value is not None}
        params["sign"] = signing.sign(params, self.app_secret, self.sign_method)
        try:
            response = self.http.post(self.base_url, data=params)
        except httpx.HTTPError as exc:
            raise PlatformError(_("Taobao could not be reached: %(error)s") % {"error": exc}) from exc
        if response.status_code in (429, 503):
            raise RateLimited(_retry_after_header(response.headers.get("Retry-After")))
        body = json_object("Taobao", response)
        if "error_response" in body:
            raise _error(body["error_response"])
        if response.status_code != 200:
            raise http_error("Taobao", response.status_code)
        return body


# --- what a parcel ships on Taobao ------------------------------------------------------------------


@dataclass(frozen=True)
class ParcelOid:
    oid: str
    whole: bool  # the parcel carries every unit of the sub-order


@dataclass(frozen=True)
class ShipPlan:
    send: list[str]  # oids to declare shipped with this parcel's waybill
    split: bool  # send them with is_split=1 and sub_tid


def _parcel_oids(notice: ShipmentNotice) -> list[ParcelOid]:
    """The parcel's sub-orders, in the notice's order; a sub-order named by several lines is
    whole only when they carry all of it together."""
    carried = notice.units_by_platform_line()
    for oid in carried:
        if not oid.isdigit():
            raise refusal(_("Taobao sub-order id %(oid)r is not a number.") % {"oid": oid})
    if not carried:
        raise refusal(
            _("Parcel %(parcel)s carries no line Taobao sold (no sub-order id).")
            % {"parcel": notice.shipment_number}
        )
    if len(carried) > MAX_SUB_TIDS:
        raise refusal(
            _("Parcel %(parcel)s carries %(n)s Taobao sub-orders; Taobao takes at most %(max)s at once.")
            % {"parcel": notice.shipment_number, "n": len(carried), "max": MAX_SUB_TIDS}
        )
    return [ParcelOid(oid, whole=units >= sold) for oid, (units, sold) in carried.items()]


def ship_plan(trade: dict, parcel: list[ParcelOid], out_sid: str) -> ShipPlan:
    """What to send for this parcel given the trade as fullinfo returns it (see
    TaobaoClient.write_back_shipment). Raises a refusal for what cannot be sent."""
    tid = mapping.trade_id(trade)
    sub_orders = {_oid(order): order for order in (trade.get("orders") or {}).get("order") or []}
    unknown = [p.oid for p in parcel if p.oid not in sub_orders]
    if unknown:
        raise refusal(
            _("Taobao trade %(tid)s has no sub-order %(oids)s.") % {"tid": tid, "oids": ", ".join(unknown)}
        )
    send, closed = [], []
    for item in parcel:
        order = sub_orders[item.oid]
        status = _sub_order_status(order, trade)
        if status == TO_SHIP:
            send.append(item.oid)
        elif status in SHIPPED_STATUSES:
            waybill = str(order.get("invoice_no") or "").strip()
            if item.whole and waybill and waybill != out_sid:
                raise refusal(
                    _("Taobao sub-order %(oid)s is already shipped with waybill %(theirs)s, not %(ours)s.")
                    % {"oid": item.oid, "theirs": waybill, "ours": out_sid}
                )
        elif status in CLOSED_STATUSES:
            closed.append(item.oid)
        else:
            raise refusal(
                _("Taobao sub-order %(oid)s is %(status)s: it cannot be marked shipped.")
                % {"oid": item.oid, "status": status or "?"}
            )
    if not send and closed and len(closed) == len(parcel):
        raise refusal(
            _(
                "Taobao trade %(tid)s: sub-orders %(oids)s are closed (refunded or cancelled), "
                "nothing to ship."
            )
            % {"tid": tid, "oids": ", ".join(closed)}
        )
    still_to_ship = {oid for oid, order in sub_orders.items() if _sub_order_status(order, trade) == TO_SHIP}
    any_shipped = any(_sub_order_status(order, trade) in SHIPPED_STATUSES for order in sub_orders.values())
    split = bool(send) and (set(send) != still_to_ship or any_shipped)
    return ShipPlan(send=send, split=split)


def _oid(order: dict) -> str:
    return str(order.get("oid_str") or order.get("oid") or "")


def _sub_order_status(order: dict, trade: dict) -> str:
    """A sub-order's own status (the trade's when fullinfo leaves it out); a refunded one is closed."""
    if order.get("refund_status") == mapping.REFUNDED:
        return "TRADE_CLOSED"
    return str(order.get("status") or trade.get("status") or "")


# --- errors -------------------------------------------------------------------------------------------


def _answer(body: dict, key: str) -> dict:
    answer = body.get(key)
    if not isinstance(answer, dict):
        raise PlatformError(_("Taobao answered without %(key)s.") % {"key": key})
    return answer


def _logistics_code(sub_code: str) -> str:
    """ "isv.logistics-offline-service-error:B04" → "B04"."""
    return sub_code.rpartition(":")[2] if ":" in sub_code else ""


def _error(error: Any) -> Exception:
    """RateLimited for TOP's flow control; a PlatformError with code, message, sub code and whether
    it may be retried (`temporary`) for the rest."""
    error = error if isinstance(error, dict) else {}
    code, sub_code = error.get("code"), str(error.get("sub_code") or "")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if code in RATE_LIMIT_CODES or RATE_LIMIT_SUB_CODE.match(sub_code):
        text = f"{error.get('sub_msg') or ''} {error.get('msg') or ''}"
        match = BAN_SECONDS.search(text)
        return RateLimited(float(match.group(1)) if match else DEFAULT_RETRY_AFTER)
    msg = str(error.get("msg") or "")
    detail = " ".join(filter(None, [sub_code, str(error.get("sub_msg") or "")]))
    exc = PlatformError(
        _("Taobao error %(code)s: %(msg)s%(detail)s")
        % {"code": code, "msg": msg, "detail": f" ({detail})" if detail else ""}
    )
    exc.code, exc.msg, exc.sub_code = code, msg, sub_code
    exc.temporary = sub_code.startswith("isp.") or _logistics_code(sub_code) in RETRYABLE_LOGISTICS_CODES
    return exc


def _retry_after_header(value: str | None) -> float:
    try:
        return max(float(value), 1.0) if value else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
