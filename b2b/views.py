"""B2B desk screens. Thin: validate the form → call the service → say what happened → redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from b2b import contracts, schedule, selectors
from b2b.forms import ContractActionForm, ContractForm, MoveForm, ReasonForm, ResplitForm
from b2b.models import B2BAccount, Contract, ContractStatus, Delivery, DeliveryStatus
from core.desk_messages import form_errors, run_service
from core.errors import DomainError

PAGE_SIZE = 50


@login_required
@permission_required("b2b.view_b2baccount", raise_exception=True)
def account_list(request):
    return render(request, "b2b/account_list.html", {"accounts": selectors.account_list()})


@login_required
@permission_required("b2b.view_b2baccount", raise_exception=True)
def account_detail(request, code):
    try:
        account = selectors.account_detail(code)
    except B2BAccount.DoesNotExist as exc:
        raise Http404(code) from exc
    return render(
        request,
        "b2b/account_detail.html",
        {"account": account, "contracts": selectors.contract_list(account=account)[:100]},
    )


@login_required
@permission_required("b2b.view_contract", raise_exception=True)
def contract_list(request):
    status = request.GET.get("status", "")
    if status not in ContractStatus.values:
        status = ""
    page = Paginator(selectors.contract_list(status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "b2b/contract_list.html",
        {"page": page, "status": status, "statuses": ContractStatus.choices},
    )


def _contract_or_404(number: str) -> Contract:
    try:
        return selectors.contract_detail(number)
    except Contract.DoesNotExist as exc:
        raise Http404(number) from exc


@login_required
@permission_required("b2b.view_contract", raise_exception=True)
def contract_detail(request, number):
    contract = _contract_or_404(number)
    scheduled = [d for d in contract.deliveries.all() if d.status == DeliveryStatus.SCHEDULED]
    resplits = [(line, [d for d in scheduled if line.pk in d.by_line]) for line in contract.lines.all()]
    return render(
        request,
        "b2b/contract_detail.html",
        {
            "contract": contract,
            "timeline": selectors.contract_timeline(contract),
            "scheduled": scheduled,
            "resplits": [(line, ds) for line, ds in resplits if ds],
            "can_change_schedule": contract.status == ContractStatus.APPROVED
            and request.user.has_perm("b2b.change_schedule"),
        },
    )


def _save_contract(request, form: ContractForm, contract: Contract | None):
    account = contract.account if contract else form.cleaned_data["account"]
    try:
        saved = contracts.contract_save_draft(
            account=account,
            lines=form.lines(),
            deliveries=form.deliveries(),
            actor=request.user,
            contract=contract,
            note=form.cleaned_data["note"],
            expected_status=form.cleaned_data.get("expected_status") or None,
        )
    except DomainError as exc:
        form.add_service_error(exc.field, exc.message)
        return None
    messages.success(request, _("Contract %(number)s saved as a draft.") % {"number": saved.number})
    return redirect(saved.get_absolute_url())


@login_required
@permission_required("b2b.add_contract", raise_exception=True)
def contract_create(request):
    initial = {"account": request.GET.get("account", "")}
    form = ContractForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        done = _save_contract(request, form, None)
        if done:
            return done
    status = 400 if request.method == "POST" else 200
    return render(request, "b2b/contract_form.html", {"form": form, "contract": None}, status=status)


@login_required
@permission_required("b2b.change_contract", raise_exception=True)
def contract_edit(request, number):
    contract = _contract_or_404(number)
    if contract.status != ContractStatus.DRAFT:
        messages.error(request, _("Only a draft can be edited."))
        return redirect(contract.get_absolute_url())
    form = ContractForm(request.POST or None, contract=contract)
    if request.method == "POST" and form.is_valid():
        done = _save_contract(request, form, contract)
        if done:
            return done
    status = 400 if request.method == "POST" else 200
    return render(request, "b2b/contract_form.html", {"form": form, "contract": contract}, status=status)


def _contract_post(view):
    """POST-only, signed in, the contract exists; the view reports and we go back to it."""

    @login_required
    @require_POST
    def wrapped(request, number, **kwargs):
        try:
            contract = Contract.objects.select_related("account").get(number=number)
        except Contract.DoesNotExist as exc:
            raise Http404(number) from exc
        view(request, contract, **kwargs)
        return redirect(contract.get_absolute_url())

    wrapped.__name__ = view.__name__
    return wrapped


def _success(action: str, contract: Contract) -> str:
    texts = {
        "submit": _("Contract %(number)s submitted for approval."),
        "approve": _("Contract %(number)s approved: its deliveries are reserved and scheduled."),
        "reject": _("Contract %(number)s rejected: it is a draft again."),
        "cancel": _("Contract %(number)s cancelled."),
        "settle": _("Contract %(number)s recorded as settled."),
    }
    return texts[action] % {"number": contract.number}


@_contract_post
def contract_action(request, contract):
    form = ContractActionForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    data = form.cleaned_data
    action, common = data["action"], {"contract": contract, "actor": request.user}
    common["expected_status"] = data["expected_status"] or None
    calls = {
        "submit": lambda: contracts.contract_submit(**common),
        "approve": lambda: contracts.contract_approve(**common),
        "reject": lambda: contracts.contract_reject(**common, reason=data["reason"]),
        "cancel": lambda: contracts.contract_cancel(**common, reason=data["reason"]),
        "settle": lambda: contracts.contract_settle(**common),
    }
    run_service(request, calls[action], _success(action, contract))


def _delivery(contract: Contract, delivery_id: int) -> Delivery:
    try:
        return contract.deliveries.get(pk=delivery_id)
    except Delivery.DoesNotExist as exc:
        raise Http404(delivery_id) from exc


@_contract_post
def delivery_move(request, contract, delivery_id):
    delivery = _delivery(contract, delivery_id)
    form = MoveForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    run_service(
        request,
        lambda: schedule.schedule_move(delivery=delivery, actor=request.user, **form.cleaned_data),
        _("Delivery %(ref)s moved to %(date)s.")
        % {"ref": delivery.reference, "date": form.cleaned_data["due_on"]},
    )


@_contract_post
def delivery_release(request, contract, delivery_id):
    delivery = _delivery(contract, delivery_id)
    run_service(
        request,
        lambda: schedule.delivery_release(delivery=delivery, actor=request.user),
        _("Delivery %(ref)s released to fulfilment.") % {"ref": delivery.reference},
    )


@_contract_post
def schedule_resplit(request, contract):
    ids = contract.deliveries.filter(status=DeliveryStatus.SCHEDULED).values_list("pk", flat=True)
    form = ResplitForm(request.POST, delivery_ids=list(ids))
    if not form.is_valid():
        return form_errors(request, form)
    run_service(
        request,
        lambda: schedule.schedule_resplit(
            contract=contract,
            line_no=form.cleaned_data["line_no"],
            quantities=form.quantities(),
            actor=request.user,
            reason=form.cleaned_data["reason"],
        ),
        _("Line %(no)s re-split between the deliveries; reservations follow.")
        % {"no": form.cleaned_data["line_no"]},
    )


@_contract_post
def schedule_cancel_rest(request, contract):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return form_errors(request, form)
    run_service(
        request,
        lambda: schedule.schedule_cancel_rest(
            contract=contract, actor=request.user, reason=form.cleaned_data["reason"]
        ),
        _("The deliveries of %(number)s not yet released are cancelled and their stock freed.")
        % {"number": contract.number},
    )
