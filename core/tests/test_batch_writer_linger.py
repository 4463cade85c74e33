"""The batch writers linger for more callers only while callers queue (core.batch_writer.serve):
a lone caller is never kept waiting, and what arrives during the linger joins the batch."""

import json
import threading
import time
import uuid

from core.batch_writer import BatchWriterQueue, serve
from core.tests.real_worker import redis_url


class _ScriptedQueue:
    """serve_once answers how many requests it took, from a script; records the linger it got."""

    def __init__(self, taken: list[int]):
        self.taken, self.lingers = list(taken), []

    def serve_once(self, settle, *, max_batch, wait, linger):
        self.lingers.append(linger)
        return self.taken.pop(0)


def test_the_writer_lingers_only_after_a_batch_of_more_than_one(monkeypatch):
    monkeypatch.setattr("core.batch_writer.close_old_connections", lambda: None)
    queue = _ScriptedQueue([1, 0, 3, 2, 1, 1, 5])
    serve(queue, settle=None, max_batch=10, stopped=lambda: not queue.taken, linger=0.002)
    assert queue.lingers == [0.0, 0.0, 0.0, 0.002, 0.002, 0.0, 0.0]


def test_what_arrives_while_the_writer_lingers_joins_its_batch():
    queue = BatchWriterQueue(redis_url(), f"linger-test-{uuid.uuid4().hex}", unavailable="-", late="-")
    try:
        queue.client.rpush(queue.queue, _request("first"))
        late = threading.Timer(0.05, lambda: queue.client.rpush(queue.queue, _request("second")))
        late.start()
        taken, waiting = queue.take(max_batch=10, wait=1, linger=0.3)
        late.join()
        assert taken == 2 and [r["item"] for r in waiting] == ["first", "second"]
        queue.client.rpush(queue.queue, _request("alone"))
        threading.Timer(0.05, lambda: queue.client.rpush(queue.queue, _request("next"))).start()
        taken, waiting = queue.take(max_batch=10, wait=1)  # no linger: the next one waits its turn
        assert [r["item"] for r in waiting] == ["alone"]
    finally:
        time.sleep(0.1)
        queue.client.delete(queue.queue)


def _request(item: str) -> str:
    return json.dumps({"reply": f"reply-{item}", "deadline": time.time() + 60, "item": item})
