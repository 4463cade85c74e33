"""No-first-scan watch and carrier statistics (R-F5).

A parcel handed to a carrier should get its first carrier scan quickly: a shipped shipment with
no scan `carrier.first_scan_minutes` (or FIRST_SCAN_ALERT_MINUTES, default 5) after `shipped_at`
raises one warehouse alert, resolved by itself once a scan arrives (fulfilment.tracking
resolves it at once; the watch sweeps whatever is left). Parcels still unscanned after
NO_FIRST_SCAN_LIST_HOURS (24) are listed for follow-up with the carrier."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Avg,
    CharField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alerts_raise_many
from core.models import Alert, AlertSeverity, AlertState
from core.roles import Role
from fulfilment.models import Carrier, Shipment, ShipmentStatus, TrackingEvent, TrackingStatus
from fulfilment.tracking import first_scan_alert_key

SS = ShipmentStatus
KIND = "no_first_scan"
BATCH = 500
TROUBLE = [TrackingStatus.EXCEPTION, TrackingStatus.RETURNED, TrackingStatus.LOST]


def default_window() -> int:
    return settings.FIRST_SCAN_ALERT_MINUTES


def _window_q(now: datetime) -> Q:
    """Shipped longer ago than their carrier's first-scan window (one term per distinct window)."""
    default = default_window()
    windows = set(
        Carrier.objects.exclude(first_scan_minutes=None).values_list("first_scan_minutes", flat=True)
    )
    condition = Q(
        Q(carrier__isnull=True) | Q(carrier__first_scan_minutes__isnull=True),
        shipped_at__lte=now - timedelta(minutes=default),
    )
    for minutes in windows:
        condition |= Q(carrier__first_scan_minutes=minutes, shipped_at__lte=now - timedelta(minutes=minutes))
    return condition


def awaiting_first_scan() -> QuerySet[Shipment]:
    """Shipped parcels with a tracking number and no carrier scan yet (the partial index)."""
    return Shipment.objects.filter(status=SS.SHIPPED, first_scan_at__isnull=True).exclude(tracking_number="")


def first_scan_watch(*, now: datetime | None = None) -> tuple[int, int]:
    """Raise the missing first-scan alerts and resolve the answered ones; (raised, resolved).
    Set-based and idempotent: an alert is raised once per shipment (the key), so an alert a person
    resolved by hand does not come back; two runs at once insert it once (the unique key)."""
    now = now or timezone.now()
    raised = 0
    late = (
        awaiting_first_scan()
        .filter(_window_q(now))
        .exclude(Exists(_unresolved_alert()))  # steady state: only new breaches are read
        .select_related("carrier", "warehouse", "order")
        .order_by("pk")
    )
    last_pk = 0
    while True:
        batch = list(late.filter(pk__gt=last_pk)[:BATCH])
        if not batch:
            break
        last_pk = batch[-1].pk
        keys = {first_scan_alert_key(s.pk): s for s in batch}
        # An alert someone resolved by hand stays resolved (any state counts here).
        seen = set(Alert.objects.filter(key__in=list(keys)).values_list("key", flat=True))
        raised += alerts_raise_many(
            [_alert(key, shipment, now) for key, shipment in keys.items() if key not in seen]
        )
    return raised, resolve_answered(now=now)


def _unresolved_alert() -> QuerySet[Alert]:
    """The shipment's unresolved first-scan alert (first_scan_alert_key in SQL; the partial
    unique index on the unresolved key answers it)."""
    key = Concat(Value("first_scan:"), Cast(OuterRef("pk"), CharField()), output_field=CharField())
    return Alert.objects.filter(key=key).exclude(state=AlertState.RESOLVED)


def _alert(key: str, shipment: Shipment, now: datetime) -> dict:
    minutes = (shipment.carrier.first_scan_minutes if shipment.carrier_id else None) or default_window()
    waited = int((now - shipment.shipped_at).total_seconds() // 60)
    return {
        "kind": KIND,
        "key": key,
        "role": Role.WAREHOUSE,
        "severity": AlertSeverity.WARNING,
        "message": (
            _(
                "Shipment %(number)s (order %(order)s, %(carrier)s %(tracking)s from %(warehouse)s) has no "
                "carrier scan %(waited)s minutes after shipping (expected within %(minutes)s)."
            )
            % {
                "number": shipment.number,
                "order": shipment.order.number,
                "carrier": shipment.carrier.name if shipment.carrier_id else "-",
                "tracking": shipment.tracking_number,
                "warehouse": shipment.warehouse.code,
                "waited": waited,
                "minutes": minutes,
            }
        )[:500],
        "payload": {
            "shipment_id": shipment.pk,
            "shipment": shipment.number,
            "order_number": shipment.order.number,
            "carrier": shipment.carrier.code if shipment.carrier_id else "",
            "tracking_number": shipment.tracking_number,
        },
    }


def resolve_answered(*, now: datetime | None = None) -> int:
    """Resolve first-scan alerts whose shipment got a scan or left "shipped" (one update)."""
    open_alerts = Alert.objects.filter(kind=KIND).exclude(state=AlertState.RESOLVED)
    keys = list(open_alerts.values_list("key", flat=True))
    ids = [int(key.rsplit(":", 1)[1]) for key in keys]
    waiting = {
        first_scan_alert_key(pk)
        for pk in awaiting_first_scan().filter(pk__in=ids).values_list("pk", flat=True)
    }
    answered = [key for key in keys if key not in waiting]
    if not answered:
        return 0
    return open_alerts.filter(key__in=answered).update(
        state=AlertState.RESOLVED, resolved_at=now or timezone.now()
    )


# --- reads for the desk -----------------------------------------------------------------------


def shipments_without_first_scan(
    *, hours: int | None = None, carrier: Carrier | None = None, warehouse=None, now: datetime | None = None
) -> QuerySet[Shipment]:
    """Parcels shipped more than `hours` (NO_FIRST_SCAN_LIST_HOURS) ago with no carrier scan, oldest first."""
    hours = settings.NO_FIRST_SCAN_LIST_HOURS if hours is None else hours
    rows = awaiting_first_scan().filter(shipped_at__lte=(now or timezone.now()) - timedelta(hours=hours))
    if carrier is not None:
        rows = rows.filter(carrier=carrier)
    if warehouse is not None:
        rows = rows.filter(warehouse=warehouse)
    return rows.select_related("carrier", "warehouse", "order").order_by("shipped_at", "pk")


@dataclass
class CarrierStats:
    carrier: Carrier | None
    window_minutes: int
    shipments: int
    scanned: int
    scanned_in_window: int
    delivered: int
    exceptions: int
    average_latency: timedelta | None
    p95_latency: timedelta | None

    @property
    def first_scan_rate(self) -> float | None:
        return self.scanned_in_window / self.shipments if self.shipments else None

    @property
    def delivered_rate(self) -> float | None:
        return self.delivered / self.shipments if self.shipments else None


LATENCY = ExpressionWrapper(F("first_scan_at") - F("shipped_at"), output_field=DurationField())


def carrier_statistics(*, start: datetime, end: datetime) -> list[CarrierStats]:
    """Per carrier, over parcels shipped in [start, end): how many; how many got a first scan
    within the carrier's window (rate); the mean and 95th-percentile (nearest rank) latency from
    shipping to the first scan, over scanned parcels; how many were delivered (rate); how many hit
    an exception, return or loss. Grouped queries, plus one ordered lookup per carrier for p95."""
    shipped = Shipment.objects.filter(shipped_at__gte=start, shipped_at__lt=end).exclude(status=SS.CANCELLED)
    troubled = TrackingEvent.objects.filter(shipment=OuterRef("pk"), status__in=TROUBLE)
    groups = (
        shipped.annotate(troubled=Exists(troubled))
        .values("carrier")
        .annotate(
            shipments=Count("pk"),
            scanned=Count("pk", filter=Q(first_scan_at__isnull=False)),
            delivered=Count("pk", filter=Q(status=SS.DELIVERED)),
            exceptions=Count("pk", filter=Q(troubled=True) | Q(status=SS.EXCEPTION)),
            average_latency=Avg(LATENCY, filter=Q(first_scan_at__isnull=False)),
        )
        .order_by("carrier")
    )
    carriers = Carrier.objects.in_bulk([g["carrier"] for g in groups if g["carrier"]])
    stats = []
    for group in groups:
        carrier = carriers.get(group["carrier"])
        window = (carrier.first_scan_minutes if carrier else None) or default_window()
        scanned = shipped.filter(carrier=carrier, first_scan_at__isnull=False)
        in_window = scanned.filter(first_scan_at__lte=F("shipped_at") + timedelta(minutes=window)).count()
        stats.append(
            CarrierStats(
                carrier=carrier,
                window_minutes=window,
                shipments=group["shipments"],
                scanned=group["scanned"],
                scanned_in_window=in_window,
                delivered=group["delivered"],
                exceptions=group["exceptions"],
                average_latency=group["average_latency"],
                p95_latency=_percentile(scanned, group["scanned"], 0.95),
            )
        )
    stats.sort(key=lambda s: (-s.shipments, s.carrier.code if s.carrier else ""))
    return stats


def _percentile(scanned: QuerySet[Shipment], count: int, fraction: float) -> timedelta | None:
    if not count:
        return None
    rank = max(1, math.ceil(fraction * count))  # nearest rank
    row = (
        scanned.annotate(latency=LATENCY)
        .order_by("latency", "pk")
        .values_list("first_scan_at", "shipped_at")[rank - 1 : rank]
    )
    first_scan_at, shipped_at = row[0]
    return first_scan_at - shipped_at
