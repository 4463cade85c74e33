"""A fake Taobao Open Platform (TOP) gateway on localhost for the Taobao tests of issue #15.

It checks every request the way TOP does: the signature (md5 or hmac-sha256, computed here on its
own, not with integrations.taobao.signing: sorted name+value pairs of the non-empty parameters),
the app key, a timestamp within ten minutes (Beijing time), and a session for every method but the
message-service ones (taobao.tmc.messages.*, app-level calls). Wrong ones get TOP's platform
errors 25 Invalid Signature, 29 Invalid App Key, 31 Invalid Timestamp, 26 Missing Session
(TOP's error-code page, https://developer.alibaba.com/docs/doc.htm?articleId=102707).

It keeps a shop: trades (as taobao.trade.fullinfo.get returns them), stock per item / SKU and a
TMC queue, and answers in the shapes of the samples in payloads/ (SOURCES.md §10, §13):

- taobao.trades.sold.increment.get: the trades modified in the window, newest first, paged with
  has_next, only the fields asked for — less those in `increment_omits` (the increment API "只包含
  了订单的部分数据").
- taobao.trade.fullinfo.get: `trade_fullinfo_get_response.trade` with the fields asked for
  (`orders` gives the sub-orders whole); an unknown tid is TOP's documented isv.invalid-parameter
  example (taobao_item_quantity_update_error_invalid_parameter.json).
- taobao.logistics.offline.send: taobao_logistics_offline_send_response.json on success, after
  marking the sub-orders shipped (status WAIT_BUYER_CONFIRM_GOODS, invoice_no, logistics_company
  by the company list taobao_logistics_companies_get_response.json, consign_time); B04 as
  captured (taobao_logistics_offline_send_error_b04.json) for sub-orders already shipped or
  closed; B60 as captured for a waybill another trade used; the split rules of TOP's logistics
  error table (research notes §3.2) with the captured envelope: CD25 is_split without sub_tid or
  the reverse, CD29 a split declared on a trade that is not split, CD22 a whole-trade send on a
  trade already partly shipped, B06 a sub_tid that is not the trade's, B01 an unknown trade.
- taobao.item.quantity.update: the constructed taobao_item_quantity_update_response.json with
  the item's and SKU's new numbers; a negative full quantity is the isv.invalid-parameter example.
- taobao.tmc.messages.consume / confirm: up to `quantity` messages not handed out yet (an empty
  queue answers without `messages`); confirmed ones leave the queue, the others come back after
  `redeliver()`; taobao_tmc_messages_confirm_response.json.

- cainiao.waybill.ii.get (issue #17, SOURCES.md §19): the business parameter must be a JSON text
  (as the Java SDK sends it); each `trade_order_info_dtos` entry gets a new number (the fixture's,
  counting up — the fake never recognises a repeated request, so a test sees every number taken)
  in the shape of taobao_waybill_get_response.json. cainiao.waybill.ii.cancel:
  taobao_waybill_cancel_response.json. A refusal is scripted with the fault
  "taobao_waybill_get_error_no_balance_response".

Faults are scripted (`faults`: (method or None for any, fault), each used once, in order): a
payload name (that error body is answered, nothing done), "http_502" (an HTML 502, nothing done),
"lost" (the call takes effect, then the answer is a 502: an ambiguous failure), "shipped_meanwhile"
(offline.send: the same waybill was applied just before — an earlier attempt that landed)."""

import copy
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from integrations.tests import fake_server

PAYLOADS = Path(__file__).parent / "payloads"
BEIJING = ZoneInfo("Asia/Shanghai")
APP_KEY, APP_SECRET, SESSION = "12345678", "helloworld", "6100e2c5-test-session"
TMC_METHODS = {"taobao.tmc.messages.consume", "taobao.tmc.messages.confirm"}
TO_SHIP, SHIPPED = "WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS"
CLOSED = {"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"}


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def top_sign(params: dict, secret: str) -> str:
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    if params.get("sign_method") == "hmac-sha256":
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()


def platform_error(code: int, msg: str) -> dict:
    return {"error_response": {"code": code, "msg": msg, "request_id": "fake"}}


def logistics_error(code: str, sub_msg: str) -> dict:
    """A logistics refusal in the envelope of the captured B04 / B60 bodies."""
    body = sample("taobao_logistics_offline_send_error_b04")
    body["error_response"].update(sub_code=f"isv.logistics-offline-service-error:{code}", sub_msg=sub_msg)
    return body


def fields_of(trade: dict, fields: str, omit: set[str] = frozenset()) -> dict:
    """The trade with only the fields asked for: `orders` whole, `orders.x` for sub-order fields."""
    wanted = [f for f in fields.split(",") if f and f not in omit]
    answer = {k: copy.deepcopy(v) for k, v in trade.items() if k in wanted and k != "orders"}
    lines = {f.removeprefix("orders.") for f in wanted if f.startswith("orders.")}
    if "orders" in trade and ("orders" in wanted or lines):
        answer["orders"] = {
            "order": [
                {k: v for k, v in order.items() if "orders" in wanted or k in lines}
                for order in copy.deepcopy(trade["orders"]["order"])
            ]
        }
    return answer


def oid(order: dict) -> str:
    return str(order.get("oid_str") or order.get("oid"))


def beijing_now() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class FakeTop:
    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""
        self.requests: list[dict] = []
        self.faults: list[tuple[str | None, str]] = []
        self.trades: dict[str, dict] = {}
        self.increment_omits: set[str] = set()
        self.stock: dict[tuple[str, str], int] = {}
        self.queue: list[dict] = []
        self.handed_out: set[str] = set()
        self.confirmed: list[str] = []
        self.waybills: dict[str, str] = {}  # out_sid → tid
        self.cainiao_issued: list[str] = []  # e-waybill numbers taken (cainiao.waybill.ii.get)
        self.cainiao_cancelled: list[str] = []
        self.companies = {
            c["code"]: c["name"]
            for c in sample("taobao_logistics_companies_get_response")["logistics_companies_get_response"][
                "logistics_companies"
            ]["logistics_company"]
        }

    # --- set-up and inspection ---------------------------------------------------------------------

    def add_trade(self, trade: dict) -> dict:
        trade = copy.deepcopy(trade)
        self.trades[str(trade.get("tid_str") or trade["tid"])] = trade
        return trade

    def publish(self, *messages: dict) -> None:
        self.queue.extend(copy.deepcopy(messages))

    def redeliver(self) -> None:
        """TMC hands out again what was consumed and never confirmed."""
        self.handed_out.clear()

    def calls(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method]

    def sub_order(self, tid: str, sub_oid: str) -> dict:
        return next(o for o in self.trades[tid]["orders"]["order"] if oid(o) == sub_oid)

    # --- the gateway -------------------------------------------------------------------------------

    def handle(self, params: dict) -> tuple[int, dict | str]:
        with self.lock:
            self.requests.append(params)
            refused = self._check(params)
            if refused:
                return 200, refused
            method = params["method"]
            fault = self._next_fault(method)
            if fault == "http_502":
                return 502, "<html><body>502 Bad Gateway</body></html>"
            if fault == "shipped_meanwhile":
                self._logistics_offline_send(params)
            elif fault and fault != "lost":
                return 200, sample(fault)
            answer = getattr(self, "_" + method.removeprefix("taobao.").replace(".", "_"))(params)
            if fault == "lost":
                return 502, "<html><body>502 Bad Gateway</body></html>"
            return 200, answer

    def _check(self, params: dict) -> dict | None:
        if not hmac.compare_digest(params.get("sign", ""), top_sign(params, APP_SECRET)):
            return platform_error(25, "Invalid signature")
        if params.get("app_key") != APP_KEY:
            return platform_error(29, "Invalid app Key")
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            return platform_error(31, "Invalid timestamp")
        if abs(datetime.now(UTC) - sent) > timedelta(minutes=10):
            return platform_error(31, "Invalid timestamp")
        if params["method"] not in TMC_METHODS and params.get("session") != SESSION:
            return platform_error(26, "Missing session")
        return None

    def _next_fault(self, method: str) -> str | None:
        for index, (wanted, _fault) in enumerate(self.faults):
            if wanted in (None, method):
                return self.faults.pop(index)[1]
        return None

    # --- methods -----------------------------------------------------------------------------------

    def _trades_sold_increment_get(self, params: dict) -> dict:
        start, end = params["start_modified"], params["end_modified"]
        found = sorted(
            (t for t in self.trades.values() if start <= t.get("modified", "") <= end),
            key=lambda t: t["modified"],
            reverse=True,
        )
        size, page = int(params.get("page_size", 40)), int(params.get("page_no", 1))
        chunk = found[(page - 1) * size : page * size]
        return {
            "trades_sold_increment_get_response": {
                "has_next": len(found) > page * size,
                "trades": {"trade": [fields_of(t, params["fields"], self.increment_omits) for t in chunk]},
            }
        }

    def _trade_fullinfo_get(self, params: dict) -> dict:
        trade = self.trades.get(params["tid"])
        if trade is None:
            return sample("taobao_item_quantity_update_error_invalid_parameter")
        return {"trade_fullinfo_get_response": {"trade": fields_of(trade, params["fields"])}}

    def _logistics_offline_send(self, params: dict) -> dict:
        trade = self.trades.get(params.get("tid", ""))
        if trade is None:
            return logistics_error("B01", "订单不存在")
        out_sid = params.get("out_sid", "")
        if self.waybills.get(out_sid, trade["tid"]) != trade["tid"]:
            return sample("taobao_logistics_offline_send_error_b60")
        split, sub_tid = params.get("is_split", "0") == "1", params.get("sub_tid", "")
        if split != bool(sub_tid):
            return logistics_error("CD25", "拆单标记和子订单列表两者必须都填或者都不填")
        orders = {oid(o): o for o in trade["orders"]["order"]}
        to_ship = {k for k, o in orders.items() if o.get("status") == TO_SHIP}
        shipped_any = any(o.get("status") not in (TO_SHIP, *CLOSED) for o in orders.values())
        if sub_tid:
            wanted = sub_tid.split(",")
            if any(w not in orders for w in wanted):
                return logistics_error("B06", "传入的子订单号必须完全匹配物流包裹中的子订单")
            if set(wanted) == to_ship and not shipped_any:
                return logistics_error("CD29", "订单不是拆单订单，拆单标记和子订单列表都不能传入")
            if any(w not in to_ship for w in wanted):
                return sample("taobao_logistics_offline_send_error_b04")
        else:
            if shipped_any and to_ship:
                return logistics_error("CD22", "订单已拆单，必须传入子交易号列表（和拆单标记）")
            if not to_ship:
                return sample("taobao_logistics_offline_send_error_b04")
            wanted = sorted(to_ship)
        now = beijing_now()
        for key in wanted:
            orders[key].update(
                status=SHIPPED,
                invoice_no=out_sid,
                logistics_company=self.companies.get(params.get("company_code"), params.get("company_code")),
                consign_time=now,
            )
        left = any(o.get("status") == TO_SHIP for o in orders.values())
        trade.update(status="SELLER_CONSIGNED_PART" if left else SHIPPED, modified=now)
        self.waybills[out_sid] = trade["tid"]
        return sample("taobao_logistics_offline_send_response")

    def _item_quantity_update(self, params: dict) -> dict:
        quantity, kind = int(params["quantity"]), params.get("type", "1")
        if kind == "1" and quantity < 0:
            return sample("taobao_item_quantity_update_error_invalid_parameter")
        num_iid, sku_id = params["num_iid"], params.get("sku_id", "")
        self.stock[(num_iid, sku_id)] = quantity
        answer = sample("taobao_item_quantity_update_response")
        item = answer["item_quantity_update_response"]["item"]
        item.update(num_iid=int(num_iid), modified=beijing_now())
        if sku_id:
            item["skus"]["sku"] = [{"sku_id": int(sku_id), "modified": beijing_now(), "quantity": quantity}]
        else:
            item.pop("skus")
            item["num"] = quantity
        return answer

    def _cainiao_waybill_ii_get(self, params: dict) -> dict:
        request = json.loads(params["param_waybill_cloud_print_apply_new_request"])  # a JSON text
        template = sample("taobao_waybill_get_response")
        module = template["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"][0]
        answers = []
        for dto in request["trade_order_info_dtos"]:
            number = str(int(module["waybill_code"]) + len(self.cainiao_issued))
            self.cainiao_issued.append(number)
            answers.append(
                {
                    **module,
                    "object_id": dto["object_id"],
                    "waybill_code": number,
                    "cp_code": request["cp_code"],
                }
            )
        template["cainiao_waybill_ii_get_response"]["modules"]["waybill_cloud_print_response"] = answers
        return template

    def _cainiao_waybill_ii_cancel(self, params: dict) -> dict:
        self.cainiao_cancelled.append(params["waybill_code"])
        return sample("taobao_waybill_cancel_response")

    def _tmc_messages_consume(self, params: dict) -> dict:
        quantity = int(params.get("quantity", 100))
        batch = [m for m in self.queue if str(m["id"]) not in self.handed_out][:quantity]
        self.handed_out.update(str(m["id"]) for m in batch)
        if not batch:
            return {"tmc_messages_consume_response": {}}
        return {"tmc_messages_consume_response": {"messages": {"tmc_message": copy.deepcopy(batch)}}}

    def _tmc_messages_confirm(self, params: dict) -> dict:
        ids = params["s_message_ids"].split(",")
        self.confirmed.extend(ids)
        self.queue = [m for m in self.queue if str(m["id"]) not in ids]
        return sample("taobao_tmc_messages_confirm_response")


class Handler(fake_server.GatewayHandler):
    json_content_type = "application/json;charset=UTF-8"

    def answer(self, gateway: FakeTop, path: str, body: str):
        return gateway.handle(dict(parse_qsl(body, keep_blank_values=True)))


def serve():
    """(server, thread) of a fake TOP on a free port; `server.top` is its FakeTop."""
    return fake_server.serve(Handler, FakeTop(), name="top", path="/router/rest")


def credentials(top: FakeTop, **more) -> dict:
    return {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "session": SESSION,
        "base_url": top.base_url,
        **more,
    }
