"""Voucher screens: prepare a period's vouchers, approve (a second finance user), download, push
to the accounting system."""

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
from finance.vouchers.models import PushState, VoucherBatch
from finance.vouchers.push import voucher_push
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
        VoucherBatch.objects.select_related(
            "period", "layout__accounting_system", "prepared_by", "decided_by", "push_system"
        ),
        pk=pk,
    )
    page = Paginator(batch.entries.order_by("voucher_no", "line_no"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    can_decide = (
        batch.state == "prepared"
        and request.user.has_perm("finance.approve_voucherbatch")
        and batch.prepared_by_id != request.user.pk
    )
    system = batch.layout.accounting_system
    can_push = (
        batch.is_released
        and system is not None
        and system.is_active
        and batch.push_state in (PushState.NOT_PUSHED, PushState.FAILED)
        and request.user.has_perm("finance.add_voucherbatch")
    )
    pushed = sorted(batch.push_results.items(), key=lambda item: int(item[0]))
    return render(
        request,
        "finance/voucher_detail.html",
        {
            "batch": batch,
            "page": page,
            "query": "",
            "can_decide": can_decide,
            "form": DecisionNoteForm(),
            "push_to": system,
            "can_push": can_push,
            "pushed": pushed,
        },
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


@login_required
@require_POST
@permission_required("finance.add_voucherbatch", raise_exception=True)
def voucher_push_view(request, pk):
    run_service(
        request,
        lambda: voucher_push(batch_id=pk, actor=request.user),
        _("Pushing the vouchers to the accounting system: the state below shows when they are in."),
    )
    return redirect("finance:voucher-detail", pk)
