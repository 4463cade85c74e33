"""Group commit: concurrent callers in one process share one transaction.

A caller that finds no batch running leads: it takes everyone waiting (up to `max_batch`), runs
them through `run_batch` together and hands each caller its own result, then passes the lead to
the next waiting caller. On a hot row this turns one commit per request — each holding the row
lock across its own WAL flush — into one commit per batch. If a batch fails as a whole, its
requests are retried one by one so one bad request cannot fail the others. That retry is only
safe because `run_batch` must be atomic: it commits the whole batch or nothing of it. A
`run_batch` that commits in parts must not raise once a part committed: it returns an exception
in the place of each item that failed, and that caller gets it raised. Callers are answered only
after `run_batch` returned, so never before their work committed.

`GroupCommitThread` runs the batches on one thread of its own instead of on a caller's (see there)."""

import _thread
import os
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.utils import translation


class _Slot:
    """One caller's request and, once its batch ran, its answer. A plain class with slots: a
    dataclass's generated __init__ was a measurable share of a hot SKU caller's CPU."""

    __slots__ = ("item", "done", "lead", "alone", "language", "result", "error")

    def __init__(self, item, done):
        self.item = item
        self.done = done  # set when the answer is in (GroupCommit also sets it to hand the lead)
        self.lead = False
        self.alone = False  # GroupCommitThread: the batch failed as a whole, the caller runs this itself
        self.language: str | None = None  # GroupCommitThread: the caller's, for what the batch words
        self.result: Any = None
        self.error: BaseException | None = None


class _Answered:
    """Set once, waited for once, by one caller: a lock held until the answer is in. A
    threading.Event is a Condition and a lock, and allocates another lock for each wait."""

    __slots__ = ("_lock",)

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def wait(self) -> None:
        self._lock.acquire()

    def set(self) -> None:
        self._lock.release()


class GroupCommit:
    def __init__(
        self, *, run_batch: Callable[[list], list], run_one: Callable[[Any], Any], max_batch: int = 128
    ):
        self.run_batch = run_batch
        self.run_one = run_one
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._leading = False

    def submit(self, item):
        if connection.in_atomic_block:  # the caller owns a transaction: it cannot be shared
            return self.run_one(item)
        slot = _Slot(item, self._signal())
        self._queue_and_wait(slot)
        if slot.alone:  # the batch failed as a whole, so wrote nothing: this request on its own
            return self.run_one(item)
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _signal(self):
        return threading.Event()  # set twice for a caller promoted to lead (cleared in between)

    def _queue_and_wait(self, slot: _Slot) -> None:
        with self._lock:
            self._waiting.append(slot)
            if not self._leading:
                self._leading = slot.lead = True
        if not slot.lead:
            slot.done.wait()
        if slot.lead:  # the first caller, or promoted by the previous leader
            slot.done.clear()
            self._lead()
            slot.done.wait()

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        try:
            self._run(batch)
        finally:
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.done.set()  # wakes it to lead; it then waits for its own result
                else:
                    self._leading = False

    def _run(self, batch: list[_Slot]) -> None:
        for slot, (result, error) in zip(batch, self.settle([slot.item for slot in batch]), strict=True):
            if isinstance(result, BaseException):  # run_batch handed this caller its own error
                result, error = None, result
            slot.result, slot.error = result, error
            slot.lead = False
            slot.done.set()

    def settle(self, items: list) -> list[tuple[Any, BaseException | None]]:
        """(result, error) per item: all through one `run_batch`, or — when that fails as a
        whole, and so wrote nothing — each through `run_one`."""
        try:
            return [(result, None) for result in self.run_batch(items)]
        except Exception:  # noqa: BLE001 - retried one by one below
            pass
        settled: list[tuple[Any, BaseException | None]] = []
        for item in items:
            try:
                settled.append((self.run_one(item), None))
            except Exception as exc:  # noqa: BLE001 - handed to the caller it belongs to
                settled.append((None, exc))
        return settled


_dedicated: list["GroupCommitThread"] = []


def stop_threads() -> None:
    """End every GroupCommitThread's thread (closing its connection): after each test, so a test
    database is never left with a connection in use."""
    for group in _dedicated:
        group.stop()


class GroupCommitThread(GroupCommit):
    """Group commit whose batches run on one dedicated thread with its own database connection.

    With a rotating leader, every batch waits for its leader to be woken and scheduled (behind the
    callers the previous batch just answered, all wanting the same interpreter lock), and a leader
    new to the lead first opens its own connection. One thread that does nothing but run batches
    takes the next batch the moment it answered the last, on a connection it keeps. It starts on
    the first request (in each process: a fork does not inherit it) and ends, closing its
    connection, after `idle_seconds` without work. A batch that fails as a whole is retried by each
    caller on its own, in its own thread and transaction (and the thread opens a fresh connection:
    the failure may have broken its own)."""

    def __init__(self, *, idle_seconds: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.idle_seconds = idle_seconds
        self._work = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False
        _dedicated.append(self)

    def _signal(self):
        return _Answered()  # set once, by the thread, when the answer is in

    def _queue_and_wait(self, slot: _Slot) -> None:
        slot.language = translation.get_language()
        with self._lock:
            self._waiting.append(slot)
            if self._thread is None or self._pid != os.getpid():
                self._start()
            self._work.notify()
        slot.done.wait()

    def stop(self) -> None:
        """Serve what is waiting, then end the thread and close its connection (tests, shutdown)."""
        with self._lock:
            thread, self._stopping = self._thread, True
            self._work.notify()
        if thread is not None and self._pid == os.getpid():
            thread.join()
        with self._lock:
            self._stopping = False

    def _start(self) -> None:  # with self._lock held
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._serve, name="group-commit", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while batch := self._next_batch():
                self._answer(batch)
        finally:
            connection.close()
            with self._lock:  # ended by an error: whoever waits still gets a thread
                if self._thread is threading.current_thread():
                    self._thread = None
                    if self._waiting:
                        self._start()

    def _answer(self, batch: list[_Slot]) -> None:
        try:
            with translation.override(batch[0].language):  # the batch's callers share a language
                results = self.run_batch([slot.item for slot in batch])
        except BaseException:  # noqa: BLE001 - nothing written: each caller retries on its own
            connection.close()
            results = None
        if results is not None and len(results) != len(batch):  # a bug: tell nobody it worked
            results = [RuntimeError(f"the batch answered {len(results)} of {len(batch)}")] * len(batch)
        for index, slot in enumerate(batch):
            if results is None:
                slot.alone = True
            elif isinstance(results[index], BaseException):  # run_batch handed this caller its error
                slot.error = results[index]
            else:
                slot.result = results[index]
            slot.done.set()

    def _next_batch(self) -> list[_Slot]:
        """What is waiting (up to max_batch); empty once idle for idle_seconds, or when stopping."""
        with self._lock:
            while not self._waiting:
                if self._stopping or not self._work.wait(self.idle_seconds) and not self._waiting:
                    self._thread = None  # under the lock: the next request starts a new thread
                    return []
            # Callers of one language per batch: an error the batch words for a caller (a sold-out
            # SKU, say) is in that caller's language. The others wait for the next batch.
            language = self._waiting[0].language
            batch = [slot for slot in self._waiting if slot.language == language][: self.max_batch]
            taken = set(map(id, batch))
            self._waiting = [slot for slot in self._waiting if id(slot) not in taken]
            return batch
