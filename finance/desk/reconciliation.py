"""Reconciliation screens: runs (one click to run a month), the matrix of a run with each
difference's trail and a resolve action, and the queue of bank memo candidates."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from core.timezones import business_date
from finance.desk.exports import export_response, wants_export
from finance.desk.forms import (
    CandidateDecisionForm,
    ReasonForm,
    ReconciliationFilterForm,
    ReconciliationStartForm,
)
from finance.reconciliation import selectors
from finance.reconciliation.models import DifferenceClass, ReconciliationItem, ReconciliationRun, RunState
from finance.reconciliation.recovery import reconciliation_retry, run_is_stuck
from finance.reconciliation.services import (
    memo_candidate_decide,
    reconciliation_item_resolve,
    reconciliation_start,
)

PAGE_SIZE = 50


def _back(request, fallback):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return fallback


@login_required
@permission_required("finance.view_reconciliationrun", raise_exception=True)
def run_list(request):
    last_month = business_date().replace(day=1) - timedelta(days=1)
    runs = list(selectors.run_list())
    labels = dict(DifferenceClass.choices)
    for run in runs:
        run.count_rows = [(key, labels.get(key, key), n) for key, n in sorted(run.counts.items())]
        run.can_retry = run_is_stuck(run)
    return render(
        request,
        "finance/reconciliation_list.html",
        {
            "runs": runs,
            "form": ReconciliationStartForm(initial={"month": last_month.strftime("%Y-%m")}),
            "running": any(run.state in (RunState.QUEUED, RunState.RUNNING) for run in runs),
            "pending": selectors.candidate_queue().count(),
        },
    )


@login_required
@require_POST
@permission_required("finance.add_reconciliationrun", raise_exception=True)
def run_start(request):
    form = ReconciliationStartForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("finance:reconciliation")
    year, month = form.cleaned_data["month"]
    try:
        run, created = reconciliation_start(year=year, month=month, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(request, _("Reconciliation of %(period)s started.") % {"period": run.period})
        else:
            messages.info(
                request, _("A reconciliation of %(period)s is already under way.") % {"period": run.period}
            )
    return redirect("finance:reconciliation")


@login_required
@require_POST
@permission_required("finance.add_reconciliationrun", raise_exception=True)
def run_retry(request, pk):
    """A failed run: its month is reconciled by a new run. A stuck one: handed to a worker now."""
    get_object_or_404(ReconciliationRun, pk=pk)
    try:
        run, created = reconciliation_retry(run_id=pk, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(
                request, _("Reconciliation of %(period)s started again.") % {"period": run.period}
            )
        else:
            messages.info(
                request,
                _("Run #%(id)s of %(period)s was handed to a worker.") % {"id": run.pk, "period": run.period},
            )
    return redirect("finance:reconciliation")


@login_required
@permission_required("finance.view_reconciliationrun", raise_exception=True)
def run_matrix(request, pk):
    run = get_object_or_404(ReconciliationRun.objects.select_related("period", "requested_by"), pk=pk)
    form = ReconciliationFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    difference, show = filters.get("difference", ""), filters.get("show") or "open"
    fmt = wants_export(request)
    if fmt:
        return _export(run, difference, show, fmt)
    page, rows = selectors.run_matrix(run, difference=difference, show=show, page=request.GET.get("page", 1))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "finance/reconciliation_matrix.html",
        {
            "run": run,
            "form": form,
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "columns": selectors.COLUMNS,
        },
    )


def _export(run, difference, show, fmt):
    items = selectors.run_items(run, difference, show).select_related("order", "line", "resolved_by")
    header = [_("Order"), _("Statement line"), _("Difference"), _("Column"), _("Expected"), _("Actual"),
              _("Currency"), _("Resolved by"), _("Resolution")]  # fmt: skip
    rows = (
        [
            item.order.number if item.order else "",
            item.line.entry_id if item.line else "",
            str(item.get_difference_display()),
            item.column,
            item.expected,
            item.actual,
            item.currency,
            item.resolved_by.get_username() if item.resolved_by else "",
            item.resolution,
        ]
        for item in items.order_by("order_id", "line_id", "id").iterator(chunk_size=2000)
    )
    return export_response(fmt, f"reconciliation-{run.period}-{run.pk}", _("Differences"), header, rows)


@login_required
@require_POST
@permission_required("finance.change_reconciliationitem", raise_exception=True)
def item_resolve(request, pk):
    item = get_object_or_404(ReconciliationItem, pk=pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        run_service(
            request,
            lambda: reconciliation_item_resolve(
                item_id=pk, reason=form.cleaned_data["reason"], actor=request.user
            ),
            _("Difference resolved."),
        )
    else:
        form_errors(request, form)
    return _back(request, redirect("finance:reconciliation-run", item.run_id))


@login_required
@permission_required("finance.view_memocandidate", raise_exception=True)
def candidate_list(request):
    page = Paginator(selectors.candidate_queue(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "finance/candidate_list.html", {"page": page, "query": "", "now": timezone.now()})


@login_required
@require_POST
@permission_required("finance.change_memocandidate", raise_exception=True)
def candidate_decide(request, pk):
    form = CandidateDecisionForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("finance:candidates")
    accept = form.cleaned_data["decision"] == "accept"
    run_service(
        request,
        lambda: memo_candidate_decide(
            candidate_id=pk, accept=accept, actor=request.user, reason=form.cleaned_data["reason"]
        ),
        _("Bank line matched to the order.") if accept else _("Candidate rejected."),
    )
    return redirect("finance:candidates")
