"""A local Nuonuo open platform for the tests: POST /open/v1/services checks X-Nuonuo-Sign (the
HMAC-SHA1 of the official SDKs), the accessToken, userTax and method headers, and answers with the
published samples (payloads/invoices, SOURCES.md names each page).

Served methods: requestBillingNew (one invoice per orderNo — a repeat is E9106, as Nuonuo
promises), queryInvoiceResult (开票中 for `pending_polls` queries, then 开票完成), reInvoice, and
saveInvoiceRedConfirm (the red invoice is issued under the confirmation's orderNo)."""

import copy
import hmac
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from finance.invoices.nuonuo import sign

PAYLOADS = Path(__file__).parent / "payloads" / "invoices"
APP_KEY = "SD63236305"
APP_SECRET = "SDDED2523BED4643"
TOKEN = "2d484e0c8a6b4d1bbb7f0a1b2c3d4e5f"
SELLER_TAX_ID = "339902999999789113"  # the sandbox seller tax id the requestBillingNew page names
PATH = "/open/v1/services"


def sample(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@dataclass
class Nuonuo:
    secret: str = APP_SECRET
    pending_polls: int = 1  # queries answered 开票中 before 开票完成
    refuse_next: list[str] = field(default_factory=list)  # fixtures to answer the next issues with
    base_url: str = ""
    calls: list[dict] = field(default_factory=list)
    bad_signatures: int = 0
    invoices: dict[str, dict] = field(default_factory=dict)  # orderNo → what was issued
    red_confirms: list[dict] = field(default_factory=list)

    def handle(self, path: str, headers, body: str) -> tuple[int, dict]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        expected = sign(
            secret=self.secret,
            app_key=query.get("appkey", ""),
            senid=query.get("senid", ""),
            nonce=query.get("nonce", ""),
            timestamp=query.get("timestamp", ""),
            body=body,
            path=url.path,
        )
        ok = (
            url.path == PATH
            and query.get("appkey") == APP_KEY
            and len(query.get("senid", "")) == 32
            and len(query.get("nonce", "")) == 8
            and hmac.compare_digest(expected, headers.get("X-Nuonuo-Sign", ""))
            and headers.get("accessToken") == TOKEN
            and headers.get("userTax") == SELLER_TAX_ID
        )
        if not ok:
            self.bad_signatures += 1
            return 403, {"code": "E0001", "describe": "signature"}  # not published: never read by us
        method = headers.get("method", "")
        content = json.loads(body)
        self.calls.append({"method": method, "content": content})
        if method == "nuonuo.ElectronInvoice.requestBillingNew":
            return 200, self._issue(content["order"])
        if method == "nuonuo.ElectronInvoice.queryInvoiceResult":
            return 200, self._query(content.get("orderNos") or [])
        if method == "nuonuo.ElectronInvoice.reInvoice":
            return 200, {"code": "E0000", "describe": "重试成功", "result": ""}
        if method == "nuonuo.OpeMplatform.saveInvoiceRedConfirm":
            return 200, self._red_confirm(content)
        return 404, {}

    def _issue(self, order: dict) -> dict:
        if self.refuse_next:
            return sample(self.refuse_next.pop(0))
        if order["orderNo"] in self.invoices:
            return sample("duplicate_answer.json")
        serial = f"2016010816582339{len(self.invoices) + 5151:04d}"
        details = order["invoiceDetail"]
        self.invoices[order["orderNo"]] = {
            "serial": serial,
            "order": order,
            "type": "1",
            "amount": sum(Decimal(d["taxIncludedAmount"]) for d in details),
            "net": sum(Decimal(d["taxExcludedAmount"]) for d in details),
            "tax": sum(Decimal(d["tax"]) for d in details),
            "number": f"2231{len(self.invoices) + 1:016d}",
            "polls": 0,
        }
        answer = sample("issue_answer.json")
        answer["result"]["invoiceSerialNum"] = serial
        return answer

    def _query(self, numbers: list[str]) -> dict:
        known = [number for number in numbers if number in self.invoices]
        if not known:
            return sample("not_found_answer.json")
        answer = sample("query_answer.json")
        template = answer["result"][0]
        answer["result"] = []
        for number in known:
            invoice = self.invoices[number]
            invoice["polls"] += 1
            done = invoice["polls"] > self.pending_polls
            item = copy.deepcopy(template)
            item.update(
                serialNo=invoice["serial"],
                orderNo=number,
                status="2" if done else "20",
                statusMsg="开票完成（最终状态）" if done else "开票中",
                orderAmount=f"{invoice['amount']:.2f}",
                exTaxAmount=f"{invoice['net']:.2f}",
                taxAmount=f"{invoice['tax']:.2f}",
                invoiceType=invoice["type"],
                invoiceCode="",
                invoiceNo=invoice["number"] if done else "",
                allElectronicInvoiceNumber=invoice["number"] if done else "",
                pdfUrl=f"https://invtest.jss.com.cn/fp/{invoice['number']}.pdf" if done else "",
                ofdUrl=f"https://invtest.jss.com.cn/fp/{invoice['number']}.ofd" if done else "",
            )
            if invoice["type"] == "2":
                item["oldEleInvoiceNumber"] = invoice["blue"]
            answer["result"].append(item)
        return answer

    def _red_confirm(self, content: dict) -> dict:
        self.red_confirms.append(content)
        blue = next(i for i in self.invoices.values() if i["number"] == content["blueElecInvoiceNumber"])
        if content.get("detail"):
            net = sum(Decimal(d["taxExcludedAmount"]) for d in content["detail"])
            tax = sum(Decimal(d["taxAmount"]) for d in content["detail"])
        else:
            net, tax = -blue["net"], -blue["tax"]
        self.invoices[content["orderNo"]] = {
            "serial": f"2307{len(self.invoices):016d}",
            "type": "2",
            "amount": net + tax,
            "net": net,
            "tax": tax,
            "number": f"2231{len(self.invoices) + 1:016d}",
            "blue": blue["number"],
            "polls": 0,
        }
        return sample("red_confirm_answer.json")

    def issued_count(self, number: str) -> int:
        """How many invoices Nuonuo holds for this order number (its promise: at most one)."""
        return sum(1 for key in self.invoices if key == number)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        stub: Nuonuo = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, answer = stub.handle(self.path, self.headers, body)
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def running(settings, **options):
    """Nuonuo configured for our seller (pytest-django `settings`), its API played here."""
    stub = Nuonuo(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.stub = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.NUONUO_API_URL = stub.base_url + PATH
    settings.NUONUO_APP_KEY = APP_KEY
    settings.NUONUO_APP_SECRET = APP_SECRET
    settings.NUONUO_ACCESS_TOKEN = TOKEN
    settings.NUONUO_SELLER_TAX_ID = SELLER_TAX_ID
    settings.NUONUO_SELLER_NAME = "Conduit Test Seller"
    settings.NUONUO_CLERK = "张三"
    settings.NUONUO_GOODS_CODE = "1090511030000000000"
    settings.INVOICE_PROVIDER = "nuonuo"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
