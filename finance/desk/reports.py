"""Report screens (daily platform sales, receivables and payables, refund differences,
statement lines); each also downloads as CSV or Excel with ?format=csv|xlsx."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.timezones import business_date
from finance import reports
from finance.desk.exports import export_response, wants_export
from finance.desk.forms import DateRangeForm, StatementFilterForm

PAGE_SIZE = 100


def _query(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return query.urlencode()


def _range(request, default_days: int):
    form = DateRangeForm(request.GET or None)
    today = business_date()
    data = form.cleaned_data if form.is_valid() else {}
    start = data.get("start") or today - timedelta(days=default_days - 1)
    end = data.get("end") or today
    return form, start, end, data.get("channel", "")


def _page(request, template: str, name: str, report: reports.Report, extra: dict):
    fmt = wants_export(request)
    if fmt:
        return export_response(fmt, name, report.title, report.header, report.rows)
    rows = list(report.rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, template, {"report": report, "page": page, "query": _query(request), **extra})


@login_required
@permission_required("finance.view_revenueline", raise_exception=True)
def daily_sales(request):
    form, start, end, channel = _range(request, 7)
    report = reports.daily_sales(start=start, end=end, channel=channel)
    return _page(request, "finance/report.html", f"daily-sales-{start}-{end}", report, {"form": form})


@login_required
@permission_required("finance.view_payment", raise_exception=True)
def receivables_payables(request):
    channel = request.GET.get("channel", "").strip()[:50]
    which = request.GET.get("report", "receivables")
    fmt = wants_export(request)
    if fmt:
        report = (
            reports.payables(channel=channel) if which == "payables" else reports.receivables(channel=channel)
        )
        return export_response(fmt, which, report.title, report.header, report.rows)
    return render(
        request,
        "finance/receivables.html",
        {
            "receivables": reports.receivables(channel=channel),
            "payables": reports.payables(channel=channel),
            "channel": channel,
        },
    )


@login_required
@permission_required("finance.view_revenueline", raise_exception=True)
def refund_differences(request):
    form, start, end, channel = _range(request, 31)
    report = reports.refund_differences(start=start, end=end, channel=channel)
    return _page(request, "finance/report.html", f"refund-differences-{start}-{end}", report, {"form": form})


@login_required
@permission_required("finance.view_statementline", raise_exception=True)
def statement_list(request):
    form = StatementFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    lines = reports.statement_lines(source=data.get("source", ""), unmatched=data.get("unmatched"))
    if data.get("month"):  # a filter only: a GET must not create the period row
        year, month = data["month"]
        lines = lines.filter(period__year=year, period__month=month)
    if data.get("batch"):
        lines = lines.filter(batch_id=data["batch"])
    fmt = wants_export(request)
    if fmt:
        report = reports.statement_export(lines)
        return export_response(fmt, "statement-lines", report.title, report.header, report.rows)
    page = Paginator(lines.select_related("order", "period"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/statement_list.html",
        {"form": form, "page": page, "query": _query(request), "title": _("Statement lines")},
    )
