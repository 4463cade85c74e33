"""A worker killed mid-delivery (SPEC R-X4): the outbox delivers at least once, and a receiver
that deduplicates on the Idempotency-Key applies the effect exactly once.

The delivery runs in a real separate process against the same PostgreSQL database. Its handler
POSTs to a local receiver, which applies the effect and then holds the answer until the test has
SIGKILLed the worker, so the worker dies after the effect and before it records success. Once the
lease has run out a sweep delivers the message again."""

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.models import OutboxMessage, OutboxState
from core.outbox import (
    LEASE,
    SKIPPED,
    RetryLater,
    outbox_deliver,
    outbox_enqueue,
    outbox_sweep,
    register_handler,
)
from core.tasks import deliver_outbox_message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

KIND = "test.crash.http_post"


@register_handler(KIND)
def post_to_receiver(message) -> None:
    """What any outbound handler does: one HTTP call carrying the message's idempotency key."""
    response = httpx.post(
        message.payload["url"],
        json=message.payload,
        headers={"Idempotency-Key": message.idempotency_key},
        timeout=60,
    )
    if response.status_code != 200:
        raise RetryLater(f"receiver answered {response.status_code}")


class Receiver:
    """Applies each idempotency key's effect once; can hold its first answer until released."""

    def __init__(self):
        self.url = ""
        self.requests: list[str] = []
        self.effects: dict[str, list[dict]] = {}
        self.hold_first = True
        self.received = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        receiver: Receiver = self.server.receiver
        key = self.headers.get("Idempotency-Key", "")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        with receiver.lock:
            receiver.requests.append(key)
            duplicate = key in receiver.effects
            if not duplicate:
                receiver.effects[key] = [body]  # the effect, applied once per key
            hold = receiver.hold_first and len(receiver.requests) == 1
        if hold:
            receiver.received.set()
            receiver.release.wait(timeout=60)
        data = json.dumps({"duplicate": duplicate}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the worker that asked is dead
            pass


@pytest.fixture
def receiver():
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.receiver = state
    state.url = f"http://127.0.0.1:{server.server_address[1]}/payments/capture"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker(message_id: int) -> subprocess.Popen:
    """A separate process (as a Celery worker would be) delivering one outbox message."""
    script = (
        "import django; django.setup(); "
        "import core.tests.test_outbox_crash; "  # registers the handler, as the worker's app would
        "from core.outbox import outbox_deliver; "
        f"print(outbox_deliver({message_id}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url()}
    return subprocess.Popen([sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR)


def test_a_worker_killed_after_the_effect_is_redelivered_and_applied_once(receiver, monkeypatch):
    # given a message, not delivered in-process on commit (the separate worker will take it)
    monkeypatch.setattr(deliver_outbox_message, "delay", lambda *args, **kwargs: None)
    with transaction.atomic():
        outbox_enqueue(
            kind=KIND, payload={"url": receiver.url, "amount": "59.90"}, idempotency_key="capture:SO1"
        )
    message = OutboxMessage.objects.get(idempotency_key="capture:SO1")

    # when the worker's call reaches the receiver and the worker is killed before recording it
    worker = start_worker(message.pk)
    try:
        assert receiver.received.wait(timeout=60), "the worker never called the receiver"
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        receiver.release.set()

    # then the effect was applied, but the message is still "delivering" under the dead worker's lease
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.DELIVERING, 1)
    assert receiver.effects == {"capture:SO1": [{"url": receiver.url, "amount": "59.90"}]}
    assert outbox_deliver(message.pk) == SKIPPED  # nobody takes it over before the lease ends

    # when the lease has passed, the sweep delivers it again
    assert outbox_sweep(now=timezone.now() + LEASE + timedelta(seconds=1)) == 1

    # then it is delivered, the receiver saw the key twice and applied the effect once
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.DELIVERED, 2)
    assert receiver.requests == ["capture:SO1", "capture:SO1"]
    assert receiver.effects == {"capture:SO1": [{"url": receiver.url, "amount": "59.90"}]}
    assert outbox_deliver(message.pk) == SKIPPED  # delivered is final
