"""The contract's audit trail: one function per event, each storing a code and its parameters;
`describe` renders a row in the reader's language (the language active when it is read)."""

from django.utils.translation import gettext as _

from b2b.models import ApprovalTier, Contract, ContractEvent, ContractEventCode, Delivery

E = ContractEventCode


def _record(contract: Contract, code: str, actor, **params) -> ContractEvent:
    return ContractEvent.objects.create(contract=contract, code=code, actor=actor, params=params)


def contract_created(contract: Contract, actor) -> ContractEvent:
    return _record(contract, E.CREATED, actor, amount=str(contract.amount), currency=contract.currency)


def contract_edited(contract: Contract, actor) -> ContractEvent:
    return _record(contract, E.EDITED, actor, amount=str(contract.amount), currency=contract.currency)


def contract_submitted(contract: Contract, actor) -> ContractEvent:
    return _record(contract, E.SUBMITTED, actor, tier=contract.required_tier, credit=contract.credit_check)


def contract_approved(contract: Contract, actor, *, credit: dict) -> ContractEvent:
    return _record(contract, E.APPROVED, actor, tier=contract.required_tier, credit=credit)


def contract_rejected(contract: Contract, actor, *, reason: str) -> ContractEvent:
    return _record(contract, E.REJECTED, actor, reason=reason)


def contract_cancelled(contract: Contract, actor, *, reason: str) -> ContractEvent:
    return _record(contract, E.CANCELLED, actor, reason=reason)


def contract_settled(contract: Contract, actor) -> ContractEvent:
    return _record(contract, E.SETTLED, actor)


def delivery_scheduled(delivery: Delivery, actor) -> ContractEvent:
    return _record(
        delivery.contract,
        E.DELIVERY_SCHEDULED,
        actor,
        delivery=delivery.reference,
        order=delivery.order.number,
        due_on=delivery.due_on.isoformat(),
    )


def delivery_moved(delivery: Delivery, actor, *, was, reason: str) -> ContractEvent:
    return _record(
        delivery.contract,
        E.DELIVERY_MOVED,
        actor,
        delivery=delivery.reference,
        old=was.isoformat(),
        new=delivery.due_on.isoformat(),
        reason=reason,
    )


def deliveries_resplit(
    contract: Contract, actor, *, sku: str, changes: list[dict], reason: str
) -> ContractEvent:
    """`changes`: [{"delivery": ref, "old": n, "new": m}] for one contract line's SKU."""
    return _record(contract, E.DELIVERY_RESPLIT, actor, sku=sku, changes=changes, reason=reason)


def delivery_released(delivery: Delivery, actor) -> ContractEvent:
    return _record(
        delivery.contract,
        E.DELIVERY_RELEASED,
        actor,
        delivery=delivery.reference,
        order=delivery.order.number,
    )


def rest_cancelled(contract: Contract, actor, *, deliveries: list[str], reason: str) -> ContractEvent:
    return _record(contract, E.REST_CANCELLED, actor, deliveries=deliveries, reason=reason)


def describe(event: ContractEvent) -> str:
    """The event as a sentence in the active language."""
    p = event.params
    if event.code in (E.CREATED, E.EDITED):
        return _("Amount %(currency)s %(amount)s.") % p
    if event.code == E.SUBMITTED:
        return _("Needs a %(tier)s approver.") % {"tier": _tier_label(p.get("tier"))} + _credit_text(p)
    if event.code == E.APPROVED:
        return _("Approved at the %(tier)s tier.") % {"tier": _tier_label(p.get("tier"))} + _credit_text(p)
    if event.code in (E.REJECTED, E.CANCELLED):
        return _("Reason: %(reason)s") % p
    if event.code == E.DELIVERY_SCHEDULED:
        return _("%(delivery)s due %(due_on)s: order %(order)s reserved and held until due.") % p
    if event.code == E.DELIVERY_MOVED:
        return _("%(delivery)s moved from %(old)s to %(new)s. %(reason)s") % p
    if event.code == E.DELIVERY_RESPLIT:
        moves = ", ".join(_("%(delivery)s: %(old)s → %(new)s") % change for change in p.get("changes", []))
        return _("%(sku)s re-split: %(moves)s. %(reason)s") % {**p, "moves": moves}
    if event.code == E.DELIVERY_RELEASED:
        return _("%(delivery)s released: order %(order)s goes to fulfilment.") % p
    if event.code == E.REST_CANCELLED:
        return _("Cancelled %(deliveries)s. %(reason)s") % {**p, "deliveries": ", ".join(p["deliveries"])}
    return ""


def _tier_label(tier: str | None) -> str:
    return str(dict(ApprovalTier.choices).get(tier, tier or ""))


def _credit_text(params: dict) -> str:
    credit = params.get("credit") or {}
    if not credit:
        return ""
    return (
        " "
        + _("Credit: this contract %(amount)s + open %(exposure)s of limit %(limit)s %(currency)s.") % credit
    )
