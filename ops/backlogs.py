"""Work stored in the database and not yet done: what the workers owe, whatever the broker says.
Each backlog is one indexed count and the age of its oldest row. `never_started` counts the
stored work (core.handoff) that the sweeper keeps handing over and no worker starts."""

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
from integrations.models import InboundMessage, InboundStatus, OrderUpload, OrderUploadState
from inventory.models import CycleCountUpload, CycleCountUploadState, StockPushPending

# core.handoff never gives up a row whose task no worker started (the workers of its queue are
# down, or the queue is hours behind): after this many hand-offs without a start (7 grace
# periods, 14 minutes by default) the health watch raises an alert instead.
UNSTARTED_AFTER_HANDOFFS = 3


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
            "order_uploads_queued",
            _("Order files waiting to be read"),
            OrderUpload.objects.filter(state=OrderUploadState.QUEUED),
            "created_at",
        ),
        (
            "cycle_count_uploads_queued",
            _("Count sheets waiting to be read"),
            CycleCountUpload.objects.filter(state=CycleCountUploadState.QUEUED),
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


@dataclass(frozen=True)
class Unstarted:
    key: str  # stable, for alert keys
    label: str | Promise
    count: int


def never_started() -> list[Unstarted]:
    """Per kind of stored work the sweeper hands to workers (core.handoff): the rows still
    waiting after UNSTARTED_AFTER_HANDOFFS hand-offs whose task never started."""
    sources = [
        ("inbound", _("Platform messages"), InboundMessage.objects.filter(status=InboundStatus.RECEIVED)),
        (
            "imports",
            _("Statement imports"),
            ImportBatch.objects.filter(
                state__in=[ImportState.UPLOADED, ImportState.VALIDATING, ImportState.IMPORTING]
            ),
        ),
        (
            "reconciliations",
            _("Reconciliation runs"),
            ReconciliationRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING]),
        ),
        ("order_uploads", _("Order files"), OrderUpload.objects.filter(state=OrderUploadState.QUEUED)),
        (
            "cycle_count_uploads",
            _("Count sheets"),
            CycleCountUpload.objects.filter(state=CycleCountUploadState.QUEUED),
        ),
    ]
    return [
        Unstarted(key, label, rows.filter(attempts=0, handoffs__gte=UNSTARTED_AFTER_HANDOFFS).count())
        for key, label, rows in sources
    ]
