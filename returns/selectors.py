"""Reads for the returns desk: the RMA queue per role, one RMA with everything it touches, and
the return-rate metrics (set-based: a few grouped queries whatever the number of rows)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from core.roles import Role, user_roles
from core.timezones import business_zone
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import ShipmentLine, ShipmentStatus
from orders.models import OrderEvent
from returns.models import OPEN, VOID, R, ReturnLine, ReturnReason, ReturnRequest


def rma_queue() -> QuerySet[ReturnRequest]:
    return ReturnRequest.objects.select_related("order", "warehouse", "exchange_order").annotate(
        units=Sum("lines__quantity")
    )


# What each role works first when it opens the queue with no filter.
ROLE_QUEUES = {
    Role.WAREHOUSE: ([R.APPROVED, R.AWAITING_RETURN, R.RECEIVED], _("returns to receive and inspect")),
    Role.CUSTOMER_SERVICE: (
        [R.REQUESTED, R.APPROVED, R.AWAITING_RETURN, R.INSPECTED],
        _("returns to handle"),
    ),
    Role.FINANCE: ([R.INSPECTED, R.REFUNDING], _("returns with money to settle")),
}


def default_statuses(user) -> tuple[list[str], str]:
    """The statuses the user's role starts from (managers and admins see every open RMA)."""
    roles = user_roles(user)
    if Role.MANAGER in roles or Role.ADMIN in roles or user.is_superuser:
        return list(OPEN), str(_("open returns"))
    for role, (statuses, label) in ROLE_QUEUES.items():
        if role in roles:
            return [str(s) for s in statuses], str(label)
    return list(OPEN), str(_("open returns"))


def search(queryset: QuerySet[ReturnRequest], text: str) -> QuerySet[ReturnRequest]:
    text = text.strip()
    if not text:
        return queryset
    return queryset.filter(
        Q(number__iexact=text)
        | Q(order__number__iexact=text)
        | Q(order__external_id=text)
        | Q(return_tracking_number=text)
        | Q(contact_phone=text)
        | Q(order__customer_phone=text)
    )


def rma_detail(number: str) -> ReturnRequest:
    return ReturnRequest.objects.select_related(
        "order",
        "order__channel",
        "warehouse",
        "return_carrier",
        "exchange_order",
        "requested_by",
        "approved_by",
    ).get(number=number)


def rma_lines(rma: ReturnRequest) -> list[ReturnLine]:
    return list(
        rma.lines.select_related("order_line", "sku", "replacement_sku").order_by("order_line__line_no")
    )


def rma_events(rma: ReturnRequest) -> list[OrderEvent]:
    """The RMA's timeline: the order events that name it (on the original and the exchange order)."""
    orders = [rma.order_id, *([rma.exchange_order_id] if rma.exchange_order_id else [])]
    return list(
        OrderEvent.objects.filter(order_id__in=orders)
        .filter(Q(payload__rma=rma.number))
        .select_related("actor", "order")
        .order_by("created_at", "id")
    )


def rma_refund(rma: ReturnRequest):
    from returns.models import ReturnRefund

    return ReturnRefund.objects.filter(rma=rma).select_related("payment").first()


def exchange_shipments(rma: ReturnRequest) -> list:
    return fulfilment_selectors.order_shipments(rma.exchange_order) if rma.exchange_order_id else []


def order_returns(order) -> list[ReturnRequest]:
    return list(
        ReturnRequest.objects.filter(Q(order=order) | Q(exchange_order=order))
        .select_related("exchange_order", "order")
        .annotate(units=Sum("lines__quantity"))
        .order_by("-created_at")
    )


def awaiting_recheck(warehouse=None) -> QuerySet[ReturnLine]:
    lines = ReturnLine.objects.filter(
        intact_quantity__gt=0, recheck_due_at__isnull=False, rechecked_at__isnull=True
    ).select_related("rma", "sku", "order_line", "rma__warehouse")
    if warehouse is not None:
        lines = lines.filter(rma__warehouse=warehouse)
    return lines.order_by("recheck_due_at")


# --- metrics -------------------------------------------------------------------------------------


@dataclass
class SkuRate:
    sku: str
    name: str
    delivered: int
    returned: int

    @property
    def rate(self) -> Decimal | None:
        if not self.delivered:
            return None
        return (Decimal(self.returned * 100) / self.delivered).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )


@dataclass
class ReasonShare:
    reason: str
    label: str
    rmas: int
    units: int
    share: Decimal


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the business time zone."""
    zone = business_zone()
    return datetime.combine(start, time.min, zone), datetime.combine(end + timedelta(days=1), time.min, zone)


def return_rates_by_sku(start: date, end: date, *, limit: int = 100) -> list[SkuRate]:
    """Per SKU: units delivered in the period and units asked back by RMAs opened in it."""
    since, until = period_bounds(start, end)
    delivered = {
        row["sku__code"]: (row["sku__name"], row["units"])
        for row in ShipmentLine.objects.filter(
            shipment__status=ShipmentStatus.DELIVERED,
            shipment__delivered_at__gte=since,
            shipment__delivered_at__lt=until,
        )
        .values("sku__code", "sku__name")
        .annotate(units=Sum("quantity"))
    }
    returned = {
        row["sku__code"]: (row["sku__name"], row["units"])
        for row in ReturnLine.objects.filter(rma__created_at__gte=since, rma__created_at__lt=until)
        .exclude(rma__status__in=VOID)
        .values("sku__code", "sku__name")
        .annotate(units=Sum("quantity"))
    }
    rows = [
        SkuRate(
            sku=code,
            name=(delivered.get(code) or returned.get(code))[0],
            delivered=(delivered.get(code) or ("", 0))[1],
            returned=(returned.get(code) or ("", 0))[1],
        )
        for code in set(delivered) | set(returned)
    ]
    rows.sort(key=lambda r: (-(r.rate or Decimal(-1)), -r.returned, r.sku))
    return rows[:limit]


def return_reasons(start: date, end: date) -> list[ReasonShare]:
    since, until = period_bounds(start, end)
    rows = list(
        ReturnLine.objects.filter(rma__created_at__gte=since, rma__created_at__lt=until)
        .exclude(rma__status__in=VOID)
        .values("rma__reason")
        .annotate(units=Sum("quantity"), rmas=Count("rma", distinct=True))
        .order_by("-units")
    )
    total = sum(row["units"] for row in rows) or 1
    labels = dict(ReturnReason.choices)
    return [
        ReasonShare(
            reason=row["rma__reason"],
            label=str(labels.get(row["rma__reason"], row["rma__reason"])),
            rmas=row["rmas"],
            units=row["units"],
            share=(Decimal(row["units"] * 100) / total).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        )
        for row in rows
    ]
