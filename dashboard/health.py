"""Order health now: what is stuck, where a person unsticks it, and one score for all of it.

Factors (each a COUNT on an indexed column, or a kept snapshot):
- held: orders on hold, by the reason codes of their newest hold (its timeline event's payload),
  with the open orders they are a share of — counted by the rollup task every minute
  (`held_snapshot_refresh`), since that reads every held order; the page reads the kept row;
- late: open SLA-breach alerts (fulfilment.sla) and parcels with no first scan after the list window;
- exceptions: open tracking-exception alerts and failed electronic waybills;
- retries: outbox messages retrying or dead, inbound messages and platform write-backs that failed;
- sync lag: per polled channel, the time since its last successful sync.

The score (shown with its formula on the page, from the same WEIGHTS):
    100 − Σ weight × share, floored at 0, where share is
    held, late, exceptions: count ÷ open orders (paid, not shipped; at least 1), at most 1;
    retries: 1 when anything is dead or failed, ½ when messages are only retrying, else 0;
    sync lag: polled channels lagging ÷ polled channels."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, JSONField, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Channel
from core.models import Alert, AlertState, OutboxMessage, OutboxState
from core.replica import reporting_database
from dashboard.models import HeldOrdersSnapshot
from fulfilment.models import WaybillRequest, WaybillState
from fulfilment.watches import shipments_without_first_scan
from integrations.models import InboundMessage, InboundStatus, ShipmentWriteBack, SyncCursor, WriteBackState
from integrations.sync import pollable_channel_ids
from ops.overview import duration_text
from orders.models import Order, OrderEvent, OrderStatus

S = OrderStatus
OPEN_ORDER_STATES = [S.PAID, S.ALLOCATED, S.PARTIALLY_SHIPPED, S.ON_HOLD]
SNAPSHOT = "orders"
WEIGHTS = {"held": 30, "late": 30, "exceptions": 20, "retries": 10, "sync": 10}
# Hold reason codes: the key the hold's event payload carries (orders.services, orders.review).
HOLD_REASONS = [
    ("short", _("Out of stock")),
    ("lots", _("Near-expiry lot, QA review")),
    ("unmapped", _("Unmapped platform item")),
    ("review", _("Review rules")),
    ("paid_mismatch", _("Paid amount differs")),
    ("missing_address", _("No shipping address")),
    ("platform_hold", _("Held by the platform")),
]


@dataclass
class Part:
    label: str
    count: int
    url: str


@dataclass
class Factor:
    key: str
    label: str
    count: int
    weight: int
    share: float  # 0…1, what the score loses weight × share for
    parts: list[Part] = field(default_factory=list)

    @property
    def penalty(self) -> float:
        return round(self.weight * self.share, 1)


@dataclass
class ChannelLag:
    code: str
    name: str
    since_success: timedelta | None  # None: never synced successfully
    lagging: bool
    last_error: str

    @property
    def since_text(self) -> str:
        return duration_text(self.since_success)


@dataclass
class Health:
    score: float
    open_orders: int
    factors: list[Factor]
    channels: list[ChannelLag]
    lag_limit_minutes: int
    held_counted_at: datetime  # open and held orders are counted by the rollup task, every minute


def _alerts_open(kind: str) -> int:
    return (
        Alert.objects.using(reporting_database())
        .filter(kind=kind)
        .exclude(state=AlertState.RESOLVED)
        .exclude(key__endswith=":escalated")  # the escalated copy of a breach is the same breach
        .count()
    )


def held_counts() -> dict:
    """Open orders, orders on hold and, per reason code, how many of those (an order held for two
    reasons counts under both; "other": held by hand, or a hold without a code). Reads every held
    order's newest hold event: the rollup task runs it, the page reads its snapshot."""
    db = reporting_database()
    newest_hold = (
        OrderEvent.objects.filter(order=OuterRef("pk"), to_status=S.ON_HOLD)
        .order_by("-created_at", "-pk")
        .values("payload")[:1]
    )
    held = (
        Order.objects.using(db)
        .filter(status=S.ON_HOLD)
        .annotate(hold=Subquery(newest_hold, output_field=JSONField()))
    )
    coded = Q()
    counts = {}
    for code, _label in HOLD_REASONS:
        counts[code] = Count("pk", filter=Q(hold__has_key=code))
        coded |= Q(hold__has_key=code)
    totals = held.aggregate(total=Count("pk"), coded=Count("pk", filter=coded), **counts)
    by_reason = {code: totals[code] for code, _label in HOLD_REASONS if totals[code]}
    if totals["total"] > totals["coded"]:
        by_reason["other"] = totals["total"] - totals["coded"]
    return {
        "open_orders": Order.objects.using(db).filter(status__in=OPEN_ORDER_STATES).count(),
        "held": totals["total"],
        "by_reason": by_reason,
    }


def held_snapshot_refresh(*, now: datetime | None = None) -> HeldOrdersSnapshot:
    """Count the held orders again and keep the figures for the page (idempotent)."""
    counts = held_counts()
    snapshot, _created = HeldOrdersSnapshot.objects.update_or_create(
        name=SNAPSHOT, defaults={"computed_at": now or timezone.now(), **counts}
    )
    return snapshot


def held_snapshot(now: datetime) -> HeldOrdersSnapshot:
    """The last counts the rollup task kept; counted now (not kept) before its first run."""
    snapshot = HeldOrdersSnapshot.objects.using(reporting_database()).filter(name=SNAPSHOT).first()
    return snapshot or HeldOrdersSnapshot(name=SNAPSHOT, computed_at=now, **held_counts())


def held_parts(snapshot: HeldOrdersSnapshot) -> list[Part]:
    """The held orders by reason, each with the queue where a person works them."""
    held_list = f"{reverse('orders:list')}?status=on_hold"
    labels = dict(HOLD_REASONS) | {"other": _("Held by hand or other")}
    return [
        Part(
            labels[code],
            snapshot.by_reason[code],
            reverse("inventory:unmapped") if code == "unmapped" else held_list,
        )
        for code in labels
        if snapshot.by_reason.get(code)
    ]


def channel_lags(now: datetime) -> list[ChannelLag]:
    """Every channel the sync polls, with the time since its last successful run."""
    limit = timedelta(minutes=settings.OPS_SYNC_LAG_ALERT_MINUTES)
    polled = pollable_channel_ids()
    channels = Channel.objects.using(reporting_database()).filter(pk__in=polled).order_by("code")
    cursors = {
        c.channel_id: c for c in SyncCursor.objects.using(reporting_database()).filter(channel_id__in=polled)
    }
    lags = []
    for channel in channels:
        cursor = cursors.get(channel.pk)
        success = cursor.last_success_at if cursor else None
        since = max(now - success, timedelta(0)) if success else None
        lags.append(
            ChannelLag(
                channel.code,
                channel.name,
                since,
                since is None or since > limit,
                cursor.last_error if cursor else "",
            )
        )
    return lags


def _share(count: int, whole: int) -> float:
    return min(1.0, count / max(whole, 1))


def order_health(*, now: datetime | None = None) -> Health:
    now = now or timezone.now()
    db = reporting_database()
    snapshot = held_snapshot(now)
    open_orders, held = snapshot.open_orders, snapshot.held
    breaches = _alerts_open("sla")
    silent = shipments_without_first_scan(now=now).using(db).count()
    tracking = _alerts_open("shipment_exception")
    waybills = WaybillRequest.objects.using(db).filter(state=WaybillState.FAILED).count()
    outbox = dict(
        OutboxMessage.objects.using(db)
        .filter(Q(state=OutboxState.DEAD) | Q(state=OutboxState.PENDING, attempts__gt=0))
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    retrying, dead = outbox.get(OutboxState.PENDING, 0), outbox.get(OutboxState.DEAD, 0)
    inbound = InboundMessage.objects.using(db).filter(status=InboundStatus.FAILED).count()
    writebacks = ShipmentWriteBack.objects.using(db).filter(state=WriteBackState.FAILED).count()
    channels = channel_lags(now)
    lagging = sum(1 for c in channels if c.lagging)

    alerts = reverse("alerts:list")
    failed = reverse("integrations_desk:failed")
    failures = dead + inbound + writebacks
    factors = [
        Factor(
            "held",
            _("Orders on hold"),
            held,
            WEIGHTS["held"],
            _share(held, open_orders),
            held_parts(snapshot),
        ),
        Factor(
            "late",
            _("Late shipments"),
            breaches + silent,
            WEIGHTS["late"],
            _share(breaches + silent, open_orders),
            [
                Part(_("SLA breaches open"), breaches, f"{alerts}?kind=sla"),
                Part(_("No first scan after the window"), silent, reverse("fulfilment:no-first-scan")),
            ],
        ),
        Factor(
            "exceptions",
            _("Exceptions"),
            tracking + waybills,
            WEIGHTS["exceptions"],
            _share(tracking + waybills, open_orders),
            [
                Part(_("Tracking exceptions open"), tracking, f"{alerts}?kind=shipment_exception"),
                Part(_("Failed waybills"), waybills, reverse("fulfilment:waybills-failed")),
            ],
        ),
        Factor(
            "retries",
            _("Retries and failures"),
            retrying + failures,
            WEIGHTS["retries"],
            1.0 if failures else 0.5 if retrying else 0.0,
            [
                Part(_("Outbound messages retrying"), retrying, reverse("ops:overview")),
                Part(_("Outbound messages dead"), dead, f"{alerts}?kind=outbox_dead"),
                Part(_("Inbound messages failed"), inbound, failed),
                Part(_("Write-backs failed"), writebacks, f"{failed}#write-backs"),
            ],
        ),
        Factor(
            "sync",
            _("Channels lagging"),
            lagging,
            WEIGHTS["sync"],
            lagging / len(channels) if channels else 0.0,
            [Part(c.name or c.code, 1, reverse("integrations_desk:channels")) for c in channels if c.lagging],
        ),
    ]
    score = max(0.0, round(100 - sum(f.weight * f.share for f in factors), 1))
    return Health(
        score, open_orders, factors, channels, settings.OPS_SYNC_LAG_ALERT_MINUTES, snapshot.computed_at
    )
