"""The delivery schedule of an approved contract.

At approval every planned delivery becomes an order on the account's channel through the order
intake (the one way in): paid on account, reserved at once, and held with the source's own hold
(canonical `platform_hold`) so nobody routes or releases it by hand before it is due. Made-to-order
lines enter as pre-sale lines: they are not reserved at approval, and once the delivery is
released they wait for stock and ship in their own parcel when it arrives (fulfilment's pre-sale
routing and its beat job).

A delivery is released (`schedule_release_due`, beat) when its date has come and every
made-to-order line in it is ready: the hold is lifted, what it lacks is reserved, and the order
is routed into shipments the normal way. Plan changes touch only deliveries not yet released —
move a date, re-split a line's units between them (never above the contract), cancel the rest —
with the order edits and cancellations adjusting reservations in the same transaction. A
released delivery refuses every change."""

from datetime import date

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from b2b import events
from b2b.locks import lock_contract, lock_deliveries
from b2b.models import (
    CHANGEABLE,
    Contract,
    ContractLine,
    ContractStatus,
    Delivery,
    DeliveryLine,
    DeliveryStatus,
)
from core.errors import DomainError, TransitionRefused
from core.timezones import business_date
from core.transitions import Actor, lock_rows, require_perm, transition
from orders import edits, intake, services
from orders.canonical import CanonicalOrderInput
from orders.models import Order, OrderStatus

DS = DeliveryStatus


# --- approval: every delivery becomes a reserved, held order --------------------------------------


def hold_text(delivery: Delivery) -> str:
    return _("Scheduled B2B delivery %(ref)s: released on its due date (see the contract).") % {
        "ref": delivery.reference
    }


def delivery_payload(delivery: Delivery, lines: list[DeliveryLine]) -> dict:
    """The delivery as a canonical order (JSON values, validated like every source's)."""
    contract, account = delivery.contract, delivery.contract.account
    now = timezone.now().isoformat()
    return {
        "channel": account.channel.code,
        "external_id": delivery.reference,
        "placed_at": now,
        "updated_at": now,
        "currency": contract.currency,
        "customer": {"name": account.name, "phone": account.contact_phone, "email": account.contact_email},
        "shipping_address": {
            "name": account.contact_name or account.name,
            "phone": account.contact_phone,
            "country": account.ship_country,
            "province": account.ship_province,
            "city": account.ship_city,
            "district": account.ship_district,
            "line1": account.ship_line1,
            "postcode": account.ship_postcode,
        },
        "lines": [
            {
                "sku": line.contract_line.sku.code,
                "quantity": line.quantity,
                "unit_price": str(line.contract_line.unit_price),
                "presale": line.contract_line.made_to_order,
                "title": f"{contract.number} #{line.contract_line.line_no}",
            }
            for line in lines
        ],
        "paid": True,  # on account: the credit terms, not a payment, let it ship
        "paid_at": now,
        "platform_hold": hold_text(delivery),
        "tags": ["b2b"],
        "note": contract.number,
    }


def schedule_deliveries(contract: Contract, actor: Actor, *, follow_up: bool = True) -> list[Delivery]:
    """Inside the approval's transaction, the contract locked: one order per planned delivery."""
    deliveries = lock_deliveries(contract)
    planned = [d for d in deliveries if d.status == DS.PLANNED]
    lines = {
        d.pk: list(d.lines.select_related("contract_line__sku").order_by("contract_line__line_no"))
        for d in planned
    }
    items = []
    for delivery in planned:
        delivery.contract = contract
        serializer = CanonicalOrderInput(data=delivery_payload(delivery, lines[delivery.pk]))
        if not serializer.is_valid():
            raise DomainError(
                _("Delivery %(ref)s cannot become an order: %(errors)s")
                % {"ref": delivery.reference, "errors": serializer.errors},
                field="deliveries",
            )
        items.append(serializer.validated_data)
    results = intake.order_ingest_batch(items=items, actor=None, follow_up=follow_up)
    for delivery, (order, created) in zip(planned, results, strict=True):
        if not created:  # the external id is the delivery's reference: it must be new
            raise TransitionRefused(
                _("Order %(number)s exists already for delivery %(ref)s.")
                % {"number": order.number, "ref": delivery.reference}
            )
        goods = {line.line_no: line for line in order.lines.all()}
        for no, delivery_line in enumerate(lines[delivery.pk], start=1):
            delivery_line.order_line = goods[no]
        DeliveryLine.objects.bulk_update(lines[delivery.pk], ["order_line"])
        transition(delivery, "schedule", None, args={"order": order})
        events.delivery_scheduled(delivery, actor)
    return planned


# --- release when due ---------------------------------------------------------------------------


def due_deliveries(today: date) -> list[int]:
    """Scheduled deliveries whose date has come and whose made-to-order lines are ready."""
    waiting = DeliveryLine.objects.filter(
        delivery=OuterRef("pk"), contract_line__made_to_order=True, contract_line__ready_on__gt=today
    )
    return list(
        Delivery.objects.filter(status=DS.SCHEDULED, due_on__lte=today)
        .exclude(Exists(waiting))
        .order_by("due_on", "pk")
        .values_list("pk", flat=True)
    )


def waiting_for_production(delivery: Delivery, today: date) -> list[ContractLine]:
    return [
        line.contract_line
        for line in delivery.lines.select_related("contract_line__sku")
        if line.contract_line.made_to_order and line.contract_line.ready_on > today
    ]


def schedule_release_due(*, today: date | None = None) -> int:
    """Release every delivery that is due (beat): each in its own transaction, so one that fails
    or waits on a plan change does not hold up the others. Safe to run twice at once."""
    today = today or business_date()
    released = 0
    for delivery_id in due_deliveries(today):
        released += delivery_release(delivery=delivery_id, actor=None, today=today)
    return released


def delivery_release(*, delivery: Delivery | int, actor: Actor, today: date | None = None) -> bool:
    """Release one delivery. The system releases only what is due and ready (it checks again
    under the lock: a plan change may have moved it meanwhile); a person with the schedule
    permission may release it early. Returns whether it was released."""
    today = today or business_date()
    require_perm(actor, "b2b.change_schedule")
    pk = delivery.pk if isinstance(delivery, Delivery) else delivery
    with transaction.atomic():
        contract = lock_contract(Delivery.objects.values_list("contract_id", flat=True).get(pk=pk))
        delivery = next(d for d in lock_deliveries(contract) if d.pk == pk)
        delivery.contract = contract
        if actor is None and (delivery.status != DS.SCHEDULED or delivery.due_on > today):
            return False
        if actor is None and waiting_for_production(delivery, today):
            return False
        _require_changeable(delivery, scheduled=True)
        if delivery.order.status == OrderStatus.CANCELLED:  # cancelled on the order page meanwhile
            transition(delivery, "cancel", None)
            return False
        order = services.order_lift_platform_hold(order=delivery.order_id)
        transition(delivery, "release", None)
        events.delivery_released(delivery, actor)
        delivery.order = order
    return True


# --- plan changes: only deliveries not yet released ---------------------------------------------


def _require_changeable(delivery: Delivery, *, scheduled: bool = False) -> None:
    if delivery.status not in (CHANGEABLE if not scheduled else [DS.SCHEDULED]):
        raise TransitionRefused(
            _("Delivery %(ref)s is %(status)s: it can no longer be changed.")
            % {"ref": delivery.reference, "status": delivery.get_status_display()}
        )


def _approved(contract: Contract) -> None:
    if contract.status != ContractStatus.APPROVED:
        raise TransitionRefused(
            _("Contract %(number)s is %(status)s: its schedule changes only once approved (edit the draft).")
            % {"number": contract.number, "status": contract.get_status_display()}
        )


def _needs_reason(reason: str) -> str:
    if not reason.strip():
        raise DomainError(_("Say why the schedule changes."), field="reason")
    return reason.strip()


def schedule_move(*, delivery: Delivery | int, due_on: date, actor: Actor, reason: str) -> Delivery:
    reason = _needs_reason(reason)
    require_perm(actor, "b2b.change_schedule")
    pk = delivery.pk if isinstance(delivery, Delivery) else delivery
    with transaction.atomic():
        contract = lock_contract(Delivery.objects.values_list("contract_id", flat=True).get(pk=pk))
        _approved(contract)
        delivery = next(d for d in lock_deliveries(contract) if d.pk == pk)
        delivery.contract = contract
        _require_changeable(delivery)
        if due_on == delivery.due_on:
            raise DomainError(_("The delivery is due on that date already."), field="due_on")
        was, delivery.due_on = delivery.due_on, due_on
        delivery.save(update_fields=["due_on"])
        events.delivery_moved(delivery, actor, was=was, reason=reason)
        if delivery.order_id:
            services.order_add_note(
                order=delivery.order_id,
                text=_("Delivery %(ref)s moved from %(old)s to %(new)s: %(reason)s")
                % {"ref": delivery.reference, "old": was, "new": due_on, "reason": reason},
            )
    return delivery


def schedule_resplit(
    *, contract: Contract | int, line_no: int, quantities: dict[int, int], actor: Actor, reason: str
) -> Contract:
    """New quantities of one contract line in some unreleased deliveries ({delivery id: units}).
    Released deliveries keep theirs; the line's total stays within what was contracted (less
    is allowed: the rest is simply not delivered). A delivery's order has its line edited (stock
    released or reserved, all or nothing: short of stock, nothing changes) or, at zero, that line
    cancelled; a delivery left with nothing is cancelled."""
    reason = _needs_reason(reason)
    require_perm(actor, "b2b.change_schedule")
    with transaction.atomic():
        contract = lock_contract(contract)
        _approved(contract)
        line = contract.lines.select_related("sku").filter(line_no=line_no).first()
        if line is None:
            raise DomainError(_("The contract has no line %(no)s.") % {"no": line_no}, field="line")
        deliveries = {d.pk: d for d in lock_deliveries(contract)}
        current = {dl.delivery_id: dl for dl in line.delivery_lines.select_related("order_line")}
        changes = _planned_changes(contract, line, deliveries, current, quantities)
        if not changes:
            raise DomainError(_("Nothing to change: the quantities are as they were."), field="quantities")
        lock_rows(Order.objects.all(), [d.order_id for d, _old, _new in changes if d.order_id])
        for delivery, old, new in sorted(changes, key=lambda c: c[0].order_id or 0):
            _apply_quantity(delivery, current.get(delivery.pk), line, old, new, reason)
        events.deliveries_resplit(
            contract,
            actor,
            sku=line.sku.code,
            changes=[{"delivery": d.reference, "old": old, "new": new} for d, old, new in changes],
            reason=reason,
        )
    return contract


def _planned_changes(contract, line, deliveries, current, quantities) -> list[tuple[Delivery, int, int]]:
    changes = []
    for delivery_id, new in sorted(quantities.items()):
        delivery = deliveries.get(delivery_id)
        if delivery is None:
            raise DomainError(_("Not a delivery of this contract."), field=f"delivery_{delivery_id}")
        delivery.contract = contract
        if new is None or new < 0:
            raise DomainError(
                _("%(ref)s: give zero or more units.") % {"ref": delivery.reference},
                field=f"delivery_{delivery_id}",
            )
        old = current[delivery_id].quantity if delivery_id in current else 0
        if new == old:
            continue
        if delivery.status != DS.SCHEDULED:
            raise TransitionRefused(
                _("Delivery %(ref)s is %(status)s: it can no longer be changed.")
                % {"ref": delivery.reference, "status": delivery.get_status_display()}
            )
        if old == 0:
            raise DomainError(
                _("%(ref)s has no %(sku)s line to grow: move units only between deliveries that carry it.")
                % {"ref": delivery.reference, "sku": line.sku.code},
                field=f"delivery_{delivery_id}",
            )
        changes.append((delivery, old, new))
    total = sum(
        quantities.get(d_id, dl.quantity) if deliveries[d_id].status == DS.SCHEDULED else dl.quantity
        for d_id, dl in current.items()
        if deliveries[d_id].status != DS.CANCELLED
    )
    if total > line.quantity:
        raise DomainError(
            _("%(sku)s: the deliveries would add up to %(total)s, more than the %(qty)s contracted.")
            % {"sku": line.sku.code, "total": total, "qty": line.quantity},
            field="quantities",
        )
    return changes


def _apply_quantity(
    delivery: Delivery, dl: DeliveryLine, line: ContractLine, old: int, new: int, reason: str
):
    order_line = dl.order_line
    try:
        if new == 0:
            services.order_cancel_lines(
                order=delivery.order_id, quantities={order_line.pk: order_line.live_quantity}, reason=reason
            )
            dl.delete()
        else:
            edits.order_edit_lines(
                order=delivery.order_id,
                changes=[
                    edits.LineChange(line_id=order_line.pk, quantity=order_line.cancelled_quantity + new)
                ],
                reason=reason,
            )
            dl.quantity = new
            dl.save(update_fields=["quantity"])
    except DomainError as exc:
        raise DomainError(f"{delivery.reference}: {exc.message}", field=f"delivery_{delivery.pk}") from exc
    if not delivery.lines.exists():
        transition(delivery, "cancel", None)


def schedule_cancel_rest(*, contract: Contract | int, actor: Actor, reason: str) -> list[Delivery]:
    """Cancel every delivery not yet released: their orders are cancelled and their stock freed,
    in this transaction; released ones go on."""
    reason = _needs_reason(reason)
    require_perm(actor, "b2b.change_schedule")
    with transaction.atomic():
        contract = lock_contract(contract)
        _approved(contract)
        rest = [d for d in lock_deliveries(contract) if d.status in CHANGEABLE]
        if not rest:
            raise TransitionRefused(
                _("Contract %(number)s has no delivery left to cancel: every one is released or cancelled.")
                % {"number": contract.number}
            )
        lock_rows(Order.objects.all(), [d.order_id for d in rest if d.order_id])
        for delivery in rest:
            delivery.contract = contract
            if delivery.order_id and delivery.order.status != OrderStatus.CANCELLED:
                services.order_transition(order=delivery.order_id, name="cancel", reason=reason)
            transition(delivery, "cancel", None)
        events.rest_cancelled(contract, actor, deliveries=[d.reference for d in rest], reason=reason)
    return rest
