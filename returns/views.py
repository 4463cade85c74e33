"""Returns desk (R-D1, R-D2): the RMA queue per role, RMA detail with its timeline and the
actions the user's role allows, the scanner-friendly receiving screen, and the metrics page.
Thin views: validate the form → call the returns service → show the outcome → redirect."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from core.timezones import business_date
from inventory.models import Warehouse
from orders import selectors as order_selectors
from orders.models import Order
from returns import (
    decisions,
    disposition,
    evidence,
    inspection,
    logistics,
    opening,
    policy,
    selectors,
    tokens,
)
from returns.forms import (
    ACCEPT,
    DecisionForm,
    MetricsForm,
    QueueFilterForm,
    ReceiveForm,
    RecheckForm,
    RefundConfirmForm,
    ReturnRequestForm,
    ScanForm,
    TrackingForm,
    inspection_grades,
)
from returns.models import RECEIVABLE, R, RefundState, ReturnAttachment, ReturnRequest
from returns.refunds.lifecycle import refund_confirm_manual

PAGE_SIZE = 50
SCAN_WAREHOUSE_SESSION_KEY = "returns_scan_warehouse"


def _rma_or_404(number: str) -> ReturnRequest:
    try:
        return selectors.rma_detail(number)
    except ReturnRequest.DoesNotExist as exc:
        raise Http404(number) from exc


@login_required
@permission_required("returns.view_returnrequest", raise_exception=True)
def rma_list(request):
    form = QueueFilterForm(request.GET or None)
    queue = selectors.rma_queue()
    role_default = ""
    if form.is_valid() and any(form.cleaned_data.values()):
        data = form.cleaned_data
        if data["status"]:
            queue = queue.filter(status__in=data["status"])
        for field in ("kind", "reason"):
            if data[field]:
                queue = queue.filter(**{field: data[field]})
        if data["warehouse"]:
            queue = queue.filter(warehouse=data["warehouse"])
        queue = selectors.search(queue, data["search"])
    else:
        statuses, role_default = selectors.default_statuses(request.user)
        queue = queue.filter(status__in=statuses)
    page = Paginator(queue.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "returns/rma_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "role_default": role_default},
    )


@login_required
@permission_required("returns.view_returnrequest", raise_exception=True)
def rma_detail(request, number):
    rma = _rma_or_404(number)
    user = request.user
    lines = selectors.rma_lines(rma)
    refund = selectors.rma_refund(rma)
    can_inspect = rma.status == R.RECEIVED and user.has_perm("returns.receive_returnrequest")
    return render(
        request,
        "returns/rma_detail.html",
        {
            "rma": rma,
            "lines": lines,
            "attachments": evidence.rma_attachments(rma, refund),
            "refund": refund,
            "events": selectors.rma_events(rma),
            "exchange_shipments": selectors.exchange_shipments(rma),
            "decisions": _decisions(rma, user),
            "can_track": rma.status in RECEIVABLE and user.has_perm("returns.change_returnrequest"),
            "tracking_form": TrackingForm(initial={"tracking_number": rma.return_tracking_number}),
            "can_receive": rma.status in RECEIVABLE and user.has_perm("returns.receive_returnrequest"),
            "receive_form": ReceiveForm(
                initial={
                    "expected_status": rma.status,
                    "warehouse": request.session.get(SCAN_WAREHOUSE_SESSION_KEY),
                }
            ),
            "can_inspect": can_inspect,
            "can_recheck": user.has_perm("returns.receive_returnrequest"),
            "can_confirm_refund": refund is not None
            and refund.state in (RefundState.MANUAL, RefundState.FAILED)
            and user.has_perm("returns.change_returnrefund"),
        },
    )


def _decisions(rma: ReturnRequest, user) -> list[dict]:
    """The decision buttons this user gets in this state."""
    options = [
        (DecisionForm.APPROVE, _("Approve"), [R.REQUESTED], "returns.approve_returnrequest", False),
        (DecisionForm.REJECT, _("Reject"), [R.REQUESTED], "returns.approve_returnrequest", True),
        (DecisionForm.CANCEL, _("Cancel"), [R.REQUESTED, *RECEIVABLE], "returns.approve_returnrequest", True),
        (
            DecisionForm.CLOSE,
            _("Close"),
            [R.INSPECTED, R.REFUNDED, R.EXCHANGED],
            "returns.close_returnrequest",
            False,
        ),
    ]
    return [
        {"name": name, "label": label, "needs_reason": needs_reason}
        for name, label, states, perm, needs_reason in options
        if rma.status in states and user.has_perm(perm)
    ]


def _rma_post(view):
    """POST-only, signed in, the RMA exists; the view returns nothing (or a redirect)."""

    @login_required
    @require_POST
    def wrapped(request, number):
        rma = _rma_or_404(number)
        response = view(request, rma)
        return response or redirect(rma.get_absolute_url())

    wrapped.__name__ = view.__name__
    return wrapped


def _done(rma: ReturnRequest) -> str:
    return _("Return %(rma)s updated.") % {"rma": rma.number}


@_rma_post
def rma_decide(request, rma):
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    data = form.cleaned_data
    kwargs = {
        "rma": rma,
        "actor": request.user,
        "expected_status": data["expected_status"],
        "reason": data["reason"],
    }
    service = {
        DecisionForm.APPROVE: decisions.rma_approve,
        DecisionForm.REJECT: decisions.rma_reject,
        DecisionForm.CANCEL: decisions.rma_cancel,
        DecisionForm.CLOSE: decisions.rma_close,
    }[data["action"]]
    run_service(request, lambda: service(**kwargs), _done(rma))


@_rma_post
def rma_tracking(request, rma):
    form = TrackingForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    data = form.cleaned_data
    run_service(
        request,
        lambda: logistics.rma_set_tracking(
            rma=rma, tracking_number=data["tracking_number"], carrier=data["carrier"], actor=request.user
        ),
        _done(rma),
    )


@_rma_post
def rma_receive(request, rma):
    form = ReceiveForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    request.session[SCAN_WAREHOUSE_SESSION_KEY] = form.cleaned_data["warehouse"].code
    received = run_service(
        request,
        lambda: logistics.rma_receive(
            rma=rma,
            warehouse=form.cleaned_data["warehouse"],
            actor=request.user,
            expected_status=form.cleaned_data["expected_status"],
        ),
        _("Return %(rma)s received: inspect it now.") % {"rma": rma.number},
    )
    if received:
        return redirect(f"{rma.get_absolute_url()}#inspect")
    return None


@_rma_post
def rma_inspect(request, rma):
    lines = selectors.rma_lines(rma)
    grades = inspection_grades(request.POST, lines)
    run_service(
        request,
        lambda: inspection.rma_inspect(
            rma=rma,
            grades=grades,
            actor=request.user,
            expected_status=request.POST.get("expected_status") or None,
        ),
        _("Return %(rma)s inspected.") % {"rma": rma.number},
    )


@_rma_post
def rma_recheck(request, rma):
    form = RecheckForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    data = form.cleaned_data
    if not rma.lines.filter(pk=data["line"]).exists():
        raise Http404
    run_service(
        request,
        lambda: disposition.rma_recheck(
            line=data["line"], passed=data["passed"], actor=request.user, note=data["note"]
        ),
        _("Re-check recorded."),
    )
    if request.POST.get("next") == "receiving":
        return redirect("returns:receiving")
    return None


@_rma_post
def refund_confirm(request, rma):
    form = RefundConfirmForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    refund = selectors.rma_refund(rma)
    if refund is None:
        raise Http404
    run_service(
        request,
        lambda: refund_confirm_manual(
            refund=refund, reference=form.cleaned_data["reference"], actor=request.user
        ),
        _("Refund for %(rma)s marked as paid.") % {"rma": rma.number},
    )


@login_required
@permission_required("returns.view_returnrequest", raise_exception=True)
def attachment(request, number, pk):
    item = get_object_or_404(ReturnAttachment, pk=pk, rma__number=number)
    try:
        handle = item.file.open("rb")
    except FileNotFoundError as exc:  # e.g. kept on a local disk before uploads moved to storage
        raise Http404(item.original_name) from exc
    return FileResponse(
        handle,
        content_type=item.content_type,
        as_attachment=item.content_type == "application/pdf",
        filename=item.original_name,
    )


# --- creation by an agent -------------------------------------------------------------------------


@login_required
@permission_required("returns.add_returnrequest", raise_exception=True)
def rma_create(request, order_number):
    try:
        order = order_selectors.order_detail(order_number)
    except Order.DoesNotExist as exc:
        raise Http404(order_number) from exc
    allowances = policy.line_allowances(order)
    form = ReturnRequestForm(request.POST or None, allowances=allowances)
    if request.method == "POST":
        if not form.is_valid():
            form_errors(request, form)
        else:
            try:
                rma = opening.rma_create(
                    order=order,
                    **form.rma_fields(request.FILES),
                    actor=request.user,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    _("Return %(rma)s opened: %(status)s.")
                    % {"rma": rma.number, "status": rma.get_status_display()},
                )
                return redirect(rma.get_absolute_url())
    return render(
        request,
        "returns/rma_create.html",
        {
            "order": order,
            "form": form,
            "accept": ACCEPT,
            "self_service_url": tokens.self_service_url(order, request),
            "link_days": settings.RETURN_LINK_MAX_AGE_DAYS,
        },
    )


# --- receiving (scanner) ----------------------------------------------------------------------------


@login_required
@permission_required("returns.receive_returnrequest", raise_exception=True)
def receiving(request):
    """Scan the RMA (or order, or return tracking) number: the return is received at the chosen
    warehouse and the inspection form opens. A keyboard-wedge scanner types and presses Enter."""
    warehouse_code = request.session.get(SCAN_WAREHOUSE_SESSION_KEY)
    if request.method == "POST":
        form = ScanForm(request.POST)
        if not form.is_valid():
            form_errors(request, form)
            return redirect("returns:receiving")
        warehouse = form.cleaned_data["warehouse"]
        request.session[SCAN_WAREHOUSE_SESSION_KEY] = warehouse.code
        try:
            rma = logistics.rma_for_scan(form.cleaned_data["code"])
            if rma.status == R.RECEIVED:
                messages.info(request, _("%(rma)s was already received: inspect it.") % {"rma": rma.number})
            else:
                logistics.rma_receive(rma=rma, warehouse=warehouse, actor=request.user)
                messages.success(request, _("Return %(rma)s received: inspect it now.") % {"rma": rma.number})
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("returns:receiving")
        return redirect(f"{reverse('returns:detail', args=[rma.number])}#inspect")
    warehouse = (
        Warehouse.objects.filter(code=warehouse_code, is_active=True).first() if warehouse_code else None
    )
    return render(
        request,
        "returns/receiving.html",
        {
            "form": ScanForm(initial={"warehouse": warehouse_code}),
            "warehouse": warehouse,
            "to_inspect": list(
                selectors.rma_queue().filter(
                    status=R.RECEIVED, **({"warehouse": warehouse} if warehouse else {})
                )[:50]
            ),
            "rechecks": list(selectors.awaiting_recheck(warehouse)[:100]),
        },
    )


# --- metrics ---------------------------------------------------------------------------------------


@login_required
@permission_required("returns.view_return_metrics", raise_exception=True)
def metrics(request):
    today = business_date()
    form = MetricsForm(request.GET or {"start": today - timedelta(days=29), "end": today})
    by_sku, by_reason = [], []
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        by_sku = selectors.return_rates_by_sku(start, end)
        by_reason = selectors.return_reasons(start, end)
    return render(request, "returns/metrics.html", {"form": form, "by_sku": by_sku, "by_reason": by_reason})
