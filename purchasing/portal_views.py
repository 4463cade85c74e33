"""The supplier portal's screens: the start page, its purchase orders (confirm, propose,
announce a shipment) and its shipment notices. Thin views: read the post → call purchasing.portal
→ say what happened → redirect; a refusal re-shows the page with the typed values and the error
next to the field it names.

Every read starts from `request.supplier` (the login's own supplier): another supplier's number
is a 404 like a number that does not exist, and a login that is not a supplier's gets a 403."""

from datetime import date
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from core.timezones import business_date
from purchasing import portal
from purchasing import portal_selectors as selectors
from purchasing.models import (
    OPEN_FOR_RECEIPT,
    PurchaseOrder,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeState,
)

PAGE_SIZE = 50
LARGEST_QUANTITY = portal.LARGEST_QUANTITY


def supplier_required(view):
    """Signed in, and a login of an active supplier: `request.supplier` is that supplier."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        supplier = selectors.portal_supplier(request.user)
        if supplier is None or not supplier.is_active:
            raise PermissionDenied(_("The supplier portal is for suppliers' logins."))
        request.supplier = supplier
        return view(request, *args, **kwargs)

    return wrapped


def _order_or_404(request, number: str) -> PurchaseOrder:
    try:
        return selectors.purchase_order_for_supplier(request.supplier.pk, number)
    except PurchaseOrder.DoesNotExist as exc:
        raise Http404(_("No such purchase order.")) from exc


def _notice_or_404(request, number: str) -> ShipmentNotice:
    try:
        return selectors.notice_for_supplier(request.supplier.pk, number)
    except ShipmentNotice.DoesNotExist as exc:
        raise Http404(_("No such shipment notice.")) from exc


# --- reading what the supplier typed --------------------------------------------------------------


def _whole_number(raw: str | None, field: str, label: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DomainError(_("%(label)s: enter a whole number.") % {"label": label}, field=field) from None
    if abs(value) > LARGEST_QUANTITY:
        raise DomainError(_("%(label)s: the number is too large.") % {"label": label}, field=field)
    return value


def _day(raw: str | None, field: str, label: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DomainError(
            _("%(label)s: enter a date as YYYY-MM-DD.") % {"label": label}, field=field
        ) from None


def _proposals(post, lines) -> list[portal.LineProposal]:
    proposals = []
    for line in lines:
        code = line.sku.code
        quantity = _whole_number(
            post.get(f"quantity-{line.pk}"), f"quantity-{line.pk}", _("%(sku)s quantity") % {"sku": code}
        )
        day = _day(post.get(f"date-{line.pk}"), f"date-{line.pk}", _("%(sku)s date") % {"sku": code})
        if quantity is not None or day is not None:
            proposals.append(portal.LineProposal(line_id=line.pk, quantity=quantity, delivery_on=day))
    return proposals


def _announced_lines(post, lines) -> list[portal.NoticeLineInput]:
    items = []
    for line in lines:
        field = f"announce-{line.pk}"
        quantity = _whole_number(post.get(field), field, _("%(sku)s quantity") % {"sku": line.sku.code})
        if quantity:
            items.append(portal.NoticeLineInput(line_id=line.pk, quantity=quantity))
    return items


# --- pages ---------------------------------------------------------------------------------------


@require_GET
@supplier_required
def home(request):
    supplier_id = request.supplier.pk
    orders = list(selectors.open_purchase_orders(supplier_id)[:PAGE_SIZE])
    return render(
        request,
        "purchasing/portal/home.html",
        {
            "counts": selectors.start_page_counts(supplier_id),
            "to_answer": [po for po in orders if selectors.needs_answer(po)],
            "orders": orders,
            "proposals": selectors.proposals_waiting(supplier_id)[:PAGE_SIZE],
            "notices": selectors.open_notices(supplier_id)[:PAGE_SIZE],
        },
    )


@require_GET
@supplier_required
def order_list(request):
    orders = selectors.supplier_purchase_orders(request.supplier.pk).select_related("warehouse")
    state = request.GET.get("state", "")
    if state in PurchaseOrderState.values:
        orders = orders.filter(state=state)
    search = request.GET.get("q", "").strip()
    if search:
        orders = orders.filter(number__icontains=search[:32])
    page = Paginator(orders.order_by("-approved_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    states = [
        (value, label) for value, label in PurchaseOrderState.choices if value not in selectors.NOT_SENT
    ]
    return render(
        request,
        "purchasing/portal/order_list.html",
        {"page": page, "state": state, "states": states, "search": search},
    )


def _detail(request, po: PurchaseOrder, *, posted=None, errors=None, status=200):
    """The order page; after a refused post, with what was typed and the error by its field."""
    posted, errors = posted or {}, errors or {}
    lines = selectors.lines_with_announced(po)
    rows = []
    for line in lines:
        proposed_quantity = line.proposed_quantity if line.proposed_quantity is not None else line.quantity
        proposed_on = line.proposed_on or line.current_on
        rows.append(
            {
                "line": line,
                "quantity_value": posted.get(f"quantity-{line.pk}", proposed_quantity),
                "date_value": posted.get(f"date-{line.pk}", proposed_on.isoformat() if proposed_on else ""),
                "announce_value": posted.get(f"announce-{line.pk}", line.announceable),
                "quantity_error": errors.get(f"quantity-{line.pk}"),
                "date_error": errors.get(f"date-{line.pk}"),
                "announce_error": errors.get(f"announce-{line.pk}"),
            }
        )
    nothing_received = not any(line.received_quantity for line in lines)
    return render(
        request,
        "purchasing/portal/order_detail.html",
        {
            "po": po,
            "rows": rows,
            "notices": selectors.purchase_order_notices(po),
            "timeline": selectors.supplier_timeline(po, request.supplier.pk),
            "can_confirm": po.state == PurchaseOrderState.APPROVED,
            "can_propose": po.state in portal.PROPOSABLE_STATES and nothing_received,
            "can_announce": po.state in OPEN_FOR_RECEIPT and any(line.announceable for line in lines),
            "open_form": posted.get("form", ""),
            "posted": posted,
            "errors": errors,
            "today": business_date().isoformat(),
        },
        status=status,
    )


@require_GET
@supplier_required
def order_detail(request, number):
    return _detail(request, _order_or_404(request, number))


def _refused(request, po: PurchaseOrder, exc: DomainError, form: str):
    if exc.status_code == 404:
        raise Http404(exc.message)
    messages.error(request, exc.message)
    posted = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
    posted["form"] = form
    return _detail(request, po, posted=posted, errors={exc.field or "form": exc.message}, status=400)


@require_POST
@supplier_required
def order_confirm(request, number):
    po = _order_or_404(request, number)
    try:
        portal.purchase_order_confirm(
            purchase_order_id=po.pk, actor=request.user, expected_state=request.POST.get("expected_state")
        )
    except DomainError as exc:
        return _refused(request, po, exc, "confirm")
    messages.success(request, _("Purchase order %(number)s confirmed as ordered.") % {"number": po.number})
    return redirect("supplier_portal:order", number=po.number)


@require_POST
@supplier_required
def order_propose(request, number):
    po = _order_or_404(request, number)
    try:
        lines = list(po.lines.select_related("sku").order_by("id"))
        portal.purchase_order_propose(
            purchase_order_id=po.pk,
            actor=request.user,
            lines=_proposals(request.POST, lines),
            note=request.POST.get("note", ""),
            expected_state=request.POST.get("expected_state"),
        )
    except DomainError as exc:
        return _refused(request, po, exc, "propose")
    messages.success(
        request, _("Your proposal for %(number)s was sent to the buyer.") % {"number": po.number}
    )
    return redirect("supplier_portal:order", number=po.number)


@require_POST
@supplier_required
def notice_announce(request, number):
    po = _order_or_404(request, number)
    try:
        lines = list(po.lines.select_related("sku").order_by("id"))
        notice = portal.notice_announce(
            purchase_order_id=po.pk,
            actor=request.user,
            expected_on=_day(request.POST.get("expected_on"), "expected_on", _("Arrival date")),
            carrier=request.POST.get("carrier", ""),
            tracking_number=request.POST.get("tracking_number", ""),
            lines=_announced_lines(request.POST, lines),
        )
    except DomainError as exc:
        return _refused(request, po, exc, "announce")
    messages.success(request, _("Shipment notice %(number)s announced.") % {"number": notice.number})
    return redirect("supplier_portal:notice", number=notice.number)


@require_GET
@supplier_required
def notice_list(request):
    notices = selectors.supplier_notices(request.supplier.pk)
    state = request.GET.get("state", "")
    if state in ShipmentNoticeState.values:
        notices = notices.filter(state=state)
    page = Paginator(notices, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "purchasing/portal/notice_list.html",
        {"page": page, "state": state, "states": ShipmentNoticeState.choices},
    )


@require_GET
@supplier_required
def notice_detail(request, number):
    notice = _notice_or_404(request, number)
    return render(
        request,
        "purchasing/portal/notice_detail.html",
        {
            "notice": notice,
            "lines": selectors.notice_lines(notice),
            "can_cancel": notice.state == ShipmentNoticeState.ANNOUNCED,
        },
    )


@require_POST
@supplier_required
def notice_cancel(request, number):
    notice = _notice_or_404(request, number)
    try:
        portal.notice_cancel(
            notice_id=notice.pk, actor=request.user, expected_state=request.POST.get("expected_state")
        )
    except DomainError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Shipment notice %(number)s cancelled.") % {"number": notice.number})
    return redirect("supplier_portal:notice", number=notice.number)
