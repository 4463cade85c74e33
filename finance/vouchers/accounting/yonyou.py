"""Yonyou YonBIP (用友 YonBIP / YonSuite) open API: a voucher is one 凭证保存,
POST /yonbip/fi/ficloud/openapi/voucher/addVoucher?access_token=….

Chosen over the U8+ OpenAPI voucher/add because YonBIP publishes the request, a sample answer and
an idempotency field: open.yonyoucloud.com 「财务云 → 财务会计 → 总账 → 凭证 → 凭证保存」 (glVoucher).
Sources (fixtures and notes in finance/tests/payloads/vouchers/, SOURCES.md):
- 凭证保存: the request is top-level fields (no "data" wrapper): accbookCode, voucherTypeCode,
  period (yyyy-MM), makerMobile / makerEmail (one of them), makeTime (yyyy-MM-dd), description,
  businessId (「业务唯一标识，用于业务幂等校验」), bodies [{description, accsubjectCode,
  debitOriginal / debitOrg or creditOriginal / creditOrg — 「借贷不能同时填写；原币和本币都要填写」,
  currencyCode}]; the answer {"code": "200", "message", "data": {"voucherId", "billCode", …}}, a
  refusal {"code": "404", "message": "凭证保存不成功,账簿code不能为空！", "data": {}} in an HTTP 200;
- 获取 access_token (自建应用): GET <iuap-api-auth>/open-auth/selfAppAuth/base/v1/getAccessToken
  (the path since the 2023-07-21 change) with appKey, timestamp (ms) and signature =
  URLEncode(Base64(HmacSHA256("appKey<appKey>timestamp<timestamp>", appSecret))); the answer
  {"code": "00000", "message": "成功！", "data": {"access_token", "expire": 7200}}.

Idempotency: businessId = our reference, the same on every attempt, so YonBIP's own business
idempotency check keeps a retried voucher from being saved twice. What YonBIP answers to a
repeated businessId is not published: whatever it is, a refusal fails the push with YonBIP's
message (the most conservative reading); a 200 is taken as the voucher.

Amounts: only vouchers in the book currency are pushed (finance.vouchers.push refuses others),
so currencyCode is left out (「默认账簿本位币」) and the original and book amounts are equal.
"""

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal

import httpx

from core.outbox import outbox_failure
from finance.vouchers.accounting.base import PushedVoucher, VoucherToPush, answer_json, call
from finance.vouchers.models import AccountingSystem

PLATFORM = "Yonyou"
TOKEN_PATH = "/open-auth/selfAppAuth/base/v1/getAccessToken"
ADD_VOUCHER = "/yonbip/fi/ficloud/openapi/voucher/addVoucher"
TOKEN_OK = "00000"
SAVED = "200"


def token_signature(app_key: str, timestamp: str, app_secret: str) -> str:
    """Base64(HmacSHA256) of the parameters sorted by name, name and value joined (the URL
    encoding is the query string's)."""
    text = f"appKey{app_key}timestamp{timestamp}"
    digest = hmac.new(app_secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class YonyouAdapter:
    def __init__(self, system: AccountingSystem, http: httpx.Client):
        self.system = system
        self.http = http
        self.token = ""

    def push(self, voucher: VoucherToPush) -> PushedVoucher:
        if not self.token:
            self.token = self._token()
        body = self._body(voucher)
        url = self.system.base_url.rstrip("/") + ADD_VOUCHER
        data = json.dumps(body, ensure_ascii=False, default=_number).encode("utf-8")
        response = call(
            PLATFORM,
            lambda: self.http.post(
                url,
                params={"access_token": self.token},
                content=data,
                headers={"Content-Type": "application/json"},
            ),
        )
        answer = answer_json(PLATFORM, response)
        if not isinstance(answer, dict):
            raise outbox_failure(f"{PLATFORM}: unexpected answer {str(answer)[:200]}", temporary=True)
        if str(answer.get("code")) != SAVED:
            raise outbox_failure(
                f"{PLATFORM}: {answer.get('code')} {answer.get('message') or ''}".strip()[:1000],
                temporary=False,
            )
        saved = answer.get("data") or {}
        if not saved.get("voucherId"):
            raise outbox_failure(f"{PLATFORM}: saved, but no voucherId in the answer", temporary=True)
        return PushedVoucher(id=str(saved["voucherId"]), number=str(saved.get("billCode") or ""))

    def _token(self) -> str:
        credentials = self.system.credentials
        timestamp = str(int(time.time() * 1000))
        params = {
            "appKey": credentials["app_key"],
            "timestamp": timestamp,
            "signature": token_signature(credentials["app_key"], timestamp, credentials["app_secret"]),
        }
        url = self.system.auth_url.rstrip("/") + TOKEN_PATH
        answer = answer_json(PLATFORM, call(PLATFORM, lambda: self.http.get(url, params=params)))
        token = ((answer.get("data") or {}).get("access_token") if isinstance(answer, dict) else None) or ""
        if not isinstance(answer, dict) or answer.get("code") != TOKEN_OK or not token:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise outbox_failure(f"{PLATFORM}: no access token: {message}"[:500], temporary=False)
        return token

    def _body(self, voucher: VoucherToPush) -> dict:
        options = self.system.options
        body = {
            "accbookCode": options["accbook_code"],
            "voucherTypeCode": options["voucher_type_code"],
            "period": f"{voucher.year:04d}-{voucher.month:02d}",
            "makeTime": voucher.date.isoformat(),
            "description": voucher.lines[0].summary,
            "businessId": voucher.reference,
            "bodies": [_entry(line) for line in voucher.lines],
        }
        if options.get("maker_mobile"):
            body["makerMobile"] = options["maker_mobile"]
        else:
            body["makerEmail"] = options["maker_email"]
        return body


def _entry(line) -> dict:
    entry = {"description": line.summary, "accsubjectCode": line.account}
    if line.debit:
        entry.update(debitOriginal=line.debit, debitOrg=line.debit)
    else:
        entry.update(creditOriginal=line.credit, creditOrg=line.credit)
    return entry


def _number(value):
    # JSON numbers, as in the published sample (1200.00); two decimals survive a float exactly
    # enough for the shortest repr ("439.6").
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {value!r}")
