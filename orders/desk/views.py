"""Desk views stay thin: validate the form → call the service → show the outcome → redirect."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from fulfilment import notifications, routing
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import IN_WAREHOUSE, Notification
from integrations import writeback
from orders import edits, selectors, services
from orders.breakdown import order_breakdown
from orders.desk.forms import (
    AddressForm,
    CancelLinesForm,
    EditLinesForm,
    NoteForm,
    PriorityForm,
    TransitionForm,
)
from orders.filters import OrderFilter
from orders.models import TRANSITION_DONE, Order, OrderStatus

PAGE_SIZE = 50


@login_required
@permission_required("orders.view_order", raise_exception=True)
def order_list(request):
    filterset = OrderFilter(request.GET or None, queryset=selectors.order_list())
    # A filter that cannot be read is named beside its box; the list stays empty rather than
    # silently unfiltered.
    refused = filterset.is_bound and not filterset.is_valid()
    orders = filterset.queryset.none() if refused else filterset.qs
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "orders/order_list.html",
        {"filter": filterset, "page": page, "query": query.urlencode()},
        status=400 if refused else 200,
    )


def _order_or_404(number: str) -> Order:
    try:
        return selectors.order_detail(number)
    except Order.DoesNotExist as exc:
        raise Http404(number) from exc


@login_required
@permission_required("orders.view_order", raise_exception=True)
def order_detail(request, number):
    order = _order_or_404(number)
    user = request.user
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "actions": selectors.order_available_actions(order, user),
            "note_form": NoteForm(),
            "priority_form": PriorityForm(initial={"priority": order.priority}),
            "address_form": AddressForm(instance=order),
            "cancel_lines_form": CancelLinesForm(order=order),
            "can_edit": order.status in services.EDITABLE,
            "money": order_breakdown(order),
            **_edit_panel(order, user),
            "notifications": order.notifications.select_related("shipment").order_by("-created_at", "-pk")[
                :20
            ],
            **_shipments_panel(order, user),
        },
    )


def _edit_panel(order: Order, user) -> dict:
    """The line edit form, for users allowed to edit lines, while the order is under review."""
    if not user.has_perm("orders.edit_order_lines"):
        return {}
    refusal = edits.edit_refusal(order)
    if refusal:
        return {"edit_refusal": refusal}
    return {"edit_form": EditLinesForm(order=order, can_price=user.has_perm("orders.change_order_price"))}


def _shipments_panel(order: Order, user) -> dict:
    """The order's parcels, and which routing buttons this user gets."""
    shipments = fulfilment_selectors.order_shipments(order)
    write_backs = writeback.order_writebacks(order)
    for shipment in shipments:
        shipment.write_back = write_backs.get(shipment.pk)  # whether the platform has the parcel
    can_route = user.has_perm("orders.route_order") and order.status in routing.ROUTABLE
    in_warehouse = any(s.status in IN_WAREHOUSE for s in shipments)
    return {
        "shipments": shipments,
        "can_route_now": can_route and bool(routing.unrouted_needs(order)),
        "can_reroute": can_route and order.status != OrderStatus.PAID and in_warehouse,
    }


def _run(request, order: Order, call, done: str | None = None) -> None:
    """Run the service and say what was done to the order (`done` takes %(number)s)."""
    run_service(request, call, (done or _("Order %(number)s updated.")) % {"number": order.number})


def _order_post(view):
    """POST-only, signed in, the order exists; the view returns nothing and we go back."""

    @login_required
    @require_POST
    def wrapped(request, number):
        order = _order_or_404(number)
        view(request, order)
        return redirect(order.get_absolute_url())

    wrapped.__name__ = view.__name__
    return wrapped


@_order_post
def order_action(request, order):
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    data = form.cleaned_data
    _run(
        request,
        order,
        lambda: services.order_transition(
            order=order,
            name=data["action"],
            actor=request.user,
            reason=data["reason"],
            expected_status=data["expected_status"],
        ),
        str(TRANSITION_DONE.get(data["action"], "")) or None,
    )


@_order_post
def order_note(request, order):
    form = NoteForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    _run(
        request,
        order,
        lambda: services.order_add_note(order=order, text=form.cleaned_data["text"], actor=request.user),
        _("Note added to order %(number)s."),
    )


@_order_post
def order_priority(request, order):
    form = PriorityForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    _run(
        request,
        order,
        lambda: services.order_change_priority(order=order, actor=request.user, **form.cleaned_data),
        _("Priority of order %(number)s changed."),
    )


@_order_post
def order_address(request, order):
    form = AddressForm(request.POST, instance=Order(channel=order.channel))
    if not form.is_valid():
        return form_errors(request, form)
    reason = form.cleaned_data.pop("reason")
    _run(
        request,
        order,
        lambda: services.order_change_address(
            order=order, address=form.cleaned_data, actor=request.user, reason=reason
        ),
        _("Delivery address of order %(number)s changed."),
    )


@_order_post
def order_cancel_lines(request, order):
    form = CancelLinesForm(request.POST, order=order)
    if not form.is_valid():
        return form_errors(request, form)
    try:
        services.order_cancel_lines(
            order=order, quantities=form.quantities(), actor=request.user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    money = order_breakdown(Order.objects.get(pk=order.pk))
    message = _("Units cancelled on order %(number)s. Total for the units still ordered: %(total)s.") % {
        "number": order.number,
        "total": {row.key: row.amount for row in money.rows}.get("money-live-total", money.rows[-1].amount),
    }
    if money.refund_due:
        message += " " + _("To refund for cancelled units: %(amount)s.") % {"amount": money.refund_due}
    messages.success(request, message)


@_order_post
def order_edit_lines(request, order):
    """Edit the order's lines; the message names what changed and where the total now stands
    against what the platform says was paid."""
    form = EditLinesForm(
        request.POST, order=order, can_price=request.user.has_perm("orders.change_order_price")
    )
    if not form.is_valid():
        return form_errors(request, form)
    try:
        outcome = edits.order_edit_lines(
            order=order,
            changes=form.changes(),
            gifts=form.gifts(),
            actor=request.user,
            reason=form.cleaned_data["reason"],
            expected_status=form.cleaned_data["expected_status"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return
    edited = outcome.order
    message = _("Order %(number)s edited: %(changes)s. Total %(before)s → %(after)s %(currency)s.") % {
        "number": edited.number,
        "changes": "; ".join(outcome.described),
        "before": outcome.total_before,
        "after": edited.total,
        "currency": edited.currency,
    }
    difference = outcome.paid_difference
    if difference:
        words = (
            _("Paid on the platform: %(paid)s — refund %(amount)s.")
            if difference > 0
            else _("Paid on the platform: %(paid)s — collect %(amount)s.")
        )
        message = f"{message} {words % {'paid': edited.paid_amount, 'amount': abs(difference)}}"
    messages.success(request, message)


@login_required
@permission_required("orders.edit_order_lines", raise_exception=True)
def sku_search(request):
    """SKU codes for the edit form's search box (JSON)."""
    return JsonResponse({"results": selectors.sku_choices(request.GET.get("q", ""))})


class RouteForm(forms.Form):
    ROUTE, REROUTE = "route", "reroute"

    mode = forms.ChoiceField(choices=[(ROUTE, _("Route now")), (REROUTE, _("Re-route"))])
    expected_status = forms.ChoiceField(choices=OrderStatus.choices)
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


@login_required
@permission_required("orders.route_order", raise_exception=True)
@require_POST
def order_route(request, number):
    """ "Route now" routes what no shipment carries yet; "Re-route" also cancels the parcels still
    in the warehouse and routes everything again (a warehouse closed, the policy changed)."""
    order = _order_or_404(number)
    form = RouteForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect(order.get_absolute_url())
    data = form.cleaned_data
    service = routing.reroute_order if data["mode"] == RouteForm.REROUTE else routing.route_order
    try:
        shipments = service(
            order=order, actor=request.user, reason=data["reason"], expected_status=data["expected_status"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(order.get_absolute_url())
    order.refresh_from_db()
    if shipments:
        messages.success(
            request,
            _("Order %(number)s routed: %(shipments)s.")
            % {"number": order.number, "shipments": ", ".join(s.number for s in shipments)},
        )
    elif order.status == OrderStatus.ON_HOLD:
        messages.warning(request, order.hold_reason)
    else:
        messages.info(request, _("Nothing could be routed yet: the pre-sale lines wait for stock."))
    return redirect(f"{order.get_absolute_url()}#shipments")


@_order_post
def order_notification_resend(request, order):
    """Send one of the order's customer notifications again (e.g. the customer lost the e-mail)."""
    try:
        notification = order.notifications.get(pk=int(request.POST.get("notification", "")))
    except (ValueError, Notification.DoesNotExist):
        messages.error(request, _("Choose one of this order's notifications."))
        return
    run_service(
        request,
        lambda: notifications.notification_resend(notification=notification, actor=request.user),
        _("The notification goes out again."),
    )
