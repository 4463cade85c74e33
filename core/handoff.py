"""Durable hand-offs: work is first stored as a row (an inbound message, a statement import, a
reconciliation run, an outbox message), then its task is published once that row commits.

Publishing can fail (the broker is down) and a task can die with its worker or lose its database
connection. Neither may lose the stored work nor fail the request that stored it:

- `publish_on_commit` logs a broker failure instead of raising it into the request;
- tasks that work on a stored row retry infrastructure errors with backoff
  (`RETRY_ON_INFRASTRUCTURE`) and keep domain refusals as they are;
- each task counts its start with `record_start`, committed before it does the work, so a start
  is counted even when the work is rolled back (the worker died, the connection broke);
- each app's sweeper (scheduled every minute in config/beat.py) hands rows still pending after
  HANDOFF_GRACE_SECONDS to a worker again with `claim_due`, spacing the hand-offs out (grace ×
  2^n, at most MAX_SPACING apart), and sends a row to its failed queue once its task has started
  HANDOFF_MAX_ATTEMPTS times without finishing. A row whose task never started (no worker takes
  its queue, or the queue is hours behind) is never given up: it waits for a worker, and the ops
  health watch raises an alert about it.

A model swept this way has the fields `handoffs` and `next_handoff_at`, and a counter of its
task's starts (named by the caller: `attempts` on every model so far).
"""

import logging
import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from celery import current_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, models, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Coalesce, Concat, Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

# Errors that say nothing about the work itself: the database restarted or the connection broke.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)

# Celery task options for a task working on a stored row: infrastructure errors are retried with
# exponential backoff (2 s, 4 s, … up to a minute, jittered); once the retries are spent the row
# is still pending and the sweeper hands it over again.
RETRY_ON_INFRASTRUCTURE = {
    "autoretry_for": INFRASTRUCTURE_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


# Hand-offs of a row whose task does not start are spaced out up to this, so a long outage of a
# queue's workers adds at most one message per row and hour to that queue.
MAX_SPACING = timedelta(hours=1)
# `handoffs` is a small integer: the count stops here (years of hourly hand-offs).
HANDOFFS_CEILING = 32767


def publish(task, *args, **options) -> bool:
    """Send the task to the broker (with apply_async `options`, e.g. countdown); False (and a
    warning) when it cannot be sent. Run eagerly (tests), the task's own errors are raised as
    they would be in any eager call."""
    send = partial(task.apply_async, args, **options) if options else partial(task.delay, *args)
    if task.app.conf.task_always_eager:
        send()
        return True
    try:
        send()
    except Exception as exc:  # noqa: BLE001 — whatever stops the publish, the stored row is the record
        logger.warning("could not publish %s%r (%r): the sweeper will hand it over", task.name, args, exc)
        return False
    return True


def publish_on_commit(task, *args) -> None:
    """Publish the task once the current transaction commits, never failing the caller (inside
    `publishes_held`, when that block ends)."""
    transaction.on_commit(partial(_publish_or_hold, task, *args))


_held = threading.local()


def _publish_or_hold(task, *args) -> None:
    held = getattr(_held, "publishes", None)
    if held is None:
        publish(task, *args)
    else:
        held.append((task, args))


@contextmanager
def publishes_held():
    """The publishes of transactions committed inside the block are sent as it ends, in order.
    A batch writer answers its callers first: their work is committed, the tasks only follow it
    up (and a publish lost with the process is handed over by the sweepers)."""
    if getattr(_held, "publishes", None) is not None:  # nested: the outer block sends them
        yield
        return
    _held.publishes = held = []
    try:
        yield
    finally:
        _held.publishes = None
        for task, args in held:
            publish(task, *args)


def grace() -> timedelta:
    return timedelta(seconds=settings.HANDOFF_GRACE_SECONDS)


def spacing(handoffs: int) -> timedelta:
    """How long after its `handoffs`-th hand-off a row is due again: grace × 2^handoffs, at most
    MAX_SPACING (never less than the grace)."""
    if handoffs >= 32:  # 2^32 grace periods are past any cap; spare the arithmetic
        return max(grace(), MAX_SPACING)
    return max(grace(), min(grace() * 2**handoffs, MAX_SPACING))


def waiting_since(field_name: str, now: datetime) -> Q:
    """Rows whose `field_name` (when they were stored or started) is more than `grace` ago."""
    return Q(**{f"{field_name}__lte": now - grace()})


@dataclass
class Swept:
    handed_over: list[int] = field(default_factory=list)  # publish their task again
    given_up: list[int] = field(default_factory=list)  # started too often without finishing: fail them


def record_start(row: models.QuerySet, *, started: str, now: datetime | None = None) -> bool:
    """A task's first statement, committed on its own before the work (call it outside any
    transaction): count a start on `row` (one row, filtered on the state its task works on) in
    its `started` field, and keep the sweeper off it for at least a grace period. A crash later
    rolls the work back, not this count, so the sweeper gives up on real failures only. False
    when the row is no longer in that state (done by another delivery)."""
    soon = (now or timezone.now()) + grace()
    counted = {} if _retry_of_one_delivery() else {started: F(started) + 1}
    return bool(
        row.update(
            **counted,
            next_handoff_at=Greatest(Coalesce(F("next_handoff_at"), Value(soon)), Value(soon)),
        )
    )


def _retry_of_one_delivery() -> bool:
    """Celery's own retries of an infrastructure error (RETRY_ON_INFRASTRUCTURE) belong to the
    start that failed: a database restart must not use up a row's starts and fail it."""
    task = current_task
    return bool(task and task.request and (task.request.retries or 0) > 0)


def claim_due(stuck: models.QuerySet, *, started: str, now: datetime, limit: int) -> Swept:
    """Inside the caller's transaction: of the `stuck` rows (still waiting for a task that should
    have finished), lock those whose next hand-off is due, skipping rows a worker holds locked.
    A row whose task has started HANDOFF_MAX_ATTEMPTS times (its `started` field, counted by
    `record_start`) is returned in `given_up` untouched, for the caller to fail; every other row
    is handed over: a hand-off is counted and the next one spaced out. A row whose task never
    started is handed over for as long as it waits, never given up. Two sweeps at once never
    take the same row."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("claim_due must run inside the sweep's transaction")
    due = stuck.filter(Q(next_handoff_at__isnull=True) | Q(next_handoff_at__lte=now))
    taken = due.select_for_update(skip_locked=True).order_by("pk").values_list("pk", "handoffs", started)
    swept = Swept()
    by_spacing: dict[timedelta, list[int]] = defaultdict(list)
    for pk, handoffs, starts in taken[:limit]:
        if starts >= settings.HANDOFF_MAX_ATTEMPTS:
            swept.given_up.append(pk)
        else:
            by_spacing[spacing(handoffs + 1)].append(pk)
            swept.handed_over.append(pk)
    for wait, ids in by_spacing.items():
        stuck.model.objects.filter(pk__in=ids).update(
            handoffs=Least(F("handoffs") + 1, Value(HANDOFFS_CEILING)), next_handoff_at=now + wait
        )
    return swept


def given_up_error(reason: str) -> Case:
    """The `error` a row gets when the sweeper gives up on it: the reason, then the last error
    its task recorded (if any), for the failed queue."""
    return Case(
        When(error="", then=Value(reason)),
        default=Concat(Value(f"{reason} "), Value(_("Last error: ")), F("error"), output_field=TextField()),
        output_field=TextField(),
    )
