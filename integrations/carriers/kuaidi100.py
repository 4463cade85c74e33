"""Kuaidi100 (快递100): tracking pushes and queries for most Chinese carriers, and electronic
waybills. HTTP and mapping only.

- Subscribe (快递信息推送服务-订阅): POST {POLL_URL}/poll, form `schema=json` and `param` =
  {company, number, key, parameters: {callbackurl, salt, resultv2, phone}}. Answer
  {"result", "returnCode", "message"}; 501 is "already subscribed".
- Push (回调): POST to our callback, form `param` (JSON: status, message, autoCheck, comOld, comNew,
  lastResult {state, ischeck, com, nu, data[]}) and `sign` = upper(MD5(param + salt)).
- Query (实时快递查询): POST {POLL_URL}/poll/query.do, form `customer`, `param` {com, num, phone,
  resultv2} and `sign` = upper(MD5(param + key + customer)).
- Electronic waybill (电子面单下单): POST {API_URL}/label/order, form `method=order`, `key`, `t`
  (ms timestamp), `param` and `sign` = upper(MD5(param + t + key + secret)); answer
  {"success", "code", "message", "data": {"kuaidinum", "label", "taskId", …}}.

Scan times (`ftime`) are China local time without an offset."""

import hashlib
import hmac
import json
import time

import httpx
from django.conf import settings

from core.http import TIMEOUT, PlatformError, send
from core.timezones import parse_beijing_time
from fulfilment.models import TrackingStatus
from fulfilment.tracking import TrackingUpdate
from integrations.carriers.base import CarrierAdapter, CarrierRefused, TrackingPush, Waybill
from orders import phones

TS = TrackingStatus
DEFAULT_RETRY_AFTER = 60.0
RESULT_V2 = "4"  # the finest sub-states (e.g. 1002 "干线", 304 "投柜或站签收") and area names

# Kuaidi100 states (`state`, and `statusCode` per scan with resultv2=4) → our tracking status.
STATE_CODES: dict[str, str] = {
    "0": TS.IN_TRANSIT,  # 在途
    "1001": TS.IN_TRANSIT,  # 到达派件城市
    "1002": TS.IN_TRANSIT,  # 干线
    "1003": TS.IN_TRANSIT,  # 转递
    "1": TS.ACCEPTED,  # 揽收
    "101": TS.ACCEPTED,  # 已下单
    "102": TS.ACCEPTED,  # 待揽收
    "103": TS.ACCEPTED,  # 已揽收
    "5": TS.OUT_FOR_DELIVERY,  # 派件
    "501": TS.OUT_FOR_DELIVERY,  # 投柜或驿站
    "3": TS.DELIVERED,  # 签收
    "301": TS.DELIVERED,  # 本人签收
    "302": TS.DELIVERED,  # 派件异常后签收
    "303": TS.DELIVERED,  # 代签
    "304": TS.DELIVERED,  # 投柜或站签收
    "2": TS.EXCEPTION,  # 疑难
    **{str(code): TS.EXCEPTION for code in range(201, 211)},  # 超时未签收 … 破损, 销单
    "4": TS.RETURNED,  # 退签
    "401": TS.EXCEPTION,  # 已销单: the waybill was cancelled, the parcel goes nowhere
    "6": TS.RETURNED,  # 退回
    "14": TS.RETURNED,  # 拒签: refused, on its way back
    "7": TS.IN_TRANSIT,  # 转投
    "8": TS.IN_TRANSIT,  # 清关
    "10": TS.IN_TRANSIT,  # 待清关
    "11": TS.IN_TRANSIT,  # 清关中
    "12": TS.IN_TRANSIT,  # 已清关
    "13": TS.EXCEPTION,  # 清关异常
}
# The `status` text of a scan when no code is given.
STATE_NAMES: dict[str, str] = {
    "在途": TS.IN_TRANSIT,
    "揽收": TS.ACCEPTED,
    "疑难": TS.EXCEPTION,
    "签收": TS.DELIVERED,
    "退签": TS.RETURNED,
    "派件": TS.OUT_FOR_DELIVERY,
    "退回": TS.RETURNED,
    "转投": TS.IN_TRANSIT,
    "清关": TS.IN_TRANSIT,
    "拒签": TS.RETURNED,
}
# Waybill account fields passed through from Carrier.waybill_credentials as Kuaidi100 names them.
WAYBILL_ACCOUNT_FIELDS = (
    "partnerId",
    "partnerKey",
    "partnerSecret",
    "partnerName",
    "net",
    "code",
    "checkMan",
    "tempId",
    "siid",
)
# The cancel call's account fields (its doc's param table): expType only "取消京东和顺丰冷链订单必填".
CANCEL_ACCOUNT_FIELDS = (
    "partnerId",
    "partnerKey",
    "partnerSecret",
    "partnerName",
    "net",
    "code",
    "checkMan",
    "expType",
)


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def push_sign(param: str, salt: str) -> str:
    return md5_upper(param + salt)


def tracking_status(code: str = "", name: str = "") -> str | None:
    """Our status for a Kuaidi100 state code or name; None when neither is known."""
    code, name = str(code or "").strip(), str(name or "").strip()
    return STATE_CODES.get(code) or STATE_CODES.get(name) or STATE_NAMES.get(name)


def parse_result(result: dict, *, where: str) -> list[TrackingUpdate]:
    """The scans of a query answer or a push's lastResult (whose data is newest first)."""
    data = result.get("data") or []
    if not isinstance(data, list):
        raise ValueError(f"{where}.data: a list of scans is expected")
    overall = tracking_status(result.get("state", ""))
    events = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}.data[{index}]: an object is expected")
        raw_time = entry.get("ftime") or entry.get("time") or ""
        try:
            occurred_at = parse_beijing_time(str(raw_time))
        except ValueError:
            raise ValueError(f"{where}.data[{index}].ftime: not a time: {raw_time!r}") from None
        code = str(entry.get("statusCode") or "")
        name = str(entry.get("status") or "")
        # Only the newest scan may borrow the parcel's overall state; older ones are in transit.
        status = tracking_status(code, name) or (overall if index == 0 else None) or TS.IN_TRANSIT
        events.append(
            TrackingUpdate(
                occurred_at=occurred_at,
                status=status,
                carrier_status=code or name or (str(result.get("state", "")) if index == 0 else ""),
                description=str(entry.get("context") or ""),
                location=str(entry.get("location") or entry.get("areaName") or ""),
            )
        )
    return events


class Kuaidi100Adapter(CarrierAdapter):
    code = "kuaidi100"

    def __init__(self, *, http: httpx.Client | None = None):
        self.key = settings.KUAIDI100_KEY
        self.customer = settings.KUAIDI100_CUSTOMER
        self.secret = settings.KUAIDI100_SECRET
        self.salt = settings.KUAIDI100_SALT
        self.callback_url = settings.KUAIDI100_CALLBACK_URL
        self.poll_url = settings.KUAIDI100_POLL_URL.rstrip("/")
        self.api_url = settings.KUAIDI100_API_URL.rstrip("/")
        self.http = http

    # --- configuration ---------------------------------------------------------------------

    def can_subscribe(self) -> bool:
        # Without a salt pushes are unsigned and our callback refuses them: do not ask for any.
        return bool(self.key and self.salt and self.callback_url)

    def can_poll(self) -> bool:
        return bool(self.key and self.customer)

    def can_issue_waybills(self) -> bool:
        return bool(self.key and self.secret)

    # --- calls -----------------------------------------------------------------------------

    def _post(self, url: str, form: dict) -> dict:
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            response = send("Kuaidi100", lambda: http.post(url, data=form), DEFAULT_RETRY_AFTER)
        finally:
            if self.http is None:
                http.close()
        try:
            answer = response.json()
        except ValueError as exc:
            raise PlatformError(f"Kuaidi100 answered with no JSON: {response.text[:200]}") from exc
        if not isinstance(answer, dict):
            raise PlatformError(f"Kuaidi100 answered with unexpected JSON: {response.text[:200]}")
        return answer

    def subscribe(self, *, company: str, tracking_number: str, phone: str = "") -> None:
        parameters = {"callbackurl": self.callback_url, "salt": self.salt, "resultv2": RESULT_V2}
        if phone:
            parameters["phone"] = phone  # SF and a few others refuse to track without it
        param = {"company": company, "number": tracking_number, "key": self.key, "parameters": parameters}
        answer = self._post(
            f"{self.poll_url}/poll", {"schema": "json", "param": json.dumps(param, ensure_ascii=False)}
        )
        code = str(answer.get("returnCode", ""))
        if answer.get("result") is True or code in ("200", "501"):  # 501: already subscribed
            return
        message = f"Kuaidi100 subscribe {code}: {answer.get('message', '')}"
        if code == "500":  # their server error
            raise PlatformError(message)
        raise CarrierRefused(message)

    def poll(self, *, company: str, tracking_number: str, phone: str = "") -> list[TrackingUpdate]:
        param = json.dumps(
            {"com": company, "num": tracking_number, "phone": phone, "resultv2": RESULT_V2},
            ensure_ascii=False,
        )
        form = {
            "customer": self.customer,
            "sign": md5_upper(param + self.key + self.customer),
            "param": param,
        }
        answer = self._post(f"{self.poll_url}/poll/query.do", form)
        if "returnCode" in answer and answer.get("result") is False:
            code = str(answer.get("returnCode", ""))
            if code == "500":  # "no result yet": the carrier has no scan for the number
                return []
            message = f"Kuaidi100 query {code}: {answer.get('message', '')}"
            if code in ("501", "502"):
                raise PlatformError(message)
            raise CarrierRefused(message)
        return parse_result(answer, where="answer")

    def request_waybill(self, shipment, carrier, *, receiver: dict | None = None) -> Waybill:
        """`receiver`: {"name", "phone", "address"} in plain text for this call only (a protected
        receiver decrypted by the caller); otherwise the order's stored receiver."""
        if carrier is None or not carrier.tracking_code:
            raise CarrierRefused(f"shipment {shipment.number}: no carrier with a Kuaidi100 company code")
        param = json.dumps(waybill_param(shipment, carrier, receiver=receiver), ensure_ascii=False)
        stamp = str(int(time.time() * 1000))
        form = {
            "method": "order",
            "key": self.key,
            "t": stamp,
            "sign": md5_upper(param + stamp + self.key + self.secret),
            "param": param,
        }
        answer = self._post(f"{self.api_url}/label/order", form)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        if answer.get("success") is not True or not data.get("kuaidinum"):
            code = str(answer.get("code", ""))
            message = f"Kuaidi100 waybill {code}: {answer.get('message', '') or 'no tracking number'}"
            if code.startswith("5"):
                raise PlatformError(message)
            raise CarrierRefused(message)
        details = {
            key: data[source]
            # orgName 始发地/始发网点名称: the outlet that should pick the parcel up (the
            # no-first-scan export names it); destName 目的地/到达网点 (Kuaidi100 SDK LabelOrderRespone).
            for key, source in (
                ("task_id", "taskId"),
                ("bulkpen", "bulkpen"),
                ("origin_outlet", "orgName"),
                ("dest_name", "destName"),
                # the carrier's order number: the cancel call needs it when the order returned it
                ("kd_com_order_num", "kdComOrderNum"),
            )
            if data.get(source)
        }
        return Waybill(
            tracking_number=str(data["kuaidinum"]), label=str(data.get("label") or ""), details=details
        )

    def cancel_waybill(self, *, carrier, tracking_number: str, order_id: str = "", reason: str = "") -> None:
        """电子面单取消 (https://api.kuaidi100.com/document/dianzimiandanquxiao): POST
        {API_URL}/label/order, form `method=cancel`, `key`, `t`, `sign` as for ordering and `param`
        {kuaidicom, kuaidinum, the account fields sent when ordering ("电子面单下单时有填写，则电子面单
        取消时必填"), orderId = the kdComOrderNum the order returned, reason}. Answer {success, code,
        message}: a 5xx code is temporary (as for ordering), any other "no" a CarrierRefused."""
        if carrier is None or not carrier.tracking_code:
            raise CarrierRefused(f"waybill {tracking_number}: no carrier with a Kuaidi100 company code")
        account = carrier.waybill_credentials or {}
        param = {
            "kuaidicom": carrier.tracking_code,
            "kuaidinum": tracking_number,
            **{name: str(account[name]) for name in CANCEL_ACCOUNT_FIELDS if account.get(name)},
        }
        if order_id:
            param["orderId"] = order_id
        if reason:
            param["reason"] = reason
        text = json.dumps(param, ensure_ascii=False)
        stamp = str(int(time.time() * 1000))
        form = {
            "method": "cancel",
            "key": self.key,
            "t": stamp,
            "sign": md5_upper(text + stamp + self.key + self.secret),
            "param": text,
        }
        answer = self._post(f"{self.api_url}/label/order", form)
        if answer.get("success") is True:
            return
        code = str(answer.get("code", ""))
        message = f"Kuaidi100 waybill cancel {code}: {answer.get('message', '')}"
        if code.startswith("5"):
            raise PlatformError(message)
        raise CarrierRefused(message)

    # --- pushes ----------------------------------------------------------------------------

    def verify_push(self, form: dict) -> bool:
        param, given = form.get("param") or "", form.get("sign") or ""
        if not self.salt or not param or not given:
            return False
        expected = push_sign(param, self.salt).encode("ascii")
        return hmac.compare_digest(expected, given.strip().upper().encode("utf-8", "replace"))

    def parse_push(self, form: dict) -> TrackingPush:
        try:
            payload = json.loads(form.get("param") or "")
        except ValueError as exc:
            raise ValueError(f"param: not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ValueError("param: a JSON object is expected")
        result = payload.get("lastResult")
        if not isinstance(result, dict):
            raise ValueError("param.lastResult: missing")
        number = str(result.get("nu") or "").strip()
        if not number:
            raise ValueError("param.lastResult.nu: missing tracking number")
        others = tuple(str(c) for c in (payload.get("comOld"), payload.get("comNew")) if c)
        return TrackingPush(
            company=str(result.get("com") or ""),
            tracking_number=number,
            events=parse_result(result, where="param.lastResult"),
            monitoring=str(payload.get("status") or ""),
            message=str(payload.get("message") or ""),
            other_companies=others,
        )


def _address(*parts: str) -> str:
    return "".join(part for part in parts if part)


def waybill_param(shipment, carrier, *, receiver: dict | None = None) -> dict:
    """The label/order `param`: recipient from the order, sender from the warehouse (name and
    mobile may be set on the carrier's waybill account as senderName / senderMobile)."""
    order, warehouse = shipment.order, shipment.warehouse
    account = carrier.waybill_credentials or {}
    cargo = ", ".join(line.sku.name for line in shipment.lines.select_related("sku").order_by("pk")[:5])
    param = {
        "kuaidicom": carrier.tracking_code,
        **{name: str(account[name]) for name in WAYBILL_ACCOUNT_FIELDS if account.get(name)},
        "recMan": {
            "name": order.ship_name or order.customer_name,
            "mobile": phones.domestic(order.ship_phone or order.customer_phone),
            "printAddr": _address(
                order.ship_province, order.ship_city, order.ship_district, order.ship_line1, order.ship_line2
            ),
        },
        "sendMan": {
            "name": account.get("senderName") or warehouse.name,
            "mobile": account.get("senderMobile", ""),
            "printAddr": _address(
                warehouse.province, warehouse.city, warehouse.district, warehouse.address_line
            ),
            "company": account.get("senderCompany", ""),
        },
        "cargo": cargo[:100] or order.number,
        "count": 1,
        "payType": account.get("payType", "SHIPPER"),
        "expType": account.get("expType", "标准快递"),
        "printType": account.get("printType", "IMAGE"),
        "remark": order.number,
        "orderId": shipment.number,  # lets Kuaidi100 recognise a retried request
    }
    if receiver:
        param["recMan"] = {
            "name": receiver.get("name") or param["recMan"]["name"],
            "mobile": phones.domestic(receiver.get("phone") or "") or param["recMan"]["mobile"],
            "printAddr": _address(
                order.ship_province, order.ship_city, order.ship_district, receiver.get("address") or ""
            )
            or param["recMan"]["printAddr"],
        }
    return param
