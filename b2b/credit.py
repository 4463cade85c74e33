"""Credit and approval tiers.

Open exposure of an account = the value still live on its approved contracts that are not yet
settled: the units of their deliveries (released or still scheduled, not cancelled) at the
agreed prices. Payments are finance's (a layer above b2b): a contract counts against the credit
line until someone with `b2b.settle_contract` records it settled (paid in full).

The approver a contract needs: the tier of the highest approval rule (same currency) whose
threshold the amount reaches, standard without one; over the credit limit it needs the senior
tier whatever its amount."""

from decimal import Decimal

from django.db.models import F

from b2b.models import (
    TIER_PERMISSION,
    ApprovalRule,
    ApprovalTier,
    B2BAccount,
    Contract,
    ContractStatus,
    DeliveryLine,
    DeliveryStatus,
)
from core.money import ZERO, MoneySum

TIER_RANK = {ApprovalTier.STANDARD: 0, ApprovalTier.SENIOR: 1}


def open_exposure(account: B2BAccount, *, excluding: Contract | None = None) -> Decimal:
    """The value of the units still scheduled or delivered on the account's approved contracts
    (cancelled deliveries and units re-split away no longer count)."""
    approved = Contract.objects.filter(account=account, status=ContractStatus.APPROVED)
    if excluding is not None:
        approved = approved.exclude(pk=excluding.pk)
    live = DeliveryLine.objects.filter(delivery__contract__in=approved).exclude(
        delivery__status=DeliveryStatus.CANCELLED
    )
    return live.aggregate(n=MoneySum(F("quantity") * F("contract_line__unit_price")))["n"] or ZERO


def credit_check(contract: Contract) -> dict:
    """The figures of the credit decision, as stored on the contract and its events."""
    account = contract.account
    exposure = open_exposure(account, excluding=contract)
    return {
        "amount": str(contract.amount),
        "exposure": str(exposure),
        "limit": str(account.credit_limit),
        "currency": contract.currency,
        "over": contract.amount + exposure > account.credit_limit,
    }


def required_tier(contract: Contract, check: dict) -> str:
    if check["over"]:
        return ApprovalTier.SENIOR
    rule = (
        ApprovalRule.objects.filter(currency=contract.currency, min_amount__lte=contract.amount)
        .order_by("-min_amount")
        .first()
    )
    return rule.tier if rule else ApprovalTier.STANDARD


def may_approve_tier(user, tier: str) -> bool:
    """A senior approver may approve any tier."""
    return any(
        user.has_perm(TIER_PERMISSION[held]) and TIER_RANK[held] >= TIER_RANK[tier] for held in TIER_RANK
    )
