"""The customer's return page (R-R1): reached through a signed, expiring link, no login. It shows
what can still be returned, takes a return or exchange request with photos, and lets the
customer enter the return tracking number of an approved request. An invalid or expired link
gets a 403 page that says so, nothing else."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors
from core.errors import DomainError
from fulfilment.models import Carrier
from returns import logistics, opening, policy, selectors, tokens
from returns.forms import ACCEPT, ReturnRequestForm, TrackingForm
from returns.models import RECEIVABLE, ReturnSource


def _order_or_refusal(request, token):
    try:
        return tokens.order_for_token(token), None
    except tokens.InvalidLink as exc:
        return None, render(
            request, "returns/self_service_invalid.html", {"message": exc.message}, status=403
        )


def start(request, token):
    order, refusal = _order_or_refusal(request, token)
    if refusal is not None:
        return refusal
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
                    source=ReturnSource.SELF_SERVICE,
                    actor=None,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    _("Your request %(rma)s was received: %(status)s.")
                    % {"rma": rma.number, "status": rma.get_status_display()},
                )
                return redirect("returns_self_service:start", token=token)
    returns = [r for r in selectors.order_returns(order) if r.order_id == order.pk]
    return render(
        request,
        "returns/self_service.html",
        {
            "order": order,
            "form": form,
            "token": token,
            "accept": ACCEPT,
            "returns": returns,
            "trackable": {r.number for r in returns if r.status in RECEIVABLE},
            "tracking_form": TrackingForm(),
            "has_returnable": any(a.returnable for a in allowances.values()),
        },
    )


@require_POST
def tracking(request, token, number):
    order, refusal = _order_or_refusal(request, token)
    if refusal is not None:
        return refusal
    rma = order.return_requests.filter(number=number).first()
    if rma is None:
        messages.error(request, _("No such request for this order."))
        return redirect("returns_self_service:start", token=token)
    form = TrackingForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("returns_self_service:start", token=token)
    carrier = form.cleaned_data["carrier"]
    try:
        logistics.rma_set_tracking(
            rma=rma,
            tracking_number=form.cleaned_data["tracking_number"],
            carrier=carrier if isinstance(carrier, Carrier) else None,
            actor=None,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you: we are expecting your parcel."))
    return redirect("returns_self_service:start", token=token)
