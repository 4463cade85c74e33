"""A local WeChat Pay (API v3) for the tests: a generated platform key and certificate, signed and
encrypted notifications built the way WeChat Pay builds them, and an HTTP server that checks our
Authorization signature with the merchant's public key and signs every answer.

Served: GET /v3/certificates (the published platform certificates, each encrypted with the APIv3
key) and POST /v3/refund/domestic/refunds (one refund per out_refund_no, as WeChat Pay promises).
"""

import json
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from finance.providers.wechatpay_signing import (
    SCHEMA,
    answer_message,
    certificate_serial,
    encrypt_resource,
    parse_authorization,
    request_message,
    rsa_sign,
    rsa_verifies,
)

PAYLOADS = Path(__file__).parent / "payloads" / "wechatpay"
MCHID = "1230000109"
API_V3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"  # 32 characters, as WeChat Pay requires
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD00000000"


def sample(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@dataclass
class Platform:
    """A platform certificate and its key, as WeChat Pay holds them."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    serial: str = ""
    pem: str = ""

    def __post_init__(self):
        self.serial = certificate_serial(self.certificate)
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_platform(*, key=None, serial_number=None, days=(-1, 365)) -> Platform:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com sign"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial_number or x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .sign(key, hashes.SHA256())
    )
    return Platform(key, certificate)


def signed_headers(platform: Platform, body: bytes, *, timestamp=None, nonce=None, key=None) -> dict:
    """The Wechatpay-* headers of an answer or a notification."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa_sign(key or platform.key, answer_message(timestamp, nonce, body)),
        "Wechatpay-Serial": platform.serial,
        "Wechatpay-Signature-Type": SCHEMA,
    }


def encrypted(plaintext: dict, *, original_type: str, associated_data: str, key: str = API_V3_KEY) -> dict:
    nonce = secrets.token_hex(6)  # 12 characters
    text = json.dumps(plaintext, ensure_ascii=False).encode()
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": encrypt_resource(key, nonce=nonce, associated_data=associated_data, plaintext=text),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def transaction_notification(order_number: str, **changes) -> tuple[dict, dict]:
    """(envelope, decrypted transaction) of a TRANSACTION.SUCCESS notification built from the
    published sample, for our order and merchant."""
    envelope, transaction = sample("transaction_notification.json"), sample("transaction_resource.json")
    transaction.update({"mchid": MCHID, "out_trade_no": order_number}, **changes)
    envelope["id"] = f"EV-{secrets.token_hex(8)}"
    envelope["resource"] = encrypted(transaction, original_type="transaction", associated_data="transaction")
    return envelope, transaction


def refund_notification(out_refund_no: str, transaction_id: str, refund_fen: int, status="SUCCESS") -> dict:
    envelope, refund = sample("refund_notification.json"), sample("refund_resource.json")
    refund.update(
        mchid=MCHID, out_refund_no=out_refund_no, transaction_id=transaction_id, refund_status=status
    )
    refund["amount"].update(refund=refund_fen, payer_refund=refund_fen)
    envelope["id"] = f"EV-{secrets.token_hex(8)}"
    envelope["event_type"] = f"REFUND.{status}"
    envelope["resource"] = encrypted(refund, original_type="refund", associated_data="refund")
    return envelope


@dataclass
class WechatPay:
    merchant_public_key: object
    platform: Platform
    published: list[Platform] = field(default_factory=list)  # what /v3/certificates lists
    base_url: str = ""
    requests: list[dict] = field(default_factory=list)
    refunds: dict[str, dict] = field(default_factory=dict)  # out_refund_no → the refund made
    refund_status: str = "SUCCESS"
    queued: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)  # path → (status, body)
    answer_key: object = None  # signs answers instead of the platform key (a forged answer)

    def queue(self, path: str, status: int, body: dict) -> None:
        self.queued.setdefault(path, []).append((status, body))

    def paths(self) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.requests]

    def authorization_problem(self, method: str, url: str, headers, body: str) -> str:
        items = parse_authorization(headers.get("Authorization", ""))
        if items is None:
            return "not WECHATPAY2-SHA256-RSA2048"
        if items.get("mchid") != MCHID or items.get("serial_no") != MERCHANT_SERIAL:
            return "unknown mchid or serial_no"
        if abs(time.time() - int(items.get("timestamp", "0"))) > 300:
            return "timestamp expired"
        message = request_message(method, url, items["timestamp"], items.get("nonce_str", ""), body)
        if not rsa_verifies(self.merchant_public_key, message, items.get("signature", "")):
            return "signature does not verify"
        return ""

    def handle(self, method: str, url: str, headers, body: str) -> tuple[int, dict]:
        problem = self.authorization_problem(method, url, headers, body)
        self.requests.append(
            {
                "method": method,
                "path": urlsplit(url).path,
                "headers": dict(headers),
                "body": body,
                "auth": problem,
            }
        )
        if problem:
            return 401, {"code": "SIGN_ERROR", "message": problem}
        path = urlsplit(url).path
        if self.queued.get(path):
            return self.queued[path].pop(0)
        if method == "GET" and path == "/v3/certificates":
            return 200, {"data": [self._certificate_item(p) for p in self.published or [self.platform]]}
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            return 200, self._refund(json.loads(body))
        return 404, {"code": "NOT_FOUND", "message": path}

    def _certificate_item(self, platform: Platform) -> dict:
        item = sample("certificates_answer.json")["data"][0]
        nonce = secrets.token_hex(6)
        item["serial_no"] = platform.serial
        item["encrypt_certificate"].update(
            nonce=nonce,
            associated_data="certificate",
            ciphertext=encrypt_resource(
                API_V3_KEY, nonce=nonce, associated_data="certificate", plaintext=platform.pem.encode()
            ),
        )
        item["effective_time"] = platform.certificate.not_valid_before_utc.isoformat()
        item["expire_time"] = platform.certificate.not_valid_after_utc.isoformat()
        return item

    def _refund(self, request: dict) -> dict:
        number = request["out_refund_no"]
        if number not in self.refunds:  # 同一退款单号多次请求只退一笔
            answer = sample("refund_answer.json")
            answer.update(
                refund_id=f"5030{len(self.refunds) + 1:026d}",
                out_refund_no=number,
                transaction_id=request.get("transaction_id", ""),
                status=self.refund_status,
            )
            answer["amount"].update(
                refund=request["amount"]["refund"],
                total=request["amount"]["total"],
                payer_refund=request["amount"]["refund"],
                payer_total=request["amount"]["total"],
                currency=request["amount"]["currency"],
            )
            self.refunds[number] = answer
        return self.refunds[number]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _serve(self, method: str):
        stub: WechatPay = self.server.stub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, answer = stub.handle(method, self.path, self.headers, body)
        data = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in signed_headers(stub.platform, data, key=stub.answer_key).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")


def start(stub: WechatPay) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.stub = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def running(settings, merchant_key, platform: Platform):
    """WeChat Pay configured for our merchant (pytest-django `settings`), its API played here."""
    stub = WechatPay(merchant_public_key=merchant_key.public_key(), platform=platform)
    server, thread = start(stub)
    settings.WECHATPAY_MCHID = MCHID
    settings.WECHATPAY_MERCHANT_SERIAL_NO = MERCHANT_SERIAL
    settings.WECHATPAY_MERCHANT_PRIVATE_KEY = merchant_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings.WECHATPAY_API_V3_KEY = API_V3_KEY
    settings.WECHATPAY_API_URL = stub.base_url
    settings.WECHATPAY_TOLERANCE_SECONDS = 300
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
