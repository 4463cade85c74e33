"""Transfer screens: list, create, detail (ship / receive / close / cancel) and receiving by
scanning at the destination. Views stay thin: check the form → call inventory.transfers → turn a
domain error into a message → redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors
from core.errors import DomainError
from inventory import transfers
from inventory.desk.transfer_forms import (
    CloseShortForm,
    ReceiveForm,
    ScanForm,
    StateForm,
    TransferFilterForm,
    TransferHeaderForm,
    TransferLineFormSet,
)
from inventory.models import StockTransfer, StockTransferLine, TransferStatus
from inventory.transfer_events import event_text

PAGE_SIZE = 50


def _transfer(number: str) -> StockTransfer:
    return get_object_or_404(
        StockTransfer.objects.select_related("from_warehouse", "to_warehouse", "created_by"), number=number
    )


def _lines(transfer: StockTransfer) -> list[StockTransferLine]:
    return list(transfer.lines.select_related("sku", "lot", "pool").order_by("pk"))


@login_required
@permission_required("inventory.view_stocktransfer", raise_exception=True)
def transfer_list(request):
    filters = TransferFilterForm(request.GET or None)
    rows = (
        StockTransfer.objects.select_related("from_warehouse", "to_warehouse")
        .annotate(units=Sum("lines__quantity"))
        .order_by("-created_at", "-pk")
    )
    if filters.is_valid():
        data = filters.cleaned_data
        if data["status"]:
            rows = rows.filter(status=data["status"])
        if data["warehouse"]:
            rows = rows.filter(Q(from_warehouse=data["warehouse"]) | Q(to_warehouse=data["warehouse"]))
        if term := data["q"].strip():
            rows = rows.filter(Q(number__icontains=term) | Q(reference__icontains=term))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "inventory/transfer_list.html",
        {"filters": filters, "page": page, "query": query.urlencode()},
    )


@login_required
@permission_required("inventory.add_stocktransfer", raise_exception=True)
def transfer_create(request):
    header = TransferHeaderForm(request.POST or None)
    lines = TransferLineFormSet(request.POST or None, prefix="lines")
    if request.method == "POST":
        if header.is_valid() and lines.is_valid():
            data = header.cleaned_data
            try:
                transfer = transfers.transfer_create(
                    from_warehouse=data["from_warehouse"],
                    to_warehouse=data["to_warehouse"],
                    lines=lines.lines(),
                    reference=data["reference"],
                    note=data["note"],
                    actor=request.user,
                )
            except DomainError as exc:
                _attach(exc, header, lines)
            else:
                messages.success(
                    request,
                    _("Transfer %(number)s created as a draft: check it, then ship it.")
                    % {"number": transfer.number},
                )
                return redirect(transfer)
        status = 400
    else:
        status = 200
    return render(
        request, "inventory/transfer_create.html", {"header": header, "lines": lines}, status=status
    )


def _attach(exc: DomainError, header, lines) -> None:
    """A service refusal shown on the field it names (lines-3-lot → the fourth row's lot)."""
    name = exc.field or ""
    if name.startswith("lines-"):
        _prefix, row, field = name.split("-", 2)
        if row.isdigit() and int(row) < len(lines.forms) and field in lines.forms[int(row)].fields:
            lines.forms[int(row)].add_error(field, exc.message)
            return
    if name in header.fields:
        header.add_error(name, exc.message)
    else:
        header.add_error(None, exc.message)


@login_required
@permission_required("inventory.view_stocktransfer", raise_exception=True)
def transfer_detail(request, number):
    transfer = _transfer(number)
    lines = _lines(transfer)
    events = transfer.events.select_related("actor").order_by("created_at", "pk")
    return render(
        request,
        "inventory/transfer_detail.html",
        {
            "transfer": transfer,
            "lines": lines,
            "events": [(event, event_text(event)) for event in events],
            "receive_form": ReceiveForm(lines=lines, initial={"expected_status": transfer.status}),
            "close_form": CloseShortForm(initial={"expected_status": transfer.status}),
            "cloud_source": transfers.transfer_system(transfer.from_warehouse) is not None,
            "cloud_destination": transfers.transfer_system(transfer.to_warehouse) is not None,
            "receiving": transfer.status in (TransferStatus.IN_TRANSIT, TransferStatus.PARTIALLY_RECEIVED),
            "totals": {
                key: sum(getattr(line, key) for line in lines)
                for key in ("quantity", "shipped_quantity", "received_quantity", "in_transit")
            },
        },
    )


def _run(request, call, success) -> bool:
    try:
        call()
    except DomainError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success() if callable(success) else success)
    return True


@login_required
@require_POST
@permission_required("inventory.ship_stocktransfer", raise_exception=True)
def transfer_ship(request, number):
    transfer = _transfer(number)
    form = StateForm(request.POST)
    form.is_valid()
    cloud = transfers.transfer_system(transfer.from_warehouse) is not None
    _run(
        request,
        lambda: transfers.transfer_ship(
            transfer=transfer,
            actor=request.user,
            expected_status=form.cleaned_data.get("expected_status", ""),
        ),
        _("Transfer %(number)s sent to %(warehouse)s: it ships when the warehouse confirms.")
        % {"number": transfer.number, "warehouse": transfer.from_warehouse.code}
        if cloud
        else _("Transfer %(number)s shipped: its units are in transit to %(warehouse)s.")
        % {"number": transfer.number, "warehouse": transfer.to_warehouse.code},
    )
    return redirect(transfer)


@login_required
@require_POST
@permission_required("inventory.add_stocktransfer", raise_exception=True)
def transfer_cancel(request, number):
    transfer = _transfer(number)
    form = StateForm(request.POST)
    form.is_valid()
    _run(
        request,
        lambda: transfers.transfer_cancel(
            transfer=transfer,
            actor=request.user,
            expected_status=form.cleaned_data.get("expected_status", ""),
        ),
        _("Transfer %(number)s cancelled; no stock moved.") % {"number": transfer.number},
    )
    return redirect(transfer)


@login_required
@require_POST
@permission_required("inventory.close_stocktransfer", raise_exception=True)
def transfer_close(request, number):
    transfer = _transfer(number)
    form = CloseShortForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect(transfer)
    data = form.cleaned_data
    _run(
        request,
        lambda: transfers.transfer_close_short(
            transfer=transfer,
            reason=data["reason"],
            note=data["note"],
            actor=request.user,
            expected_status=data["expected_status"],
        ),
        lambda: (
            _("Transfer %(number)s closed; %(units)s missing units written off.")
            % {"number": transfer.number, "units": _short_units(transfer)}
        ),
    )
    return redirect(transfer)


def _short_units(transfer: StockTransfer) -> int:
    return transfer.lines.aggregate(total=Sum("short_quantity"))["total"] or 0


@login_required
@require_POST
@permission_required("inventory.ship_stocktransfer", raise_exception=True)
def transfer_receive(request, number):
    transfer = _transfer(number)
    form = ReceiveForm(request.POST, lines=_lines(transfer))
    if not form.is_valid():
        form_errors(request, form)
        return redirect(transfer)
    data = form.cleaned_data
    outcome = {}

    def receive():
        outcome["result"] = transfers.transfer_receive(
            transfer=transfer,
            quantities=form.quantities(),
            idempotency_key=data["key"],
            actor=request.user,
            accept_overage=data["overage"],
            expected_status=data["expected_status"],
        )

    _run(request, receive, lambda: _received_message(outcome["result"]))
    return redirect(transfer)


def _received_message(outcome: transfers.ReceiveOutcome) -> str:
    if outcome.repeated:
        return _("That receipt was already recorded; nothing changed.")
    units = sum(outcome.receipt.quantities.values()) + sum(outcome.receipt.overage.values())
    return _("%(units)s units received on %(number)s; %(left)s still in transit.") % {
        "units": units,
        "number": outcome.transfer.number,
        "left": sum(line.in_transit for line in outcome.lines),
    }


@login_required
@permission_required("inventory.ship_stocktransfer", raise_exception=True)
def transfer_scan(request, number):
    """The handheld screen at the destination: scan, Enter, see the running counts."""
    transfer = _transfer(number)
    form = ScanForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            form_errors(request, form)
        else:
            _scan(request, transfer, form.cleaned_data)
        return redirect("inventory:transfer-scan", number=transfer.number)
    lines = _lines(transfer)
    return render(
        request,
        "inventory/transfer_scan.html",
        {
            "transfer": transfer,
            "lines": lines,
            "form": ScanForm(),
            "left": sum(line.in_transit for line in lines),
            "receiving": transfer.status in (TransferStatus.IN_TRANSIT, TransferStatus.PARTIALLY_RECEIVED),
            "cloud_destination": transfers.transfer_system(transfer.to_warehouse) is not None,
        },
    )


def _scan(request, transfer: StockTransfer, data: dict) -> None:
    try:
        with transaction.atomic():
            line = transfers.transfer_line_for_code(transfer, data["code"])
            outcome = transfers.transfer_receive(
                transfer=transfer,
                quantities={line.pk: data["quantity"]},
                idempotency_key=data["key"],
                actor=request.user,
            )
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    if outcome.repeated:
        messages.info(request, _("That scan was already counted; nothing changed."))
        return
    line = next(item for item in outcome.lines if item.pk == line.pk)
    messages.success(
        request,
        _("%(sku)s: %(received)s of %(shipped)s received.")
        % {"sku": line.sku.code, "received": line.received_quantity, "shipped": line.shipped_quantity},
    )
