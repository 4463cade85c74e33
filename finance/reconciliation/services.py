"""Reconciliation actions: start a run for a period (one click or the nightly job; a run already
queued or running for the period is joined, not doubled), execute it (the Celery task), resolve a
difference with a reason, accept or reject a bank memo candidate. Every decision records who,
when and why; decisions about an order also go on its timeline."""

import logging
import time
from contextlib import suppress
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.handoff import INFRASTRUCTURE_ERRORS, publish_on_commit, waiting_since
from finance.imports.models import StatementLine
from finance.periods import period_get
from finance.reconciliation import engine
from finance.reconciliation.models import (
    CandidateState,
    MemoCandidate,
    ReconciliationItem,
    ReconciliationRun,
    RunState,
)
from orders.models import OrderEventKind
from orders.transitions import record_order_event

logger = logging.getLogger(__name__)

MAX_REASON = 500


def _require(actor, perm: str, message: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(message)


def reconciliation_start(*, year: int, month: int, actor=None, now=None) -> tuple[ReconciliationRun, bool]:
    """Queue a run for the month; returns (run, created). The run executes on commit. A run of
    the month under way is joined; one no worker has taken or kept (`stuck_runs`) is given up
    and a new run replaces it, so a lost task never blocks the month."""
    _require(actor, "finance.add_reconciliationrun", _("You are not allowed to run reconciliations."))
    if not 1 <= month <= 12:
        raise DomainError(_("Month must be between 1 and 12."), field="month")
    now = now or timezone.now()
    with transaction.atomic():
        period = period_get(year, month)
        if period.starts_at > now:
            raise DomainError(
                _("Period %(period)s has not started yet.") % {"period": period}, field="period"
            )
        stuck = stuck_runs(now).filter(period=period).select_for_update(skip_locked=True)
        ReconciliationRun.objects.filter(pk__in=list(stuck.values_list("pk", flat=True))).update(
            state=RunState.FAILED,
            finished_at=now,
            error=_("No worker finished this run; a new run replaced it."),
        )
        try:
            with transaction.atomic():
                run = ReconciliationRun.objects.create(period=period, requested_by=actor)
        except IntegrityError:
            return ReconciliationRun.objects.get(
                period=period, state__in=[RunState.QUEUED, RunState.RUNNING]
            ), False
        from finance.tasks import run_reconciliation

        publish_on_commit(run_reconciliation, run.pk)  # the sweeper hands it over if this is lost
    return run, True


def stuck_runs(now) -> models.QuerySet:
    """Runs no worker has taken (queued) or kept (running) within HANDOFF_GRACE_SECONDS. A run
    being done holds its row lock: lock these with skip_locked to leave it out."""
    return ReconciliationRun.objects.filter(
        (Q(state=RunState.QUEUED) & waiting_since("created_at", now))
        | (Q(state=RunState.RUNNING) & waiting_since("started_at", now))
    )


def reconciliation_execute(*, run_id: int) -> ReconciliationRun:
    """Claim a queued run and do it; safe to call twice (the second finds it claimed). The run's
    row stays locked while it is done, which tells the sweeper a worker has it. A database error
    (a restart, a lost connection) puts the run back in the queue and is raised for the task to
    retry; any other error fails the run. The claim, committed before the work, counts a start
    (the sweeper gives up on runs started too often, never on runs no worker took)."""
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        if run.state != RunState.QUEUED:
            return run
        claimed_at = timezone.now()
        run.state, run.started_at, run.error = RunState.RUNNING, claimed_at, ""
        run.attempts += 1
        run.save(update_fields=["state", "started_at", "error", "attempts"])
    ours = ReconciliationRun.objects.filter(pk=run_id, state=RunState.RUNNING, started_at=claimed_at)
    began = time.perf_counter()
    try:
        with transaction.atomic():
            _serialise(run.period_id)
            run = (
                ReconciliationRun.objects.select_for_update(of=("self",))
                .select_related("period")
                .get(pk=run_id)
            )
            if (run.state, run.started_at) != (RunState.RUNNING, claimed_at):
                return run  # the sweeper or a new run took over meanwhile
            engine.reconcile(run)
            run.state, run.finished_at = RunState.DONE, timezone.now()
            run.seconds = round(time.perf_counter() - began, 3)
            run.save()
    except INFRASTRUCTURE_ERRORS as exc:
        logger.warning("reconciliation run %s interrupted: %r; queued again", run_id, exc)
        # If the database is still away, the run stays "running" without its lock: the sweeper
        # queues it again.
        with suppress(DatabaseError):
            ours.update(state=RunState.QUEUED, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    except Exception as exc:
        logger.exception("reconciliation run %s failed", run_id)
        ours.update(state=RunState.FAILED, finished_at=timezone.now(), error=str(exc)[:2000])
        run.refresh_from_db()
    return run


def _serialise(period_id: int) -> None:
    """Runs for one period never overlap (memo candidates and payout matches are per period)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7302, period_id])


def reconciliation_nightly(*, now=None) -> ReconciliationRun:
    """The nightly job: reconcile the month of yesterday (business time) and run it here."""
    from core.timezones import business_date

    yesterday = business_date(now) - timedelta(days=1)
    run, created = reconciliation_start(year=yesterday.year, month=yesterday.month, now=now)
    return reconciliation_execute(run_id=run.pk) if created else run


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why (the reason is kept with the decision)."), field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(_("At most %(n)s characters.") % {"n": MAX_REASON}, field="reason")
    return reason


def reconciliation_item_resolve(*, item_id: int, reason: str, actor) -> ReconciliationItem:
    _require(actor, "finance.change_reconciliationitem", _("You are not allowed to resolve differences."))
    reason = _reason(reason)
    with transaction.atomic():
        item = (
            ReconciliationItem.objects.select_for_update(of=("self",)).select_related("order").get(pk=item_id)
        )
        if item.resolved_at is not None:
            raise TransitionRefused(_("This difference was resolved already."))
        item.resolved_at, item.resolved_by, item.resolution = timezone.now(), actor, reason
        item.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        if item.order is not None:
            record_order_event(
                item.order,
                OrderEventKind.NOTE,
                actor,
                reason=_("Reconciliation difference resolved (%(difference)s): %(reason)s")
                % {"difference": item.get_difference_display(), "reason": reason},
                payload={"reconciliation_item": item.pk, "run": item.run_id, "difference": item.difference},
            )
    return item


def memo_candidate_decide(*, candidate_id: int, accept: bool, actor, reason: str = "") -> MemoCandidate:
    """Accept: the bank line belongs to the candidate's order (its other candidates are rejected).
    Reject: it does not. Either way the decision is recorded with who, when and why."""
    _require(actor, "finance.change_memocandidate", _("You are not allowed to confirm bank matches."))
    reason = (reason or "").strip()[:MAX_REASON]
    now = timezone.now()
    with transaction.atomic():
        candidate = MemoCandidate.objects.select_related("order").get(pk=candidate_id)
        line = StatementLine.objects.select_for_update().get(pk=candidate.line_id)
        candidate = (
            MemoCandidate.objects.select_for_update(of=("self",)).select_related("order").get(pk=candidate_id)
        )
        if candidate.state != CandidateState.PENDING:
            raise TransitionRefused(_("This candidate was decided already."))
        if accept and line.order_id is not None and line.order_id != candidate.order_id:
            raise TransitionRefused(_("This bank line was matched to another order meanwhile."))
        candidate.state = CandidateState.ACCEPTED if accept else CandidateState.REJECTED
        candidate.decided_by, candidate.decided_at, candidate.reason = actor, now, reason
        candidate.save(update_fields=["state", "decided_by", "decided_at", "reason"])
        if accept:
            line.order_id, line.matched_by = candidate.order_id, "memo"
            line.save(update_fields=["order", "matched_by"])
            MemoCandidate.objects.filter(line=line, state=CandidateState.PENDING).update(
                state=CandidateState.REJECTED,
                decided_by=actor,
                decided_at=now,
                reason=_("Another order was accepted for this bank line."),
            )
            record_order_event(
                candidate.order,
                OrderEventKind.NOTE,
                actor,
                reason=_("Bank line %(entry)s (%(amount)s %(currency)s) matched to this order from its memo.")
                % {"entry": line.entry_id, "amount": line.amount, "currency": line.currency},
                payload={"statement_line": line.pk, "memo_candidate": candidate.pk, "reason": reason},
            )
    return candidate
