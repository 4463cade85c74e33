"""Purchase orders: created by hand or from replenishment suggestions, submitted, approved
(two-person rule at or above PURCHASE_APPROVAL_THRESHOLD), rejected, cancelled, closed short,
and the buyer's answer to a supplier's proposal. Receiving lives in purchasing.receiving.

Lock order for every purchasing write: suggestion rows (ascending id) → purchase order rows
(ascending id) → goods receipt → purchase order lines (ascending id) → shipment notice → its
lines → stock balance rows (inventory.ledger). `actor=None` is the system; a user is checked.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.models import OutboxMessage, OutboxState
from core.money import quantize
from core.outbox import outbox_replay
from core.timezones import business_date
from core.transitions import Actor, Moved, lock_rows, require_perm, require_state, transition
from inventory.models import SKU, ReplenishmentSuggestion, Warehouse
from purchasing import numbers
from purchasing.events import record_event
from purchasing.models import (
    PurchaseEventKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeState,
    Supplier,
    SupplierItem,
)
from purchasing.warehouse_systems import receiving_system

# A purchase order still expecting goods (or about to): a suggestion on one is not ordered twice.
OPEN_STATES = [
    PurchaseOrderState.DRAFT,
    PurchaseOrderState.PENDING_APPROVAL,
    PurchaseOrderState.APPROVED,
    PurchaseOrderState.CONFIRMED,
    PurchaseOrderState.PARTIALLY_RECEIVED,
]


@dataclass(frozen=True)
class LineInput:
    """One line as the buyer typed it: the SKU code, the quantity wanted, and optionally a price
    (else the supplier's) and a date (else today + lead time)."""

    sku: str
    quantity: int
    unit_price: Decimal | None = None
    expected_on: date | None = None
    row: int | None = None  # its row on the form, when blank rows were left out; else its position


@dataclass(frozen=True)
class Rounded:
    requested: int
    quantity: int
    minimum: int
    pack: int

    @property
    def changed(self) -> bool:
        return self.quantity != self.requested


def round_quantity(requested: int, item: SupplierItem) -> Rounded:
    """Up to the supplier's minimum order quantity, then up to a whole number of packs."""
    minimum, pack = max(1, item.minimum_quantity), max(1, item.pack_size)
    quantity = max(requested, minimum)
    quantity = math.ceil(quantity / pack) * pack
    return Rounded(requested=requested, quantity=quantity, minimum=minimum, pack=pack)


def lead_time(item: SupplierItem) -> int:
    return item.lead_time_days if item.lead_time_days is not None else item.supplier.default_lead_time_days


def lock_purchase_order(po: PurchaseOrder | int) -> PurchaseOrder:
    pk = po.pk if isinstance(po, PurchaseOrder) else po
    found = lock_rows(PurchaseOrder.objects.select_related("supplier", "warehouse"), [pk])
    if not found:
        raise DomainError(_("No such purchase order."), field="purchase_order")
    return found[0]


def _refresh_total(po: PurchaseOrder) -> None:
    """Total and expected date from the lines (the PO row is locked by the caller)."""
    lines = list(po.lines.values_list("line_amount", "expected_on"))
    po.total_amount = quantize(sum((amount for amount, _day in lines), Decimal("0")))
    days = [day for _amount, day in lines if day]
    po.expected_on = max(days) if days else None
    PurchaseOrder.objects.filter(pk=po.pk).update(total_amount=po.total_amount, expected_on=po.expected_on)


# --- creating ----------------------------------------------------------------------------------


def _parse_quantity(value, index: int) -> int:
    try:
        quantity = int(value)
    except (TypeError, ValueError):
        quantity = 0
    if quantity < 1:
        raise DomainError(
            _("Line %(n)s: the quantity must be a whole number of at least 1.") % {"n": index}, field="lines"
        )
    return quantity


def _parse_price(value, index: int) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        price = Decimal("-1")
    if not price.is_finite() or price < 0 or price >= Decimal("1e15"):
        raise DomainError(
            _("Line %(n)s: the unit price is not a valid amount.") % {"n": index}, field="lines"
        )
    return quantize(price)


@transaction.atomic
def purchase_order_create(
    *,
    supplier: Supplier,
    warehouse: Warehouse,
    lines: list[LineInput],
    actor: Actor,
    note: str = "",
) -> PurchaseOrder:
    """A draft purchase order entered by hand. Prices default to the supplier's, quantities are
    rounded up to its minimum and pack size; a SKU it does not sell is refused, naming the line."""
    require_perm(actor, "purchasing.add_purchaseorder", _("You are not allowed to create purchase orders."))
    if not supplier.is_active:
        raise DomainError(_("Supplier %(code)s is not active.") % {"code": supplier.code}, field="supplier")
    if not warehouse.is_active:
        raise DomainError(
            _("Warehouse %(code)s is not active.") % {"code": warehouse.code}, field="warehouse"
        )
    currency, built = _build_lines(supplier, lines)
    po = _insert(supplier, warehouse, currency, built, actor, note)
    record_event(po, PurchaseEventKind.CREATED, _created_params(po, "hand", len(built)), actor)
    return po


def _build_lines(supplier: Supplier, lines: list[LineInput]) -> tuple[str, list[PurchaseOrderLine]]:
    """Validated, priced and rounded lines for one supplier; a bad line is refused by number."""
    if not lines:
        raise DomainError(_("Add at least one line."), field="lines")
    codes = [(line.sku or "").strip() for line in lines]
    skus = {sku.code: sku for sku in SKU.objects.filter(code__in=codes)}
    items = {
        item.sku_id: item
        for item in SupplierItem.objects.filter(supplier=supplier, sku__in=skus.values()).select_related(
            "supplier"
        )
    }
    today = business_date()
    currency, built, seen = None, [], {}
    for position, (line, code) in enumerate(zip(lines, codes, strict=True), start=1):
        index = line.row or position
        if not code:
            raise DomainError(_("Line %(n)s: enter a SKU code.") % {"n": index}, field="lines")
        if code in seen:
            raise DomainError(
                _("Line %(n)s: SKU %(sku)s is already on line %(first)s.")
                % {"n": index, "sku": code, "first": seen[code]},
                field="lines",
            )
        seen[code] = index
        sku = skus.get(code)
        if sku is None:
            raise DomainError(
                _("Line %(n)s: no SKU has the code %(sku)s.") % {"n": index, "sku": code}, field="lines"
            )
        item = items.get(sku.pk)
        if item is None:
            raise DomainError(
                _("Line %(n)s: supplier %(supplier)s does not sell %(sku)s.")
                % {"n": index, "supplier": supplier.code, "sku": code},
                field="lines",
            )
        if currency not in (None, item.currency):
            raise DomainError(
                _("Line %(n)s: %(sku)s is priced in %(currency)s, the order in %(order)s.")
                % {"n": index, "sku": code, "currency": item.currency, "order": currency},
                field="lines",
            )
        currency = item.currency
        rounded = round_quantity(_parse_quantity(line.quantity, index), item)
        price = _parse_price(line.unit_price, index)
        built.append(
            _line(
                item,
                rounded,
                unit_price=item.unit_price if price is None else price,
                expected_on=line.expected_on or today + timedelta(days=lead_time(item)),
            )
        )
    return currency, built


@transaction.atomic
def purchase_order_update(
    *, po: PurchaseOrder | int, lines: list[LineInput], actor: Actor, note: str | None = None
) -> PurchaseOrder:
    """Change a draft's lines (a rejected order comes back as a draft for this). The same rules as
    by hand; a line for a SKU that stays keeps its replenishment suggestion and date."""
    require_perm(
        actor, "purchasing.change_purchaseorder", _("You are not allowed to change purchase orders.")
    )
    po = lock_purchase_order(po)
    if po.state != PurchaseOrderState.DRAFT:
        raise TransitionRefused(
            _("%(number)s is %(state)s: only a draft can be changed.")
            % {"number": po.number, "state": po.get_state_display()}
        )
    before = {line.sku_id: line for line in po.lines.select_related("sku")}
    currency, built = _build_lines(po.supplier, lines)
    for line in built:
        old = before.get(line.sku_id)
        if old is not None:
            line.suggestion_id = old.suggestion_id
            if not any(given.expected_on for given in lines) and old.expected_on:
                line.expected_on = old.expected_on
        line.purchase_order = po
    changes = _line_changes(before, built)
    po.lines.all().delete()
    PurchaseOrderLine.objects.bulk_create(built)
    po.currency = currency
    if note is not None:
        po.note = note.strip()[:255]
    po.save(update_fields=["currency", "note", "updated_at"])
    _refresh_total(po)
    record_event(
        po,
        PurchaseEventKind.EDITED,
        {"lines": changes, "total": str(po.total_amount), "currency": currency},
        actor,
    )
    return po


def _line_changes(before: dict, after: list[PurchaseOrderLine]) -> list[dict]:
    """What changed, SKU by SKU, in the shape the history renders ("quantity old → new")."""
    codes = dict(
        SKU.objects.filter(pk__in={*before, *(line.sku_id for line in after)}).values_list("pk", "code")
    )
    now = {line.sku_id: line for line in after}
    changes = []
    for sku_id in sorted({*before, *now}, key=lambda pk: codes[pk]):
        old, new = before.get(sku_id), now.get(sku_id)
        quantities = [old.quantity if old else 0, new.quantity if new else 0]
        if quantities[0] != quantities[1] or (old and new and old.unit_price != new.unit_price):
            changes.append({"sku": codes[sku_id], "quantity": quantities})
    return changes


def _line(item: SupplierItem, rounded: Rounded, *, unit_price: Decimal, expected_on: date, suggestion=None):
    return PurchaseOrderLine(
        sku_id=item.sku_id,
        quantity=rounded.quantity,
        requested_quantity=rounded.requested,
        unit_price=unit_price,
        line_amount=quantize(unit_price * rounded.quantity),
        expected_on=expected_on,
        suggestion=suggestion,
    )


def _insert(supplier, warehouse, currency, lines, actor, note="") -> PurchaseOrder:
    po = PurchaseOrder.objects.create(
        number=numbers.next_number(numbers.PURCHASE_ORDER),
        supplier=supplier,
        warehouse=warehouse,
        currency=currency or supplier.currency,
        created_by=actor,
        note=note[:255],
    )
    for line in lines:
        line.purchase_order = po
    PurchaseOrderLine.objects.bulk_create(lines)
    _refresh_total(po)
    return po


def _created_params(po: PurchaseOrder, source: str, count: int) -> dict:
    return {"source": source, "lines": count, "total": str(po.total_amount), "currency": po.currency}


@dataclass
class FromSuggestions:
    """What one click on the replenishment page did."""

    created: list[PurchaseOrder]
    no_supplier: list[str]  # SKU codes nobody sells us
    already_ordered: dict[str, str]  # SKU code → the open purchase order it is on


def supplier_for(sku_id: int) -> SupplierItem | None:
    """The preferred supplier item of a SKU, else the cheapest (then shortest lead time)."""
    return (
        SupplierItem.objects.filter(sku_id=sku_id, supplier__is_active=True)
        .select_related("supplier")
        .order_by("-is_preferred", "unit_price", F("lead_time_days").asc(nulls_last=True), "supplier__code")
        .first()
    )


@transaction.atomic
def purchase_orders_from_suggestions(
    *, suggestion_ids: list[int], warehouse: Warehouse, actor: Actor
) -> FromSuggestions:
    """One draft purchase order per supplier (and currency) for the chosen suggestions, each line
    linked to its suggestion. The suggestion rows are locked first, in ascending id: two buyers
    clicking at once queue there, and the second finds the lines the first wrote and skips them."""
    require_perm(actor, "purchasing.add_purchaseorder", _("You are not allowed to create purchase orders."))
    if not suggestion_ids:
        raise DomainError(_("Choose at least one suggestion."), field="suggestions")
    if not warehouse.is_active:
        raise DomainError(
            _("Warehouse %(code)s is not active.") % {"code": warehouse.code}, field="warehouse"
        )
    suggestions = lock_rows(ReplenishmentSuggestion.objects.select_related("sku"), suggestion_ids)
    if not suggestions:
        raise DomainError(_("These suggestions no longer exist: reload the page."), field="suggestions")
    on_order = dict(
        PurchaseOrderLine.objects.filter(purchase_order__state__in=OPEN_STATES)
        .filter(Q(suggestion__in=suggestions) | Q(sku__in=[s.sku_id for s in suggestions]))
        .order_by("purchase_order__created_at")
        .values_list("sku_id", "purchase_order__number")
    )
    result = FromSuggestions(created=[], no_supplier=[], already_ordered={})
    groups: dict[tuple[int, str], list] = defaultdict(list)
    today = business_date()
    for suggestion in suggestions:
        if suggestion.sku_id in on_order:
            result.already_ordered[suggestion.sku.code] = on_order[suggestion.sku_id]
            continue
        item = supplier_for(suggestion.sku_id)
        if item is None:
            result.no_supplier.append(suggestion.sku.code)
            continue
        rounded = round_quantity(suggestion.suggested_quantity, item)
        line = _line(
            item,
            rounded,
            unit_price=item.unit_price,
            expected_on=today + timedelta(days=lead_time(item)),
            suggestion=suggestion,
        )
        groups[(item.supplier_id, item.currency)].append((item.supplier, line))
    for (_supplier_id, currency), entries in sorted(groups.items(), key=lambda kv: kv[1][0][0].code):
        supplier = entries[0][0]
        po = _insert(supplier, warehouse, currency, [line for _s, line in entries], actor)
        record_event(po, PurchaseEventKind.CREATED, _created_params(po, "suggestions", len(entries)), actor)
        result.created.append(po)
    return result


# --- approval ----------------------------------------------------------------------------------


def needs_second_approver(po: PurchaseOrder) -> bool:
    """At or above the threshold (in the business currency) someone other than the creator must
    approve. A PO in another currency cannot be converted in this layer: it always needs one."""
    if po.currency != settings.BUSINESS_CURRENCY:
        return True
    return po.total_amount >= settings.PURCHASE_APPROVAL_THRESHOLD


def _event(po: PurchaseOrder, kind: str, actor: Actor, params: dict | None = None):
    def write(moved: Moved):
        return record_event(
            po, kind, {**(params or {}), "from": moved.from_state, "to": moved.to_state}, actor
        )

    return write


@transaction.atomic
def purchase_order_submit(*, po: PurchaseOrder | int, actor: Actor, expected_state: str | None = None):
    """Send a draft for approval. Below the threshold a submitter who may approve approves it at
    once (one click for small, routine orders); otherwise it waits for an approver."""
    po = lock_purchase_order(po)
    require_state(po, expected_state, field="state")
    if not po.lines.exists():
        raise DomainError(_("Purchase order %(number)s has no lines.") % {"number": po.number}, field="lines")
    second = needs_second_approver(po)
    transition(
        po,
        "submit",
        actor,
        event=_event(
            po,
            PurchaseEventKind.SUBMITTED,
            actor,
            {"total": str(po.total_amount), "currency": po.currency, "needs_second_approver": second},
        ),
    )
    may_approve = actor is not None and actor.has_perm("purchasing.approve_purchaseorder")
    if not second and may_approve:
        transition(
            po,
            "approve",
            actor,
            args={"by": actor},
            event=_event(po, PurchaseEventKind.APPROVED, actor, {"self_approved": True}),
        )
        _announce_to_warehouse(po)
    return po


def _submitter_id(po: PurchaseOrder) -> int | None:
    return (
        po.events.filter(kind=PurchaseEventKind.SUBMITTED)
        .order_by("-created_at", "-id")
        .values_list("actor_id", flat=True)
        .first()
    )


@transaction.atomic
def purchase_order_approve(*, po: PurchaseOrder | int, actor: Actor, expected_state: str | None = None):
    """Approve and send to the supplier. At or above the threshold the approver must be another
    person than the one who created (or submitted) it: the two-person rule."""
    po = lock_purchase_order(po)
    require_state(po, expected_state, field="state")
    if actor is not None and needs_second_approver(po) and actor.pk in {po.created_by_id, _submitter_id(po)}:
        raise NotPermitted(
            _(
                "Purchase order %(number)s totals %(total)s %(currency)s: someone other than its "
                "creator must approve it."
            )
            % {"number": po.number, "total": po.total_amount, "currency": po.currency}
        )
    transition(po, "approve", actor, args={"by": actor}, event=_event(po, PurchaseEventKind.APPROVED, actor))
    _announce_to_warehouse(po)
    return po


def _announce_to_warehouse(po: PurchaseOrder) -> None:
    """A cloud warehouse is told what is coming once the order is approved (purchasing.warehouse_systems)."""
    system = receiving_system(po.warehouse)
    if system is None:
        return
    po.wms_outbox_key = system.announce(po)[:200]
    PurchaseOrder.objects.filter(pk=po.pk).update(wms_outbox_key=po.wms_outbox_key)


@transaction.atomic
def purchase_order_reject(
    *, po: PurchaseOrder | int, actor: Actor, reason: str, expected_state: str | None = None
):
    """Back to draft for the buyer to change, with the approver's reason."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why the purchase order is rejected."), field="reason")
    po = lock_purchase_order(po)
    require_state(po, expected_state, field="state")
    transition(
        po, "reject", actor, event=_event(po, PurchaseEventKind.REJECTED, actor, {"reason": reason[:500]})
    )
    return po


@transaction.atomic
def purchase_order_cancel(
    *, po: PurchaseOrder | int, actor: Actor, reason: str = "", expected_state: str | None = None
):
    """Cancel an order nothing has been received against yet (open shipment notices go with it)."""
    po = lock_purchase_order(po)
    require_state(po, expected_state, field="state")
    if po.lines.filter(received_quantity__gt=0).exists():
        raise DomainError(
            _("Goods were already received on %(number)s: close it short instead.") % {"number": po.number}
        )
    params = {"reason": reason.strip()[:500]} if reason and reason.strip() else {}
    transition(po, "cancel", actor, event=_event(po, PurchaseEventKind.CANCELLED, actor, params))
    system = receiving_system(po.warehouse)
    if system is not None and po.wms_outbox_key:
        system.withdraw(po)
    notice_ids = po.notices.values_list("pk", flat=True)
    for notice in lock_rows(ShipmentNotice.objects.filter(purchase_order=po), notice_ids):
        if notice.state == ShipmentNoticeState.ANNOUNCED:
            transition(notice, "cancel", None)
    return po


@transaction.atomic
def purchase_order_close_short(
    *, po: PurchaseOrder | int, actor: Actor, reason: str = "", expected_state: str | None = None
):
    """Nothing more will come: what is still open is no longer expected."""
    po = lock_purchase_order(po)
    require_state(po, expected_state, field="state")
    short = [
        {"sku": code, "quantity": quantity - received}
        for code, quantity, received in po.lines.filter(received_quantity__lt=F("quantity"))
        .order_by("pk")
        .values_list("sku__code", "quantity", "received_quantity")
    ]
    params = {"short": short, **({"reason": reason.strip()[:500]} if reason and reason.strip() else {})}
    transition(po, "close_short", actor, event=_event(po, PurchaseEventKind.CLOSED, actor, params))
    return po


# --- the supplier's proposal -------------------------------------------------------------------


def _proposal_lines(lines: list[PurchaseOrderLine]) -> list[dict]:
    return [
        {
            "sku": line.sku.code,
            **(
                {"quantity": [line.quantity, line.proposed_quantity]}
                if line.proposed_quantity is not None
                else {}
            ),
            **(
                {
                    "date": [
                        line.expected_on.isoformat() if line.expected_on else None,
                        line.proposed_on.isoformat(),
                    ]
                }
                if line.proposed_on
                else {}
            ),
        }
        for line in lines
    ]


def _proposed_lines(po: PurchaseOrder) -> list[PurchaseOrderLine]:
    if not po.has_open_proposal:
        raise DomainError(_("%(number)s has no proposal waiting.") % {"number": po.number})
    ids = po.lines.filter(Q(proposed_quantity__isnull=False) | Q(proposed_on__isnull=False)).values_list(
        "pk", flat=True
    )
    return lock_rows(PurchaseOrderLine.objects.select_related("sku"), ids)


@transaction.atomic
def proposal_accept(*, po: PurchaseOrder | int, actor: Actor) -> PurchaseOrder:
    """The supplier's proposed quantities and dates become the order's confirmed ones."""
    require_perm(
        actor, "purchasing.change_purchaseorder", _("You are not allowed to change purchase orders.")
    )
    po = lock_purchase_order(po)
    lines = _proposed_lines(po)
    for line in lines:
        if line.proposed_quantity is not None and line.proposed_quantity < line.received_quantity:
            raise DomainError(
                _("%(sku)s: %(received)s were already received, more than the %(proposed)s proposed.")
                % {
                    "sku": line.sku.code,
                    "received": line.received_quantity,
                    "proposed": line.proposed_quantity,
                }
            )
    params = {"lines": _proposal_lines(lines)}
    for line in lines:
        if line.proposed_quantity is not None:
            line.quantity = line.confirmed_quantity = line.proposed_quantity
            line.line_amount = quantize(line.unit_price * line.quantity)
        elif line.confirmed_quantity is None:
            line.confirmed_quantity = line.quantity
        if line.proposed_on:
            line.expected_on = line.confirmed_on = line.proposed_on
        line.proposed_quantity = line.proposed_on = None
        line.save(
            update_fields=[
                "quantity",
                "confirmed_quantity",
                "line_amount",
                "expected_on",
                "confirmed_on",
                "proposed_quantity",
                "proposed_on",
            ]
        )
    # Lines the proposal left alone are confirmed as ordered.
    po.lines.filter(confirmed_quantity__isnull=True).update(confirmed_quantity=F("quantity"))
    po.has_open_proposal = False
    po.save(update_fields=["has_open_proposal", "updated_at"])
    _refresh_total(po)
    record_event(po, PurchaseEventKind.PROPOSAL_ACCEPTED, params, actor)
    if po.state == PurchaseOrderState.APPROVED:
        transition(po, "confirm", None, event=_event(po, PurchaseEventKind.CONFIRMED, actor))
    return po


@transaction.atomic
def proposal_reject(*, po: PurchaseOrder | int, actor: Actor, reason: str = "") -> PurchaseOrder:
    """The order stays as it was; the supplier is asked to confirm it or propose again."""
    require_perm(
        actor, "purchasing.change_purchaseorder", _("You are not allowed to change purchase orders.")
    )
    po = lock_purchase_order(po)
    lines = _proposed_lines(po)
    params = {"lines": _proposal_lines(lines)}
    if reason and reason.strip():
        params["reason"] = reason.strip()[:500]
    PurchaseOrderLine.objects.filter(pk__in=[line.pk for line in lines]).update(
        proposed_quantity=None, proposed_on=None
    )
    po.has_open_proposal = False
    po.save(update_fields=["has_open_proposal", "updated_at"])
    record_event(po, PurchaseEventKind.PROPOSAL_REJECTED, params, actor)
    return po


# --- the cloud warehouse's side (purchasing.warehouse_systems) ---------------------------------


def purchase_order_record_wms_ref(*, po_id: int, reference: str, warehouse_code: str) -> None:
    """The cloud warehouse accepted the order under its own reference: kept once, with an event."""
    with transaction.atomic():
        po = lock_purchase_order(po_id)
        if not reference or po.wms_ref:
            return
        po.wms_ref = reference[:64]
        PurchaseOrder.objects.filter(pk=po.pk).update(wms_ref=po.wms_ref)
        record_event(
            po, PurchaseEventKind.WMS_ACCEPTED, {"warehouse": warehouse_code, "reference": po.wms_ref}, None
        )


@transaction.atomic
def purchase_order_wms_retry(*, po: PurchaseOrder | int, actor: Actor) -> PurchaseOrder:
    """Send the announcement the cloud warehouse refused (or never answered) again."""
    require_perm(
        actor, "purchasing.change_purchaseorder", _("You are not allowed to change purchase orders.")
    )
    po = lock_purchase_order(po)
    message = (
        OutboxMessage.objects.filter(idempotency_key=po.wms_outbox_key).first() if po.wms_outbox_key else None
    )
    if message is None or message.state != OutboxState.DEAD:
        raise DomainError(
            _("%(number)s has no failed message to the cloud warehouse to send again.")
            % {"number": po.number},
            field="state",
        )
    outbox_replay(message.pk, actor=actor)
    return po
