from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Channel
from core.spreadsheets import csv_response, xlsx_response
from core.timezones import business_date, business_zone
from dashboard import health, kpis, panels, ranges

MAX_DAYS = 366


def _date_box():
    """A browser date picker; its value is always ISO (a localised "2026/12/06" would leave the
    box empty in Chinese)."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DashboardFilter(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=_date_box())
    date_to = forms.DateField(label=_("To"), required=False, widget=_date_box())
    channel = forms.ModelChoiceField(
        label=_("Channel"), queryset=Channel.objects.order_by("code"), required=False, to_field_name="code"
    )
    preset = forms.ChoiceField(
        choices=[(p.key, p.label) for p in ranges.PRESETS], required=False, widget=forms.HiddenInput
    )

    def clean(self):
        data = super().clean()
        today = business_date()
        if data.get("preset"):  # a preset wins over dates typed before it was clicked
            first, last = ranges.preset_range(data["preset"], today)
        else:
            last = data.get("date_to") or today
            first = data.get("date_from") or last - timedelta(days=29)
        if first > last:
            raise forms.ValidationError(_("“From” is after “To”."))
        if (last - first).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most a year."))
        data["date_from"], data["date_to"] = first, last
        return data


def _filter(request) -> tuple[DashboardFilter, dict | None]:
    """The form to show and the effective range (None when the input is refused). The form shown
    after a valid request is filled with the range in use, so the date boxes are never empty."""
    form = DashboardFilter(request.GET)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    shown = DashboardFilter(
        initial={"date_from": data["date_from"], "date_to": data["date_to"], "channel": data.get("channel")}
    )
    return shown, data


def _query(data: dict, **extra) -> str:
    channel = data.get("channel")
    params = {"date_from": data["date_from"].isoformat(), "date_to": data["date_to"].isoformat()}
    if channel:
        params["channel"] = channel.code
    return urlencode(params | extra)


def _presets(data: dict) -> list[dict]:
    active = ranges.matching_preset(data["date_from"], data["date_to"])
    channel = data.get("channel")
    return [
        {
            "key": p.key,
            "label": p.label,
            "query": urlencode({"preset": p.key} | ({"channel": channel.code} if channel else {})),
            "active": p.key == active,
        }
        for p in ranges.PRESETS
    ]


@login_required
@permission_required("orders.view_dashboard", raise_exception=True)
def dashboard(request):
    form, data = _filter(request)
    context = {"form": form, "panels": [], "chart_data": {}, "presets": [], "kpis": [], "query": ""}
    if data is not None:
        channel = data.get("channel")
        channel_id = channel.pk if channel else None
        first, last = data["date_from"], data["date_to"]
        rows = panels.from_rollups(first, last, channel_id)
        before = ranges.previous_period(first, last)
        built = panels.dashboard(rows)
        context |= {
            "panels": built,
            "chart_data": {p.key: _chart(p) for p in built if p.has_data and p.kind in ("bar", "line")},
            "presets": _presets(data),
            "kpis": kpis.kpis(rows, panels.from_rollups(*before, channel_id)),
            "range": (first, last),
            "previous": before,
            "partial": sorted(rows.partial),
            "complete_until": timezone.localtime(rows.complete_until, business_zone()),
            "query": _query(data),
            "health": health.order_health(),
            "health_weights": health.WEIGHTS,
        }
    return render(request, "dashboard/dashboard.html", context)


def _chart(panel: panels.Panel) -> dict:
    return {
        "kind": panel.kind,
        "labels": panel.labels,
        "series": _chart_series(panel),
        "unit": panel.unit,
        "stacked": panel.stacked,
        "axis": {key: str(value) if key == "title" else value for key, value in panel.axis.items()},
        "partial": panel.partial,
    }


def _chart_series(panel: panels.Panel) -> list[dict]:
    """The series as Chart.js draws them: numbers (exact amounts stay in the downloads)."""
    return [
        {
            **s,
            "label": str(s["label"]),
            "data": [float(v) if isinstance(v, Decimal) else v for v in s["data"]],
        }
        for s in panel.series
    ]


@login_required
@permission_required("orders.view_dashboard", raise_exception=True)
def panel_download(request, key: str, fmt: str):
    build = panels.PANELS.get(key)
    _form, data = _filter(request)
    if build is None or data is None:
        raise Http404
    channel = data.get("channel")
    rows = panels.from_rollups(data["date_from"], data["date_to"], channel.pk if channel else None)
    panel = build(rows)
    header, table = panel.table()
    filename = f"{key}-{rows.first}-{rows.last}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, header, table)
    return xlsx_response(filename, str(panel.title), header, table)
