"""The print buttons of the pick list: one PDF per batch (fulfilment.printing)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import DomainError
from fulfilment import printing


def _pdf(printed: printing.Printed, name: str) -> HttpResponse:
    response = HttpResponse(printed.pdf, content_type="application/pdf")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'inline; filename="{name}-{stamp}.pdf"'
    return response


def _print(request, service, name: str) -> HttpResponse:
    try:
        printed = service(numbers=request.POST.getlist("shipment"), actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("fulfilment:shipments")
    for problem in printed.skipped:  # shown on the desk's next page
        messages.warning(request, problem)
    return _pdf(printed, name)


@login_required
@require_POST
@permission_required(printing.PRINT_PERMISSION, raise_exception=True)
def print_labels(request):
    return _print(request, printing.shipments_print_labels, "labels")


@login_required
@require_POST
@permission_required(printing.PRINT_PERMISSION, raise_exception=True)
def print_packing_slips(request):
    return _print(request, printing.shipments_print_packing_slips, "packing-slips")
