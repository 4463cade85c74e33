"""A fake JD JOS gateway (/routerjson) on localhost for the JD tests of issue #16.

It checks every request the way the JOS gateway does (research notes §B1, §C): the signature —
computed here on its own, not with integrations.jd.signing: MD5 of secret + sorted name+value of
every non-empty parameter but `sign`, from the URL query and the form body together + secret,
upper-case hex — the app key, the access token and a timestamp within six minutes (Beijing time).
Wrong ones get the gateway errors of payloads/ (SOURCES.md §15): jd_error_invalid_signature.json
(12), jd_error_invalid_timestamp.json (8); an unknown method jd_error_invalid_method.json (15).
JOS publishes no code for a wrong app key or access token: the body answered for them is the
gateway envelope with code 19 "无效access_token" as third-party JOS mocks answer it (research notes
§B1, public-code index ids 35326654757, 35366785209; not confirmed by JD) — the client keys on the
text naming the token, not on the code.

It keeps a shop: orders (orderInfo objects, as the fixtures jd_pop_order_*.json carry them) and
stock per skuId, and answers in the fixtures' shapes:
- jingdong.pop.order.enSearch: the orders whose `modified` is in [start_date, end_date] and whose
  state is asked for, oldest first, `page` / `page_size`, only the optional_fields asked for,
  `orderTotal` the whole count (jd_pop_order_ensearch_page1.json envelope);
- jingdong.pop.order.enGet: jd_pop_order_enget_response.json envelope with the order;
- jingdong.pop.order.shipment: an order waiting (WAIT_SELLER_STOCK_OUT) becomes
  WAIT_GOODS_RECEIVE_CONFIRM with the waybill and logisticsId (jd_pop_order_shipment_response.json);
  any other state answers `success: false` with the result's other fields empty (JD's own
  error codes for it are not published);
- jingdong.stock.write.updateSkuStock: jd_stock_write_update_sku_stock_response.json;
- jingdong.jos.order.oaid.decrypt: jd_jos_order_oaid_decrypt_response.json for the oaid it
  names, an empty `data` for another;
- jingdong.logistics.ewaybill.waybill.create (issue #17, SOURCES.md §19): a new number per call
  (the fixture's, counting up: JD documents no idempotency key) in the shape of
  jd_waybill_create_response.json; no providerCode or neither settlementCode nor branchCode
  answers a non-zero statusCode (JD publishes no code table: the values are the fake's own);
- jingdong.logistics.ewaybill.waybill.cancel: the numbers cancelled are kept; the answer is the
  bare envelope `{"code": "0"}`, as the response fields are not published (notes §D6).

Faults are scripted (`faults`: (method or None for any, payload name or "http_502"), used once,
in order): that body is answered and nothing is done."""

import copy
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from integrations.tests import fake_server

PAYLOADS = Path(__file__).parent / "payloads"
BEIJING = ZoneInfo("Asia/Shanghai")
APP_KEY, APP_SECRET, ACCESS_TOKEN = "TEST_APP_KEY", "testSecret", "TEST_ACCESS_TOKEN"


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def jos_sign(params: dict, secret: str) -> str:
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    return hashlib.md5(f"{secret}{text}{secret}".encode()).hexdigest().upper()


def beijing_now() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def orders_of(name: str) -> list[dict]:
    """The orderInfo objects of an enSearch fixture."""
    return sample(name)["jingdong_pop_order_enSearch_responce"]["searchorderinfo_result"]["orderInfoList"]


def order_of(name: str) -> dict:
    """The orderInfo of an enGet fixture."""
    return sample(name)["jingdong_pop_order_enGet_responce"]["orderDetailInfo"]["orderInfo"]


class FakeJos:
    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""
        self.requests: list[dict] = []
        self.faults: list[tuple[str | None, str]] = []
        self.orders: dict[str, dict] = {}
        self.stock: dict[str, int] = {}
        self.refund_applies: dict[str, dict] = {}  # id → RefundApplyVo (refunds before shipment)
        self.after_search = None  # called after each enSearch answer (a change between two pages)
        self.waybills_issued: list[str] = []
        self.waybills_cancelled: list[str] = []

    def add_order(self, info: dict) -> dict:
        info = copy.deepcopy(info)
        self.orders[str(info["orderId"])] = info
        return info

    def calls(self, method: str) -> list[dict]:
        return [r for r in self.requests if r.get("method") == method]

    def business(self, method: str) -> list[dict]:
        """The decoded 360buy_param_json of every call of `method`."""
        return [json.loads(r["360buy_param_json"]) for r in self.calls(method)]

    def handle(self, params: dict) -> tuple[int, dict | str]:
        with self.lock:
            self.requests.append(params)
            refused = self._check(params)
            if refused:
                return 200, refused
            method = params["method"]
            for index, (wanted, fault) in enumerate(self.faults):
                if wanted in (None, method):
                    self.faults.pop(index)
                    if fault == "http_502":
                        return 502, "<html><body>502 Bad Gateway</body></html>"
                    return 200, sample(fault)
            handler = {
                "jingdong.pop.order.enSearch": self._en_search,
                "jingdong.pop.order.enGet": self._en_get,
                "jingdong.pop.order.shipment": self._shipment,
                "jingdong.stock.write.updateSkuStock": self._update_sku_stock,
                "jingdong.jos.order.oaid.decrypt": self._oaid_decrypt,
                "jingdong.pop.afs.soa.refundapply.queryPageList": self._refund_apply_page,
                "jingdong.logistics.ewaybill.waybill.create": self._waybill_create,
                "jingdong.logistics.ewaybill.waybill.cancel": self._waybill_cancel,
            }.get(method)
            if handler is None:
                return 200, sample("jd_error_invalid_method")
            return 200, handler(json.loads(params.get("360buy_param_json") or "{}"))

    def _check(self, params: dict) -> dict | None:
        if not hmac.compare_digest(params.get("sign", ""), jos_sign(params, APP_SECRET)):
            return sample("jd_error_invalid_signature")
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            return sample("jd_error_invalid_timestamp")
        if abs(datetime.now(UTC) - sent) > timedelta(minutes=6):
            return sample("jd_error_invalid_timestamp")
        if params.get("app_key") != APP_KEY or params.get("access_token") != ACCESS_TOKEN:
            return {
                "error_response": {
                    "code": "19",
                    "zh_desc": "无效access_token",
                    "en_desc": "Invalid access_token",
                }
            }
        return None

    # --- methods -------------------------------------------------------------------------------

    def _en_search(self, p: dict) -> dict:
        states = set(p["order_state"].split(","))
        fields = set(p["optional_fields"].split(","))
        found = sorted(
            (
                o
                for o in self.orders.values()
                if p["start_date"] <= o["modified"] <= p["end_date"] and o["orderState"] in states
            ),
            key=lambda o: (o["modified"], o["orderId"]),
        )
        page, size = int(p.get("page", 1)), int(p.get("page_size", 100))
        chunk = found[(page - 1) * size : page * size]
        body = sample("jd_pop_order_ensearch_page1")
        result = body["jingdong_pop_order_enSearch_responce"]["searchorderinfo_result"]
        result["orderTotal"] = len(found)
        result["orderInfoList"] = [{k: copy.deepcopy(v) for k, v in o.items() if k in fields} for o in chunk]
        if self.after_search is not None:
            self.after_search(self)
        return body

    def _refund_apply_page(self, p: dict) -> dict:
        """queryPageList: the refund requests applied (applyTimeStart/End) or checked
        (checkTimeStart/End) in the window, pageIndex 1–100 × pageSize 1–50 (notes B5)."""
        size, page = int(p.get("pageSize", 50)), int(p.get("pageIndex", 1))
        body = sample("jd_refundapply_query_page_list_response")
        result = body["jingdong_pop_afs_soa_refundapply_queryPageList_responce"]["queryResult"]
        if not (1 <= size <= 50 and 1 <= page <= 100):
            result.update(
                success=False, errorCode="param", errorMsg="pageSize/pageIndex", result=[], totalCount=0
            )
            return body
        prefix = "applyTime" if "applyTimeStart" in p else "checkTime"
        found = [
            r
            for r in self.refund_applies.values()
            if r.get(prefix) and p[f"{prefix}Start"] <= r[prefix] <= p[f"{prefix}End"]
        ]
        result.update(totalCount=len(found), result=copy.deepcopy(found[(page - 1) * size : page * size]))
        return body

    def _en_get(self, p: dict) -> dict:
        body = sample("jd_pop_order_enget_response")
        body["jingdong_pop_order_enGet_responce"]["orderDetailInfo"]["orderInfo"] = copy.deepcopy(
            self.orders[str(p["order_id"])]
        )
        return body

    def _shipment(self, p: dict) -> dict:
        body = sample("jd_pop_order_shipment_response")
        order = self.orders.get(str(p["orderId"]))
        if order is None or order["orderState"] != "WAIT_SELLER_STOCK_OUT":
            body["jingdong_pop_order_shipment_responce"]["sopjosshipment_result"]["success"] = False
            return body
        order.update(
            orderState="WAIT_GOODS_RECEIVE_CONFIRM",
            orderStateRemark="等待确认收货",
            waybill=p["logiNo"],
            logisticsId=str(p["logiCoprId"]),
            modified=beijing_now(),
        )
        return body

    def _update_sku_stock(self, p: dict) -> dict:
        self.stock[str(p["skuId"])] = int(p["stockNum"])
        return sample("jd_stock_write_update_sku_stock_response")

    def _oaid_decrypt(self, p: dict) -> dict:
        body = sample("jd_jos_order_oaid_decrypt_response")
        returned = body["jingdong_jos_order_oaid_decrypt_responce"]["returnType"]
        wanted = {(o["orderId"], o["oaid"]) for o in p["getReceiverInfoListReqVO"]["orderInfos"]}
        returned["data"] = [row for row in returned["data"] if (row["orderId"], row["oaid"]) in wanted]
        return body

    def _waybill_create(self, p: dict) -> dict:
        body = sample("jd_waybill_create_response")
        response = body["jingdong_logistics_ewaybill_waybill_create_responce"]["Response"]
        request = p.get("request") or {}
        if not request.get("providerCode") or not (
            request.get("settlementCode") or request.get("branchCode")
        ):
            response.update(statusCode=1, statusMessage="providerCode / settlementCode", data=None)
            return body
        template = response["data"]["waybillCodeInfoList"][0]
        number = f"SF{int(template['waybillCode'][2:]) + len(self.waybills_issued)}"
        self.waybills_issued.append(number)
        package = {**template["waybillPackageNoList"][0], "packageNo": number}
        response["data"] = {
            "platformOrderNo": request.get("platformOrderNo"),
            "waybillCodeInfoList": [{"waybillCode": number, "waybillPackageNoList": [package]}],
        }
        return body

    def _waybill_cancel(self, p: dict) -> dict:
        self.waybills_cancelled.append(str(p.get("waybillCode") or ""))
        return {"jingdong_logistics_ewaybill_waybill_cancel_responce": {"code": "0"}}


class Handler(fake_server.GatewayHandler):
    json_content_type = "application/json;charset=UTF-8"

    def answer(self, gateway: FakeJos, path: str, body: str):
        params = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        return gateway.handle(params)


def serve():
    """(server, thread) of a fake JOS gateway on a free port; `server.jos` is its FakeJos."""
    return fake_server.serve(Handler, FakeJos(), name="jos", path="/routerjson")


def credentials(jos: FakeJos, **more) -> dict:
    return {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "access_token": ACCESS_TOKEN,
        "base_url": jos.base_url,
        **more,
    }
