"""Imports whose task never ran or died: the sweeper hands them to a worker again, and a person
retries a failed or stuck one from the desk (core.handoff describes the pattern).

Which task a batch waits for follows from its state: "uploaded" and "checking rows" wait for the
check, "importing" for the insert. A batch being imported holds its row lock and is skipped; a
check holds no lock but moves `updated_at` as it goes, so one silent for STALE_CHECK is dead."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core import handoff
from core.errors import NotPermitted, TransitionRefused
from finance.imports.models import ImportBatch, ImportState
from finance.imports.services import STALE_CHECK

logger = logging.getLogger(__name__)


def _stuck(now: datetime) -> Q:
    """Batches whose task should have finished by now."""
    silent_check = Q(state=ImportState.VALIDATING, updated_at__lte=now - STALE_CHECK)
    waiting = Q(state__in=[ImportState.UPLOADED, ImportState.IMPORTING]) & handoff.waiting_since(
        "updated_at", now
    )
    return silent_check | waiting


def _hand_over(batch_ids: list[int]) -> None:
    """Publish the task each batch waits for, after commit."""
    from finance.tasks import commit_import, validate_import

    states = dict(ImportBatch.objects.filter(pk__in=batch_ids).values_list("pk", "state"))
    for batch_id in batch_ids:
        task = commit_import if states[batch_id] == ImportState.IMPORTING else validate_import
        handoff.publish_on_commit(task, batch_id)


def imports_sweep(*, now: datetime | None = None, limit: int = 100) -> handoff.Swept:
    """Hand every batch still waiting for its task to a worker again; once its task has started
    HANDOFF_MAX_ATTEMPTS times without finishing the batch fails with a message saying so
    (nothing was imported: the insert is all or nothing). A batch no worker has started waits.
    Safe to run twice at once."""
    now = now or timezone.now()
    with transaction.atomic():
        stuck = ImportBatch.objects.filter(_stuck(now))
        swept = handoff.claim_due(stuck, started="attempts", now=now, limit=limit)
        if swept.given_up:
            ImportBatch.objects.filter(pk__in=swept.given_up).update(
                state=ImportState.FAILED,
                finished_at=now,
                message=_(
                    "A worker started this import %(n)s times and never finished it; nothing was "
                    "imported. Retry it."
                )
                % {"n": settings.HANDOFF_MAX_ATTEMPTS},
            )
            logger.warning("statement imports %s given up", swept.given_up)
        _hand_over(swept.handed_over)
    return swept


def import_is_stuck(batch: ImportBatch, *, now: datetime | None = None) -> bool:
    """Whether the desk offers Retry: failed, or still waiting for a task that should be done."""
    if batch.state not in (ImportState.UPLOADED, ImportState.VALIDATING, ImportState.IMPORTING):
        return batch.state == ImportState.FAILED
    return ImportBatch.objects.filter(_stuck(now or timezone.now()), pk=batch.pk).exists()


def import_retry(*, batch_id: int, actor=None) -> ImportBatch:
    """A person's retry: a failed batch is checked again from its file (and must be confirmed
    again); a stuck one is handed to a worker now. A batch being imported is refused."""
    if actor is not None and not actor.has_perm("finance.add_importbatch"):
        raise NotPermitted(_("You are not allowed to import statements."))
    now = timezone.now()
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update(skip_locked=True).filter(pk=batch_id).first()
        if batch is None:
            ImportBatch.objects.get(pk=batch_id)  # DoesNotExist for an unknown id
            raise TransitionRefused(_("This import is being worked on right now."))
        if batch.state == ImportState.FAILED:
            batch.retry()
            batch.save()
        elif not import_is_stuck(batch, now=now):
            raise TransitionRefused(
                _("This import is %(state)s: only a failed or stuck import can be retried.")
                % {"state": batch.get_state_display().lower()}
            )
        else:
            ImportBatch.objects.filter(pk=batch.pk).update(handoffs=0, next_handoff_at=None, attempts=0)
        _hand_over([batch.pk])
    batch.refresh_from_db()
    return batch
