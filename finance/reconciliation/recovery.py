"""Reconciliation runs whose task never ran or whose worker died: the sweeper hands them to a
worker again, and a person retries a failed or stuck run from the desk (core.handoff describes
the pattern). A run being done holds its row lock, so a "running" run whose row can be locked
has lost its worker."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import handoff
from core.errors import NotPermitted, TransitionRefused
from finance.reconciliation.models import ReconciliationRun, RunState
from finance.reconciliation.services import reconciliation_start, stuck_runs

logger = logging.getLogger(__name__)


def _requeue(run_ids: list[int]) -> None:
    """Back in the queue, and its task published after commit."""
    from finance.tasks import run_reconciliation

    ReconciliationRun.objects.filter(pk__in=run_ids, state=RunState.RUNNING).update(state=RunState.QUEUED)
    for run_id in run_ids:
        handoff.publish_on_commit(run_reconciliation, run_id)


def runs_sweep(*, now: datetime | None = None, limit: int = 100) -> handoff.Swept:
    """Hand every stuck run to a worker again; once workers have started it HANDOFF_MAX_ATTEMPTS
    times without finishing, the run fails with its last error (a new run of the month can be
    started at any time). A run no worker has started waits. Safe to run twice at once."""
    now = now or timezone.now()
    with transaction.atomic():
        swept = handoff.claim_due(stuck_runs(now), started="attempts", now=now, limit=limit)
        if swept.given_up:
            gave_up = _("A worker started this run %(n)s times and never finished it.") % {
                "n": settings.HANDOFF_MAX_ATTEMPTS
            }
            ReconciliationRun.objects.filter(pk__in=swept.given_up).update(
                state=RunState.FAILED,
                finished_at=now,
                error=handoff.given_up_error(gave_up),
            )
            logger.warning("reconciliation runs %s given up", swept.given_up)
        _requeue(swept.handed_over)
    return swept


def run_is_stuck(run: ReconciliationRun, *, now: datetime | None = None) -> bool:
    """Whether the desk offers Retry: failed, or waiting for a worker for longer than
    HANDOFF_GRACE_SECONDS (a long run being done looks the same from here; its retry is refused
    while its worker holds it)."""
    if run.state in (RunState.FAILED, RunState.DONE):
        return run.state == RunState.FAILED
    return stuck_runs(now or timezone.now()).filter(pk=run.pk).exists()


def reconciliation_retry(*, run_id: int, actor=None) -> tuple[ReconciliationRun, bool]:
    """A person's retry. A failed run: its month is reconciled again by a new run (or the one
    under way is joined) — returns (that run, created). A stuck one: handed to a worker now —
    returns (it, False). A run a worker is doing, or one that is done, is refused."""
    if actor is not None and not actor.has_perm("finance.add_reconciliationrun"):
        raise NotPermitted(_("You are not allowed to run reconciliations."))
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()
        if run is None:
            ReconciliationRun.objects.get(pk=run_id)  # DoesNotExist for an unknown id
            raise TransitionRefused(_("A worker is doing this run right now."))
        if run.state == RunState.FAILED:
            period = run.period
            return reconciliation_start(year=period.year, month=period.month, actor=actor)
        if run.state == RunState.DONE:
            raise TransitionRefused(_("This run is done: start a new run to reconcile the month again."))
        if not run_is_stuck(run):
            raise TransitionRefused(
                _("This run is waiting for a worker; retry it if none has taken it after %(n)s seconds.")
                % {"n": settings.HANDOFF_GRACE_SECONDS}
            )
        ReconciliationRun.objects.filter(pk=run.pk).update(handoffs=0, next_handoff_at=None, attempts=0)
        _requeue([run.pk])
    run.refresh_from_db()
    return run, False
