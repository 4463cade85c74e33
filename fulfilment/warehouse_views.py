"""Own-warehouse desk (R-F3, R-D2): the shipment queue, printable pick lists, scan-to-pack and
handing parcels to the carrier. Thin views: validate the form → call fulfilment.packing →
show the outcome → redirect. Everything is a server-rendered form post, so a keyboard-wedge
scanner (types the code, then Enter) works with no script at all."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from fulfilment import packing
from fulfilment.models import Shipment, ShipmentStatus
from integrations import carriers
from integrations.models import WmsStockSnapshot
from inventory.models import Warehouse, WmsProtocol
from orders.models import OrderEvent, OrderEventKind

PAGE_SIZE = 50
PICK_LIST_MAX = 200  # shipments on one printed pick list


def _shipment_or_404(number: str) -> Shipment:
    try:
        return Shipment.objects.select_related("warehouse", "order", "carrier").get(number=number)
    except Shipment.DoesNotExist as exc:
        raise Http404(number) from exc


# --- the queue ----------------------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    warehouse = forms.ModelChoiceField(
        label=gettext_lazy("Warehouse"),
        queryset=Warehouse.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("All own warehouses"),
    )
    status = forms.MultipleChoiceField(
        label=gettext_lazy("Status"), choices=ShipmentStatus.choices, required=False
    )


@login_required
@permission_required("orders.view_shipment", raise_exception=True)
def shipment_list(request):
    form = QueueFilterForm(request.GET or None)
    warehouse, statuses = None, None
    if form.is_valid():
        warehouse, statuses = form.cleaned_data["warehouse"], form.cleaned_data["status"] or None
    queue = packing.shipment_queue(warehouse=warehouse, statuses=statuses)
    if warehouse is None:  # cloud warehouses' parcels are worked by their own systems
        queue = queue.filter(warehouse__wms_protocol=WmsProtocol.OWN)
    page = Paginator(queue, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "fulfilment/shipment_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_work": request.user.has_perm(packing.WORK_PERMISSION),
        },
    )


# --- pick list --------------------------------------------------------------------------------------


@login_required
@permission_required("orders.view_shipment", raise_exception=True)
def pick_list(request):
    numbers = [number.strip() for number in request.GET.getlist("shipment") if number.strip()][:PICK_LIST_MAX]
    shipments = list(
        packing.shipment_queue(statuses=list(ShipmentStatus.values))
        .filter(number__in=numbers)
        .prefetch_related("lines__sku")
    )
    if not shipments:
        messages.error(request, _("Select the shipments to pick."))
        return redirect("fulfilment:shipments")
    return render(
        request,
        "fulfilment/pick_list.html",
        {
            "shipments": shipments,
            "rows": packing.pick_list(shipments),
            "can_work": request.user.has_perm(packing.WORK_PERMISSION),
            "waiting": [s.number for s in shipments if s.status == ShipmentStatus.SENT_TO_WAREHOUSE],
        },
    )


@login_required
@require_POST
@permission_required("orders.work_shipment", raise_exception=True)
def start_picking(request):
    numbers = [number.strip() for number in request.POST.getlist("shipment") if number.strip()][
        :PICK_LIST_MAX
    ]
    if not numbers:
        messages.error(request, _("Select the shipments to pick."))
        return redirect("fulfilment:shipments")
    try:
        started, problems = packing.shipments_start_picking(numbers=numbers, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("fulfilment:shipments")
    if started:
        messages.success(
            request,
            _("Picking started for %(count)s shipment(s): %(numbers)s.")
            % {"count": len(started), "numbers": ", ".join(started)},
        )
    for problem in problems:
        messages.error(request, problem)
    return redirect(f"{reverse('fulfilment:pick-list')}?{urlencode({'shipment': numbers}, doseq=True)}")


# --- one shipment: scan to pack, ship -------------------------------------------------------------------


class ScanForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Scan barcode or type SKU code"), max_length=64)


class ShipForm(forms.Form):
    carrier = forms.ModelChoiceField(label=gettext_lazy("Carrier"), queryset=packing.active_carriers())
    tracking_number = forms.CharField(label=gettext_lazy("Tracking number"), max_length=64)
    expected_status = forms.ChoiceField(choices=ShipmentStatus.choices, widget=forms.HiddenInput)


@login_required
@permission_required("orders.view_shipment", raise_exception=True)
def shipment_detail(request, number):
    shipment = _shipment_or_404(number)
    events = (
        OrderEvent.objects.filter(
            order=shipment.order, kind=OrderEventKind.SHIPMENT, payload__shipment=shipment.number
        )
        .select_related("actor")
        .order_by("created_at", "pk")
    )
    is_own = shipment.warehouse.wms_protocol == WmsProtocol.OWN
    can_work = is_own and request.user.has_perm(packing.WORK_PERMISSION)
    return render(
        request,
        "fulfilment/shipment_detail.html",
        {
            "shipment": shipment,
            "lines": shipment.lines.select_related("sku", "order_line__order").order_by("pk"),
            "events": events,
            "is_own": is_own,
            "can_pack": can_work and shipment.status in packing.PACKABLE,
            "can_ship": can_work and shipment.status in packing.SHIPPABLE,
            "scan_form": ScanForm(),
            "ship_form": ShipForm(
                initial={
                    "carrier": shipment.carrier_id or shipment.warehouse.default_carrier_id,
                    "expected_status": shipment.status,
                }
            ),
        },
    )


def _back_to(shipment: Shipment, anchor: str = ""):
    return redirect(reverse("fulfilment:shipment", args=[shipment.number]) + anchor)


@login_required
@require_POST
@permission_required("orders.work_shipment", raise_exception=True)
def shipment_scan(request, number):
    shipment = _shipment_or_404(number)
    form = ScanForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return _back_to(shipment, "#scan")
    try:
        scan = packing.shipment_pack_scan(
            shipment=shipment, code=form.cleaned_data["code"], actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back_to(shipment, "#scan")
    messages.success(
        request,
        _("Packed %(packed)s of %(quantity)s × %(sku)s.")
        % {"packed": scan.packed, "quantity": scan.quantity, "sku": scan.sku.code},
    )
    if scan.shipment_packed:
        messages.success(request, _("Shipment %(number)s is packed: ready to ship.") % {"number": number})
        return _back_to(shipment, "#ship")
    return _back_to(shipment, "#scan")


@login_required
@require_POST
@permission_required("orders.work_shipment", raise_exception=True)
def shipment_ship(request, number):
    shipment = _shipment_or_404(number)
    form = ShipForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return _back_to(shipment, "#ship")
    data = form.cleaned_data
    run_service(
        request,
        lambda: packing.shipment_ship(
            shipment=shipment,
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
            actor=request.user,
            expected_status=data["expected_status"],
        ),
        _("Shipment %(number)s shipped with %(carrier)s %(tracking)s.")
        % {"number": number, "carrier": data["carrier"], "tracking": data["tracking_number"].strip()},
    )
    return _back_to(shipment)


@login_required
@require_POST
@permission_required("orders.work_shipment", raise_exception=True)
def shipment_request_waybill(request, number):
    shipment = _shipment_or_404(number)
    run_service(
        request,
        lambda: carriers.request_waybill(shipment),
        _("E-waybill requested for shipment %(number)s.") % {"number": number},
    )
    return _back_to(shipment, "#ship")


# --- cloud-warehouse stock snapshots ---------------------------------------------------------------------


@login_required
@permission_required("integrations.view_wmsstocksnapshot", raise_exception=True)
def wms_snapshot_list(request):
    warehouses = Warehouse.objects.filter(wms_protocol=WmsProtocol.QIMEN).order_by("code")
    selected = request.GET.get("warehouse", "")
    snapshots = WmsStockSnapshot.objects.select_related("warehouse").order_by("-taken_at", "-pk")
    if selected:
        snapshots = snapshots.filter(warehouse__code=selected)
    page = Paginator(snapshots, 20).get_page(request.GET.get("page"))
    shown = request.GET.get("snapshot", "")
    detail = None
    if shown.isdigit():
        detail = get_object_or_404(WmsStockSnapshot.objects.select_related("warehouse"), pk=int(shown))
    elif page.object_list:
        detail = page.object_list[0]
    return render(
        request,
        "fulfilment/wms_snapshot_list.html",
        {
            "warehouses": warehouses,
            "selected": selected,
            "page": page,
            "detail": detail,
            "differences": detail.differences.select_related("sku") if detail else [],
        },
    )
