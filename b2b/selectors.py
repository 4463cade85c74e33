"""B2B reads for the desk."""

from django.db.models import Prefetch, QuerySet

from b2b import credit, events
from b2b.models import B2BAccount, Contract, ContractEvent, Delivery, DeliveryLine, DeliveryStatus


def account_list() -> list[B2BAccount]:
    accounts = list(B2BAccount.objects.select_related("price_list").order_by("name"))
    for account in accounts:
        account.credit_used = credit.open_exposure(account)
    return accounts


def account_detail(code: str) -> B2BAccount:
    account = B2BAccount.objects.select_related("customer", "price_list", "channel").get(code=code)
    account.credit_used = credit.open_exposure(account)
    account.credit_left = account.credit_limit - account.credit_used
    return account


def contract_list(*, status: str = "", account: B2BAccount | None = None) -> QuerySet[Contract]:
    contracts = Contract.objects.select_related("account").order_by("-created_at", "-pk")
    if status:
        contracts = contracts.filter(status=status)
    if account is not None:
        contracts = contracts.filter(account=account)
    return contracts


def contract_detail(number: str) -> Contract:
    lines = DeliveryLine.objects.select_related("contract_line__sku", "order_line")
    deliveries = Delivery.objects.select_related("order").prefetch_related(Prefetch("lines", queryset=lines))
    contract = (
        Contract.objects.select_related("account", "created_by", "submitted_by", "approved_by")
        .prefetch_related("lines__sku", Prefetch("deliveries", queryset=deliveries.order_by("seq")))
        .get(number=number)
    )
    for line in contract.lines.all():
        line.scheduled = sum(
            dl.quantity
            for d in contract.deliveries.all()
            if d.status != DeliveryStatus.CANCELLED
            for dl in d.lines.all()
            if dl.contract_line_id == line.pk
        )
    for delivery in contract.deliveries.all():
        delivery.by_line = {dl.contract_line_id: dl.quantity for dl in delivery.lines.all()}
    return contract


def contract_timeline(contract: Contract) -> list[tuple[ContractEvent, str]]:
    rows = (
        ContractEvent.objects.filter(contract=contract).select_related("actor").order_by("created_at", "pk")
    )
    return [(event, events.describe(event)) for event in rows]
