"""The HTTP scaffolding the fake platform gateways share (fake_top, fake_jd, fake_pdd, fake_douyin,
fake_xiaohongshu): a threading server on a free local port that hands each POST to the fake, and
the fake's answer written back as JSON (a dict) or as text (a str, e.g. an HTML error page).

Only the plumbing is here. How a request carries its parameters (query, form or JSON body) and
what is signed is each platform's own wire rule, so each fake's handler reads the request itself
(`GatewayHandler.answer`) and the fake checks the signature as its platform does."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GatewayHandler(BaseHTTPRequestHandler):
    """Answers a POST with `answer(gateway, path, body)`: (HTTP status, dict or str)."""

    json_content_type = "application/json"  # what the platform's gateway says it sends

    def answer(self, gateway, path: str, body: str) -> tuple[int, dict | str]:
        raise NotImplementedError

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
        status, answer = self.answer(self.server.gateway, self.path, body)
        if isinstance(answer, dict):
            data, kind = json.dumps(answer, ensure_ascii=False).encode("utf-8"), self.json_content_type
        else:
            data, kind = answer.encode("utf-8"), "text/html"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # keep the test output clean


def serve(handler: type[GatewayHandler], gateway, *, name: str, path: str = ""):
    """(server, thread) of `gateway` served on a free port of 127.0.0.1; the gateway's `base_url`
    is set to it (+ `path`, the platform's endpoint) and the server holds the gateway as
    `server.<name>` too, the name the tests read it by (server.top, server.jos …)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.gateway = gateway
    setattr(server, name, gateway)
    host, port = server.server_address
    gateway.base_url = f"http://{host}:{port}{path}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def running(serve):
    """The gateway of `serve()` (a fake module's serve) while the block runs; the server is shut
    down and its port closed afterwards, also when the block fails."""
    server, thread = serve()
    try:
        yield server.gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
