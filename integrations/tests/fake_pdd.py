"""A fake Pinduoduo Open Platform gateway (POP, https://gw-api.pinduoduo.com/api/router) on
localhost for the Pinduoduo tests of issue #16.

It checks every request as the PDD doc "API调用指南" describes, with its own implementation of the
sign rule (not integrations.pdd.signing): MD5 of client_secret + the sorted name+value pairs of
every parameter but `sign` + client_secret, upper-case hex; the client_id; a `timestamp` in UNIX
seconds within 10 minutes; the access_token; data_type JSON. Wrong ones get the codes of the doc's
error table in the envelope of the captured error bodies (payloads/pdd_error_*.json, SOURCES.md
§16): 20004 签名验证失败 (captured), 10016 clientId不正确, 10001 公共参数错误 (the doc's example),
10019 access_token已过期 (captured, for the token in `expired_tokens`). It takes the Java SDK's JSON
body (a flat object of strings) and form posts (the PHP SDK).

It keeps a shop — orders as pdd.order.information.get returns them, stock per (goods_id, sku_id),
the waybills sent — and answers:
- pdd.order.number.list.increment.get: the orders whose updated_at is in [start, end] (a window of
  more than 30 minutes is refused with 10000 参数错误), newest first, `page_size` per page, with
  `has_next` when use_has_next=true, else `total_count` (PddOrderNumberListIncrementGetResponse);
- pdd.order.information.get: `order_info_get_response.order_info`;
- pdd.open.decrypt.batch: `open_decrypt_batch_response.data_decrypt_list` from `plaintext`
  (ciphertext → plain text), data_type 5/6/8 as in pdd_open_decrypt_batch_response.json; an unknown
  ciphertext gets a per-item error;
- pdd.goods.quantity.update: pdd_goods_quantity_update_response.json after setting the stock;
- pdd.logistics.online.send: pdd_logistics_online_send_response.json after marking the order
  shipped (order_status 2, logistics_id, tracking_number, shipping_time).

- pdd.waybill.get (issue #17, SOURCES.md §19): each `trade_order_info_dtos` entry gets a new
  number (the fixture's JT5049988959708, counting up; a repeated request is never recognised) in
  the shape of pdd_waybill_get_response.json; pdd.waybill.cancel: pdd_waybill_cancel_response.json.

Faults are scripted (`faults`: (type or None for any, fault), each used once, in order): a payload
name (that error body is answered, nothing done), "http_502", or "lost" (the call takes effect,
then the answer is a 502)."""

import copy
import hashlib
import hmac
import json
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from integrations.tests import fake_server

PAYLOADS = Path(__file__).parent / "payloads"
BEIJING = ZoneInfo("Asia/Shanghai")
CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN = "TEST_CLIENT_ID", "test-client-secret", "TEST_ACCESS_TOKEN"
DATA_TYPES = {"receiver_name": 5, "receiver_phone": 6, "receiver_address": 8}


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def pdd_sign(params: dict, secret: str) -> str:
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v not in ("", None))
    return hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()


def error(code: int, msg: str) -> dict:
    """An error in the envelope of the captured bodies (pdd_error_sign_invalid.json)."""
    body = sample("pdd_error_sign_invalid")
    body["error_response"].update(error_code=code, error_msg=msg, request_id="fake")
    return body


def epoch(beijing: str) -> int:
    return int(datetime.strptime(beijing, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp())


def beijing_now() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class FakePdd:
    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""
        self.requests: list[dict] = []
        self.faults: list[tuple[str | None, str]] = []
        self.orders: dict[str, dict] = {}
        self.plaintext: dict[str, str] = {}
        self.stock: dict[tuple[str, str], int] = {}
        self.expired_tokens: set[str] = set()
        self.increment_omits: set[str] = set()  # fields the increment API leaves out
        # after-sales: id → refund_list record (yuan) and id → refund.information.get answer (fen)
        self.refunds: dict[str, dict] = {}
        self.refund_details: dict[str, dict] = {}
        self.waybills_issued: list[str] = []  # pdd.waybill.get numbers taken

    def add_order(self, order: dict) -> dict:
        order = copy.deepcopy(order)
        self.orders[order["order_sn"]] = order
        return order

    def calls(self, api_type: str) -> list[dict]:
        return [r for r in self.requests if r.get("type") == api_type]

    # --- the gateway -----------------------------------------------------------------------------

    def handle(self, params: dict) -> tuple[int, dict | str]:
        with self.lock:
            self.requests.append(params)
            refused = self._check(params)
            if refused:
                return 200, refused
            fault = self._next_fault(params["type"])
            if fault == "http_502":
                return 502, "<html><body>502 Bad Gateway</body></html>"
            if fault and fault != "lost":
                return 200, sample(fault)
            method = getattr(self, "_" + params["type"].removeprefix("pdd.").replace(".", "_"), None)
            if method is None:
                return 200, error(10017, "type不正确")
            answer = method(params)
            if fault == "lost":
                return 502, "<html><body>502 Bad Gateway</body></html>"
            return 200, answer

    def _check(self, params: dict) -> dict | None:
        if not hmac.compare_digest(str(params.get("sign", "")), pdd_sign(params, CLIENT_SECRET)):
            return sample("pdd_error_sign_invalid")
        if params.get("client_id") != CLIENT_ID:
            return error(10016, "client下线或者clientId不正确")
        for name in ("type", "timestamp", "data_type"):
            if not params.get(name):
                return error(10001, f"公共参数错误:{name}")
        try:
            if abs(time.time() - int(params["timestamp"])) > 600:
                return error(10001, "公共参数错误:timestamp")
        except ValueError:
            return error(10001, "公共参数错误:timestamp")
        if params.get("access_token") in self.expired_tokens:
            return sample("pdd_error_access_token_expired")
        if params.get("access_token") != ACCESS_TOKEN:
            return error(20032, "access_token或client_id错误")
        return None

    def _next_fault(self, api_type: str) -> str | None:
        for index, (wanted, _fault) in enumerate(self.faults):
            if wanted in (None, api_type):
                return self.faults.pop(index)[1]
        return None

    # --- APIs --------------------------------------------------------------------------------------

    def _order_number_list_increment_get(self, params: dict) -> dict:
        start, end = int(params["start_updated_at"]), int(params["end_updated_at"])
        size, page = int(params.get("page_size", 100)), int(params.get("page", 1))
        if end - start > 1800 or end < start or not 0 < size <= 100:
            return error(10000, "参数错误")
        found = sorted(
            (o for o in self.orders.values() if start <= epoch(o["updated_at"]) <= end),
            key=lambda o: o["updated_at"],
            reverse=True,
        )
        chunk = [
            {k: v for k, v in o.items() if k not in self.increment_omits}
            for o in copy.deepcopy(found[(page - 1) * size : page * size])
        ]
        answer = {"order_sn_list": chunk}
        if params.get("use_has_next") == "true":
            answer["has_next"] = len(found) > page * size
        else:
            answer["total_count"] = len(found)
        return {"order_sn_increment_get_response": answer}

    def _refund_list_increment_get(self, params: dict) -> dict:
        """pdd.refund.list.increment.get: the records of the one after_sales_status asked whose
        updated_time is in [start, end] (≤ 30 minutes, notes A5), `page_size` per page."""
        start, end = int(params["start_updated_at"]), int(params["end_updated_at"])
        size, page = int(params.get("page_size", 100)), int(params.get("page", 1))
        if end - start > 1800 or end < start or not 0 < size <= 100 or not params.get("after_sales_status"):
            return error(10000, "参数错误")
        found = [
            r
            for r in self.refunds.values()
            if str(r["after_sales_status"]) == params["after_sales_status"]
            and start <= epoch(r["updated_time"]) <= end
        ]
        chunk = copy.deepcopy(found[(page - 1) * size : page * size])
        return {"refund_increment_get_response": {"total_count": len(found), "refund_list": chunk}}

    def _refund_information_get(self, params: dict) -> dict:
        """pdd.refund.information.get: unwrapped (notes A1 pitfall 5)."""
        detail = self.refund_details.get(params.get("after_sales_id", ""))
        if detail is None or detail["order_sn"] != params.get("order_sn"):
            return error(50001, "业务服务错误")
        return copy.deepcopy(detail)

    def _order_information_get(self, params: dict) -> dict:
        order = self.orders.get(params.get("order_sn", ""))
        if order is None:
            return error(50001, "业务服务错误")
        return {"order_info_get_response": {"order_info": copy.deepcopy(order)}}

    def _open_decrypt_batch(self, params: dict) -> dict:
        answer = []
        for item in json.loads(params["data_list"]):
            cipher = item["encrypted_data"]
            plain = self.plaintext.get(cipher)
            kind = next((t for f, t in DATA_TYPES.items() if f.removeprefix("receiver_") in cipher), 0)
            answer.append(
                {
                    "data_tag": item["data_tag"],
                    "data_type": kind,
                    "encrypted_data": cipher,
                    "decrypted_data": plain or "",
                    "error_code": 0 if plain is not None else 50001,
                    "error_msg": "" if plain is not None else "解密失败",
                    "virtual_number_type": 0,
                    "virtual_identify_number": "",
                }
            )
        return {"open_decrypt_batch_response": {"data_decrypt_list": answer}}

    def _goods_quantity_update(self, params: dict) -> dict:
        if params.get("update_type", "1") == "1" and int(params["quantity"]) < 0:
            return error(50001, "业务服务错误")
        self.stock[(params["goods_id"], params.get("sku_id", ""))] = int(params["quantity"])
        return sample("pdd_goods_quantity_update_response")

    def _logistics_online_send(self, params: dict) -> dict:
        order = self.orders.get(params.get("order_sn", ""))
        if order is None or order.get("order_status") != 1:
            return error(50001, "业务服务错误")
        now = beijing_now()
        order.update(
            order_status=2,
            logistics_id=int(params["logistics_id"]),
            tracking_number=params["tracking_number"],
            shipping_time=now,
            updated_at=now,
            receiver_name="",
            receiver_phone="",
            receiver_address="",
            address="",
        )
        return sample("pdd_logistics_online_send_response")

    def _waybill_get(self, params: dict) -> dict:
        request = json.loads(params["param_waybill_cloud_print_apply_new_request"])
        template = sample("pdd_waybill_get_response")
        module = template["pdd_waybill_get_response"]["modules"][0]
        answers = []
        for dto in request["trade_order_info_dtos"]:
            number = f"JT{int(module['waybill_code'][2:]) + len(self.waybills_issued)}"
            self.waybills_issued.append(number)
            answers.append({**module, "object_id": dto["object_id"], "waybill_code": number})
        template["pdd_waybill_get_response"]["modules"] = answers
        return template

    def _waybill_cancel(self, params: dict) -> dict:
        return sample("pdd_waybill_cancel_response")


class Handler(fake_server.GatewayHandler):
    json_content_type = "application/json;charset=UTF-8"

    def answer(self, gateway: FakePdd, path: str, body: str):
        if "json" in (self.headers.get("Content-Type") or ""):
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(body).items()}
        else:
            params = dict(parse_qsl(body, keep_blank_values=True))
        return gateway.handle(params)


def serve():
    """(server, thread) of a fake PDD gateway on a free port; `server.pdd` is its FakePdd."""
    return fake_server.serve(Handler, FakePdd(), name="pdd", path="/api/router")


def credentials(pdd: FakePdd, **more) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "access_token": ACCESS_TOKEN,
        "base_url": pdd.base_url,
        **more,
    }
