"""Buyer's desk: suppliers, purchase orders (list, detail with its actions, by-hand form) and the
replenishment click. Thin views: validate the form → call the service → say what happened →
redirect. A supplier's portal login is refused here (403), whatever its permissions."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors
from core.errors import DomainError
from purchasing import selectors, services
from purchasing.desk.forms import (
    ActionForm,
    FromSuggestionsForm,
    OrderFilterForm,
    OrderLineFormSet,
    PurchaseOrderForm,
)
from purchasing.models import PurchaseOrder, PurchaseOrderState, Supplier
from purchasing.warehouse_systems import receiving_system

PAGE_SIZE = 50


def desk_screen(perm: str):
    """Signed in, not a supplier's portal login, and holding `perm`; else 403."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if selectors.is_supplier_user(request.user) or not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def _po_or_404(number: str) -> PurchaseOrder:
    po = selectors.purchase_order_detail(number)
    if po is None:
        raise Http404(number)
    return po


# --- suppliers ---------------------------------------------------------------------------------


@desk_screen("purchasing.view_supplier")
def supplier_list(request):
    search = request.GET.get("q", "").strip()[:100]
    page = Paginator(selectors.supplier_list(search=search), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "purchasing/supplier_list.html", {"page": page, "search": search})


@desk_screen("purchasing.view_supplier")
def supplier_detail(request, code: str):
    supplier = Supplier.objects.filter(code=code).first()
    if supplier is None:
        raise Http404(code)
    return render(
        request,
        "purchasing/supplier_detail.html",
        {
            "supplier": supplier,
            "items": selectors.supplier_items(supplier),
            "orders": selectors.purchase_order_list(supplier=supplier.code)[:20],
        },
    )


# --- purchase orders ---------------------------------------------------------------------------


@desk_screen("purchasing.view_purchaseorder")
def order_list(request):
    form = OrderFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.purchase_order_list(
        state=filters.get("state", ""), supplier=filters.get("supplier", ""), search=filters.get("q", "")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "purchasing/order_list.html", {"form": form, "page": page, "query": query.urlencode()}
    )


@desk_screen("purchasing.view_purchaseorder")
def order_detail(request, number: str):
    po = _po_or_404(number)
    user = request.user
    open_states = {
        PurchaseOrderState.APPROVED,
        PurchaseOrderState.CONFIRMED,
        PurchaseOrderState.PARTIALLY_RECEIVED,
    }
    cloud = selectors.cloud_warehouse_status(po)
    return render(
        request,
        "purchasing/order_detail.html",
        {
            "po": po,
            "lines": selectors.purchase_order_lines(po),
            "events": selectors.purchase_order_events(po),
            "receipts": po.receipts.filter(posted_at__isnull=False).select_related("received_by", "notice"),
            "notices": po.notices.all(),
            "needs_second_approver": services.needs_second_approver(po),
            "cloud": cloud,
            "can": {
                "submit": po.state == PurchaseOrderState.DRAFT
                and user.has_perm("purchasing.add_purchaseorder"),
                "approve": po.state == PurchaseOrderState.PENDING_APPROVAL
                and user.has_perm("purchasing.approve_purchaseorder"),
                "cancel": po.state
                in {
                    PurchaseOrderState.DRAFT,
                    PurchaseOrderState.PENDING_APPROVAL,
                    PurchaseOrderState.APPROVED,
                    PurchaseOrderState.CONFIRMED,
                }
                and user.has_perm("purchasing.change_purchaseorder"),
                "close": po.state == PurchaseOrderState.PARTIALLY_RECEIVED
                and user.has_perm("purchasing.approve_purchaseorder"),
                "proposal": po.has_open_proposal and user.has_perm("purchasing.change_purchaseorder"),
                "receive": po.state in open_states
                and user.has_perm("purchasing.receive_purchaseorder")
                and receiving_system(po.warehouse) is None,  # its own system confirms what arrives
                "wms_retry": cloud is not None
                and cloud.can_retry
                and user.has_perm("purchasing.change_purchaseorder"),
            },
        },
    )


@desk_screen("purchasing.add_purchaseorder")
def order_create(request):
    form = PurchaseOrderForm(request.POST or None, initial={"supplier": request.GET.get("supplier", "")[:50]})
    lines = OrderLineFormSet(request.POST or None, prefix="lines")
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        entered = [
            services.LineInput(
                sku=row["sku"].strip(), quantity=row["quantity"], unit_price=row.get("unit_price"), row=number
            )
            for number, row in enumerate(lines.cleaned_data, start=1)
            if row and row.get("sku")
        ]
        try:
            po = services.purchase_order_create(
                supplier=form.cleaned_data["supplier"],
                warehouse=form.cleaned_data["warehouse"],
                lines=entered,
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            rounded = sum(1 for line in po.lines.all() if line.requested_quantity != line.quantity)
            text = _("Purchase order %(number)s created as a draft: %(total)s %(currency)s.") % {
                "number": po.number,
                "total": po.total_amount,
                "currency": po.currency,
            }
            if rounded:
                text += " " + ngettext(
                    "%(n)s line was rounded up to the supplier's minimum or pack size.",
                    "%(n)s lines were rounded up to the supplier's minimum or pack size.",
                    rounded,
                ) % {"n": rounded}
            messages.success(request, text)
            return redirect("purchasing:order", number=po.number)
    status = 400 if request.method == "POST" else 200
    return render(request, "purchasing/order_form.html", {"form": form, "lines": lines}, status=status)


@desk_screen("purchasing.change_purchaseorder")
def order_edit(request, number: str):
    """A draft's lines, prefilled with what was asked for (so an unchanged line keeps its rounding)."""
    po = _po_or_404(number)
    if po.state != PurchaseOrderState.DRAFT:
        messages.error(request, _("Only a draft can be changed."))
        return redirect("purchasing:order", number=po.number)
    initial = [
        {
            "sku": line.sku.code,
            "quantity": line.requested_quantity or line.quantity,
            "unit_price": line.unit_price,
        }
        for line in selectors.purchase_order_lines(po)
    ]
    lines = OrderLineFormSet(request.POST or None, prefix="lines", initial=initial)
    note = request.POST.get("note", po.note) if request.method == "POST" else po.note
    if request.method == "POST" and lines.is_valid():
        entered = [
            services.LineInput(
                sku=row["sku"].strip(), quantity=row["quantity"], unit_price=row.get("unit_price"), row=number
            )
            for number, row in enumerate(lines.cleaned_data, start=1)
            if row and row.get("sku")
        ]
        try:
            po = services.purchase_order_update(po=po, lines=entered, note=note, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("Lines of %(number)s saved: %(total)s %(currency)s.")
                % {"number": po.number, "total": po.total_amount, "currency": po.currency},
            )
            return redirect("purchasing:order", number=po.number)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "purchasing/order_form.html", {"po": po, "lines": lines, "note": note}, status=status
    )


@require_POST
@desk_screen("purchasing.add_purchaseorder")
def from_suggestions(request):
    form = FromSuggestionsForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("inventory:replenishment")
    try:
        result = services.purchase_orders_from_suggestions(
            suggestion_ids=form.cleaned_data["suggestions"],
            warehouse=form.cleaned_data["warehouse"],
            actor=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("inventory:replenishment")
    if result.created:
        messages.success(
            request,
            ngettext(
                "%(n)s draft purchase order created: %(numbers)s.",
                "%(n)s draft purchase orders created, one per supplier: %(numbers)s.",
                len(result.created),
            )
            % {"n": len(result.created), "numbers": ", ".join(po.number for po in result.created)},
        )
    if result.no_supplier:
        messages.error(
            request,
            _("No supplier sells %(skus)s: add a supplier item, or order them by hand.")
            % {"skus": ", ".join(result.no_supplier)},
        )
    if result.already_ordered:
        messages.info(
            request,
            _("Already on an open purchase order, not ordered again: %(skus)s.")
            % {"skus": ", ".join(f"{sku} ({number})" for sku, number in result.already_ordered.items())},
        )
    if len(result.created) == 1:
        return redirect("purchasing:order", number=result.created[0].number)
    if result.created:
        return redirect(f"{reverse('purchasing:orders')}?state={PurchaseOrderState.DRAFT}")
    return redirect("inventory:replenishment")


# --- actions on one order ----------------------------------------------------------------------

ACTIONS = {
    # name: (permission, service call, success message)
    "submit": (
        "purchasing.add_purchaseorder",
        lambda po, user, data: services.purchase_order_submit(
            po=po, actor=user, expected_state=data["expected_state"]
        ),
        None,  # says whether it was approved at once
    ),
    "approve": (
        "purchasing.approve_purchaseorder",
        lambda po, user, data: services.purchase_order_approve(
            po=po, actor=user, expected_state=data["expected_state"]
        ),
        _lazy("Purchase order %(number)s approved and sent to %(supplier)s."),
    ),
    "reject": (
        "purchasing.approve_purchaseorder",
        lambda po, user, data: services.purchase_order_reject(
            po=po, actor=user, reason=data["reason"], expected_state=data["expected_state"]
        ),
        _lazy("Purchase order %(number)s rejected: back to draft for the buyer."),
    ),
    "cancel": (
        "purchasing.change_purchaseorder",
        lambda po, user, data: services.purchase_order_cancel(
            po=po, actor=user, reason=data["reason"], expected_state=data["expected_state"]
        ),
        _lazy("Purchase order %(number)s cancelled."),
    ),
    "close": (
        "purchasing.approve_purchaseorder",
        lambda po, user, data: services.purchase_order_close_short(
            po=po, actor=user, reason=data["reason"], expected_state=data["expected_state"]
        ),
        _lazy("Purchase order %(number)s closed short: the rest is no longer expected."),
    ),
    "wms-retry": (
        "purchasing.change_purchaseorder",
        lambda po, user, data: services.purchase_order_wms_retry(po=po, actor=user),
        _lazy("Purchase order %(number)s is sent to the cloud warehouse again."),
    ),
    "accept-proposal": (
        "purchasing.change_purchaseorder",
        lambda po, user, data: services.proposal_accept(po=po, actor=user),
        _lazy(
            "The proposal of %(supplier)s is accepted: %(number)s now expects the proposed "
            "quantities and dates."
        ),
    ),
    "reject-proposal": (
        "purchasing.change_purchaseorder",
        lambda po, user, data: services.proposal_reject(po=po, actor=user, reason=data["reason"]),
        _lazy("The proposal of %(supplier)s is rejected: %(number)s stays as ordered."),
    ),
}


@require_POST
@desk_screen("purchasing.view_purchaseorder")
def order_action(request, number: str, action: str):
    if action not in ACTIONS:
        raise Http404(action)
    perm, call, success = ACTIONS[action]
    if not request.user.has_perm(perm):
        raise PermissionDenied
    po = _po_or_404(number)
    form = ActionForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("purchasing:order", number=po.number)
    try:
        done = call(po, request.user, form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("purchasing:order", number=po.number)
    if success is None:  # submit
        success = (
            _("Purchase order %(number)s approved and sent to %(supplier)s.")
            if done.state == PurchaseOrderState.APPROVED
            else _("Purchase order %(number)s submitted: it waits for an approver.")
        )
    messages.success(request, str(success) % {"number": po.number, "supplier": po.supplier.name})
    return redirect("purchasing:order", number=po.number)
