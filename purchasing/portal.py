"""The supplier's side of a purchase order (the portal): confirm it as ordered, propose other
quantities or dates, announce a shipment (ASN) and cancel an announcement not yet received.

Every action takes the same steps: check the input → lock the purchase order *of the actor's own
supplier* (another supplier's order is "not found", never "forbidden": its existence is not the
actor's to know) → check the state the supplier saw → lock its lines in ascending id → act →
write the order's event. The lock order is purchasing.services' (purchase order → lines →
notice); state changes go through core.transitions.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import F, Sum, Value
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.timezones import business_date
from core.transitions import lock_one, lock_rows, require_state, transition
from purchasing import numbers
from purchasing.events import record_event
from purchasing.models import (
    OPEN_FOR_RECEIPT,
    PurchaseEventKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeLine,
)
from purchasing.portal_selectors import OPEN_NOTICE_STATES, portal_supplier, supplier_purchase_orders

# A supplier may change its answer while nothing has arrived yet.
PROPOSABLE_STATES = [PurchaseOrderState.APPROVED, PurchaseOrderState.CONFIRMED]
TEXT_LIMIT = 100  # carrier and tracking number columns
LARGEST_QUANTITY = 2_147_483_647  # the quantity columns' limit (PostgreSQL integer)
NOTE_LIMIT = 500


class NotFound(DomainError):
    """Not one of the actor's supplier's documents: the portal answers 404."""

    status_code = 404


@dataclass(frozen=True)
class LineProposal:
    """What the supplier can deliver on one line; None keeps what was ordered."""

    line_id: int
    quantity: int | None = None
    delivery_on: date | None = None


@dataclass(frozen=True)
class NoticeLineInput:
    line_id: int
    quantity: int


# --- who is acting, on which order ---------------------------------------------------------------


def _supplier_id(actor) -> int:
    supplier = portal_supplier(actor)
    if supplier is None:
        raise NotPermitted(_("This login does not belong to a supplier."))
    if not supplier.is_active:
        raise NotPermitted(_("Supplier %(code)s is no longer active.") % {"code": supplier.code})
    return supplier.pk


def _not_found() -> NotFound:
    return NotFound(_("No such purchase order."), field="purchase_order")


def _lock_own_order(actor, purchase_order_id: int) -> PurchaseOrder:
    """Lock the order only if it is the actor's supplier's and was sent to it."""
    supplier_id = _supplier_id(actor)
    try:
        return lock_one(supplier_purchase_orders(supplier_id).select_related("supplier"), purchase_order_id)
    except PurchaseOrder.DoesNotExist as exc:
        raise _not_found() from exc


def _lock_lines(purchase_order: PurchaseOrder) -> list[PurchaseOrderLine]:
    ids = purchase_order.lines.values_list("pk", flat=True)
    return lock_rows(PurchaseOrderLine.objects.select_related("sku"), ids)


def _line_label(line: PurchaseOrderLine) -> str:
    return line.sku.code


def _check_not_past(day: date | None, field: str, label: str) -> None:
    today = business_date()
    if day is not None and day < today:
        raise DomainError(
            _("%(label)s: %(day)s is in the past (today is %(today)s).")
            % {"label": label, "day": day.isoformat(), "today": today.isoformat()},
            field=field,
        )


# --- confirm -------------------------------------------------------------------------------------


@transaction.atomic
def purchase_order_confirm(
    *, purchase_order_id: int, actor, expected_state: str | None = None
) -> PurchaseOrder:
    """Confirm every line as ordered: the quantity and date the buyer asked for. A proposal the
    supplier made earlier is withdrawn by confirming."""
    po = _lock_own_order(actor, purchase_order_id)
    require_state(po, expected_state, field="state")
    lines = _lock_lines(po)
    withdrew = po.has_open_proposal
    po.has_open_proposal = False  # saved with the transition, or not at all
    transition(
        po,
        "confirm",
        actor,
        event=lambda moved: record_event(
            po,
            PurchaseEventKind.CONFIRMED,
            {
                "lines": len(lines),
                "from": moved.from_state,
                "to": moved.to_state,
                "withdrew_proposal": withdrew,
            },
            actor,
        ),
        refused=_("Purchase order %(number)s cannot be confirmed: it is %(state)s.")
        % {"number": po.number, "state": po.get_state_display()},
    )
    for line in lines:
        line.confirmed_quantity = line.quantity
        line.confirmed_on = line.expected_on or po.expected_on
        line.proposed_quantity = line.proposed_on = None
    PurchaseOrderLine.objects.bulk_update(
        lines, ["confirmed_quantity", "confirmed_on", "proposed_quantity", "proposed_on"]
    )
    return po


# --- propose -------------------------------------------------------------------------------------


def _check_proposal_input(proposals: list[LineProposal]) -> None:
    counts = Counter(p.line_id for p in proposals)
    for proposal in proposals:
        if counts[proposal.line_id] > 1:
            raise DomainError(_("A line is proposed twice."), field=f"quantity-{proposal.line_id}")
        if proposal.quantity is not None and proposal.quantity > LARGEST_QUANTITY:
            raise DomainError(_("The quantity is too large."), field=f"quantity-{proposal.line_id}")
        if proposal.quantity is not None and proposal.quantity < 0:
            raise DomainError(
                _("The quantity cannot be negative (0 means you cannot deliver the line)."),
                field=f"quantity-{proposal.line_id}",
            )
        _check_not_past(proposal.delivery_on, f"date-{proposal.line_id}", _("Delivery date"))


@transaction.atomic
def purchase_order_propose(
    *,
    purchase_order_id: int,
    actor,
    lines: list[LineProposal],
    note: str = "",
    expected_state: str | None = None,
) -> PurchaseOrder:
    """Propose other quantities and/or dates per line; the buyer accepts or rejects the proposal
    (purchasing.services). A new proposal replaces one still waiting. Only while the order is
    sent or confirmed and nothing has been received against it."""
    _check_proposal_input(lines)
    po = _lock_own_order(actor, purchase_order_id)
    require_state(po, expected_state, field="state")
    if po.state not in PROPOSABLE_STATES:
        raise TransitionRefused(
            _("Purchase order %(number)s can no longer be changed: it is %(state)s.")
            % {"number": po.number, "state": po.get_state_display()},
            field="state",
        )
    locked = _lock_lines(po)
    if any(line.received_quantity for line in locked):
        raise TransitionRefused(
            _("Goods were already received on %(number)s: it can no longer be changed.")
            % {"number": po.number}
        )
    by_id = {line.pk: line for line in locked}
    announced = _announced_open(list(by_id))
    changes = []
    for proposal in lines:
        line = by_id.get(proposal.line_id)
        if line is None:
            raise DomainError(
                _("This line is not on purchase order %(number)s.") % {"number": po.number},
                field=f"quantity-{proposal.line_id}",
            )
        current_on = line.expected_on or po.expected_on
        quantity = proposal.quantity if proposal.quantity not in (None, line.quantity) else None
        day = proposal.delivery_on if proposal.delivery_on not in (None, current_on) else None
        if quantity is None and day is None:
            continue
        if quantity is not None and quantity < announced.get(line.pk, 0):
            raise DomainError(
                _(
                    "%(sku)s: %(announced)s are announced on open shipment notices, more than the "
                    "%(quantity)s proposed. Cancel or change the notice first."
                )
                % {"sku": _line_label(line), "announced": announced[line.pk], "quantity": quantity},
                field=f"quantity-{line.pk}",
            )
        change = {"sku": _line_label(line)}
        if quantity is not None:
            change["quantity"] = [line.quantity, quantity]
        if day is not None:
            change["date"] = [current_on.isoformat() if current_on else None, day.isoformat()]
        changes.append((line, quantity, day, change))
    if not changes:
        raise DomainError(
            _("Nothing to propose: every line is as ordered. Confirm the order instead."), field="lines"
        )
    for line in locked:  # the new proposal replaces any earlier one as a whole
        line.proposed_quantity = line.proposed_on = None
    for line, quantity, day, _change in changes:
        line.proposed_quantity, line.proposed_on = quantity, day
    PurchaseOrderLine.objects.bulk_update(locked, ["proposed_quantity", "proposed_on"])
    po.has_open_proposal = True
    po.save(update_fields=["has_open_proposal", "updated_at"])
    params = {"lines": [change for *_rest, change in changes]}
    note = (note or "").strip()
    if note:
        params["reason"] = note[:NOTE_LIMIT]  # the one free text: what the supplier typed
    record_event(po, PurchaseEventKind.PROPOSED, params, actor)
    return po


# --- announce a shipment (ASN) -------------------------------------------------------------------


def _clean_text(value: str, field: str, label: str) -> str:
    value = (value or "").strip()
    if len(value) > TEXT_LIMIT:
        raise DomainError(
            _("%(label)s: at most %(n)s characters.") % {"label": label, "n": TEXT_LIMIT}, field=field
        )
    return value


def _announced_open(line_ids: list[int]) -> dict[int, int]:
    """Per line: units on open notices not yet received against them."""
    rows = (
        ShipmentNoticeLine.objects.filter(
            purchase_order_line_id__in=line_ids, notice__state__in=OPEN_NOTICE_STATES
        )
        .values("purchase_order_line_id")
        .annotate(open=Sum(Greatest(F("quantity") - F("received_quantity"), Value(0))))
    )
    return {row["purchase_order_line_id"]: row["open"] for row in rows}


@transaction.atomic
def notice_announce(
    *,
    purchase_order_id: int,
    actor,
    expected_on: date | None,
    lines: list[NoticeLineInput],
    carrier: str = "",
    tracking_number: str = "",
) -> ShipmentNotice:
    """Announce a shipment: what is on its way, when it arrives, with which carrier. A line may
    announce at most what is still open on it minus what open notices already announce.

    Two announcements at once queue on the purchase order's row lock, so the second one counts
    what the first wrote and can never announce the same units again."""
    if expected_on is None:
        raise DomainError(_("Enter the date the goods arrive."), field="expected_on")
    _check_not_past(expected_on, "expected_on", _("Arrival date"))
    carrier = _clean_text(carrier, "carrier", _("Carrier"))
    tracking_number = _clean_text(tracking_number, "tracking_number", _("Tracking number"))
    counts = Counter(item.line_id for item in lines)
    for item in lines:
        if item.quantity < 0:
            raise DomainError(_("The quantity cannot be negative."), field=f"announce-{item.line_id}")
        if counts[item.line_id] > 1:
            raise DomainError(_("A line is announced twice."), field=f"announce-{item.line_id}")
    wanted = [item for item in lines if item.quantity > 0]
    if not wanted:
        raise DomainError(_("Enter the quantity shipped on at least one line."), field="lines")

    po = _lock_own_order(actor, purchase_order_id)
    if po.state not in OPEN_FOR_RECEIPT:
        raise TransitionRefused(
            _("Purchase order %(number)s expects no more goods: it is %(state)s.")
            % {"number": po.number, "state": po.get_state_display()},
            field="state",
        )
    by_id = {line.pk: line for line in _lock_lines(po)}
    announced = _announced_open(list(by_id))
    for item in wanted:
        line = by_id.get(item.line_id)
        if line is None:
            raise DomainError(
                _("This line is not on purchase order %(number)s.") % {"number": po.number},
                field=f"announce-{item.line_id}",
            )
        already = announced.get(line.pk, 0)
        room = max(0, line.quantity - line.received_quantity - already)
        if item.quantity > room:
            raise DomainError(
                _(
                    "%(sku)s: at most %(room)s can still be announced (ordered %(ordered)s, received "
                    "%(received)s, on open notices %(announced)s); you entered %(quantity)s."
                )
                % {
                    "sku": _line_label(line),
                    "room": room,
                    "ordered": line.quantity,
                    "received": line.received_quantity,
                    "announced": already,
                    "quantity": item.quantity,
                },
                field=f"announce-{item.line_id}",
            )
    notice = ShipmentNotice.objects.create(
        number=numbers.next_number(numbers.SHIPMENT_NOTICE),
        purchase_order=po,
        expected_on=expected_on,
        carrier=carrier,
        tracking_number=tracking_number,
        announced_by=actor,
    )
    ShipmentNoticeLine.objects.bulk_create(
        ShipmentNoticeLine(notice=notice, purchase_order_line_id=item.line_id, quantity=item.quantity)
        for item in sorted(wanted, key=lambda item: item.line_id)
    )
    record_event(
        po,
        PurchaseEventKind.ANNOUNCED,
        {
            "notice": notice.number,
            "expected_on": expected_on.isoformat(),
            "units": sum(item.quantity for item in wanted),
            "lines": [
                {"sku": _line_label(by_id[item.line_id]), "quantity": item.quantity} for item in wanted
            ],
        },
        actor,
    )
    return notice


@transaction.atomic
def notice_cancel(*, notice_id: int, actor, expected_state: str | None = None) -> ShipmentNotice:
    """Withdraw an announcement nothing has been received against yet."""
    supplier_id = _supplier_id(actor)
    purchase_order_id = (
        ShipmentNotice.objects.filter(pk=notice_id, purchase_order__in=supplier_purchase_orders(supplier_id))
        .values_list("purchase_order_id", flat=True)
        .first()
    )
    if purchase_order_id is None:
        raise NotFound(_("No such shipment notice."), field="notice")
    _lock_own_order(actor, purchase_order_id)  # the order first: the lock order of every purchasing write
    notice = lock_one(ShipmentNotice.objects.all(), notice_id)
    require_state(notice, expected_state, field="state")
    if notice.receipts.exists():
        raise TransitionRefused(
            _("The warehouse has started receiving %(number)s: it can no longer be cancelled.")
            % {"number": notice.number}
        )

    transition(
        notice,
        "cancel",
        actor,
        refused=_("Shipment notice %(number)s cannot be cancelled: it is %(state)s.")
        % {"number": notice.number, "state": notice.get_state_display()},
        event=lambda moved: record_event(
            notice.purchase_order, PurchaseEventKind.NOTICE_CANCELLED, {"notice": notice.number}, actor
        ),
    )
    return notice
