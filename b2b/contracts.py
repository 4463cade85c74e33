"""Contract writes: draft (quotation) → submitted → approved (in delivery) → settled; rejected
back to draft; cancelled before approval. Each: one transaction → lock the account (credit is
decided one contract at a time per account) → lock the contract → permission → the state the user
saw → the transition (core.transitions) → the audit event. Approval schedules the deliveries as
orders in the same transaction (b2b.schedule)."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from b2b import credit, events, pricing, schedule
from b2b.locks import lock_contract
from b2b.models import (
    B2BAccount,
    Contract,
    ContractLine,
    ContractStatus,
    Delivery,
    DeliveryLine,
)
from core import sequences
from core.errors import DomainError, NotPermitted, TransitionRefused
from core.money import CENT
from core.timezones import business_date
from core.transitions import Actor, require_perm, require_state, transition
from inventory.models import SKU

MAX_QUANTITY = 100_000


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price: Decimal | None = None  # None: the price-list price
    made_to_order: bool = False
    ready_on: date | None = None


@dataclass(frozen=True)
class DeliveryInput:
    due_on: date
    quantities: list[int] = field(default_factory=list)  # per line, in the lines' order


def _number() -> str:
    today = business_date()
    (value,) = sequences.next_values(name="b2b_contract", day=today)
    return f"CT{today:%Y%m%d}{value:04d}"


def contract_save_draft(
    *,
    account: B2BAccount,
    lines: list[LineInput],
    deliveries: list[DeliveryInput],
    actor: Actor,
    contract: Contract | None = None,
    note: str = "",
    expected_status: str | None = None,
) -> Contract:
    """Create a quotation, or replace a draft's lines and schedule, all or nothing."""
    require_perm(actor, "b2b.add_contract" if contract is None else "b2b.change_contract")
    if not account.is_active:
        raise DomainError(_("Account %(name)s is inactive.") % {"name": account.name}, field="account")
    with transaction.atomic():
        if contract is None:
            contract = Contract.objects.create(
                number=_number(), account=account, currency=account.currency, created_by=actor, note=note
            )
            record = events.contract_created
        else:
            contract = lock_contract(contract)
            require_state(contract, expected_status)
            if contract.status != ContractStatus.DRAFT:
                raise TransitionRefused(
                    _("Contract %(number)s is %(status)s: only a draft can be edited.")
                    % {"number": contract.number, "status": contract.get_status_display()}
                )
            contract.lines.all().delete()  # deliveries and their lines go with them (planned only)
            contract.deliveries.all().delete()
            contract.note = note
            record = events.contract_edited
        made = _write_lines(contract, account, lines)
        _write_deliveries(contract, made, deliveries)
        contract.amount = sum((line.amount for line in made), Decimal("0.00"))
        contract.save(update_fields=["amount", "note", "updated_at"])
        record(contract, actor)
    return contract


def _write_lines(contract: Contract, account: B2BAccount, lines: list[LineInput]) -> list[ContractLine]:
    if not lines:
        raise DomainError(_("Add at least one line."), field="lines")
    skus = {s.code: s for s in SKU.objects.filter(code__in=[line.sku.strip() for line in lines])}
    made = []
    for no, line in enumerate(lines, start=1):
        sku = skus.get(line.sku.strip())
        where = f"line_{no}"
        if sku is None or not sku.is_active:
            raise DomainError(
                _("Line %(no)s: no active SKU “%(sku)s”.") % {"no": no, "sku": line.sku}, field=f"{where}_sku"
            )
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise DomainError(
                _("Line %(no)s: the quantity must be between 1 and %(max)s.")
                % {"no": no, "max": MAX_QUANTITY},
                field=f"{where}_quantity",
            )
        listed = pricing.list_price(account, sku.pk, line.quantity)
        price = line.unit_price if line.unit_price is not None else listed
        if price is None:
            raise DomainError(
                _("Line %(no)s: %(sku)s has no price-list price; give a unit price.")
                % {"no": no, "sku": sku.code},
                field=f"{where}_unit_price",
            )
        if price < 0 or price != price.quantize(CENT) or price >= Decimal("1e12"):
            raise DomainError(
                _("Line %(no)s: give a unit price of zero or more, to the cent.") % {"no": no},
                field=f"{where}_unit_price",
            )
        if line.made_to_order and line.ready_on is None:
            raise DomainError(
                _("Line %(no)s: a made-to-order line needs its production / receipt date.") % {"no": no},
                field=f"{where}_ready_on",
            )
        made.append(
            ContractLine(
                contract=contract,
                line_no=no,
                sku=sku,
                quantity=line.quantity,
                unit_price=price,
                list_price=listed,
                made_to_order=line.made_to_order,
                ready_on=line.ready_on if line.made_to_order else None,
            )
        )
    return ContractLine.objects.bulk_create(made)


def _write_deliveries(contract: Contract, lines: list[ContractLine], deliveries: list[DeliveryInput]) -> None:
    if not deliveries:
        raise DomainError(_("Plan at least one delivery."), field="deliveries")
    scheduled = [0] * len(lines)
    for seq, planned in enumerate(deliveries, start=1):
        quantities = list(planned.quantities) + [0] * (len(lines) - len(planned.quantities))
        if len(quantities) > len(lines) or any(q < 0 for q in quantities):
            raise DomainError(
                _("Delivery %(seq)s: quantities must be zero or more, one per line.") % {"seq": seq},
                field=f"delivery_{seq}",
            )
        if not any(quantities):
            raise DomainError(
                _("Delivery %(seq)s delivers nothing: give it a quantity or leave it out.") % {"seq": seq},
                field=f"delivery_{seq}",
            )
        delivery = Delivery.objects.create(contract=contract, seq=seq, due_on=planned.due_on)
        DeliveryLine.objects.bulk_create(
            DeliveryLine(delivery=delivery, contract_line=line, quantity=q)
            for line, q in zip(lines, quantities, strict=True)
            if q
        )
        scheduled = [a + b for a, b in zip(scheduled, quantities, strict=True)]
    for line, total in zip(lines, scheduled, strict=True):
        if total > line.quantity:
            raise DomainError(
                _("Line %(no)s (%(sku)s): the deliveries add up to %(total)s, over the %(qty)s contracted.")
                % {"no": line.line_no, "sku": line.sku.code, "total": total, "qty": line.quantity},
                field=f"line_{line.line_no}_quantity",
            )


def contract_submit(
    *, contract: Contract | int, actor: Actor, expected_status: str | None = None
) -> Contract:
    with transaction.atomic():
        contract = lock_contract(contract)
        require_state(contract, expected_status)
        _require_fully_scheduled(contract)
        check = credit.credit_check(contract)
        tier = credit.required_tier(contract, check)
        transition(contract, "submit", actor, args={"by": actor, "tier": tier, "credit_check": check})
        events.contract_submitted(contract, actor)
    return contract


def _require_fully_scheduled(contract: Contract) -> None:
    for line in contract.lines.select_related("sku"):
        planned = sum(d.quantity for d in line.delivery_lines.all())
        if planned != line.quantity:
            raise DomainError(
                _("Line %(no)s (%(sku)s): %(planned)s of %(qty)s units are scheduled; schedule them all.")
                % {"no": line.line_no, "sku": line.sku.code, "planned": planned, "qty": line.quantity},
                field=f"line_{line.line_no}_quantity",
            )


def contract_approve(
    *, contract: Contract | int, actor: Actor, expected_status: str | None = None, follow_up: bool = True
) -> Contract:
    """Approve (two-person rule: never the one who drafted or submitted it), with the credit
    decided again under the account lock, then reserve every delivery as a held order.
    `follow_up=False` as in the intake: no task after commit (seed_demo does that work itself)."""
    with transaction.atomic():
        contract = lock_contract(contract)
        require_state(contract, expected_status)
        if actor is not None and not actor.has_perm("b2b.approve_contract"):
            raise NotPermitted(_("You are not allowed to approve contracts."))
        if actor is not None and actor.pk in (contract.created_by_id, contract.submitted_by_id):
            raise NotPermitted(_("Someone else must approve a contract you drafted or submitted."))
        check = credit.credit_check(contract)
        tier = credit.required_tier(contract, check)
        if actor is not None and not credit.may_approve_tier(actor, tier):
            raise NotPermitted(_approver_refusal(contract, check))
        contract.required_tier = tier
        transition(contract, "approve", actor, args={"by": actor})
        events.contract_approved(contract, actor, credit=check)
        schedule.schedule_deliveries(contract, actor, follow_up=follow_up)
    return contract


def _approver_refusal(contract: Contract, check: dict) -> str:
    if check["over"]:
        return (
            _(
                "Over the credit limit: this contract %(amount)s + open %(exposure)s > limit %(limit)s "
                "%(currency)s. A senior approver must approve it."
            )
            % check
        )
    return _("Contract %(number)s (%(currency)s %(amount)s) needs a senior approver.") % {
        "number": contract.number,
        "currency": contract.currency,
        "amount": contract.amount,
    }


def contract_reject(
    *, contract: Contract | int, actor: Actor, reason: str, expected_status: str | None = None
) -> Contract:
    if not reason.strip():
        raise DomainError(_("Say why the contract is rejected."), field="reason")
    with transaction.atomic():
        contract = lock_contract(contract)
        require_state(contract, expected_status)
        transition(contract, "reject", actor)
        events.contract_rejected(contract, actor, reason=reason.strip())
    return contract


def contract_cancel(
    *, contract: Contract | int, actor: Actor, reason: str, expected_status: str | None = None
) -> Contract:
    """A quotation or a contract waiting for approval (nothing reserved yet). An approved one
    cancels the rest of its schedule instead (b2b.schedule.schedule_cancel_rest)."""
    if not reason.strip():
        raise DomainError(_("Say why the contract is cancelled."), field="reason")
    with transaction.atomic():
        contract = lock_contract(contract)
        require_state(contract, expected_status)
        transition(contract, "cancel", actor)
        for delivery in contract.deliveries.order_by("pk"):
            transition(delivery, "cancel", None)
        events.contract_cancelled(contract, actor, reason=reason.strip())
    return contract


def contract_settle(
    *, contract: Contract | int, actor: Actor, expected_status: str | None = None
) -> Contract:
    """Paid in full: the contract no longer counts against the credit line. Only once nothing
    of it waits to be released."""
    with transaction.atomic():
        contract = lock_contract(contract)
        require_state(contract, expected_status)
        waiting = contract.deliveries.filter(status__in=schedule.CHANGEABLE).count()
        if waiting:
            raise TransitionRefused(
                _("Contract %(number)s still has %(n)s deliveries to release or cancel.")
                % {"number": contract.number, "n": waiting}
            )
        transition(contract, "settle", actor)
        events.contract_settled(contract, actor)
    return contract
