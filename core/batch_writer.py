"""One writer process for requests that batch well across every web process (issue #18: a hot SKU's
checkout locks, inventory.lock_writer; single order POSTs, orders.api.intake_writer). The
in-process group commit (core.group_commit) batches only the callers of one process; behind
gunicorn's 4 processes × 8 threads that makes batches of about two. Here every web process hands
its request to the writer over a Redis list and waits for the answer on a key of its own; the
writer (or each of several taking the same list) takes everything waiting (up to `max_batch`),
settles it in one transaction and answers each caller.

Nothing acknowledged is lost: a caller is answered only after its work committed. What can happen
is the reverse — a caller that gave up (the writer was down or slow) is answered with an error
although the writer, coming back, might still have done its work. The writer therefore serves only
requests whose caller will still be waiting for at least `SERVE_MARGIN` seconds; a request popped
by a writer that then dies is lost with the writer and its caller times out (never acknowledged).

Wire format (ours, internal): the queue holds JSON {"reply": key, "deadline": unix time, "item": …};
the reply key holds the answer (JSON, or bytes of the writer's own encoding), kept a minute in case
its caller reads it late."""

import json
import os
import signal
import time
from collections.abc import Callable

import redis
from django.db import close_old_connections

from core.errors import DomainError
from core.handoff import publishes_held
from core.processes import tune_garbage_collector

SERVE_MARGIN = 1.0  # seconds a caller must still be waiting for its request to be served
REPLY_KEPT = 60


class WriterUnavailable(DomainError):
    """The writer did not answer in time: nothing was acknowledged; the caller may ask again."""

    status_code = 503


class BatchWriterQueue:
    def __init__(
        self,
        url: str,
        name: str,
        *,
        unavailable: str,
        late: str,
    ):
        # One client per process: redis-py's pool gives each waiting thread its own connection.
        self.client = redis.Redis.from_url(url)
        self.queue = f"conduit:{name}:requests"
        self.unavailable, self.late = unavailable, late  # what WriterUnavailable says, translated when raised

    def call(self, item: dict, *, timeout: float, raw: bool = False):
        """Hand `item` to the writer and wait for its answer (a caller in a web process): decoded
        from JSON, or with `raw` the bytes as the writer gave them."""
        reply = f"{self.queue}:reply:{os.urandom(16).hex()}"  # uuid4's randomness, without its object
        request = {"reply": reply, "deadline": time.time() + timeout, "item": item}
        try:  # one round trip: the request queued, then the wait for its answer
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(self.queue, json.dumps(request))
            pipe.blpop([reply], timeout=timeout)
            _queued, answer = pipe.execute()
        except redis.RedisError as exc:
            raise WriterUnavailable(str(self.unavailable)) from exc
        if answer is None:
            raise WriterUnavailable(str(self.late))
        return answer[1] if raw else json.loads(answer[1])

    def take(self, *, max_batch: int, wait: float, linger: float = 0.0) -> tuple[int, list[dict]]:
        """What is waiting (blocking up to `wait` seconds for the first, then `linger` seconds for
        more to arrive; at most `max_batch`): how many requests were taken, and those whose callers
        will still wait SERVE_MARGIN."""
        first = self.client.blpop([self.queue], timeout=wait)
        if first is None:
            return 0, []
        if linger:
            time.sleep(linger)
        more = (self.client.lpop(self.queue, max_batch - 1) or []) if max_batch > 1 else []
        requests = [json.loads(raw) for raw in (first[1], *more)]
        now = time.time()
        return len(requests), [request for request in requests if request["deadline"] - now >= SERVE_MARGIN]

    def answer(self, requests: list[dict], answers: list) -> None:
        """Each caller its answer (JSON, or bytes the writer encoded itself), in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for request, answer in zip(requests, answers, strict=True):
            pipe.rpush(request["reply"], answer if isinstance(answer, bytes) else json.dumps(answer))
            pipe.expire(request["reply"], REPLY_KEPT)
        pipe.execute()

    def serve_once(
        self, settle: Callable[[list[dict]], list], *, max_batch: int, wait: float, linger: float = 0.0
    ) -> int:
        """Take what is waiting, settle the requests whose callers still wait, answer each.
        Returns how many requests were taken."""
        taken, waiting = self.take(max_batch=max_batch, wait=wait, linger=linger)
        if waiting:
            # The tasks a batch publishes after its commit (routing the orders, their customers'
            # statistics) go after the answers: ~8 % of the order writer's time otherwise spent
            # before its callers heard back.
            with publishes_held():
                self.answer(waiting, settle([request["item"] for request in waiting]))
        return taken


def serve(
    queue: BatchWriterQueue, settle, *, max_batch: int, stopped: Callable[[], bool], linger: float = 0.0
) -> None:
    """Serve until `stopped()`; the batch in hand is finished and answered before returning.
    One batch at a time: a writer that took the next batch while finishing one (measured) took
    smaller batches and stored fewer orders per second.

    `linger`: while the last batch held more than one request (callers are queueing), wait that
    long after the first request of the next for more to join it — as PostgreSQL's commit_delay
    does only with other transactions active. A lone caller is never kept waiting."""
    busy = False
    while not stopped():
        close_old_connections()  # a connection the database dropped is replaced, not reused
        taken = queue.serve_once(settle, max_batch=max_batch, wait=1.0, linger=linger if busy else 0.0)
        busy = taken > 1


def add_linger_argument(parser, *, default_ms: float) -> None:
    """A writer command's --linger-ms (see `serve`)."""
    parser.add_argument(
        "--linger-ms",
        type=float,
        default=default_ms,
        help="While callers queue, wait this long for more to join each batch (never for a lone caller).",
    )


def serve_until_stopped(queue: BatchWriterQueue, settle, *, max_batch: int, linger: float = 0.0) -> None:
    """A writer process's loop (the stock_lock_writer and order_intake_writer commands): SIGTERM
    or Ctrl-C finishes the batch in hand, answers it, and returns."""
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    tune_garbage_collector()  # long-lived, allocating thousands of rows per batch
    serve(queue, settle, max_batch=max_batch, stopped=lambda: bool(stopping), linger=linger)
