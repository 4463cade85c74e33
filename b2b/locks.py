"""The one lock order of b2b writes: account → contract → its deliveries (ascending id) → their
orders (ascending id, then the order services' own order → reservations → balances). Credit is
decided one contract at a time per account; a release and a plan change of the same contract
queue on the contract row, so exactly one of them acts on a delivery."""

from b2b.models import B2BAccount, Contract, Delivery
from core.transitions import lock_one, lock_rows


def lock_contract(contract: Contract | int) -> Contract:
    pk = contract.pk if isinstance(contract, Contract) else contract
    account_id = Contract.objects.values_list("account_id", flat=True).get(pk=pk)
    lock_one(B2BAccount.objects, account_id)
    return lock_one(Contract.objects.select_related("account", "account__channel"), pk)


def lock_deliveries(contract: Contract) -> list[Delivery]:
    ids = contract.deliveries.values_list("pk", flat=True)
    return lock_rows(Delivery.objects.select_related("order"), ids)
