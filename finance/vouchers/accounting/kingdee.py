"""Kingdee K3 Cloud (金蝶云星空) WebAPI: a voucher is one Save of form GL_VOUCHER.

Sources (fixtures and notes in finance/tests/payloads/vouchers/, SOURCES.md):
- the official Python SDK k3cloud_webapi_sdk 3.0.3 (main.py: Save posts {"formid", "data"} to
  Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc, ExecuteBillQuery posts
  {"data"} — "List<List<object>>的json串"; core/webapi_client.py and const/header_param.py: the
  session cookie kdservice-sessionid; a body starting "response_error:" is a server exception);
- the PHP SDK kingdee-php/k3cloud (K3CloudApiSdkForLogin.php): the password login
  AuthService.ValidateUser with {"acctid", "userName", "password", "lcid"}, LoginResultType 1 =
  logged in (Kingdee's own C# sample: "登录结果类型等于1，代表登录成功");
- Kingdee's WebAPI Save documentation (保存接口 请求参数说明, 返回结果): data's IsVerifyBaseDataField /
  ValidateFlag / NumberSearch / Model and the answer Result.ResponseStatus {IsSuccess, Errors
  [{FieldName, Message, DIndex}], SuccessEntitys [{Id, Number, DIndex}]};
- the GL_VOUCHER Model template (FVOUCHERID, FAccountBookID{FNumber}, FDate, FVOUCHERGROUPID
  {FNumber}, FEntity [{FEXPLANATION, FACCOUNTID{FNumber}, FCURRENCYID{FNumber}, FEXCHANGERATETYPE
  {FNumber}, FEXCHANGERATE, FAMOUNTFOR, FDEBIT, FCREDIT, FBUSNO}]) and the sample values PRE001
  (currency) and HLTX01_SYS (rate type);
- Kingdee's community article 第三方通过API对接星空系统传递凭证问题释疑(2): IsVerifyBaseDataField true
  (an unknown account is refused instead of saved blank), ValidateFlag never false.

Idempotency: Save has no published external-number check. Each entry carries our reference in
FBUSNO (业务编号, a text field of the template's entries), and before a Save the adapter asks
ExecuteBillQuery for a GL_VOUCHER with FBUSNO = the reference: found, it is taken as pushed
(query-before-create). FieldKeys FVOUCHERID (the template's key) and FBILLNO (the voucher table's
bill number, queried on GL_VOUCHER in published query scripts) give the id and number; after a
Save they are SuccessEntitys[0].Id and .Number.

Not published, so chosen conservatively: every IsSuccess false is a refusal (no MsgCode is read
as "try again"); a "response_error:" body is retried (a server exception, not a verdict).
"""

import json
from decimal import Decimal

import httpx

from core.outbox import outbox_failure
from finance.vouchers.accounting.base import PushedVoucher, VoucherToPush, answer_json, call
from finance.vouchers.models import AccountingSystem

PLATFORM = "Kingdee"
LOGIN = "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc"
SAVE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc"
QUERY = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
SESSION_COOKIE = "kdservice-sessionid"
FORM = "GL_VOUCHER"
LOGGED_IN = 1
SERVER_EXCEPTION = "response_error:"
DEFAULTS = {"currency": "PRE001", "rate_type": "HLTX01_SYS", "lcid": 2052}


class KingdeeAdapter:
    def __init__(self, system: AccountingSystem, http: httpx.Client):
        self.system = system
        self.http = http
        self.options = {**DEFAULTS, **system.options}
        self.base_url = system.base_url.rstrip("/") + "/"
        self.session = ""

    def push(self, voucher: VoucherToPush) -> PushedVoucher:
        if not self.session:
            self.session = self._login()
        found = self._find(voucher.reference)
        if found is not None:
            return found
        return self._save(voucher)

    def _post(self, service: str, body: dict) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Accept-Charset": "utf-8"}
        if self.session:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.session}"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = call(
            PLATFORM, lambda: self.http.post(self.base_url + service, content=data, headers=headers)
        )
        if response.text.startswith(SERVER_EXCEPTION):
            detail = response.text[len(SERVER_EXCEPTION) :].strip()[:300]
            raise outbox_failure(f"{PLATFORM}: {detail or 'server exception'}", temporary=True)
        return response

    def _login(self) -> str:
        credentials = self.system.credentials
        response = self._post(
            LOGIN,
            {
                "acctid": credentials["acctid"],
                "userName": credentials["username"],
                "password": credentials["password"],
                "lcid": int(self.options["lcid"]),
            },
        )
        answer = answer_json(PLATFORM, response)
        if not isinstance(answer, dict) or answer.get("LoginResultType") != LOGGED_IN:
            message = answer.get("Message") if isinstance(answer, dict) else None
            raise outbox_failure(f"{PLATFORM}: login refused: {message or answer!r}"[:500], temporary=False)
        session = response.cookies.get(SESSION_COOKIE)
        if not session:
            raise outbox_failure(f"{PLATFORM}: the login set no {SESSION_COOKIE} cookie", temporary=False)
        return session

    def _find(self, reference: str) -> PushedVoucher | None:
        query = {
            "FormId": FORM,
            "FieldKeys": "FVOUCHERID,FBILLNO",
            "FilterString": f"FBUSNO='{reference}'",
            "StartRow": 0,
            "Limit": 1,
        }
        rows = answer_json(PLATFORM, self._post(QUERY, {"data": query}))
        if isinstance(rows, list) and not rows:
            return None
        row = rows[0] if isinstance(rows, list) else None
        if isinstance(row, list) and len(row) == 2 and not isinstance(row[0], dict):
            return PushedVoucher(id=str(row[0]), number=str(row[1] or ""))
        # An error comes back in the query's list as a Result object. Without the lookup a Save
        # could make a second voucher: refused, for a person to look at.
        detail = _errors(row[0] if isinstance(row, list) and row else row) or str(rows)[:200]
        raise outbox_failure(f"{PLATFORM}: looking up {reference} failed: {detail}"[:500], temporary=False)

    def _save(self, voucher: VoucherToPush) -> PushedVoucher:
        options = self.options
        entries = [
            {
                "FEXPLANATION": line.summary,
                "FACCOUNTID": {"FNumber": line.account},
                "FCURRENCYID": {"FNumber": options["currency"]},
                "FEXCHANGERATETYPE": {"FNumber": options["rate_type"]},
                "FEXCHANGERATE": 1,
                "FAMOUNTFOR": _amount(line.debit or line.credit),
                "FDEBIT": _amount(line.debit),
                "FCREDIT": _amount(line.credit),
                "FBUSNO": voucher.reference,
            }
            for line in voucher.lines
        ]
        data = {
            "IsVerifyBaseDataField": True,
            "ValidateFlag": True,
            "NumberSearch": True,
            "Model": {
                "FVOUCHERID": 0,
                "FAccountBookID": {"FNumber": options["account_book"]},
                "FDate": voucher.date.isoformat(),
                "FVOUCHERGROUPID": {"FNumber": options["voucher_group"]},
                "FEntity": entries,
            },
        }
        answer = answer_json(PLATFORM, self._post(SAVE, {"formid": FORM, "data": data}))
        status = (answer.get("Result") or {}).get("ResponseStatus") if isinstance(answer, dict) else None
        if not isinstance(status, dict):
            raise outbox_failure(f"{PLATFORM}: unexpected answer {str(answer)[:200]}", temporary=True)
        if not _is_true(status.get("IsSuccess")):
            raise outbox_failure(
                f"{PLATFORM}: {_errors(answer) or 'IsSuccess false'}"[:1000], temporary=False
            )
        entity = (status.get("SuccessEntitys") or [{}])[0]
        if not entity.get("Id"):
            raise outbox_failure(f"{PLATFORM}: saved, but no SuccessEntitys id in the answer", temporary=True)
        return PushedVoucher(id=str(entity["Id"]), number=str(entity.get("Number") or ""))


def _is_true(value) -> bool:
    # The documentation's template writes "false" as a string; answers carry JSON booleans.
    return value is True or str(value).lower() == "true"


def _errors(answer) -> str:
    if not isinstance(answer, dict):
        return ""
    status = (answer.get("Result") or {}).get("ResponseStatus") or {}
    errors = status.get("Errors") or []
    return "; ".join(
        f"{e.get('FieldName')}: {e.get('Message')}" if e.get("FieldName") else str(e.get("Message"))
        for e in errors
        if isinstance(e, dict)
    )


def _amount(value: Decimal) -> str:
    # Amounts as decimal text, as in Kingdee's sample ("FDEBIT": "1128.1"): no float rounding.
    return format(value, "f")
