"""Finance desk screens. Thin: validate the form → call the service → show the outcome → redirect."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.desk_messages import form_errors, run_service
from core.errors import DomainError
from finance import selectors
from finance.callbacks import Outcome, payment_callback_replay
from finance.desk.forms import CallbackFilterForm, PaymentSearchForm, PeriodCloseForm
from finance.periods import period_close

PAGE_SIZE = 50


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@permission_required("finance.view_payment", raise_exception=True)
def payment_list(request):
    form = PaymentSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    payments = selectors.payment_list(search=filters.get("search", ""), provider=filters.get("provider", ""))
    page = Paginator(payments, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/payment_list.html",
        {"form": form, "page": page, "query": _query_without_page(request)},
    )


@login_required
@permission_required("finance.view_paymentcallback", raise_exception=True)
def callback_list(request):
    form = CallbackFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    callbacks = selectors.callback_list(
        status=filters.get("status", ""), provider=filters.get("provider", "")
    )
    page = Paginator(callbacks, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/callback_list.html",
        {"form": form, "page": page, "query": _query_without_page(request)},
    )


@login_required
@require_POST
def callback_replay(request, pk):
    try:
        receipt = payment_callback_replay(callback_id=pk, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if receipt.outcome == Outcome.FAILED:  # replayed, but still not applicable: say why
            messages.error(
                request, _("Callback %(id)s failed again: %(error)s") % {"id": pk, "error": receipt.error}
            )
        else:
            messages.success(request, _("Callback %(id)s replayed.") % {"id": pk})
    return redirect("finance:callbacks")


@login_required
@permission_required("finance.view_accountingperiod", raise_exception=True)
def period_list(request):
    now = timezone.now()
    rows = selectors.period_overview(now=now)
    for row in rows:
        row.closable = row.is_open and row.has_ended(now)
    context = {
        "rows": rows,
        "zone": settings.BUSINESS_TIME_ZONE,
        "business_currency": settings.BUSINESS_CURRENCY,
    }
    return render(request, "finance/period_list.html", context)


@login_required
@require_POST
def period_close_view(request):
    form = PeriodCloseForm(request.POST)
    if not form.is_valid():
        form_errors(request, form)
        return redirect("finance:periods")
    year, month = form.cleaned_data["year"], form.cleaned_data["month"]
    run_service(
        request,
        lambda: period_close(year=year, month=month, actor=request.user),
        _("Period %(year)04d-%(month)02d closed.") % {"year": year, "month": month},
    )
    return redirect("finance:periods")
