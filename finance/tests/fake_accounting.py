"""Fake accounting systems on localhost for the voucher push tests (issue #20 part 3), answering
with the published samples of payloads/vouchers/ (SOURCES.md).

FakeKingdee (K3 Cloud WebAPI): ValidateUser checks acctid / userName / password and answers
kingdee_login_success.json with a new `kdservice-sessionid` cookie; Save and ExecuteBillQuery
refuse a request without a live session (an answer of the fake's own). Save of GL_VOUCHER checks
the account book, the voucher group, balance and every FACCOUNTID against its chart of accounts:
an unknown account gets the envelope of kingdee_save_error.json (the message is the fake's own);
a good voucher is kept and answered as kingdee_save_success.json, Id and Number counting up.
ExecuteBillQuery understands the one filter the adapter sends, FBUSNO='…', and answers
[[FVOUCHERID, FBILLNO]] rows (the SDK's "List<List<object>>").

FakeYonyou (YonBIP): GET …/getAccessToken checks the appKey and the HmacSHA256 signature
(computed here on its own) and answers yonyou_token_success.json; addVoucher checks the
access_token, then the required fields: an empty accbookCode gets yonyou_add_voucher_error.json
verbatim, an unknown accsubjectCode that envelope with a message of the fake's own, a good
voucher yonyou_add_voucher_success.json with voucherId and billCode counting up. A repeated
businessId saves nothing and answers the first voucher's body again: YonBIP documents businessId
as its idempotency check but not its answer, so this is the fake's assumption.

Faults are scripted per path suffix ("Save", "addVoucher"…), used once, in order:
"http_503" answers 503 and does nothing; "lost" does the work and then answers 502 (the answer
is lost on the way back)."""

import base64
import copy
import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PAYLOADS = Path(__file__).parent / "payloads" / "vouchers"
ACCOUNTS = {"6001", "6001.01", "6051", "6601.01", "1122"}

KINGDEE_LOGIN = {"acctid": "5a5323bac5c6ea", "username": "conduit", "password": "k3-pass"}
YONYOU_APP_KEY, YONYOU_APP_SECRET = "41832a3d2df94989b500da6a22268747", "yonyou-secret"


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


class FakeSystem:
    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""
        self.requests: list[dict] = []
        self.faults: list[tuple[str, str]] = []
        self.accounts = set(ACCOUNTS)
        self.vouchers: list[dict] = []

    def fault_for(self, path: str) -> str:
        with self.lock:
            for index, (suffix, fault) in enumerate(self.faults):
                if path.split("?")[0].endswith(suffix):
                    del self.faults[index]
                    return fault
        return ""

    def handle(self, method: str, path: str, headers, body: str) -> tuple[int, object, dict]:
        raise NotImplementedError


class FakeKingdee(FakeSystem):
    books = {"100"}
    groups = {"PRE001"}

    def __init__(self):
        super().__init__()
        self.sessions: set[str] = set()

    def handle(self, method, path, headers, body):
        self.requests.append({"path": path, "body": body, "cookie": headers.get("Cookie", "")})
        service = path.rsplit("/", 1)[-1]
        request = json.loads(body or "{}")
        if service.endswith("AuthService.ValidateUser.common.kdsvc"):
            return self._login(request)
        cookie = SimpleCookie(headers.get("Cookie", ""))
        session = cookie["kdservice-sessionid"].value if "kdservice-sessionid" in cookie else ""
        if session not in self.sessions:
            return 200, _kingdee_error("", "fake: no session, log in first"), {}
        fault = self.fault_for(service.removesuffix(".common.kdsvc"))
        if fault == "http_503":
            return 503, "<html>Service Unavailable</html>", {}
        if service.endswith("DynamicFormService.ExecuteBillQuery.common.kdsvc"):
            return 200, self._query(request["data"]), {}
        if service.endswith("DynamicFormService.Save.common.kdsvc"):
            answer = self._save(request)
            return (502, "<html>Bad Gateway</html>", {}) if fault == "lost" else (200, answer, {})
        return 404, "not found", {}

    def _login(self, request):
        given = (request.get("acctid"), request.get("userName"), request.get("password"))
        if given != (KINGDEE_LOGIN["acctid"], KINGDEE_LOGIN["username"], KINGDEE_LOGIN["password"]):
            return 200, {"Message": "fake: wrong user or password", "LoginResultType": 0}, {}
        session = f"fake-session-{len(self.sessions) + 1}"
        self.sessions.add(session)
        answer = sample("kingdee_login_success")
        answer["Context"]["SessionId"] = session
        return 200, answer, {"Set-Cookie": f"kdservice-sessionid={session}; path=/"}

    def _query(self, data):
        assert data["FormId"] == "GL_VOUCHER" and data["FieldKeys"] == "FVOUCHERID,FBILLNO", data
        prefix, _sep, rest = data["FilterString"].partition("=")
        assert prefix == "FBUSNO", data
        reference = rest.strip("'")
        return [
            [voucher["id"], voucher["number"]]
            for voucher in self.vouchers
            if any(e.get("FBUSNO") == reference for e in voucher["model"]["FEntity"])
        ][: data.get("Limit") or None]

    def _save(self, request):
        assert request["formid"] == "GL_VOUCHER", request
        model = request["data"]["Model"]
        if model["FAccountBookID"]["FNumber"] not in self.books:
            return _kingdee_error(
                "FAccountBookID", f"fake: account book {model['FAccountBookID']['FNumber']}"
            )
        if model["FVOUCHERGROUPID"]["FNumber"] not in self.groups:
            return _kingdee_error(
                "FVOUCHERGROUPID", f"fake: voucher group {model['FVOUCHERGROUPID']['FNumber']}"
            )
        for index, entry in enumerate(model["FEntity"], start=1):
            if entry["FACCOUNTID"]["FNumber"] not in self.accounts:
                return _kingdee_error(
                    "FACCOUNTID",
                    f"fake: entry {index}: account {entry['FACCOUNTID']['FNumber']} does not exist",
                )
        debit = sum(float(e["FDEBIT"]) for e in model["FEntity"])
        credit = sum(float(e["FCREDIT"]) for e in model["FEntity"])
        if round(debit - credit, 2):
            return _kingdee_error("FEntity", "fake: debit and credit differ")
        with self.lock:
            answer = sample("kingdee_save_success")
            status = answer["Result"]["ResponseStatus"]
            voucher_id = status["SuccessEntitys"][0]["Id"] + len(self.vouchers)
            number = f"FKSQ{4 + len(self.vouchers):06d}"
            status["SuccessEntitys"][0].update(Id=voucher_id, Number=number)
            answer["Result"].update(Id=voucher_id, Number=number)
            self.vouchers.append({"id": voucher_id, "number": number, "model": copy.deepcopy(model)})
        return answer


def _kingdee_error(field: str, message: str) -> dict:
    answer = sample("kingdee_save_error")
    answer["Result"]["ResponseStatus"]["Errors"] = [{"FieldName": field, "Message": message, "DIndex": 0}]
    return answer


def yonyou_signature(app_key: str, timestamp: str, secret: str) -> str:
    text = f"appKey{app_key}timestamp{timestamp}"
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


class FakeYonyou(FakeSystem):
    books = {"BOOK01"}
    voucher_types = {"01"}

    def __init__(self):
        super().__init__()
        self.token = sample("yonyou_token_success")["data"]["access_token"]
        self.issued = False
        self.by_business_id: dict[str, dict] = {}

    def handle(self, method, path, headers, body):
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append({"method": method, "path": url.path, "query": query, "body": body})
        if url.path.endswith("/open-auth/selfAppAuth/base/v1/getAccessToken") and method == "GET":
            return self._token(query)
        if not url.path.endswith("/yonbip/fi/ficloud/openapi/voucher/addVoucher") or method != "POST":
            return 404, "not found", {}
        if not self.issued or query.get("access_token") != self.token:
            return 200, "非法token", {}  # as YonBIP's gateway answers a bad token (text/plain)
        fault = self.fault_for("addVoucher")
        if fault == "http_503":
            return 503, "<html>Service Unavailable</html>", {}
        answer = self._add(json.loads(body))
        return (502, "<html>Bad Gateway</html>", {}) if fault == "lost" else (200, answer, {})

    def _token(self, query):
        expected = yonyou_signature(query.get("appKey", ""), query.get("timestamp", ""), YONYOU_APP_SECRET)
        if query.get("appKey") != YONYOU_APP_KEY or not hmac.compare_digest(
            query.get("signature", "").encode(), expected.encode()
        ):
            return 401, {"code": "fake-401", "message": "fake: signature or appKey refused"}, {}
        self.issued = True
        return 200, sample("yonyou_token_success"), {}

    def _add(self, request):
        if not request.get("accbookCode"):
            return sample("yonyou_add_voucher_error")
        error = sample("yonyou_add_voucher_error")
        if (
            request["accbookCode"] not in self.books
            or request.get("voucherTypeCode") not in self.voucher_types
        ):
            return {**error, "message": "fake: unknown account book or voucher type"}
        if not (request.get("makerMobile") or request.get("makerEmail")):
            return {**error, "message": "fake: makerMobile or makerEmail"}
        for body in request["bodies"]:
            if body["accsubjectCode"] not in self.accounts:
                return {**error, "message": f"fake: account {body['accsubjectCode']} does not exist"}
            if ("debitOrg" in body) == ("creditOrg" in body):
                return {**error, "message": "fake: debit and credit in one entry"}
        with self.lock:
            if request.get("businessId") in self.by_business_id:
                return copy.deepcopy(self.by_business_id[request["businessId"]])
            answer = sample("yonyou_add_voucher_success")
            answer["data"]["voucherId"] = f"{answer['data']['voucherId'][:-4]}{len(self.vouchers):04d}"
            answer["data"]["billCode"] += len(self.vouchers)
            answer["data"]["period"] = request.get("period")
            self.vouchers.append({"id": answer["data"]["voucherId"], "request": copy.deepcopy(request)})
            if request.get("businessId"):
                self.by_business_id[request["businessId"]] = copy.deepcopy(answer)
        return answer


class _Handler(BaseHTTPRequestHandler):
    def _serve(self, method: str):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        status, answer, headers = self.server.fake.handle(method, self.path, self.headers, body)
        if isinstance(answer, dict | list):
            data, kind = json.dumps(answer, ensure_ascii=False).encode("utf-8"), "application/json"
        else:
            data, kind = answer.encode("utf-8"), "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def log_message(self, *args):
        pass


@contextmanager
def running(fake: FakeSystem):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
