"""Durable hand-offs: work is first stored as a row (an inbound message, a statement import, a
reconciliation run, an outbox message), then its task is published once that row commits.

Publishing can fail (the broker is down) and a task can die with its worker or lose its database
connection. Neither may lose the stored work nor fail the request that stored it:

- `publish_on_commit` logs a broker failure instead of raising it into the request;
- tasks that work on a stored row retry infrastructure errors with backoff
  (`RETRY_ON_INFRASTRUCTURE`) and keep domain refusals as they are;
- each app's sweeper (scheduled every minute in config/beat.py) hands rows still pending after
  HANDOFF_GRACE_SECONDS to a worker again with `claim_due`, spacing the hand-offs out, and sends
  a row to its failed queue after HANDOFF_MAX_ATTEMPTS of them.

A model swept this way has the fields `handoffs` and `next_handoff_at`.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import InterfaceError, OperationalError, models, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Concat
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


def publish(task, *args) -> bool:
    """Send the task to the broker; False (and a warning) when it cannot be sent. Run eagerly
    (tests), the task's own errors are raised as they would be in any eager call."""
    if task.app.conf.task_always_eager:
        task.delay(*args)
        return True
    try:
        task.delay(*args)
    except Exception as exc:  # noqa: BLE001 — whatever stops the publish, the stored row is the record
        logger.warning("could not publish %s%r (%r): the sweeper will hand it over", task.name, args, exc)
        return False
    return True


def publish_on_commit(task, *args) -> None:
    """Publish the task once the current transaction commits, never failing the caller."""
    transaction.on_commit(partial(publish, task, *args))


def grace() -> timedelta:
    return timedelta(seconds=settings.HANDOFF_GRACE_SECONDS)


def next_handoff_at(now: datetime, handoffs: int) -> datetime:
    """When a row handed over `handoffs` times is due again: grace × 2^handoffs from now."""
    return now + grace() * 2**handoffs


def waiting_since(field_name: str, now: datetime) -> Q:
    """Rows whose `field_name` (when they were stored or started) is more than `grace` ago."""
    return Q(**{f"{field_name}__lte": now - grace()})


@dataclass
class Swept:
    handed_over: list[int] = field(default_factory=list)  # publish their task again
    given_up: list[int] = field(default_factory=list)  # out of hand-offs: fail them


def claim_due(stuck: models.QuerySet, *, now: datetime, limit: int) -> Swept:
    """Inside the caller's transaction: of the `stuck` rows (still waiting for a task that should
    have finished), lock those whose next hand-off is due, skipping rows a worker holds locked;
    count a hand-off on each and space the next one out. Rows out of hand-offs are returned in
    `given_up` untouched, for the caller to fail. Two sweeps at once never take the same row."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("claim_due must run inside the sweep's transaction")
    due = stuck.filter(Q(next_handoff_at__isnull=True) | Q(next_handoff_at__lte=now))
    taken = list(due.select_for_update(skip_locked=True).order_by("pk").values_list("pk", "handoffs")[:limit])
    swept = Swept()
    by_count: dict[int, list[int]] = defaultdict(list)
    for pk, handoffs in taken:
        if handoffs >= settings.HANDOFF_MAX_ATTEMPTS:
            swept.given_up.append(pk)
        else:
            by_count[handoffs].append(pk)
            swept.handed_over.append(pk)
    for handoffs, ids in by_count.items():
        stuck.model.objects.filter(pk__in=ids).update(
            handoffs=handoffs + 1, next_handoff_at=next_handoff_at(now, handoffs + 1)
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
