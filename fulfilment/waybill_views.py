"""Desk: the "waybill failed" queue (issue #17 part 2). Shipments whose e-waybill the carrier (and
its backup) refused, with the carrier's error; ticked ones are asked again in one go."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from fulfilment import waybills

PAGE_SIZE = 100


@login_required
@permission_required("orders.view_shipment", raise_exception=True)
def failed_waybill_list(request):
    page = Paginator(waybills.failed_waybills(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "fulfilment/waybill_failed_list.html",
        {"page": page, "can_retry": request.user.has_perm(waybills.RETRY_PERMISSION)},
    )


@login_required
@require_POST
@permission_required(waybills.RETRY_PERMISSION, raise_exception=True)
def retry_waybills(request):
    ids = [int(value) for value in request.POST.getlist("request") if value.isdigit()]
    if not ids:
        messages.error(request, _("Tick the shipments to ask again."))
        return redirect("fulfilment:waybills-failed")
    try:
        count = waybills.waybills_retry(request_ids=ids, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Waybills asked again for %(count)s shipment(s).") % {"count": count})
    return redirect("fulfilment:waybills-failed")
