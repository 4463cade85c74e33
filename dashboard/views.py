from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from catalog.models import Channel
from core.spreadsheets import csv_response, xlsx_response
from core.timezones import business_date
from dashboard import panels

MAX_DAYS = 366


class DashboardFilter(forms.Form):
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.order_by("code"), required=False, to_field_name="code"
    )

    def clean(self):
        data = super().clean()
        last = data.get("date_to") or business_date()
        first = data.get("date_from") or last - timedelta(days=29)
        if first > last:
            raise forms.ValidationError(_("“From” is after “To”."))
        if (last - first).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most a year."))
        data["date_from"], data["date_to"] = first, last
        return data


def _rows(request):
    form = DashboardFilter(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    if not request.GET:
        form = DashboardFilter({})
        form.is_valid()
    data = form.cleaned_data
    channel = data.get("channel")
    return form, panels.from_rollups(data["date_from"], data["date_to"], channel.pk if channel else None)


@login_required
@permission_required("orders.view_dashboard", raise_exception=True)
def dashboard(request):
    form, rows = _rows(request)
    built = panels.dashboard(rows) if rows else []
    chart_data = {
        p.key: {
            "kind": p.kind,
            "labels": p.labels,
            "series": _chart_series(p),
            "unit": p.unit,
            "stacked": p.stacked,
        }
        for p in built
    }
    return render(
        request,
        "dashboard/dashboard.html",
        {"form": form, "panels": built, "chart_data": chart_data, "query": request.GET.urlencode()},
    )


def _chart_series(panel: panels.Panel) -> list[dict]:
    """The series as Chart.js draws them: numbers (exact amounts stay in the downloads)."""
    return [
        {**s, "data": [float(v) if isinstance(v, Decimal) else v for v in s["data"]]} for s in panel.series
    ]


@login_required
@permission_required("orders.view_dashboard", raise_exception=True)
def panel_download(request, key: str, fmt: str):
    build = panels.PANELS.get(key)
    form, rows = _rows(request)
    if build is None or rows is None:
        raise Http404
    panel = build(rows)
    header, table = panel.table()
    filename = f"{key}-{rows.first}-{rows.last}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, header, table)
    return xlsx_response(filename, str(panel.title), header, table)
