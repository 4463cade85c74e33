"""Celery task outcomes counted per task and minute, for the retry and failure rates.

config/registry.py connects Celery's task_success, task_retry and task_failure signals to the
handlers below. A handler only adds one to a counter (one upsert, no domain logic); a database
error is logged and swallowed, so counting can never fail a task. Tasks run eagerly (tests, a
shell) are not counted: the rates are about workers."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from ops.models import TaskOutcomeMinute

logger = logging.getLogger(__name__)

SUCCEEDED, RETRIED, FAILED = "succeeded", "retried", "failed"
OUTCOMES = (SUCCEEDED, RETRIED, FAILED)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def task_outcome_record(task: str, outcome: str, *, at: datetime | None = None) -> None:
    """Add one `outcome` to the task's counter of the minute: INSERT … ON CONFLICT DO UPDATE
    adds in the database, never read-then-write (PostgreSQL and SQLite alike)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown task outcome {outcome!r}")
    table = connection.ops.quote_name(TaskOutcomeMinute._meta.db_table)
    counts = [int(outcome == name) for name in OUTCOMES]
    sql = (
        f"INSERT INTO {table} (minute, task, succeeded, retried, failed) VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT (minute, task) DO UPDATE SET "
        f"succeeded = {table}.succeeded + excluded.succeeded, "
        f"retried = {table}.retried + excluded.retried, "
        f"failed = {table}.failed + excluded.failed"
    )
    minute = _minute(at or timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [minute, task[:200], *counts])


def _count(task, outcome: str) -> None:
    if task is None or getattr(task.request, "is_eager", False):
        return
    try:
        task_outcome_record(task.name, outcome)
    except DatabaseError as exc:  # counting must never fail the task it counts
        logger.warning("could not count %s of %s: %r", outcome, getattr(task, "name", task), exc)


def on_task_success(sender=None, **kwargs) -> None:
    _count(sender, SUCCEEDED)


def on_task_retry(sender=None, **kwargs) -> None:
    _count(sender, RETRIED)


def on_task_failure(sender=None, **kwargs) -> None:
    _count(sender, FAILED)


@dataclass(frozen=True)
class Rates:
    succeeded: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.retried + self.failed

    @property
    def retry_rate(self) -> float:
        return self.retried / self.total if self.total else 0.0

    @property
    def failure_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def retry_percent(self) -> float:
        return self.retry_rate * 100

    @property
    def failure_percent(self) -> float:
        return self.failure_rate * 100


def _window(minutes: int, now: datetime | None):
    """The counters of the last `minutes` minutes, the current (partial) one included."""
    first = _minute(now or timezone.now()) - timedelta(minutes=minutes - 1)
    return TaskOutcomeMinute.objects.filter(minute__gte=first)


def task_outcome_rates(*, minutes: int, now: datetime | None = None) -> Rates:
    totals = _window(minutes, now).aggregate(s=Sum("succeeded"), r=Sum("retried"), f=Sum("failed"))
    return Rates(succeeded=totals["s"] or 0, retried=totals["r"] or 0, failed=totals["f"] or 0)


@dataclass(frozen=True)
class TaskRow:
    task: str
    rates: Rates


def task_outcomes_by_task(*, minutes: int, now: datetime | None = None, limit: int = 15) -> list[TaskRow]:
    """The tasks of the window, those retried or failing most first, then the busiest."""
    rows = (
        _window(minutes, now)
        .values("task")
        .annotate(s=Sum("succeeded"), r=Sum("retried"), f=Sum("failed"))
        .annotate(trouble=F("r") + F("f"), busy=F("s") + F("r") + F("f"))
        .order_by("-trouble", "-busy", "task")[:limit]
    )
    return [TaskRow(row["task"], Rates(row["s"], row["r"], row["f"])) for row in rows]


def task_outcomes_prune(*, keep: timedelta, now: datetime | None = None) -> int:
    deleted, _ = TaskOutcomeMinute.objects.filter(minute__lt=(now or timezone.now()) - keep).delete()
    return deleted
