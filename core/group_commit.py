"""Group commit: concurrent callers in one process share one transaction.

A caller that finds no batch running leads: it takes everyone waiting (up to `max_batch`), runs
them through `run_batch` together and hands each caller its own result, then passes the lead to
the next waiting caller. On a hot row this turns one commit per request — each holding the row
lock across its own WAL flush — into one commit per batch. If a batch fails as a whole, its
requests are retried one by one so one bad request cannot fail the others. That retry is only
safe because `run_batch` must be atomic: it commits the whole batch or nothing of it. A
`run_batch` that commits in parts must not raise once a part committed: it returns an exception
in the place of each item that failed, and that caller gets it raised. Callers are answered only
after `run_batch` returned, so never before their work committed."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection


@dataclass
class _Slot:
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    result: Any = None
    error: BaseException | None = None


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
        slot = _Slot(item)
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
        if slot.error is not None:
            raise slot.error
        return slot.result

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
