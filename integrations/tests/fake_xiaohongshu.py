"""A fake Xiaohongshu gateway (小红书电商开放平台) on localhost for the Xiaohongshu tests of issue #16.

It checks every request as the gateway does, computing on its own (not with
integrations.xiaohongshu.signing) what XHS-DOC 039/040 and the official Java SDK (Utils.addSign)
send (research notes §B1): one POST to /ark/open_api/v3/common_controller with a flat JSON body,
`method, appId, timestamp (unix s, within ten minutes), version "2.0", sign` = md5(method +
"?appId=…&timestamp=…&version=…" + appSecret), and `accessToken` for every method but oauth.*.
Answers use the documented envelope {success, error_code, error_msg, data} and the fixtures of
SOURCES.md §18.

NOT PUBLISHED, constructed here (XHS has no platform error-code list): the bodies of a wrong sign
(error_code -100, "签名错误"), an unknown app (-101), an expired token (-102 "accessToken已过期"),
a rate limit (HTTP 429, or -103 "请求过于频繁" in a 200 body) and a refused business call (-1).

It keeps a shop: orders (as order.getOrderDetail gives them), their receivers
(order.getOrderReceiverInfo, only while orderStatus 4), ciphertext → plain text, stock per skuId,
parcels delivered. Faults are scripted (`faults`: (method or None, kind), used once, in order;
kinds "http_502", "http_429", "busy", "token_expired", "lost" — the call takes effect and its answer
is a 502)."""

import copy
import hashlib
import json
import math
import threading
import time
from pathlib import Path

from integrations.tests import fake_server

PAYLOADS = Path(__file__).parent / "payloads"
PATH = "/ark/open_api/v3/common_controller"
VECTORS = json.loads((PAYLOADS / "xhs_signing_vectors.json").read_text())["api_computed"]
APP_ID, APP_SECRET = VECTORS["appId"], VECTORS["appSecret"]
ACCESS_TOKEN, REFRESH_TOKEN = "token-ACCESS-1", "refresh-REFRESH-1"
TOKEN_METHODS = {"oauth.getAccessToken", "oauth.refreshToken"}
LIST_KEYS = [  # the order.getOrderList summary (the fixture generator's LIST_KEYS)
    "orderId",
    "orderType",
    "orderStatus",
    "orderAfterSalesStatus",
    "cancelStatus",
    "createdTime",
    "paidTime",
    "updateTime",
    "deliveryTime",
    "cancelTime",
    "finishTime",
    "promiseLastDeliveryTime",
    "planInfoId",
    "planInfoName",
    "receiverCountryId",
    "receiverCountryName",
    "receiverProvinceId",
    "receiverProvinceName",
    "receiverCityId",
    "receiverCityName",
    "receiverDistrictId",
    "receiverDistrictName",
    "customerRemark",
    "sellerRemark",
    "sellerRemarkFlag",
    "originalOrderId",
    "logistics",
    "orderTagList",
]


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def detail(name: str = "xhs_order_get_order_detail_response") -> dict:
    return copy.deepcopy(sample(name)["data"])


def unpaid_detail() -> dict:
    """Order …403 (page 2 of the list: 待付款, 1 × TS-BLU-M at 59.90), built as the fixture generator
    builds its detail (make_fixtures_douyin_xiaohongshu.py `x3`); no detail fixture was saved."""
    order = detail()
    summary = sample("xhs_order_get_order_list_page2_response")["data"]["orderList"][0]
    shirt = order["skuList"][0]
    shirt.update(skuQuantity=1, totalPaidAmount=5990, totalMerchantDiscount=0)
    shirt["skuDetailList"][0].update(
        quantity=1, pricePerSku=5990, paidAmountPerSku=5990, merchantDiscountPerSku=0
    )
    order.update(summary)
    order.update(
        skuList=[shirt],
        totalPayAmount=5990,
        totalMerchantDiscount=0,
        totalRedDiscount=0,
        merchantActualReceiveAmount=5990,
        openAddressId="oa-0001",
        outTradeNo="",
    )
    return order


def ok(data) -> dict:
    return {"error_code": 0, "error_msg": "", "success": True, "data": data}


def error(code: int, msg: str) -> dict:
    return {"error_code": code, "error_msg": msg, "success": False, "data": None}


class FakeXiaohongshu:
    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""
        self.requests: list[dict] = []
        self.faults: list[tuple[str | None, str]] = []
        self.orders: dict[str, dict] = {}
        self.receivers: dict[str, dict] = {}  # orderId → receiverInfo (with its openAddressId)
        self.plain: dict[str, str] = {}
        self.stock: dict[str, int] = {}
        self.after_sales: dict[str, dict] = {}  # returnsId → afterSaleInfo (getAfterSaleInfo)
        self.access_token, self.refresh_token = ACCESS_TOKEN, REFRESH_TOKEN
        self.expired_tokens: set[str] = set()
        self.token_generation = 1

    def add_order(self, order: dict) -> dict:
        order = copy.deepcopy(order)
        self.orders[str(order["orderId"])] = order
        return order

    def add_receiver(self, order_id: str, open_address_id: str, info: dict) -> None:
        self.receivers[order_id] = {**copy.deepcopy(info), "_openAddressId": open_address_id}

    def calls(self, method: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method]

    # --- the gateway ------------------------------------------------------------------------------

    def handle(self, path: str, raw: str) -> tuple[int, dict | str]:
        with self.lock:
            try:
                body = json.loads(raw or "{}")
            except ValueError:
                body = None
            method = str((body or {}).get("method") or "")
            record = {"method": method, "body": body}
            if isinstance(body, dict):
                system = {"method", "appId", "timestamp", "version", "sign", "accessToken"}
                record["params"] = {k: v for k, v in body.items() if k not in system}
            self.requests.append(record)
            if path != PATH:
                return 404, "<html>404</html>"
            lost = False
            for i, (target, fault) in enumerate(self.faults):
                if target in (None, method):
                    del self.faults[i]
                    if fault == "lost":
                        lost = True
                        break
                    if fault == "http_502":
                        return 502, "<html>502 Bad Gateway</html>"
                    if fault == "http_429":
                        return 429, "<html>429 Too Many Requests</html>"
                    if fault == "busy":
                        return 200, error(-103, "请求过于频繁，请稍后重试")
                    if fault == "token_expired":
                        return 200, error(-102, "accessToken已过期")
            status, answer = self._checked(method, body)
            return (502, "<html>502 Bad Gateway</html>") if lost else (status, answer)

    def _checked(self, method: str, body) -> tuple[int, dict]:
        if not isinstance(body, dict):
            return 200, error(-1, "请求体不是JSON对象")
        if body.get("appId") != APP_ID:
            return 200, error(-101, "appId不存在")
        timestamp = str(body.get("timestamp") or "")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 600 or body.get("version") != "2.0":
            return 200, error(-1, "timestamp/version 非法")
        plain = f"{method}?appId={APP_ID}&timestamp={timestamp}&version=2.0{APP_SECRET}"
        if body.get("sign") != hashlib.md5(plain.encode()).hexdigest():
            return 200, error(-100, "签名错误")
        if method not in TOKEN_METHODS:
            token = body.get("accessToken")
            if token in self.expired_tokens:
                return 200, error(-102, "accessToken已过期")
            if token != self.access_token:
                return 200, error(-102, "accessToken无效")
        handler = getattr(self, "do_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, error(-1, f"method {method} 不存在")
        return 200, handler(body)

    def do_oauth_refreshToken(self, params):  # noqa: N802 - the method's name
        if params.get("refreshToken") != self.refresh_token:
            return error(-1, "refreshToken无效")
        answer = sample("xhs_oauth_refresh_token_response")
        self.token_generation += 1
        self.access_token = f"token-ACCESS-{self.token_generation}"
        self.refresh_token = f"refresh-REFRESH-{self.token_generation}"
        answer["data"].update(
            accessToken=self.access_token,
            refreshToken=self.refresh_token,
            accessTokenExpiresAt=int((time.time() + 7 * 86400) * 1000),
        )
        return answer

    def do_order_getOrderList(self, params):  # noqa: N802
        page, size = int(params.get("pageNo", 1)), int(params.get("pageSize", 50))
        start, end = int(params["startTime"]), int(params["endTime"])
        if not (1 <= page <= 100 and 1 <= size <= 100):
            return error(-1, "pageNo/pageSize 非法")
        if params.get("timeType") == 2 and end - start > 1800:
            return error(-1, "更新时间查询跨度不能超过30分钟")
        field = "updateTime" if params.get("timeType") == 2 else "createdTime"
        found = [o for o in self.orders.values() if start * 1000 <= o[field] <= end * 1000]
        found.sort(key=lambda o: (o[field], o["orderId"]), reverse=True)  # newest first
        chunk = found[(page - 1) * size : page * size]
        return ok(
            {
                "total": len(found),
                "pageNo": page,
                "pageSize": size,
                "maxPageNo": math.ceil(len(found) / size),
                "orderList": [{k: o[k] for k in LIST_KEYS} for o in chunk],
            }
        )

    def do_order_getOrderDetail(self, params):  # noqa: N802
        order = self.orders.get(str(params.get("orderId")))
        if order is None:
            return error(-1, "订单不存在")
        return ok(copy.deepcopy(order))

    def do_order_getOrderReceiverInfo(self, params):  # noqa: N802
        infos = []
        for query in params.get("receiverQueries") or []:
            oid = str(query.get("orderId"))
            info, order = self.receivers.get(oid), self.orders.get(oid)
            matched = (
                info is not None
                and order is not None
                and order["orderStatus"] == 4
                and info["_openAddressId"] == query.get("openAddressId")
            )
            if matched:
                infos.append({k: v for k, v in info.items() if k != "_openAddressId"})
            else:
                infos.append({"orderId": oid, "matched": False})
        return ok({"receiverInfos": infos})

    def do_data_batchDecrypt(self, params):  # noqa: N802
        infos = params.get("baseInfos") or []
        if (
            len(infos) > 100
            or params.get("actionType") not in ("1", "2", "3", "4")
            or not params.get("appUserId")
        ):
            return error(-1, "参数非法")
        out = []
        for info in infos:
            plain = self.plain.get(info.get("encryptedData"))
            known = plain is not None and info.get("dataTag") in self.orders
            out.append(
                {
                    "dataTag": info.get("dataTag"),
                    "encryptedData": info.get("encryptedData"),
                    "decryptedData": plain if known else "",
                    "errorCode": 0 if known else -2000701,
                    "errorMsg": "" if known else "解密限额",
                    "virtualNumberFlag": False,
                }
            )
        return ok({"dataInfoList": out})

    def do_inventory_syncSkuStock(self, params):  # noqa: N802
        if not params.get("skuId") or not isinstance(params.get("qty"), int):
            return error(-1, "skuId/qty 必填")
        self.stock[params["skuId"]] = params["qty"]
        answer = sample("xhs_inventory_sync_sku_stock_response")
        answer["data"]["skuId"] = params["skuId"]
        return answer

    def do_afterSale_listAfterSaleInfos(self, params):  # noqa: N802
        page, size = int(params.get("pageNo", 1)), int(params.get("pageSize", 50))
        start, end = int(params["startTime"]), int(params["endTime"])  # ms here
        if not (page >= 1 and 1 <= size <= 100 and page * size <= 50000):
            return {"code": -1, "msg": "pageNo/pageSize 非法", "success": False, "data": None}
        if params.get("timeType") == 2 and end - start > 1800 * 1000:
            return {"code": -1, "msg": "更新时间查询跨度不能超过30分钟", "success": False, "data": None}
        found = [a for a in self.after_sales.values() if start <= a["updatedAt"] <= end]
        found.sort(key=lambda a: (a["updatedAt"], a["returnsId"]), reverse=True)
        keys = sample("xhs_after_sale_list_after_sale_infos_response")["data"]["afterSaleBasicInfos"][0]
        rows = [{k: a.get(k) for k in keys} for a in found[(page - 1) * size : page * size]]
        answer = sample("xhs_after_sale_list_after_sale_infos_response")
        answer["data"].update(totalCount=len(found), pageNo=page, pageSize=size, afterSaleBasicInfos=rows)
        return answer

    def do_afterSale_getAfterSaleInfo(self, params):  # noqa: N802
        info = self.after_sales.get(str(params.get("returnsId")))
        if info is None:
            return {"code": -1, "msg": "售后单不存在", "success": False, "data": None}
        answer = sample("xhs_after_sale_get_after_sale_info_response")
        answer["data"]["afterSaleInfo"] = copy.deepcopy(info)
        return answer

    def do_order_orderDeliver(self, params):  # noqa: N802
        order = self.orders.get(str(params.get("orderId")))
        if order is None or not params.get("expressNo") or not params.get("expressCompanyCode"):
            return error(-1, "订单不存在或参数缺失")
        if order["orderStatus"] not in (4, 5):
            return error(-1, "订单状态不允许发货")
        skus = [s["skuId"] for s in order["skuList"]]
        if params.get("unpack"):
            shipped = params.get("skuIdList") or []
            if not shipped or set(shipped) - set(skus):
                return error(-1, "拆包发货需要skuIdList")
        else:
            shipped = skus
            order["expressTrackingNo"] = params["expressNo"]
            order["expressCompanyCode"] = params["expressCompanyCode"]
        parcels = order.setdefault("simpleDeliveryOrderList", [])
        parcels.append(
            {
                "deliveryOrderIndex": len(parcels) + 1,
                "status": 6,
                "expressTrackingNo": params["expressNo"],
                "expressCompanyCode": params["expressCompanyCode"],
                "skuIdList": list(shipped),
            }
        )
        done = {s for p in parcels for s in p["skuIdList"]}
        order["orderStatus"] = 6 if done >= set(skus) else 5
        order["unpack"] = bool(params.get("unpack")) or order.get("unpack", False)
        return sample("xhs_order_order_deliver_response")


class Handler(fake_server.GatewayHandler):
    def answer(self, gateway: FakeXiaohongshu, path: str, body: str):
        return gateway.handle(path, body)


def serve():
    """(server, thread) of a fake XHS gateway on a free port; `server.xhs` is its FakeXiaohongshu."""
    return fake_server.serve(Handler, FakeXiaohongshu(), name="xhs")


def credentials(gateway: FakeXiaohongshu, **more) -> dict:
    return {
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "access_token": gateway.access_token,
        "refresh_token": gateway.refresh_token,
        "base_url": gateway.base_url,
        **more,
    }
