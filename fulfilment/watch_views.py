"""Desk screens of the fulfilment watches (R-F5, R-O7, R-D1): parcels with no first scan,
carrier statistics and the SLA rules with their open breaches. Read-only and thin."""

from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.models import AlertState
from core.spreadsheets import xlsx_response
from core.timezones import business_date, business_zone
from desk.alerts import visible_alerts
from fulfilment import sla, watches
from fulfilment.models import Carrier, SlaRule
from inventory.models import Warehouse
from orders.models import OrderStatus

PAGE_SIZE = 50
MAX_RANGE_DAYS = 92


class NoFirstScanFilter(forms.Form):
    carrier = forms.ModelChoiceField(
        label=gettext_lazy("Carrier"),
        queryset=Carrier.objects.order_by("code"),
        to_field_name="code",
        required=False,
    )
    warehouse = forms.ModelChoiceField(
        label=gettext_lazy("Warehouse"),
        queryset=Warehouse.objects.order_by("code"),
        to_field_name="code",
        required=False,
    )
    hours = forms.IntegerField(
        label=gettext_lazy("Shipped more than (hours) ago"), min_value=0, max_value=24 * 90, required=False
    )


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@permission_required("orders.view_shipment", raise_exception=True)
def no_first_scan(request):
    form = NoFirstScanFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    hours = data.get("hours")
    hours = settings.NO_FIRST_SCAN_LIST_HOURS if hours is None else hours
    now = timezone.now()
    rows = watches.shipments_without_first_scan(
        hours=hours, carrier=data.get("carrier"), warehouse=data.get("warehouse"), now=now
    )
    if request.GET.get("format") == "xlsx":
        return _no_first_scan_xlsx(rows.select_related("order__channel"), now)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for shipment in page:
        shipment.waited_hours = int((now - shipment.shipped_at).total_seconds() // 3600)
    return render(
        request,
        "fulfilment/no_first_scan.html",
        {"form": form, "page": page, "hours": hours, "query": _query_without_page(request)},
    )


NO_FIRST_SCAN_EXPORT_MAX = 20000


def _no_first_scan_xlsx(rows, now):
    """The list as Excel for the carrier's account manager: one row per parcel, with the outlet
    that should have picked it up where the waybill named it."""
    header = [
        _("Shipment"),
        _("Order"),
        _("Channel"),
        _("Carrier"),
        _("Tracking number"),
        _("Outlet (from the waybill)"),
        _("Warehouse"),
        _("Shipped at"),
        _("Hours without a scan"),
        _("Province"),
        _("City"),
    ]
    body = (
        [
            shipment.number,
            shipment.order.number,
            shipment.order.channel.code,
            shipment.carrier.name if shipment.carrier else "",
            shipment.tracking_number,
            str((shipment.waybill or {}).get("origin_outlet") or ""),
            shipment.warehouse.code,
            timezone.localtime(shipment.shipped_at).strftime("%Y-%m-%d %H:%M"),
            int((now - shipment.shipped_at).total_seconds() // 3600),
            shipment.order.ship_province,
            shipment.order.ship_city,
        ]
        for shipment in rows[:NO_FIRST_SCAN_EXPORT_MAX]
    )
    stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
    return xlsx_response(f"no-first-scan-{stamp}.xlsx", _("No first scan"), header, body)


class DateRangeForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(
        label=gettext_lazy("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext_lazy("The end date is before the start date."))
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error("end", gettext_lazy("Choose at most 92 days."))
        return cleaned


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=business_zone())


@login_required
@permission_required("orders.view_shipment", raise_exception=True)
def carrier_stats(request):
    today = business_date()
    initial = {"start": today - timedelta(days=6), "end": today}
    form = DateRangeForm(request.GET or None, initial=initial)
    if request.GET and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start, end = initial["start"], initial["end"]
        if not request.GET:
            form = DateRangeForm(initial=initial)
    stats = watches.carrier_statistics(start=_day_start(start), end=_day_start(end + timedelta(days=1)))
    return render(
        request,
        "fulfilment/carrier_stats.html",
        {
            "form": form,
            "stats": stats,
            "start": start,
            "end": end,
            "default_window": watches.default_window(),
        },
    )


@login_required
def sla_overview(request):
    """The SLA rules with their open breaches among the alerts this user may see."""
    open_breaches = visible_alerts(request.user).filter(kind=sla.KIND).exclude(state=AlertState.RESOLVED)
    counts = {
        row["payload__rule_id"]: row
        for row in open_breaches.values("payload__rule_id").annotate(
            open=Count("pk", filter=~Q(key__endswith=sla.ESCALATED)),
            escalated=Count("pk", filter=Q(key__endswith=sla.ESCALATED)),
        )
    }
    rules = list(SlaRule.objects.select_related("channel").order_by("status", "hours", "pk"))
    for rule in rules:
        row = counts.get(rule.pk) or {}
        rule.open_breaches = row.get("open", 0)
        rule.escalated_breaches = row.get("escalated", 0)
        rule.status_label = (
            OrderStatus(rule.status).label if rule.status in OrderStatus.values else rule.status
        )
    return render(request, "fulfilment/sla_rules.html", {"rules": rules})
