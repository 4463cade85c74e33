"""A fake Douyin shop gateway (抖店开放平台) on localhost for the Douyin tests of issue #16.

It checks every request as the gateway does, computing on its own (not with
integrations.douyin.signing) what the official SDKs send (research notes §A1): POST to
/{method with . → /}, query app_key, method, timestamp (unix seconds, within ten minutes), v=2,
sign_method and sign = md5 / HMAC-SHA256 of secret + "app_key…method…param_json…timestamp…v2" +
secret over the body as sent, and access_token for every method but token.*. A wrong sign answers
40003 isv.signature-invalid, an unknown app key 30001, an expired access token the constructed
40003 isv.access-token-expired body (douyin_error_access_token_expired.json). Answers use the new
envelope {code, msg, sub_code, sub_msg, log_id, data} of the fixtures (SOURCES.md §17).

It keeps a shop: orders (as order.orderDetail gives them), stock per (product_id, sku_id),
ciphertext → plain text, shipped packs. Methods: token.create / token.refresh
(douyin_token_refresh_response.json, new tokens each time), order.searchList (update_time window,
ascending, page from 0, size ≤ 100), order.orderDetail, order.batchDecrypt, sku.syncStock,
order.logisticsAdd, order.logisticsAddMultiPack (request_id: a repeat answers the first success).
Electronic waybills (issue #17, SOURCES.md §19, notes/platform-waybills.md §C):
logistics.newCreateOrder answers per item in the shape of douyin_waybill_new_create_order_response.json
— a new number per (order_id, pack_id), and the old number when the same order and pack id ask again
(the doc: "若取号后再来取号，需传相同订单号及不同的包裹id再次来取号，否则返回老号"); an order in
`waybill_no_stock` gets the err_infos item of douyin_waybill_new_create_order_no_stock_response.json
(10701 电子面单库存不足); no sender name is the doc's 40004 isv.parameter-invalid:4006.
logistics.cancelOrder: douyin_waybill_cancel_order_response.json for a number it issued (once); for
any other number `success: false` (Douyin publishes no error for it).
Faults are scripted (`faults`: (method or None, fixture name, "http_502" or "lost" — the call
takes effect and its answer is a 502), used once, in order)."""

import copy
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from integrations.tests import fake_server

PAYLOADS = Path(__file__).parent / "payloads"
APP_KEY, APP_SECRET = "7012345678901234567", "test-app-secret-0001"  # douyin_signing_vectors.json
ACCESS_TOKEN, REFRESH_TOKEN = "ACCESS_TOKEN", "REFRESH_TOKEN"
TOKEN_METHODS = {"token.create", "token.refresh"}


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def dy_sign(secret: str, app_key: str, method: str, body: str, timestamp: str, sign_method: str) -> str:
    pattern = f"{secret}app_key{app_key}method{method}param_json{body}timestamp{timestamp}v2{secret}"
    if sign_method == "hmac-sha256":
        return hmac.new(secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()
    return hashlib.md5(pattern.encode()).hexdigest()


def ok(data) -> dict:
    return {"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "", "log_id": "fake", "data": data}


def error(code: int, msg: str, sub_code: str, sub_msg: str) -> dict:
    return {
        "code": code,
        "msg": msg,
        "sub_code": sub_code,
        "sub_msg": sub_msg,
        "log_id": "fake",
        "data": None,
    }


class FakeDouyin:
    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""
        self.requests: list[dict] = []
        self.faults: list[tuple[str | None, str]] = []
        self.orders: dict[str, dict] = {}
        self.stock: dict[tuple[str, str], int] = {}
        self.plain: dict[str, str] = {}
        self.access_token, self.refresh_token = ACCESS_TOKEN, REFRESH_TOKEN
        self.expired_tokens: set[str] = set()
        self.packs: dict[str, dict] = {}  # request_id → first answer
        self.token_generation = 1
        # after-sales: aftersale_id → afterSale.List item, and → afterSale.Detail data
        self.after_sales: dict[str, dict] = {}
        self.after_sale_details: dict[str, dict] = {}
        # e-waybills: (order_id, pack_id) → the ebill_infos item issued; numbers cancelled
        self.ebills: dict[tuple[str, str], dict] = {}
        self.waybill_no_stock: set[str] = set()
        self.waybills_cancelled: list[str] = []

    def add_order(self, order: dict) -> dict:
        order = copy.deepcopy(order)
        self.orders[str(order["order_id"])] = order
        return order

    def calls(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method]

    def expire_token(self) -> None:
        self.expired_tokens.add(self.access_token)

    # --- the gateway ------------------------------------------------------------------------------

    def handle(self, path: str, query: dict, body: str) -> tuple[int, dict | str]:
        method = query.get("method", "")
        with self.lock:
            record = {"method": method, "query": query, "body": body}
            try:
                record["params"] = json.loads(body or "{}")
            except ValueError:
                record["params"] = None
            self.requests.append(record)
            if path.strip("/") != method.replace(".", "/"):
                return 200, error(40001, "缺少参数", "isv.missing-parameter", "path and method differ")
            lost = False
            for i, (target, fault) in enumerate(self.faults):
                if target in (None, method):
                    del self.faults[i]
                    if fault == "lost":  # the call takes effect, its answer is a 502
                        lost = True
                        break
                    if fault == "http_502":
                        return 502, "<html>502 Bad Gateway</html>"
                    return 200, sample(fault)
            status, answer = self._checked(method, query, body, record)
            return (502, "<html>502 Bad Gateway</html>") if lost else (status, answer)

    def _checked(self, method: str, query: dict, body: str, record: dict) -> tuple[int, dict]:
        if query.get("app_key") != APP_KEY:
            return 200, error(30001, "权限不足", "isv.app-id-invalid", "app_key invalid")
        if query.get("v") != "2":
            return 200, error(40003, "非法的参数", "isv.parameter-invalid", "v")
        timestamp = query.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 600:
            return 200, error(40003, "非法的参数", "isv.timestamp-invalid", "timestamp")
        expected = dy_sign(APP_SECRET, APP_KEY, method, body, timestamp, query.get("sign_method") or "md5")
        if query.get("sign") != expected:
            return 200, error(40003, "非法的参数", "isv.signature-invalid", "签名无效")
        if record["params"] is None:
            return 200, error(40003, "非法的参数", "isv.parameter-invalid", "param_json")
        if method not in TOKEN_METHODS:
            token = query.get("access_token", "")
            if token in self.expired_tokens:
                return 200, sample("douyin_error_access_token_expired")
            if token != self.access_token:
                return 200, error(40003, "非法的参数", "isv.access-token-no-existed", "access_token不存在")
        handler = getattr(self, "do_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, error(70000, "接口已下线", "isv.method-invalid", method)
        return 200, handler(record["params"])

    def do_token_refresh(self, params):
        if params.get("grant_type") != "refresh_token" or params.get("refresh_token") != self.refresh_token:
            return error(50001, "token生成失败", "dop.token-generate-failed:refresh-token-invalid", "")
        answer = sample("douyin_token_refresh_response")
        self.token_generation += 1
        self.access_token = f"ACCESS_TOKEN_{self.token_generation}"
        self.refresh_token = f"REFRESH_TOKEN_{self.token_generation}"
        answer["data"].update(access_token=self.access_token, refresh_token=self.refresh_token)
        return answer

    def do_token_create(self, params):
        if params.get("grant_type") not in ("authorization_code", "authorization_self"):
            return error(40003, "非法的参数", "isv.parameter-invalid", "grant_type")
        answer = sample("douyin_token_refresh_response")
        answer["data"].update(access_token=self.access_token, refresh_token=self.refresh_token)
        return answer

    def do_order_searchList(self, params):  # noqa: N802 - the method's name
        size, page = int(params.get("size", 10)), int(params.get("page", 0))
        if size > 100 or size < 1 or page < 0:
            return error(40003, "非法的参数", "isv.parameter-invalid", "size/page")
        start, end = params.get("update_time_start"), params.get("update_time_end")
        found = [
            o
            for o in self.orders.values()
            if (start is None or o["update_time"] >= start) and (end is None or o["update_time"] <= end)
        ]
        found.sort(key=lambda o: (o["update_time"], o["order_id"]), reverse=not params.get("order_asc"))
        chunk = found[page * size : (page + 1) * size]
        return ok({"page": page, "size": size, "total": len(found), "shop_order_list": copy.deepcopy(chunk)})

    def do_afterSale_List(self, params):  # noqa: N802
        """afterSale.List by update_start_time / update_end_time, ascending, page 0-based (A9)."""
        size, page = int(params.get("size", 10)), int(params.get("page", 0))
        if size > 100 or size < 1 or page < 0:
            return error(40003, "非法的参数", "isv.parameter-invalid", "size/page")
        start, end = params.get("update_start_time"), params.get("update_end_time")
        found = sorted(
            (
                item
                for item in self.after_sales.values()
                if (start is None or item["aftersale_info"]["update_time"] >= start)
                and (end is None or item["aftersale_info"]["update_time"] <= end)
            ),
            key=lambda item: item["aftersale_info"]["update_time"],
        )
        chunk = found[page * size : (page + 1) * size]
        more = len(found) > (page + 1) * size
        return ok(
            {"has_more": more, "total": len(found), "page": page, "size": size, "items": copy.deepcopy(chunk)}
        )

    def do_afterSale_Detail(self, params):  # noqa: N802
        detail = self.after_sale_details.get(str(params.get("after_sale_id")))
        if detail is None:
            return error(40004, "业务处理失败", "isv.business-failed:售后单不存在", "售后单不存在")
        return ok(copy.deepcopy(detail))

    def do_order_orderDetail(self, params):  # noqa: N802
        order = self.orders.get(str(params.get("shop_order_id")))
        if order is None:
            return error(40004, "业务处理失败", "isv.business-failed:订单不存在", "订单不存在")
        return ok({"shop_order_detail": copy.deepcopy(order)})

    def do_order_batchDecrypt(self, params):  # noqa: N802
        infos = params.get("cipher_infos") or []
        if len(infos) > 50:
            return error(40003, "非法的参数", "isv.parameter-invalid", "cipher_infos > 50")
        out = []
        for info in infos:
            plain = self.plain.get(info.get("cipher_text"))
            known = info.get("auth_id") in self.orders and plain is not None
            out.append(
                {
                    "auth_id": info.get("auth_id"),
                    "cipher_text": info.get("cipher_text"),
                    "decrypt_text": plain if known else "",
                    "err_no": 0 if known else 300008,
                    "err_msg": "" if known else "解密失败",
                    "data_type": 0,
                    "is_virtual_tel": False,
                }
            )
        return ok({"decrypt_infos": out, "custom_err": {"err_code": 0, "err_msg": ""}})

    def do_sku_syncStock(self, params):  # noqa: N802
        if params.get("incremental"):
            return error(40003, "非法的参数", "isv.parameter-invalid", "idempotent_id required")
        if "stock_num" not in params or not (params.get("sku_id") or params.get("code")):
            return error(40001, "缺少参数", "isv.missing-parameter", "stock_num / sku_id")
        self.stock[(str(params.get("product_id")), str(params.get("sku_id")))] = int(params["stock_num"])
        return ok({})

    def _ship(self, order: dict, tracking: str, company: str, lines: dict[str, int]) -> None:
        order.setdefault("logistics_info", []).append(
            {
                "tracking_no": tracking,
                "company": company,
                "company_name": company,
                "ship_time": int(time.time()),
            }
        )
        for sku in order["sku_order_list"]:
            sku["shipped_num"] = sku.get("shipped_num", 0) + lines.get(str(sku["order_id"]), 0)
        done = all(s.get("shipped_num", 0) >= s["item_num"] for s in order["sku_order_list"])
        order["order_status"] = 3 if done else 101

    def do_order_logisticsAdd(self, params):  # noqa: N802
        order = self.orders.get(str(params.get("order_id")))
        if order is None or not params.get("company_code") or not params.get("logistics_code"):
            return error(40004, "业务处理失败", "isv.business-failed", "订单不存在或参数缺失")
        if order["order_status"] != 2:
            return error(40004, "业务处理失败", "isv.business-failed", "订单状态不允许发货")
        self._ship(
            order,
            params["logistics_code"],
            params["company_code"],
            {str(s["order_id"]): s["item_num"] for s in order["sku_order_list"]},
        )
        return ok({})

    def do_order_logisticsAddMultiPack(self, params):  # noqa: N802
        request_id = params.get("request_id")
        if not request_id:
            return error(40001, "缺少参数", "isv.missing-parameter", "request_id")
        if request_id in self.packs:
            return copy.deepcopy(self.packs[request_id])
        order = self.orders.get(str(params.get("order_id")))
        if order is None or order["order_status"] not in (2, 101):
            return error(40004, "业务处理失败", "isv.business-failed", "订单状态不允许发货")
        answer_packs = []
        for n, pack in enumerate(params.get("pack_list") or [], start=1):
            lines = {str(i["shipped_order_id"]): int(i["shipped_num"]) for i in pack["shipped_order_info"]}
            self._ship(order, pack["logistics_code"], pack["company_code"], lines)
            answer_packs.append(
                {
                    "pack_id": f"47052884655085329{len(self.packs):02d}{n}",
                    "logistics_code": pack["logistics_code"],
                    "shipped_order_info": [dict(i, shipped_item_ids=[]) for i in pack["shipped_order_info"]],
                }
            )
        self.packs[request_id] = ok({"pack_list": answer_packs})
        return copy.deepcopy(self.packs[request_id])

    # --- electronic waybills ---------------------------------------------------------------------

    @property
    def waybills_issued(self) -> list[str]:
        return [item["track_no"] for item in self.ebills.values()]

    def do_logistics_newCreateOrder(self, params):  # noqa: N802
        infos = params.get("order_infos") or []
        if not ((params.get("sender_info") or {}).get("contact") or {}).get("name"):
            return error(40004, "业务处理失败", "isv.parameter-invalid:4006", "寄件人姓名不能为空")
        if not params.get("logistics_code") or not infos or len(infos) > 50:
            return error(40004, "业务处理失败", "isv.parameter-invalid:1000", "拼接参数异常")
        answer = sample("douyin_waybill_new_create_order_response")
        issued = answer["data"]["ebill_infos"][0]
        refused = sample("douyin_waybill_new_create_order_no_stock_response")["data"]["err_infos"][0]
        ebills, errors = [], []
        for info in infos:
            key = (str(info.get("order_id")), str(info.get("pack_id") or ""))
            if key in self.ebills:  # the same order and pack id: the old number
                ebills.append(copy.deepcopy(self.ebills[key]))
            elif key[0] in self.waybill_no_stock:
                errors.append({**refused, "order_id": key[0], "pack_id": key[1]})
            else:
                number = f"YT{int(issued['track_no'][2:]) + len(self.ebills)}"
                self.ebills[key] = {**issued, "order_id": key[0], "pack_id": key[1], "track_no": number}
                ebills.append(copy.deepcopy(self.ebills[key]))
        answer["data"] = {"ebill_infos": ebills, "err_infos": errors}
        return answer

    def do_logistics_cancelOrder(self, params):  # noqa: N802
        answer = sample("douyin_waybill_cancel_order_response")
        number = str(params.get("track_no") or "")
        if number not in self.waybills_issued or number in self.waybills_cancelled:
            answer["data"]["cancel_result"]["success"] = False
        else:
            self.waybills_cancelled.append(number)
        return answer


class Handler(fake_server.GatewayHandler):
    def answer(self, gateway: FakeDouyin, path: str, body: str):
        split = urlsplit(path)
        return gateway.handle(split.path, dict(parse_qsl(split.query, keep_blank_values=True)), body)


def serve():
    """(server, thread) of a fake Douyin gateway on a free port; `server.douyin` is its FakeDouyin."""
    return fake_server.serve(Handler, FakeDouyin(), name="douyin")


def credentials(gateway: FakeDouyin, **more) -> dict:
    return {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "access_token": gateway.access_token,
        "refresh_token": gateway.refresh_token,
        "base_url": gateway.base_url,
        **more,
    }
