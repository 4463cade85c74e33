"""Voucher screens: prepare a period's vouchers, approve (a second finance user), download."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from finance.desk.exports import export_response, wants_export
from finance.desk.forms import DecisionNoteForm, VoucherPrepareForm
from finance.vouchers.models import VoucherBatch
from finance.vouchers.services import voucher_approve, voucher_export, voucher_prepare, voucher_reject

PAGE_SIZE = 100


@login_required
@permission_required("finance.view_voucherbatch", raise_exception=True)
def voucher_list(request):
    batches = VoucherBatch.objects.select_related("period", "layout", "prepared_by", "decided_by")
    page = Paginator(batches, 30).get_page(request.GET.get("page"))
    return render(
        request, "finance/voucher_list.html", {"page": page, "form": VoucherPrepareForm(), "query": ""}
    )


@login_required
@require_POST
@permission_required("finance.add_voucherbatch", raise_exception=True)
def voucher_prepare_view(request):
    form = VoucherPrepareForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("finance:vouchers")
    year, month = form.cleaned_data["month"]
    try:
        batch = voucher_prepare(
            year=year, month=month, layout_id=form.cleaned_data["layout"].pk, actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("finance:vouchers")
    messages.success(
        request, _("Vouchers prepared: a second finance user must approve them before download.")
    )
    return redirect("finance:voucher-detail", batch.pk)


@login_required
@permission_required("finance.view_voucherbatch", raise_exception=True)
def voucher_detail(request, pk):
    batch = get_object_or_404(
        VoucherBatch.objects.select_related("period", "layout", "prepared_by", "decided_by"), pk=pk
    )
    page = Paginator(batch.entries.order_by("voucher_no", "line_no"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    can_decide = (
        batch.state == "prepared"
        and request.user.has_perm("finance.approve_voucherbatch")
        and batch.prepared_by_id != request.user.pk
    )
    return render(
        request,
        "finance/voucher_detail.html",
        {"batch": batch, "page": page, "query": "", "can_decide": can_decide, "form": DecisionNoteForm()},
    )


@login_required
@require_POST
@permission_required("finance.approve_voucherbatch", raise_exception=True)
def voucher_decide(request, pk, decision):
    form = DecisionNoteForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("finance:voucher-detail", pk)
    note = form.cleaned_data["note"]
    if decision == "approve":
        run_service(
            request,
            lambda: voucher_approve(batch_id=pk, actor=request.user, note=note),
            _("Vouchers approved and released for download."),
        )
    else:
        run_service(
            request,
            lambda: voucher_reject(batch_id=pk, actor=request.user, note=note),
            _("Vouchers rejected."),
        )
    return redirect("finance:voucher-detail", pk)


@login_required
@permission_required("finance.view_voucherbatch", raise_exception=True)
def voucher_download(request, pk):
    batch = get_object_or_404(VoucherBatch.objects.select_related("period"), pk=pk)
    try:
        header, rows = voucher_export(batch=batch, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("finance:voucher-detail", pk)
    return export_response(
        wants_export(request) or "xlsx", f"vouchers-{batch.period}-{batch.pk}", _("Vouchers"), header, rows
    )
