"""Work stored in the database and not yet done: what the workers owe, whatever the broker says.
Each backlog is one indexed count and the age of its oldest row."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.models import OutboxMessage, OutboxState
from finance.imports.models import ImportBatch, ImportState
from finance.models import CallbackStatus, PaymentCallback
from finance.reconciliation.models import ReconciliationRun, RunState
from integrations.models import InboundMessage, InboundStatus
from inventory.models import StockPushPending


@dataclass(frozen=True)
class Backlog:
    key: str  # stable, for alert keys
    label: str | Promise
    count: int
    oldest_age: timedelta | None


def _backlog(key: str, label, rows: QuerySet, since: str, now: datetime) -> Backlog:
    found = rows.aggregate(count=Count("pk"), oldest=Min(since))
    oldest = found["oldest"]
    return Backlog(key, label, found["count"], max(now - oldest, timedelta(0)) if oldest else None)


def database_backlogs(*, now: datetime | None = None) -> list[Backlog]:
    now = now or timezone.now()
    due = Q(state__in=[OutboxState.PENDING, OutboxState.DELIVERING], next_attempt_at__lte=now)
    sources = [
        (
            "inbound_received",
            _("Platform messages not yet processed"),
            InboundMessage.objects.filter(status=InboundStatus.RECEIVED),
            "received_at",
        ),
        (
            "callbacks_received",
            _("Payment callbacks not yet processed"),
            PaymentCallback.objects.filter(status=CallbackStatus.RECEIVED),
            "received_at",
        ),
        ("outbox_due", _("Outbox messages due"), OutboxMessage.objects.filter(due), "next_attempt_at"),
        (
            "outbox_retrying",
            _("Outbox messages retrying"),
            OutboxMessage.objects.filter(state=OutboxState.PENDING, attempts__gt=0),
            "created_at",
        ),
        (
            "outbox_dead",
            _("Outbox messages dead"),
            OutboxMessage.objects.filter(state=OutboxState.DEAD),
            "created_at",
        ),
        (
            "imports_waiting",
            _("Statement imports waiting or running"),
            ImportBatch.objects.filter(
                state__in=[ImportState.UPLOADED, ImportState.VALIDATING, ImportState.IMPORTING]
            ),
            "created_at",
        ),
        (
            "reconciliations_waiting",
            _("Reconciliation runs queued or running"),
            ReconciliationRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING]),
            "created_at",
        ),
        (
            "stock_pushes_pending",
            _("Channel stock pushes pending"),
            StockPushPending.objects.all(),
            "queued_at",
        ),
    ]
    return [_backlog(key, label, rows, since, now) for key, label, rows, since in sources]
