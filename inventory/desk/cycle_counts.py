"""Cycle count screens (R-I9): upload a count sheet, follow its reading, review its differences,
approve or cancel. Views stay thin: validate the form → call inventory.cycle_counts → show the
outcome → redirect. The upload is only stored here; a worker reads it (inventory.cycle_counts.uploads)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_fsm import has_transition_perm

from core.errors import DomainError
from inventory import cycle_counts
from inventory.models import CycleCount, CycleCountState, CycleCountUpload, CycleCountUploadState, Warehouse

PAGE_SIZE = 50
LINES_PER_PAGE = 200
REFRESH_SECONDS = 2  # the upload page reloads itself while the sheet waits for its worker
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CycleCountUploadForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        label=gettext_lazy("Warehouse"),
        queryset=Warehouse.objects.filter(is_active=True),
        to_field_name="code",
    )
    file = forms.FileField(
        label=gettext_lazy("Count sheet"),
        help_text=gettext_lazy(
            "Excel (.xlsx), OpenDocument (.ods) or CSV (UTF-8 or GBK) with columns sku, lot, pool, "
            "counted_quantity."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.ods,.csv"}),
    )
    reference = forms.CharField(label=gettext_lazy("Reference"), max_length=100, required=False)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=255, required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.SHEETS_MAX_FILE_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
            )
        return upload


@login_required
@permission_required("inventory.view_cyclecount", raise_exception=True)
def cyclecount_list(request):
    state = request.GET.get("state", "")
    counts = (
        CycleCount.objects.select_related("warehouse", "created_by", "approved_by")
        .annotate(
            line_count=Count("lines"),
            differing=Count("lines", filter=~Q(lines__counted_quantity=F("lines__system_quantity"))),
        )
        .order_by("-created_at", "-id")
    )
    if state in CycleCountState.values:
        counts = counts.filter(state=state)
    page = Paginator(counts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "inventory/cyclecount_list.html",
        {"page": page, "state": state, "states": CycleCountState.choices},
    )


@login_required
@permission_required("inventory.add_cyclecount", raise_exception=True)
def cyclecount_upload(request):
    posted = request.method == "POST"
    form = CycleCountUploadForm(request.POST, request.FILES) if posted else CycleCountUploadForm()
    if posted and form.is_valid():
        file = form.cleaned_data["file"]
        try:
            upload = cycle_counts.cycle_count_upload_queue(
                warehouse=form.cleaned_data["warehouse"],
                file_bytes=file.read(),
                file_name=file.name,
                actor=request.user,
                reference=form.cleaned_data["reference"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            return redirect(upload.get_absolute_url())
    return render(request, "inventory/cyclecount_upload.html", {"form": form})


@login_required
@permission_required("inventory.add_cyclecount", raise_exception=True)
def cyclecount_upload_detail(request, pk):
    """While a worker reads the sheet: this page, reloading itself; then the draft to review, or
    the reasons the sheet was refused."""
    upload = get_object_or_404(CycleCountUpload.objects.select_related("warehouse", "cycle_count"), pk=pk)
    if upload.state == CycleCountUploadState.READ and upload.cycle_count is not None:
        messages.success(
            request,
            _("Cycle count %(count)s uploaded: review the differences.") % {"count": upload.cycle_count},
        )
        return redirect(upload.cycle_count.get_absolute_url())
    file_errors = [cycle_counts.RowError(*error) for error in upload.errors]
    return render(
        request,
        "inventory/cyclecount_upload_detail.html",
        {
            "upload": upload,
            "waiting": upload.state == CycleCountUploadState.QUEUED,
            "refresh_seconds": REFRESH_SECONDS,
            "file_errors": file_errors,
            "form": CycleCountUploadForm(initial={"warehouse": upload.warehouse.code}),
        },
    )


@login_required
@permission_required("inventory.view_cyclecount", raise_exception=True)
def cyclecount_detail(request, pk):
    cycle_count = get_object_or_404(
        CycleCount.objects.select_related("warehouse", "created_by", "approved_by", "cancelled_by"), pk=pk
    )
    lines = cycle_count.lines.select_related("sku", "lot", "pool").order_by("row_number")
    differing = lines.exclude(counted_quantity=F("system_quantity"))
    only_differences = request.GET.get("differences") == "1"
    page = Paginator(differing if only_differences else lines, LINES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "inventory/cyclecount_detail.html",
        {
            "cycle_count": cycle_count,
            "page": page,
            "only_differences": only_differences,
            "line_count": lines.count(),
            "differing_count": differing.count(),
            "can_approve": has_transition_perm(cycle_count.approve, request.user),
            "can_cancel": has_transition_perm(cycle_count.cancel, request.user),
        },
    )


def _count_action(service, *, perm: str, success: str):
    """POST-only, signed in, permitted: run the service on the count, report, go back to it."""

    @login_required
    @permission_required(perm, raise_exception=True)
    @require_POST
    def view(request, pk):
        cycle_count = get_object_or_404(CycleCount, pk=pk)
        try:
            service(cycle_count=cycle_count, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, success % {"count": cycle_count})
        return redirect(cycle_count.get_absolute_url())

    return view


cyclecount_approve = _count_action(
    cycle_counts.cycle_count_approve,
    perm="inventory.approve_cyclecount",
    success=gettext_lazy("Cycle count %(count)s approved: differences posted."),
)
# Who may cancel which draft is the service's rule (approvers, or the uploader for their own).
cyclecount_cancel = _count_action(
    cycle_counts.cycle_count_cancel,
    perm="inventory.view_cyclecount",
    success=gettext_lazy("Cycle count %(count)s cancelled."),
)


@login_required
@permission_required("inventory.view_cyclecount", raise_exception=True)
def cyclecount_template(request):
    response = HttpResponse(cycle_counts.cycle_count_template(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="cycle-count-template.xlsx"'
    return response
