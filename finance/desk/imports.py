"""Statement import screens: upload, progress, preview and confirm, error report."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from finance.desk.exports import export_response, wants_export
from finance.desk.forms import StatementUploadForm
from finance.imports.layouts import BUILTIN, layout_choices
from finance.imports.models import ImportBatch, ImportState
from finance.imports.recovery import import_is_stuck, import_retry
from finance.imports.samples import SAMPLES
from finance.imports.services import PAGE_ERRORS, import_confirm, import_error_rows, import_upload

PAGE_SIZE = 30
RUNNING = (ImportState.UPLOADED, ImportState.VALIDATING, ImportState.IMPORTING)


@login_required
@permission_required("finance.view_importbatch", raise_exception=True)
def import_list(request):
    form = StatementUploadForm(layout_choices=layout_choices())
    if request.method == "POST":
        if not request.user.has_perm("finance.add_importbatch"):
            messages.error(request, _("You are not allowed to import statements."))
            return redirect("finance:imports")
        form = StatementUploadForm(request.POST, request.FILES, layout_choices=layout_choices())
        if form.is_valid():
            try:
                batch = import_upload(
                    file=form.cleaned_data["file"], layout_key=form.cleaned_data["layout"], actor=request.user
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                return redirect("finance:import-detail", batch.pk)
        else:
            form_errors(request, form)
    batches = ImportBatch.objects.select_related("created_by").order_by("-created_at", "-id")
    page = Paginator(batches, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/import_list.html",
        {"form": form, "page": page, "layouts": BUILTIN.values(), "samples": SAMPLES, "query": ""},
    )


@login_required
@permission_required("finance.view_importbatch", raise_exception=True)
def import_detail(request, pk):
    batch = get_object_or_404(ImportBatch.objects.select_related("created_by", "confirmed_by"), pk=pk)
    return render(
        request,
        "finance/import_detail.html",
        {
            "batch": batch,
            "running": batch.state in RUNNING,
            "can_retry": import_is_stuck(batch),
            "errors": batch.errors[:PAGE_ERRORS],
            "more_errors": max(batch.error_count - PAGE_ERRORS, 0),
        },
    )


@login_required
@permission_required("finance.view_importbatch", raise_exception=True)
def import_progress(request, pk):
    batch = get_object_or_404(ImportBatch, pk=pk)
    return JsonResponse(
        {
            "state": batch.state,
            "label": batch.get_state_display(),
            "processed": batch.processed_rows,
            "total": batch.total_rows,
            "percent": batch.percent,
            "running": batch.state in RUNNING,
        }
    )


@login_required
@require_POST
@permission_required("finance.add_importbatch", raise_exception=True)
def import_confirm_view(request, pk):
    run_service(
        request,
        lambda: import_confirm(batch_id=pk, actor=request.user),
        _("Import #%(id)s confirmed: the lines are being inserted.") % {"id": pk},
    )
    return redirect("finance:import-detail", pk)


@login_required
@require_POST
@permission_required("finance.add_importbatch", raise_exception=True)
def import_retry_view(request, pk):
    """A failed import is checked again from its file; a stuck one is handed to a worker now."""
    get_object_or_404(ImportBatch, pk=pk)
    run_service(
        request,
        lambda: import_retry(batch_id=pk, actor=request.user),
        _("Import #%(id)s is being retried.") % {"id": pk},
    )
    return redirect("finance:import-detail", pk)


@login_required
@permission_required("finance.view_importbatch", raise_exception=True)
def import_errors(request, pk):
    batch = get_object_or_404(ImportBatch, pk=pk)
    header = [_("Row"), _("Column"), _("Value"), _("Problem")]
    return export_response(
        wants_export(request) or "xlsx",
        f"import-{batch.pk}-errors",
        _("Errors"),
        header,
        import_error_rows(batch),
    )


@login_required
@permission_required("finance.view_importbatch", raise_exception=True)
def import_sample(request, layout):
    """A sample statement in a built-in layout, to try the import with."""
    sample = SAMPLES.get(layout)
    if sample is None:
        raise Http404(_("No sample for this layout."))
    response = HttpResponse(sample.build(), content_type=f"text/csv; charset={sample.encoding}")
    response["Content-Disposition"] = f'attachment; filename="{sample.file_name}"'
    return response
