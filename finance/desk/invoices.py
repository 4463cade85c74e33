"""E-invoice desk screens: "Request invoice" on an order, and the queue of invoices that failed or
are still pending (retry). Thin: validate the form → call the service → message → redirect."""

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from finance.invoices import services
from finance.invoices.models import (
    BuyerKind,
    InvoiceRequest,
    InvoiceReversal,
    InvoiceState,
    InvoiceType,
    ReversalState,
)
from orders.models import Order

QUEUE_LIMIT = 200


class InvoiceRequestForm(forms.Form):
    buyer_kind = forms.ChoiceField(label=gettext_lazy("Buyer"), choices=BuyerKind.choices)
    invoice_type = forms.ChoiceField(label=gettext_lazy("Invoice type"), choices=InvoiceType.choices)
    buyer_title = forms.CharField(label=gettext_lazy("Buyer title"), max_length=100)
    buyer_tax_id = forms.CharField(label=gettext_lazy("Buyer tax id"), max_length=20, required=False)
    buyer_email = forms.EmailField(label=gettext_lazy("E-mail"), max_length=50, required=False)
    buyer_phone = forms.CharField(label=gettext_lazy("Phone"), max_length=20, required=False)


@login_required
@permission_required("finance.add_invoicerequest", raise_exception=True)
def invoice_request_view(request, order_pk):
    order = get_object_or_404(Order, pk=order_pk)
    form = InvoiceRequestForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            form_errors(request, form)
        elif run_service(
            request,
            lambda: services.invoice_request_create(order=order, actor=request.user, **form.cleaned_data),
            _("Invoice requested for %(order)s.") % {"order": order.number},
        ):
            return redirect("orders:detail", order.number)
    return render(request, "finance/invoice_request.html", {"order": order, "form": form})


@login_required
@permission_required("finance.view_invoicerequest", raise_exception=True)
def invoice_queue(request):
    waiting = (
        InvoiceRequest.objects.select_related("order")
        .filter(
            state__in=[
                InvoiceState.FAILED,
                InvoiceState.REQUESTED,
                InvoiceState.ISSUING,
                InvoiceState.REVERSING,
            ]
        )
        .order_by("state", "created_at")[:QUEUE_LIMIT]
    )
    reversals = (
        InvoiceReversal.objects.select_related("request", "request__order")
        .exclude(state=ReversalState.DONE)
        .order_by("state", "created_at")[:QUEUE_LIMIT]
    )
    return render(request, "finance/invoice_queue.html", {"invoices": waiting, "reversals": reversals})


@login_required
@require_POST
def invoice_retry_view(request, pk):
    invoice = get_object_or_404(InvoiceRequest, pk=pk)
    run_service(
        request,
        lambda: services.invoice_retry(request=invoice, actor=request.user),
        _("Invoice %(number)s sent again.") % {"number": invoice.number},
    )
    return redirect("finance:invoices")


@login_required
@require_POST
def reversal_retry_view(request, pk):
    reversal = get_object_or_404(InvoiceReversal, pk=pk)
    run_service(
        request,
        lambda: services.invoice_reversal_retry(reversal=reversal, actor=request.user),
        _("Red-letter %(number)s sent again.") % {"number": reversal.number},
    )
    return redirect("finance:invoices")
