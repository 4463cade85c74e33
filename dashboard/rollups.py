"""Keeping the dashboard rollups current, incrementally.

Every change to an order writes an event on its timeline (shipments and tracking included), so
the business days to recompute are those of orders with events since the last run (less a
small overlap for transactions that committed late), plus today and yesterday, whose lateness
changes with the clock alone. Each day is recomputed whole from the raw tables with one grouped
query and replaces its rollup rows, so a refresh is idempotent; the watermark row lock makes two
refreshes running at once take turns.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.money import MoneySum
from core.timezones import business_date, business_zone
from dashboard.models import CarrierDayRollup, OrderDayRollup, RollupWatermark
from finance.models import RevenueKind, RevenueLine
from fulfilment.models import Shipment, ShipmentLine, ShipmentStatus, TrackingEvent, TrackingStatus
from orders.models import Order, OrderEvent, OrderStatus

S = OrderStatus
OVERLAP = timedelta(minutes=5)  # events committed by transactions that started before the last run
SHIPPED_STATES = [S.SHIPPED, S.DELIVERED, S.COMPLETED]
# Paid, not yet fully shipped: late once the shipping deadline has passed.
AWAITING_SHIPMENT = [S.PAID, S.ALLOCATED, S.PARTIALLY_SHIPPED, S.ON_HOLD]
PROBLEM_TRACKING = [TrackingStatus.EXCEPTION, TrackingStatus.RETURNED, TrackingStatus.LOST]


def ship_within() -> timedelta:
    return timedelta(hours=settings.SHIP_WITHIN_HOURS)


def sync_window() -> timedelta:
    return timedelta(hours=settings.NO_FIRST_SCAN_LIST_HOURS)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a business day, as aware datetimes."""
    start = datetime.combine(day, time.min, tzinfo=business_zone())
    return start, start + timedelta(days=1)


def spans(days: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous runs of days as (first, last), so each run is one range query."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


# --- the grouped queries (also the "raw table" baseline of bench/dashboard.py) -----------------


def order_day_aggregates(start: datetime, end: datetime, *, now: datetime, channel_id: int | None = None):
    """Per (business day, channel, currency): the counts and sums of orders placed in [start, end)."""
    zone = business_zone()
    deadline = ExpressionWrapper(F("paid_at") + ship_within(), output_field=DateTimeField())
    lines_of_order = ShipmentLine.objects.filter(order_line__order=OuterRef("pk"))
    orders = Order.objects.filter(placed_at__gte=start, placed_at__lt=end)
    if channel_id:
        orders = orders.filter(channel_id=channel_id)
    return (
        orders.annotate(
            day=TruncDate("placed_at", tzinfo=zone),
            last_shipped=Subquery(
                lines_of_order.exclude(shipment__status=ShipmentStatus.CANCELLED)
                .filter(shipment__shipped_at__isnull=False)
                .order_by("-shipment__shipped_at")
                .values("shipment__shipped_at")[:1]
            ),
            has_exception=Exists(lines_of_order.filter(shipment__status=ShipmentStatus.EXCEPTION)),
            has_refund=Exists(RevenueLine.objects.filter(order=OuterRef("pk"), kind=RevenueKind.REFUND)),
        )
        .values("day", "channel_id", "currency")
        .annotate(
            n_orders=Count("pk"),
            n_paid=Count("pk", filter=Q(paid_at__isnull=False)),
            n_cancelled=Count("pk", filter=Q(status=S.CANCELLED)),
            n_held=Count("pk", filter=Q(status=S.ON_HOLD)),
            n_shipped=Count("pk", filter=Q(status__in=SHIPPED_STATES)),
            n_on_time=Count("pk", filter=Q(status__in=SHIPPED_STATES, last_shipped__lte=deadline)),
            n_late=Count(
                "pk",
                filter=Q(status__in=SHIPPED_STATES, last_shipped__gt=deadline)
                | Q(status__in=AWAITING_SHIPMENT, paid_at__lt=now - ship_within()),
            ),
            n_delivered=Count("pk", filter=Q(status__in=[S.DELIVERED, S.COMPLETED])),
            n_exceptions=Count("pk", filter=Q(has_exception=True)),
            n_refunded=Count("pk", filter=Q(has_refund=True)),
            gross_total=MoneySum("total", filter=~Q(status=S.CANCELLED)),
        )
        .order_by("day", "channel_id", "currency")
    )


def carrier_day_aggregates(start: datetime, end: datetime):
    """Per (business day of handover, carrier): parcels, units and how their tracking went."""
    units = (
        ShipmentLine.objects.filter(shipment=OuterRef("pk"))
        .values("shipment")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    latency = ExpressionWrapper(F("first_scan_at") - F("shipped_at"), output_field=DurationField())
    return (
        Shipment.objects.filter(shipped_at__gte=start, shipped_at__lt=end, carrier__isnull=False)
        .exclude(status=ShipmentStatus.CANCELLED)
        .annotate(
            day=TruncDate("shipped_at", tzinfo=business_zone()),
            parcel_units=Subquery(units),
            had_problem=Exists(
                TrackingEvent.objects.filter(shipment=OuterRef("pk"), status__in=PROBLEM_TRACKING)
            ),
        )
        .values("day", "carrier_id")
        .annotate(
            n_shipped=Count("pk"),
            n_units=Sum("parcel_units"),
            n_scanned=Count("pk", filter=Q(first_scan_at__isnull=False)),
            n_in_window=Count("pk", filter=Q(first_scan_at__lte=F("shipped_at") + sync_window())),
            latency_sum=Sum(latency, filter=Q(first_scan_at__isnull=False)),
            n_delivered=Count("pk", filter=Q(status=ShipmentStatus.DELIVERED)),
            n_exceptions=Count("pk", filter=Q(status=ShipmentStatus.EXCEPTION) | Q(had_problem=True)),
        )
        .order_by("day", "carrier_id")
    )


# --- refreshing ---------------------------------------------------------------------------------


def _order_rows(first: date, last: date, now: datetime) -> list[OrderDayRollup]:
    start, _end = day_bounds(first)
    _start, end = day_bounds(last)
    return [
        OrderDayRollup(
            day=row["day"],
            channel_id=row["channel_id"],
            currency=row["currency"],
            orders=row["n_orders"],
            paid=row["n_paid"],
            cancelled=row["n_cancelled"],
            held=row["n_held"],
            shipped=row["n_shipped"],
            shipped_on_time=row["n_on_time"],
            late=row["n_late"],
            delivered=row["n_delivered"],
            exceptions=row["n_exceptions"],
            refunded=row["n_refunded"],
            gross=row["gross_total"] or 0,
        )
        for row in order_day_aggregates(start, end, now=now)
    ]


def _carrier_rows(first: date, last: date) -> list[CarrierDayRollup]:
    start, _end = day_bounds(first)
    _start, end = day_bounds(last)
    return [
        CarrierDayRollup(
            day=row["day"],
            carrier_id=row["carrier_id"],
            shipped=row["n_shipped"],
            units=row["n_units"] or 0,
            first_scanned=row["n_scanned"],
            synced_in_window=row["n_in_window"],
            latency_total=row["latency_sum"],
            delivered=row["n_delivered"],
            exceptions=row["n_exceptions"],
        )
        for row in carrier_day_aggregates(start, end)
    ]


def dirty_days(since: datetime | None) -> tuple[set[date], set[date]]:
    """(order days, carrier days) touched by timeline events since `since`; None = every day."""
    zone = business_zone()
    orders = Order.objects.all()
    shipments = Shipment.objects.filter(shipped_at__isnull=False)
    if since is not None:
        touched = OrderEvent.objects.filter(created_at__gte=since).values("order_id")
        orders = orders.filter(pk__in=touched)
        shipments = shipments.filter(order_id__in=touched)
    order_days = set(
        orders.annotate(d=TruncDate("placed_at", tzinfo=zone)).values_list("d", flat=True).distinct()
    )
    carrier_days = set(
        shipments.annotate(d=TruncDate("shipped_at", tzinfo=zone)).values_list("d", flat=True).distinct()
    )
    return order_days, carrier_days


def rollup_refresh(*, now: datetime | None = None, full: bool = False) -> int:
    """Recompute the rollups of every business day that changed; returns how many days. `now` is
    the clock lateness is judged by; the watermark always follows the real clock."""
    started = timezone.now()
    now = now or started
    with transaction.atomic():
        RollupWatermark.objects.get_or_create(name="orders")
        mark = RollupWatermark.objects.select_for_update().get(name="orders")
        since = None if full or mark.value is None else mark.value - OVERLAP
        order_days, carrier_days = dirty_days(since)
        today = business_date(now)
        recent = {today, today - timedelta(days=1)}
        order_days |= recent
        carrier_days |= recent
        if full:
            OrderDayRollup.objects.all().delete()
            CarrierDayRollup.objects.all().delete()
        for first, last in spans(order_days):
            OrderDayRollup.objects.filter(day__gte=first, day__lte=last).delete()
            OrderDayRollup.objects.bulk_create(_order_rows(first, last, now), batch_size=1000)
        for first, last in spans(carrier_days):
            CarrierDayRollup.objects.filter(day__gte=first, day__lte=last).delete()
            CarrierDayRollup.objects.bulk_create(_carrier_rows(first, last), batch_size=1000)
        mark.value = started
        mark.save(update_fields=["value"])
    return len(order_days | carrier_days)
