"""A fake Pinduoduo message service (wss://message-api.pinduoduo.com, research notes for #16
jd-pinduoduo.md §A4) on localhost, plain ws://, for the tests of integrations/pdd/messages.py.

The handshake is checked as [PDD-JAVA] `WsClient.doConnect` builds it, with the fake's own
implementation: the path /message/{client_id}/{timestamp_ms}/{sig}, sig =
base64(md5_hex_lower(client_id + timestamp_ms + client_secret)) (the vector of
payloads/pdd_message_ws_auth_vector.json), the client_id of fake_pdd, a timestamp in milliseconds
within 10 minutes. A wrong one is refused with HTTP 403 before the upgrade.

Each connection is sent, in order, the frames in `frames` that no client has acknowledged yet
(payloads/pdd_message_frame_*.json; how PDD redelivers an unacknowledged message is not
documented: this fake sends it again on the next connection), then `after` (server heartbeats…);
it then reads what the client sends — Acks (`acks`, by frame id) and HeartBeats (`heartbeats`) —
and closes the connection once the client has been quiet for `idle` seconds."""

import base64
import hashlib
import hmac
import json
import threading
import time
from http import HTTPStatus
from urllib.parse import unquote

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve as ws_serve

from integrations.tests.fake_pdd import CLIENT_ID, CLIENT_SECRET


def signature(client_id: str, timestamp_ms: str, secret: str) -> str:
    text = hashlib.md5(f"{client_id}{timestamp_ms}{secret}".encode()).hexdigest()
    return base64.b64encode(text.encode()).decode()


class FakeMessageService:
    def __init__(self):
        self.lock = threading.Lock()
        self.url = ""
        self.frames: list[dict] = []
        self.after: list[dict] = []  # sent after the frames on every connection
        self.paths: list[str] = []
        self.refused: list[str] = []
        self.acks: list[dict] = []
        self.heartbeats: list[dict] = []
        self.sent: list[int] = []  # ids of the frames sent, every delivery
        self.idle = 0.4

    def acked_ids(self) -> set[int]:
        return {ack["id"] for ack in self.acks}

    def check(self, path: str) -> bool:
        parts = path.split("?")[0].split("/")
        if len(parts) != 5 or parts[:2] != ["", "message"]:
            return False
        _, _, client_id, timestamp_ms, sig = parts
        if client_id != CLIENT_ID or not timestamp_ms.isdigit():
            return False
        if abs(time.time() * 1000 - int(timestamp_ms)) > 600_000:
            return False
        expected = signature(client_id, timestamp_ms, CLIENT_SECRET)
        return hmac.compare_digest(unquote(sig).encode(), expected.encode())

    def process_request(self, connection, request):
        with self.lock:
            self.paths.append(request.path)
            if self.check(request.path):
                return None
            self.refused.append(request.path)
        return connection.respond(HTTPStatus.FORBIDDEN, "sign error\n")

    def handler(self, connection):
        with self.lock:
            due = [f for f in self.frames if f["id"] not in self.acked_ids()] + list(self.after)
        try:
            for frame in due:
                connection.send(json.dumps(frame, ensure_ascii=False))
                if frame.get("commandType") == "Common":
                    with self.lock:
                        self.sent.append(frame["id"])
            while True:
                try:
                    raw = connection.recv(timeout=self.idle)
                except TimeoutError:
                    break
                answer = json.loads(raw)
                with self.lock:
                    if answer.get("commandType") == "Ack":
                        self.acks.append(answer)
                    elif answer.get("commandType") == "HeartBeat":
                        self.heartbeats.append(answer)
        except ConnectionClosed:
            return


def serve():
    """(server, thread) of a fake message service on a free port; `server.fake` is its state."""
    fake = FakeMessageService()
    server = ws_serve(fake.handler, "127.0.0.1", 0, process_request=fake.process_request)
    server.fake = fake
    host, port = server.socket.getsockname()[:2]
    fake.url = f"ws://{host}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
