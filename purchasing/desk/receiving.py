"""The dock's receiving screens (R-D2), made for a handheld with a keyboard-wedge scanner: pick
an expected purchase order or notice (or scan its number), scan each unit, correct counts, post."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors
from core.errors import DomainError
from inventory.models import Warehouse
from purchasing import receiving, selectors
from purchasing.desk.forms import CountsForm, PostReceiptForm, ReceivableForm, ScanForm, active_warehouses
from purchasing.desk.views import desk_screen
from purchasing.models import GoodsReceipt

RECEIVE = "purchasing.receive_purchaseorder"
WAREHOUSE_SESSION_KEY = "purchasing_receiving_warehouse"


def _receipt_or_404(number: str) -> GoodsReceipt:
    receipt = (
        GoodsReceipt.objects.select_related("purchase_order__supplier", "purchase_order__warehouse", "notice")
        .filter(number=number)
        .first()
    )
    if receipt is None:
        raise Http404(number)
    return receipt


@desk_screen(RECEIVE)
def expected(request):
    """Open purchase orders and announced notices to receive at a warehouse, soonest first."""
    code = request.GET.get("warehouse", request.session.get(WAREHOUSE_SESSION_KEY, ""))
    warehouse = Warehouse.objects.filter(code=code, is_active=True).first() if code else None
    if warehouse is not None:
        request.session[WAREHOUSE_SESSION_KEY] = warehouse.code
    orders, notices = selectors.expected_receipts(warehouse=warehouse)
    return render(
        request,
        "purchasing/receiving.html",
        {
            "warehouse": warehouse,
            "warehouses": active_warehouses(),
            "orders": orders,
            "notices": notices,
            "form": ReceivableForm(),
        },
    )


@require_POST
@desk_screen(RECEIVE)
def start(request):
    """Open a receipt for a purchase order or notice chosen from the list or scanned by number."""
    form = ReceivableForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("purchasing:receiving")
    po, notice = selectors.find_receivable(form.cleaned_data["code"])
    if po is None:
        messages.error(
            request,
            _("No purchase order or notice has the number %(code)s.") % {"code": form.cleaned_data["code"]},
        )
        return redirect("purchasing:receiving")
    try:
        receipt = receiving.receipt_start(po=po, notice=notice, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("purchasing:receiving")
    return redirect("purchasing:receipt", number=receipt.number)


@desk_screen(RECEIVE)
def receipt(request, number: str):
    receipt = _receipt_or_404(number)
    rows = selectors.receipt_rows(receipt)
    return render(
        request,
        "purchasing/receipt.html",
        {
            "receipt": receipt,
            "po": receipt.purchase_order,
            "rows": rows,
            "counted": sum(row.counted for row in rows),
            "expected_units": sum(row.expected for row in rows),
            "beyond": [row for row in rows if row.beyond_tolerance],
            "counts": CountsForm(rows=rows),
            "may_accept_over": request.user.has_perm(receiving.ACCEPT_OVER),
            "posted": receipt.posted_at is not None,
        },
    )


@require_POST
@desk_screen(RECEIVE)
def scan(request, number: str):
    receipt = _receipt_or_404(number)
    form = ScanForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("purchasing:receipt", number=receipt.number)
    try:
        scanned = receiving.receipt_scan(receipt=receipt, code=form.cleaned_data["code"], actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        text = _("%(sku)s: %(counted)s of %(expected)s counted.") % {
            "sku": scanned.sku.code,
            "counted": scanned.counted,
            "expected": scanned.expected,
        }
        if scanned.counted > scanned.expected:
            messages.warning(request, text + " " + _("More than expected."))
        else:
            messages.success(request, text)
    return redirect("purchasing:receipt", number=receipt.number)


@require_POST
@desk_screen(RECEIVE)
def counts(request, number: str):
    receipt = _receipt_or_404(number)
    rows = selectors.receipt_rows(receipt)
    form = CountsForm(request.POST, rows=rows)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("purchasing:receipt", number=receipt.number)
    data = form.cleaned_data
    entered = [
        receiving.CountInput(
            line_id=row.line_id,
            quantity=data[f"qty-{row.line_id}"],
            lot_code=data.get(f"lot-{row.line_id}", ""),
            expires_on=data.get(f"exp-{row.line_id}"),
        )
        for row in rows
    ]
    try:
        receiving.receipt_set_counts(receipt=receipt, counts=entered, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Counts of %(number)s saved.") % {"number": receipt.number})
    return redirect("purchasing:receipt", number=receipt.number)


@require_POST
@desk_screen(RECEIVE)
def post(request, number: str):
    receipt = _receipt_or_404(number)
    form = PostReceiptForm(request.POST)
    accept_over = form.is_valid() and form.cleaned_data["accept_over"]
    try:
        posted = receiving.receipt_post(receipt=receipt, actor=request.user, accept_over=accept_over)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("purchasing:receipt", number=receipt.number)
    po = receipt.purchase_order
    if posted.already:
        messages.info(request, _("Receipt %(number)s was already posted.") % {"number": receipt.number})
    else:
        po.refresh_from_db()
        messages.success(
            request,
            _("Receipt %(number)s posted: %(units)s units into %(warehouse)s; %(po)s is now %(state)s.")
            % {
                "number": receipt.number,
                "units": posted.units,
                "warehouse": po.warehouse.code,
                "po": po.number,
                "state": po.get_state_display(),
            },
        )
        if posted.over:
            messages.warning(
                request,
                _("More than ordered: %(lines)s.")
                % {"lines": ", ".join(f"{o['sku']} +{o['quantity']}" for o in posted.over)},
            )
    return redirect("purchasing:receiving")
