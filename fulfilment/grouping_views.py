"""Desk screens to merge and split parcels by hand (fulfilment.manual_grouping): each page lists
what will happen and acts only on its confirm button; errors come back as messages on the page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from core.errors import DomainError
from fulfilment import manual_grouping
from fulfilment.models import Shipment, ShipmentLine
from inventory.models import Warehouse
from orders.models import Order

PERM = manual_grouping.PERM


def _ids(values) -> list[int] | None:
    try:
        return [int(value) for value in values]
    except (TypeError, ValueError):
        return None


@login_required
@permission_required(PERM, raise_exception=True)
def order_merge(request, number):
    """ "Merge with…": the customer's other allocated orders to the same address; the chosen ones
    ship in this order's parcel."""
    order = get_object_or_404(Order, number=number)
    if request.method == "POST":
        others = _ids(request.POST.getlist("orders"))
        if others is None:
            messages.error(request, _("Choose orders from the list."))
        else:
            try:
                shipment = manual_grouping.shipments_merge_by_hand(
                    order=order,
                    others=others,
                    actor=request.user,
                    expected_status=request.POST.get("expected_status") or None,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                merged = (
                    Order.objects.filter(pk__in=others).order_by("number").values_list("number", flat=True)
                )
                messages.success(
                    request,
                    _("Orders %(orders)s now ship with %(number)s in one parcel, %(shipment)s.")
                    % {"orders": ", ".join(merged), "number": order.number, "shipment": shipment.number},
                )
                return redirect(f"{order.get_absolute_url()}#shipments")
    return render(
        request,
        "fulfilment/order_merge.html",
        {
            "order": order,
            "candidates": manual_grouping.merge_candidates(order),
            "parcels": manual_grouping.live_shipments([order.pk]),
        },
    )


@login_required
@permission_required(PERM, raise_exception=True)
def shipment_split(request, number):
    """ "Split parcel": per line, the units to move into a new parcel, optionally from another
    warehouse that has the stock."""
    shipment = get_object_or_404(Shipment.objects.select_related("order", "warehouse"), number=number)
    lines = list(
        ShipmentLine.objects.filter(shipment=shipment)
        .select_related("sku", "order_line__order")
        .order_by("pk")
    )
    entered: dict[int, str] = {}
    if request.method == "POST":
        entered = {line.pk: request.POST.get(f"line-{line.pk}", "").strip() for line in lines}
        quantities, bad = {}, []
        for line in lines:
            try:
                quantities[line.pk] = int(entered[line.pk] or 0)
            except ValueError:
                bad.append(line.sku.code)
        warehouse_id = _ids([request.POST.get("warehouse") or 0])
        if bad or warehouse_id is None:
            messages.error(
                request,
                _("Enter whole numbers of units for: %(skus)s") % {"skus": ", ".join(bad)}
                if bad
                else _("Choose a warehouse from the list."),
            )
        else:
            try:
                parcel = manual_grouping.shipment_split_by_hand(
                    shipment=shipment,
                    quantities=quantities,
                    actor=request.user,
                    to_warehouse_id=warehouse_id[0] or None,
                    expected_status=request.POST.get("expected_status") or None,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    _("Shipment %(number)s split: %(parcel)s now carries %(units)s units from %(warehouse)s.")
                    % {
                        "number": shipment.number,
                        "parcel": parcel.number,
                        "units": sum(quantities.values()),
                        "warehouse": parcel.warehouse.code,
                    },
                )
                return redirect(f"{shipment.order.get_absolute_url()}#shipments")
    return render(
        request,
        "fulfilment/shipment_split.html",
        {
            "shipment": shipment,
            "lines": [(line, entered.get(line.pk, "")) for line in lines],
            "blocker": manual_grouping.regroup_blocker(shipment),
            "warehouses": Warehouse.objects.filter(is_active=True).order_by("code"),
        },
    )
