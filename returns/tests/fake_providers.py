"""A local HTTP server that plays Stripe, Alipay and Shopify for the refund handlers: it records
every request and answers what the test queued (or a sensible success)."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class Provider:
    def __init__(self):
        self.base_url = ""
        self.requests: list[dict] = []
        self.answers: dict[str, list[tuple[int, object]]] = {}  # path → queued (status, body)
        self.alipay_key = None  # Alipay's own private key: it signs the gateway's answers

    def answer(self, path: str, status: int, body) -> None:
        self.answers.setdefault(path, []).append((status, body))

    def paths(self) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.requests]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _handle(self, method: str):
        stub: Provider = self.server.stub
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type and raw:
            body = json.loads(raw)
        elif raw:
            body = dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True))
        else:
            body = None
        stub.requests.append(
            {
                "method": method,
                "path": url.path,
                "query": dict(parse_qsl(url.query)),
                "headers": dict(self.headers),
                "body": body,
            }
        )
        queued = stub.answers.get(url.path)
        status, answer = queued.pop(0) if queued else (404, {"error": "not found"})
        text = answer if isinstance(answer, str) else json.dumps(answer)
        if url.path == "/gateway.do" and isinstance(answer, dict) and stub.alipay_key is not None:
            text = signed_alipay_answer(answer, stub.alipay_key)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")


def signed_alipay_answer(node: dict, private_key) -> str:
    """The gateway's answer: the response node's JSON text, signed as sent."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    signature = base64.b64encode(
        private_key.sign(node_text.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    return f'{{"alipay_trade_refund_response":{node_text},"sign":"{signature}"}}'


def start() -> tuple[Provider, ThreadingHTTPServer, threading.Thread]:
    stub = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.stub = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return stub, server, thread
