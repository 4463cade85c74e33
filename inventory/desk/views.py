"""Stock screens of the desk. Views stay thin: validate the form → call the selector or service →
turn a domain error into a message → redirect."""

from collections import defaultdict
from io import BytesIO

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Max, Q, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from openpyxl import Workbook

from catalog.models import Channel
from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from core.spreadsheets import spreadsheet_safe
from inventory import selectors, services
from inventory.desk.forms import (
    LedgerFilterForm,
    QCReleaseForm,
    StockChangeForm,
    StockSearchForm,
    TransferForm,
)
from inventory.models import (
    SKU,
    ChannelPool,
    PendingRelease,
    ReleaseBreaker,
    ReplenishmentSuggestion,
    StockMovement,
    StockPool,
)
from inventory.reservations import breaker_resume

PAGE_SIZE = 50
SKUS_PER_PAGE = 25


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- stock overview ---------------------------------------------------------------------------


@login_required
@permission_required("inventory.view_stockbalance", raise_exception=True)
def stock_overview(request):
    form = StockSearchForm(request.GET or None)
    skus = SKU.objects.order_by("code")
    warehouse = pool = None
    if form.is_valid():
        term = form.cleaned_data["sku"].strip()
        warehouse, pool = form.cleaned_data["warehouse"], form.cleaned_data["pool"]
        if term:
            skus = skus.filter(
                Q(code__iexact=term) | Q(barcode=term) | Q(code__icontains=term) | Q(name__icontains=term)
            )
        if warehouse or pool:
            positions = Q()
            if warehouse:
                positions &= Q(balances__warehouse=warehouse)
            if pool:
                positions &= Q(balances__pool=pool)
            skus = skus.filter(positions).distinct()
    page = Paginator(skus, SKUS_PER_PAGE).get_page(request.GET.get("page"))
    sku_ids = [sku.pk for sku in page]

    balances = selectors.stock_positions(sku_ids)
    if warehouse:
        balances = balances.filter(warehouse=warehouse)
    if pool:
        balances = balances.filter(pool=pool)
    by_sku = defaultdict(list)
    for balance in balances:
        by_sku[balance.sku_id].append(balance)

    channels = list(Channel.objects.filter(is_active=True).order_by("code"))
    sellable = selectors.channel_sellable(sku_ids, [c.pk for c in channels]) if sku_ids and channels else {}
    rows = [
        {
            "sku": sku,
            "balances": by_sku.get(sku.pk, []),
            "sellable": [sellable[channel.pk][sku.pk] for channel in channels] if sellable else [],
        }
        for sku in page
    ]
    return render(
        request,
        "inventory/stock_overview.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "channels": channels,
            "query": _query_without_page(request),
        },
    )


# --- SKU ledger -------------------------------------------------------------------------------


@login_required
@permission_required("inventory.view_stockmovement", raise_exception=True)
def sku_ledger(request, code):
    sku = get_object_or_404(SKU, code=code)
    filters = LedgerFilterForm(request.GET or None)
    movements = (
        StockMovement.objects.filter(sku=sku)
        .select_related("balance__warehouse", "balance__pool", "balance__lot", "order", "actor")
        .order_by("-created_at", "-pk")
    )
    if filters.is_valid():
        if filters.cleaned_data["kind"]:
            movements = movements.filter(kind=filters.cleaned_data["kind"])
        if filters.cleaned_data["warehouse"]:
            movements = movements.filter(balance__warehouse=filters.cleaned_data["warehouse"])
    page = Paginator(movements, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "inventory/sku_ledger.html",
        {
            "sku": sku,
            "filters": filters,
            "page": page,
            "query": _query_without_page(request),
            "positions": selectors.stock_positions([sku.pk]),
            "change_form": StockChangeForm(),
            "qc_form": QCReleaseForm(sku=sku),
        },
    )


@login_required
@require_POST
@permission_required("inventory.add_stockmovement", raise_exception=True)
def sku_stock_change(request, code):
    sku = get_object_or_404(SKU, code=code)
    form = StockChangeForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
    else:
        data = form.cleaned_data
        run_service(
            request,
            lambda: services.stock_change(
                kind=data["kind"],
                sku=sku,
                warehouse=data["warehouse"],
                quantity=data["quantity"],
                pool=data["pool"],
                lot_code=data["lot"].strip(),
                expires_on=data["expires_on"],
                reference=data["reference"],
                note=data["note"],
                idempotency_key=data["idempotency_key"],
                actor=request.user,
            ),
            _("%(sku)s: %(quantity)+d posted.") % {"sku": sku.code, "quantity": data["quantity"]},
        )
    return redirect("inventory:ledger", code=sku.code)


@login_required
@require_POST
@permission_required("inventory.add_stockmovement", raise_exception=True)
def sku_qc_release(request, code):
    sku = get_object_or_404(SKU, code=code)
    form = QCReleaseForm(request.POST, sku=sku)
    if not form.is_valid():
        form_errors(request, form)
    else:
        data = form.cleaned_data
        run_service(
            request,
            lambda: services.stock_qc_release(
                balance=data["balance"],
                quantity=data["quantity"],
                reference=data["reference"],
                actor=request.user,
            ),
            _("%(n)s units of %(sku)s passed QC.") % {"n": data["quantity"], "sku": sku.code},
        )
    return redirect("inventory:ledger", code=sku.code)


# --- pools ------------------------------------------------------------------------------------


@login_required
@permission_required("inventory.view_stockpool", raise_exception=True)
def pool_list(request):
    totals = {
        row["pool_id"]: row
        for row in selectors.balances_with_available()
        .values("pool_id")
        .annotate(
            on_hand=Sum("on_hand"),
            reserved=Sum("reserved"),
            qc_hold=Sum("qc_hold"),
            available=Sum("effective_available"),
        )
        .order_by()
    }
    pools = [{"pool": pool, "totals": totals.get(pool.pk, {})} for pool in StockPool.objects.order_by("code")]
    return render(
        request,
        "inventory/pool_list.html",
        {
            "pools": pools,
            "mappings": ChannelPool.objects.select_related("channel", "pool").order_by(
                "channel__code", "priority", "pool__code"
            ),
            "transfer_form": TransferForm(initial=request.GET.dict()),
        },
    )


@login_required
@require_POST
@permission_required("inventory.add_stockmovement", raise_exception=True)
def stock_transfer(request):
    form = TransferForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
    else:
        data = form.cleaned_data
        balance = data["balance"]
        target_pool = data["to_pool"]
        target_warehouse = balance.warehouse
        run_service(
            request,
            lambda: services.stock_transfer(
                balance=balance,
                quantity=data["quantity"],
                to_pool=data["to_pool"],
                reference=data["reference"],
                actor=request.user,
            ),
            _("%(n)s × %(sku)s moved to %(warehouse)s / %(pool)s.")
            % {
                "n": data["quantity"],
                "sku": balance.sku.code,
                "warehouse": target_warehouse.code,
                "pool": target_pool.code,
            },
        )
    return redirect("inventory:pools")


# --- release breakers -------------------------------------------------------------------------


@login_required
@permission_required("inventory.view_releasebreaker", raise_exception=True)
def breaker_list(request):
    breakers = list(
        ReleaseBreaker.objects.filter(is_open=True).select_related("sku").order_by("tripped_at", "pk")
    )
    waiting = defaultdict(list)
    for pending in (
        PendingRelease.objects.filter(sku_id__in=[b.sku_id for b in breakers], applied_at__isnull=True)
        .select_related("reservation__order")
        .order_by("created_at", "pk")
    ):
        waiting[pending.sku_id].append(pending)
    return render(
        request,
        "inventory/breaker_list.html",
        {"breakers": [{"breaker": b, "pending": waiting.get(b.sku_id, [])} for b in breakers]},
    )


@login_required
@require_POST
@permission_required("inventory.change_releasebreaker", raise_exception=True)
def breaker_resume_view(request, code):
    sku = get_object_or_404(SKU, code=code)
    try:
        applied = breaker_resume(sku_id=sku.pk, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Releases of %(sku)s resumed; %(n)s units went back to stock.")
            % {"sku": sku.code, "n": applied},
        )
    return redirect("inventory:breakers")


# --- replenishment ----------------------------------------------------------------------------


def _latest_suggestions():
    latest = ReplenishmentSuggestion.objects.aggregate(day=Max("computed_on"))["day"]
    suggestions = ReplenishmentSuggestion.objects.filter(computed_on=latest).select_related("sku")
    return latest, suggestions.order_by("days_of_cover", "sku__code")


@login_required
@permission_required("inventory.view_replenishmentsuggestion", raise_exception=True)
def replenishment_list(request):
    latest, suggestions = _latest_suggestions()
    page = Paginator(suggestions, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "inventory/replenishment_list.html", {"computed_on": latest, "page": page})


@login_required
@permission_required("inventory.view_replenishmentsuggestion", raise_exception=True)
def replenishment_export(request):
    latest, suggestions = _latest_suggestions()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Replenishment"))
    sheet.append(
        [
            _("SKU"),
            _("Name"),
            _("Computed on"),
            _("Available"),
            _("Average daily sales"),
            _("Days of cover"),
            _("Suggested quantity"),
        ]
    )
    for suggestion in suggestions.iterator(chunk_size=2000):
        sheet.append(
            [
                spreadsheet_safe(suggestion.sku.code),
                spreadsheet_safe(suggestion.sku.name),
                suggestion.computed_on,
                suggestion.available,
                suggestion.average_daily_sales,
                suggestion.days_of_cover,
                suggestion.suggested_quantity,
            ]
        )
    buffer = BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="replenishment-{latest or "empty"}.xlsx"'
    return response
