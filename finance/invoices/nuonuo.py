"""Nuonuo (诺诺) open platform e-invoices (数电发票) over HTTP.

Sources (fixtures and their origin: finance/tests/payloads/invoices/SOURCES.md):
- nuonuo.ElectronInvoice.requestBillingNew (请求开具发票接口 2.0): the `order` fields used here
  (buyerName, buyerTaxNum, buyerPhone, email, pushMode, salerTaxNum, salerTel, salerAddress, orderNo
  "每个企业唯一", invoiceDate, clerk, invoiceType 1 blue, invoiceLine, invoiceDetail[goodsName,
  goodsCode, withTaxFlag, taxRate, tax, taxExcludedAmount, taxIncludedAmount, invoiceLineProperty]);
  answer {"code": "E0000", "describe", "result": {"invoiceSerialNum"}}; E9106 "订单编号或流水号不能重复
  — 防止重复开票，同一个销方税号下的开票订单号不能重复".
- nuonuo.ElectronInvoice.queryInvoiceResult (开票结果查询接口): orderNos; result[] serialNo, orderNo,
  status (2 开票完成; 20 开票中; 21 开票成功签章中; 22 开票失败; 24 开票成功签章失败; 3 / 31 作废),
  failCause, invoiceNo, allElectronicInvoiceNumber, pdfUrl, ofdUrl, invoiceTime (ms), orderAmount;
  E9500 发票不存在.
- nuonuo.ElectronInvoice.reInvoice (开票重试接口): orderno; "发票订单号、流水号与原请求一致".
- nuonuo.OpeMplatform.saveInvoiceRedConfirm (红字确认单申请接口): blueInvoiceLine, applySource 0
  (销方), blueElecInvoiceNumber, sellerTaxNo, sellerName, buyerName, buyerTaxNo, redReason 1 (销货
  退回), orderNo (the red invoice is issued automatically with this order number once the
  confirmation needs no confirming or both sides confirmed), detail[blueDetailIndex, goodsName,
  taxRate, taxExcludedAmount, taxAmount, goodsCode] only for a partial reversal; answer result = 红字
  确认单申请号. Its answer sample is not published (only the field table).
- Signature: official SDKs (NNOpenSDK Java, ZUOXIANGE/NuoNuoSdk NuoNuoSdk.cs GetSign): senid, nonce,
  timestamp and appkey in the query string; X-Nuonuo-Sign = Base64(HMAC-SHA1(appSecret,
  "a=services&l=v1&p=open&k=<appKey>&i=<senid>&n=<nonce>&t=<timestamp>&f=<body>")), a/l/p being the
  last three parts of the URL path; headers accessToken, userTax, method.

Idempotency: the request number is `orderNo`. A submission repeated after a lost answer gets
E9106 (duplicate order number), which we read as "already submitted" and then poll by order
number — Nuonuo's own duplicate check is the guarantee, no query-before-issue.

Not published, so conservative: invoiceLine codes for 数电 e-invoices (`pc` 电子发票(普通发票), `bs`
电子发票(增值税专用发票)) are listed in saveInvoiceRedConfirm's blueInvoiceLine, not in
requestBillingNew's own table — they are settings (NUONUO_INVOICE_LINE_NORMAL / _SPECIAL).
A B2B special invoice's red-letter confirmation may wait for the buyer to confirm: it stays
"submitted" until the red invoice shows up in queryInvoiceResult.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings

from core.http import TIMEOUT, PlatformError, send
from core.timezones import business_zone
from finance.invoices.provider import (
    FAILED,
    ISSUED,
    ISSUING,
    MISSING,
    BlueInvoice,
    InvoiceResult,
    ProviderRefused,
    RedInvoice,
)

PLATFORM = "Nuonuo"
ISSUE = "nuonuo.ElectronInvoice.requestBillingNew"
QUERY = "nuonuo.ElectronInvoice.queryInvoiceResult"
REISSUE = "nuonuo.ElectronInvoice.reInvoice"
RED_CONFIRM = "nuonuo.OpeMplatform.saveInvoiceRedConfirm"
SUCCESS = "E0000"
DUPLICATE_ORDER_NUMBER = "E9106"
NOT_FOUND = "E9500"
STATUSES = {"2": ISSUED, "20": ISSUING, "21": ISSUING, "22": FAILED, "24": FAILED, "3": FAILED, "31": FAILED}
DEFAULT_RETRY_AFTER = 10.0


def sign(*, secret: str, app_key: str, senid: str, nonce: str, timestamp: str, body: str, path: str) -> str:
    """X-Nuonuo-Sign of a request to `path` (e.g. /open/v1/services) with this exact body text."""
    parts = path.strip("/").split("/")
    p, v, a = parts[-3], parts[-2], parts[-1]
    message = f"a={a}&l={v}&p={p}&k={app_key}&i={senid}&n={nonce}&t={timestamp}&f={body}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


class NuonuoProvider:
    name = "nuonuo"

    def configured(self) -> bool:
        return bool(
            settings.NUONUO_APP_KEY
            and settings.NUONUO_APP_SECRET
            and settings.NUONUO_ACCESS_TOKEN
            and settings.NUONUO_SELLER_TAX_ID
        )

    def call(self, method: str, content: dict) -> dict:
        """One signed call; returns the answer's JSON object (code, describe, result)."""
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        senid, nonce, timestamp = (
            secrets.token_hex(16),
            str(secrets.randbelow(90_000_000) + 10_000_000),
            str(int(time.time())),
        )
        url = settings.NUONUO_API_URL
        query = urlencode(
            {"senid": senid, "nonce": nonce, "timestamp": timestamp, "appkey": settings.NUONUO_APP_KEY}
        )
        headers = {
            "Content-Type": "application/json;charset=utf-8",
            "X-Nuonuo-Sign": sign(
                secret=settings.NUONUO_APP_SECRET,
                app_key=settings.NUONUO_APP_KEY,
                senid=senid,
                nonce=nonce,
                timestamp=timestamp,
                body=body,
                path=urlsplit(url).path,
            ),
            "accessToken": settings.NUONUO_ACCESS_TOKEN,
            "userTax": settings.NUONUO_SELLER_TAX_ID,
            "method": method,
        }
        with httpx.Client(timeout=TIMEOUT) as http:
            response = send(
                PLATFORM,
                lambda: http.post(f"{url}?{query}", content=body.encode(), headers=headers),
                DEFAULT_RETRY_AFTER,
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "code" not in answer:
            raise PlatformError(f"{PLATFORM}: {method} answered without a code: {response.text[:200]}")
        return answer

    def _checked(self, method: str, content: dict) -> dict:
        answer = self.call(method, content)
        code = str(answer.get("code"))
        if code != SUCCESS:
            describe = str(answer.get("describe") or "")
            raise ProviderRefused(
                f"{PLATFORM} {code}: {describe}", code=code, duplicate=code == DUPLICATE_ORDER_NUMBER
            )
        return answer

    def _line_code(self, special: bool) -> str:
        return settings.NUONUO_INVOICE_LINE_SPECIAL if special else settings.NUONUO_INVOICE_LINE_NORMAL

    def issue(self, invoice: BlueInvoice) -> str:
        push = {(True, True): "2", (True, False): "0", (False, True): "1", (False, False): "-1"}[
            (bool(invoice.buyer_email), bool(invoice.buyer_phone))
        ]
        order = {
            "buyerName": invoice.buyer_title,
            "buyerTaxNum": invoice.buyer_tax_id,
            "salerTaxNum": settings.NUONUO_SELLER_TAX_ID,
            "salerTel": settings.NUONUO_SELLER_PHONE,
            "salerAddress": settings.NUONUO_SELLER_ADDRESS,
            "orderNo": invoice.number,
            "invoiceDate": invoice.ordered_at.astimezone(business_zone()).strftime("%Y-%m-%d %H:%M:%S"),
            "clerk": settings.NUONUO_CLERK,
            "pushMode": push,
            "buyerPhone": invoice.buyer_phone,
            "email": invoice.buyer_email,
            "invoiceType": "1",
            "invoiceLine": self._line_code(invoice.special),
            "invoiceDetail": [
                {
                    "goodsName": settings.INVOICE_GOODS_NAME,
                    "goodsCode": settings.NUONUO_GOODS_CODE,
                    "withTaxFlag": "1",
                    "taxRate": _rate(line.tax_rate),
                    "tax": _money(line.tax_amount),
                    "taxExcludedAmount": _money(line.net_amount),
                    "taxIncludedAmount": _money(line.amount),
                    "invoiceLineProperty": "0",
                }
                for line in invoice.lines
            ],
        }
        answer = self._checked(ISSUE, {"order": order})
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        return str(result.get("invoiceSerialNum") or "")

    def reissue(self, number: str) -> None:
        self._checked(REISSUE, {"orderno": number})

    def query(self, numbers: list[str]) -> dict[str, InvoiceResult]:
        answer = self.call(QUERY, {"orderNos": numbers, "isOfferInvoiceDetail": "0"})
        code = str(answer.get("code"))
        if code == NOT_FOUND:
            return {number: InvoiceResult(order_number=number, status=MISSING) for number in numbers}
        if code != SUCCESS:
            raise ProviderRefused(f"{PLATFORM} {code}: {answer.get('describe') or ''}", code=code)
        found = {}
        for item in answer.get("result") or []:
            if not isinstance(item, dict) or item.get("orderNo") not in numbers:
                continue
            status = STATUSES.get(str(item.get("status")), ISSUING)
            invoice_time = item.get("invoiceTime")
            found[item["orderNo"]] = InvoiceResult(
                order_number=item["orderNo"],
                status=status,
                serial=str(item.get("serialNo") or ""),
                # 数电: the 20-digit number; invoiceNo carries it too (8 digits for 数电纸票).
                invoice_number=str(item.get("allElectronicInvoiceNumber") or item.get("invoiceNo") or ""),
                pdf_url=str(item.get("pdfUrl") or ""),
                ofd_url=str(item.get("ofdUrl") or ""),
                issued_at=datetime.fromtimestamp(int(invoice_time) / 1000, tz=UTC) if invoice_time else None,
                amount=Decimal(str(item["orderAmount"]))
                if item.get("orderAmount") not in (None, "")
                else None,
                error=str(item.get("failCause") or item.get("statusMsg") or "") if status == FAILED else "",
            )
        for number in numbers:
            found.setdefault(number, InvoiceResult(order_number=number, status=MISSING))
        return found

    def reverse(self, invoice: RedInvoice) -> str:
        content = {
            "blueInvoiceLine": self._line_code(invoice.special),
            "applySource": "0",
            "blueElecInvoiceNumber": invoice.blue_invoice_number,
            "sellerTaxNo": settings.NUONUO_SELLER_TAX_ID,
            "sellerName": settings.NUONUO_SELLER_NAME,
            "buyerName": invoice.buyer_title,
            "buyerTaxNo": invoice.buyer_tax_id,
            "redReason": "1",
            "orderNo": invoice.number,
        }
        if invoice.lines:
            if not settings.NUONUO_GOODS_CODE:
                raise ProviderRefused(f"{PLATFORM}: a partial red-letter needs NUONUO_GOODS_CODE (goodsCode)")
            content["detail"] = [
                {
                    "blueDetailIndex": str(index),
                    "goodsName": settings.INVOICE_GOODS_NAME,
                    "taxRate": _rate(line.tax_rate),
                    "taxExcludedAmount": _money(line.net_amount),
                    "taxAmount": _money(line.tax_amount),
                    "goodsCode": settings.NUONUO_GOODS_CODE,
                }
                for index, line in invoice.lines
            ]
        answer = self._checked(RED_CONFIRM, content)
        return str(answer.get("result") or "")
