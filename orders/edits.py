"""Editing an order's lines during review (issue #14, part 6): swap a line's SKU, change its
quantity or unit price, add or remove a gift line.

When: while the order is under review and not yet routed — pending payment, paid, or held from
one of those (orders.models EDITABLE less "allocated": once a warehouse has the order, its lines
are the warehouse's). An order held after routing (held from "allocated") is not edited either.

How: one transaction, the order row locked first, like every order service: permission
(`orders.edit_order_lines`; a new unit price also needs `orders.change_order_price` and a reason)
→ the state the user saw → what each line looked like to the user (a stale form is refused, not
applied over someone else's edit) → validate everything → write the lines and the order's
amounts → release what swapped, shortened or removed lines held → reserve what changed lines now
lack → one EDITED event with old and new values. Stock is all or nothing: when the new SKU or
the extra units are short, the whole edit is refused and nothing is written ("the order stays as
it was"); it never waits half-applied.

Money (orders.amounts.edited_line): a line keeps its amounts per unit; a new unit price changes
its goods; tax keeps the line's rate. The order's amounts move by the lines' differences. What
the platform says was paid (`Order.paid_amount`) stays as stated: after an edit the order page
shows the difference ("refund X" / "collect X"), the event records it, and the order's status is
not changed by the edit — a held order stays held until someone releases it, whose hold reason
stays as the record of why it was held.

Bundles (orders.bundles): a bundle line is edited as a whole, never its component lines. A new
quantity or price of a bundle line carries its components along (units per bundle kept, the
bundle's new paid amount split over them in the proportion they had). Swapping a line to a bundle
SKU expands it into component lines (orders.bundles.component_lines); swapping a bundle line to
another SKU retires its old component lines (every unit cancelled, detached from the line, their
stock released) before the new SKU is expanded or reserved. A gift is one item: never a bundle.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _

from core.errors import DomainError, TransitionRefused
from core.money import CENT, ZERO
from core.transitions import require_perm, require_state
from inventory import bundles as inventory_bundles
from inventory import reservations
from inventory.models import HOLDING, SKU, Reservation
from orders import amounts, bundles, stock
from orders.models import EDITABLE, LineKind, Order, OrderEventKind, OrderLine, OrderStatus
from orders.services import hold_for_stock
from orders.transitions import lock_order, record_order_event

MAX_QUANTITY = 100_000
ORDER_AMOUNT_FIELDS = (
    "goods_amount",
    "adjustment_amount",
    "line_discount_amount",
    "discount",
    "platform_discount_amount",
    "tax_amount",
    "total",
)


@dataclass(frozen=True)
class LineChange:
    """What to change on one line; None leaves a value as it is. `seen` holds the values the user
    saw ("quantity", "sku", "unit_price"): the line must still have them."""

    line_id: int
    quantity: int | None = None
    sku: str | None = None
    unit_price: Decimal | None = None
    remove: bool = False  # gift lines only
    seen: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GiftAdd:
    sku: str
    quantity: int = 1


@dataclass
class EditOutcome:
    order: Order
    described: list[str]  # one readable sentence per change, in the user's language
    total_before: Decimal
    released: int = 0
    deferred: int = 0
    reserved: int = 0

    @property
    def paid_difference(self) -> Decimal | None:
        return amounts.paid_difference(self.order)


@dataclass
class _Planned:
    line: OrderLine
    old: dict
    new: dict = field(default_factory=dict)  # money fields after the edit (quantity/price edits)
    sku: SKU | None = None  # the SKU swapped in
    old_sku: str = ""
    remove: bool = False
    # A bundle line's component lines: (line, units before) carried along by a new quantity or
    # price; retired by a swap; made for a new bundle SKU.
    components: list[tuple[OrderLine, int]] = field(default_factory=list)
    retired: list[OrderLine] = field(default_factory=list)
    expanded: list[OrderLine] = field(default_factory=list)

    @property
    def price_changed(self) -> bool:
        return "unit_price" in self.new and self.new["unit_price"] != self.old["unit_price"]


def _line_name(line: OrderLine) -> str:
    if line.sku_id:
        return _("line %(no)s (%(sku)s)") % {"no": line.line_no, "sku": line.sku.code}
    return _("line %(no)s (not mapped: platform id %(id)s)") % {
        "no": line.line_no,
        "id": line.platform_sku_id or line.platform_item_id or line.seller_code,
    }


def _line_title(line: OrderLine) -> str:
    name = _line_name(line)
    return name[:1].upper() + name[1:]


def _refuse(line: OrderLine, message: str, field_name: str) -> DomainError:
    return DomainError(
        _("%(line)s: %(message)s") % {"line": _line_title(line), "message": message},
        field=f"line_{line.pk}_{field_name}",
    )


def edit_refusal(order: Order) -> str | None:
    """Why the order's lines cannot be edited now, or None when they can (the desk uses it to show
    or hide the form; the service refuses with it)."""
    routed = order.status == OrderStatus.ALLOCATED or (
        order.status == OrderStatus.ON_HOLD and order.held_from == OrderStatus.ALLOCATED
    )
    if routed:
        return _(
            "Order %(number)s was routed to a warehouse: its lines can only be edited during review, "
            "before routing."
        ) % {"number": order.number}
    if order.status not in EDITABLE:
        return _("Order %(number)s is %(status)s: its lines can no longer be edited.") % {
            "number": order.number,
            "status": order.get_status_display(),
        }
    if Reservation.objects.filter(order=order, state__in=HOLDING, shipment__isnull=False).exists():
        return _(
            "Order %(number)s has stock on its way to a shipment: its lines can no longer be edited."
        ) % {"number": order.number}
    return None


def order_edit_lines(
    *,
    order: Order | int,
    changes: list[LineChange] = (),
    gifts: list[GiftAdd] = (),
    actor=None,
    reason: str = "",
    expected_status: str | None = None,
) -> EditOutcome:
    """Apply the changes and gift additions to the order's lines, all or nothing (see the module)."""
    reason = (reason or "").strip()
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.edit_order_lines", _("You are not allowed to edit order lines."))
        require_state(order, expected_status)
        refusal = edit_refusal(order)
        if refusal:
            raise TransitionRefused(refusal)
        lines = {line.pk: line for line in order.lines.select_related("sku")}
        planned = _plan(lines, changes, tax_included=order.tax_included)
        gift_skus = _gift_skus(gifts)
        if not planned and not gift_skus:
            raise DomainError(_("Nothing to change: the lines are as they were."), field="lines")
        if any(p.price_changed for p in planned):
            require_perm(
                actor, "orders.change_order_price", _("You are not allowed to change order line prices.")
            )
            if not reason:
                raise DomainError(_("Say why the price changes."), field="reason")
        total_before = order.total
        described = _write_lines(order, planned)
        added = _add_gifts(order, gifts, gift_skus)
        described += [
            _("gift %(sku)s ×%(qty)s added as line %(no)s")
            % {"sku": line.sku.code, "qty": line.quantity, "no": line.line_no}
            for line in added
        ]
        amount_changes = _move_order_amounts(order, planned)
        released = _release(order, planned, reason, actor)
        reserved, near_expiry = _reserve(order, _stock_fields(planned, added))
        record_order_event(
            order,
            OrderEventKind.EDITED,
            actor,
            reason=reason,
            payload={
                "edits": [_edit_payload(p) for p in planned if not p.remove],
                "gifts_added": [
                    {"line": line.line_no, "sku": line.sku.code, "quantity": line.quantity} for line in added
                ],
                "gifts_removed": [
                    {
                        "line": p.line.line_no,
                        "sku": p.line.sku.code if p.line.sku else "",
                        "quantity": p.old["live"],
                    }
                    for p in planned
                    if p.remove
                ],
                "amounts": amount_changes,
                "paid_amount": _text(order.paid_amount),
                "paid_difference": _text(amounts.paid_difference(order)),
                "released": released.released,
                "deferred": released.deferred,
                "reserved": reserved,
            },
        )
        if near_expiry:
            hold_for_stock(order, [], near_expiry)
    return EditOutcome(
        order=order,
        described=described,
        total_before=total_before,
        released=released.released,
        deferred=released.deferred,
        reserved=reserved,
    )


# --- planning: everything is checked before anything is written ---------------------------------


def _plan(lines: dict[int, OrderLine], changes, *, tax_included: bool) -> list[_Planned]:
    planned, seen_ids = [], set()
    for change in changes:
        line = lines.get(change.line_id)
        if line is None:
            raise DomainError(
                _("Line %(id)s is not a line of this order.") % {"id": change.line_id},
                field=f"line_{change.line_id}",
            )
        if line.pk in seen_ids:
            raise _refuse(line, _("named twice in one edit"), "quantity")
        seen_ids.add(line.pk)
        plan = _plan_line(line, change, tax_included)
        if plan is not None:
            planned.append(plan)
    return planned


def _money(line: OrderLine) -> dict:
    values = {name: getattr(line, name) for name in amounts.LINE_MONEY_FIELDS}
    return {**values, "quantity": line.quantity, "tax_rate": line.tax_rate, "live": line.live_quantity}


def _plan_line(line: OrderLine, change: LineChange, tax_included: bool) -> _Planned | None:
    _check_seen(line, change.seen)
    if line.kind == LineKind.COMPONENT:
        raise _refuse(line, _("it is part of a bundle: edit the bundle line instead"), "quantity")
    if not line.live_quantity:
        raise _refuse(line, _("it is cancelled: there is nothing left to edit"), "quantity")
    plan = _Planned(line=line, old=_money(line), old_sku=line.sku.code if line.sku else "")
    if change.remove:
        if line.kind != LineKind.GIFT:
            raise _refuse(line, _("only gift lines can be removed; cancel goods lines instead"), "remove")
        plan.remove = True
        return plan
    quantity, unit_price = line.quantity, line.unit_price
    if change.quantity is not None and change.quantity != line.quantity:
        quantity = change.quantity
        if not line.cancelled_quantity < quantity <= MAX_QUANTITY:
            raise _refuse(
                line,
                _("the quantity must be between %(low)s and %(high)s")
                % {"low": line.cancelled_quantity + 1, "high": MAX_QUANTITY}
                if line.cancelled_quantity
                else _("the quantity must be between 1 and %(high)s") % {"high": MAX_QUANTITY},
                "quantity",
            )
    if change.unit_price is not None and change.unit_price != line.unit_price:
        unit_price = change.unit_price
        if line.kind == LineKind.GIFT:
            raise _refuse(line, _("a gift line has no price"), "unit_price")
        if unit_price < 0 or unit_price != unit_price.quantize(CENT) or unit_price >= Decimal("1e16"):
            raise _refuse(line, _("give a unit price of zero or more, to the cent"), "unit_price")
    if (
        change.sku is not None
        and change.sku.strip()
        and change.sku.strip() != (line.sku.code if line.sku else "")
    ):
        if line.sku_id is None:
            raise _refuse(
                line,
                _("map the platform item to a SKU first (unmapped items); then swap it if needed"),
                "sku",
            )
        plan.sku = _active_sku(change.sku.strip(), lambda message: _refuse(line, message, "sku"))
        if plan.sku.is_bundle and line.kind == LineKind.GIFT:
            raise _refuse(
                line, _("a gift is one item, and %(sku)s is a bundle") % {"sku": plan.sku.code}, "sku"
            )
        if plan.sku.is_bundle and not inventory_bundles.bundle_components({plan.sku.pk}):
            raise _refuse(line, _("bundle %(sku)s has no components yet") % {"sku": plan.sku.code}, "sku")
    if (quantity, unit_price) != (line.quantity, line.unit_price):
        plan.new = amounts.edited_line(
            plan.old, quantity=quantity, unit_price=unit_price, tax_included=tax_included
        )
        gross = unit_price * quantity + plan.new["adjustment"]
        owed = plan.new["discount"] + plan.new["order_discount_share"]
        if gross < owed:
            raise _refuse(
                line,
                _("its discounts (%(owed)s) come to more than its new amount (%(gross)s)")
                % {"owed": owed, "gross": gross},
                "unit_price" if unit_price != line.unit_price else "quantity",
            )
    if not plan.new and plan.sku is None:
        return None
    return plan


def _check_seen(line: OrderLine, seen: dict[str, Any]) -> None:
    """A form shows the line as it was; if someone edited it since, this edit is refused and the
    user sees the line as it is now."""
    now = {"quantity": line.quantity, "sku": line.sku.code if line.sku else "", "unit_price": line.unit_price}
    for name, value in seen.items():
        if name in now and value is not None and not _same(value, now[name]):
            raise TransitionRefused(
                _("%(line)s changed meanwhile: its %(field)s is now %(value)s. Look again and edit it anew.")
                % {
                    "line": _line_title(line),
                    "field": {"quantity": _("quantity"), "sku": _("SKU"), "unit_price": _("unit price")}[
                        name
                    ],
                    "value": now[name] or "—",
                }
            )


def _same(seen, now) -> bool:
    if isinstance(now, Decimal | int):
        try:
            return Decimal(str(seen)) == now
        except ArithmeticError:
            return False
    return str(seen) == str(now)


def _active_sku(code: str, refuse) -> SKU:
    sku = SKU.objects.filter(code=code).first()
    if sku is None:
        raise refuse(_("there is no SKU with the code “%(code)s”") % {"code": code})
    if not sku.is_active:
        raise refuse(_("SKU %(code)s is not active") % {"code": code})
    return sku


def _gift_skus(gifts) -> list[SKU]:
    found = []

    def refuse(message, name="gift_sku"):
        return DomainError(_("Gift: %(message)s") % {"message": message}, field=name)

    for gift in gifts:
        code = (gift.sku or "").strip()

        if not code:
            raise refuse(_("give the SKU code of the gift"))
        if not isinstance(gift.quantity, int) or not 1 <= gift.quantity <= MAX_QUANTITY:
            raise refuse(
                _("the quantity must be between 1 and %(high)s") % {"high": MAX_QUANTITY}, "gift_quantity"
            )
        sku = _active_sku(code, refuse)
        if sku.is_bundle:
            raise refuse(_("a gift is one item, and %(sku)s is a bundle") % {"sku": code})
        found.append(sku)
    return found


# --- writing -------------------------------------------------------------------------------------


def _write_lines(order: Order, planned: list[_Planned]) -> list[str]:
    described = []
    for plan in planned:
        line = plan.line
        name = _line_name(line)
        if plan.remove:
            OrderLine.objects.filter(pk=line.pk).update(cancelled_quantity=F("quantity"))
            described.append(_("gift %(line)s removed") % {"line": name})
            continue
        fields = []
        if plan.sku is not None:
            described.append(
                _("%(line)s: SKU %(old)s → %(new)s")
                % {"line": name, "old": plan.old_sku, "new": plan.sku.code}
            )
            if line.kind == LineKind.BUNDLE:
                plan.retired = _retire_components(line)
            if line.kind != LineKind.GIFT:
                line.kind = bundles.sold_kind(plan.sku)
            line.sku, line.presale = plan.sku, plan.sku.presale
            fields += ["sku", "presale", "kind"]
        if plan.new:
            if plan.new["quantity"] != line.quantity:
                described.append(
                    _("%(line)s: quantity %(old)s → %(new)s")
                    % {"line": name, "old": line.quantity, "new": plan.new["quantity"]}
                )
            if plan.price_changed:
                described.append(
                    _("%(line)s: unit price %(old)s → %(new)s %(currency)s")
                    % {
                        "line": name,
                        "old": line.unit_price,
                        "new": plan.new["unit_price"],
                        "currency": order.currency,
                    }
                )
            for key, value in plan.new.items():
                setattr(line, key, value)
            fields += ["quantity", *amounts.LINE_MONEY_FIELDS]
        line.save(update_fields=fields)
        if line.kind == LineKind.BUNDLE and plan.sku is not None:
            plan.expanded = _expand(order, line)
        elif line.kind == LineKind.BUNDLE:
            plan.components = _carry_components(line, plan.old["quantity"])
    return described


def _retire_components(line: OrderLine) -> list[OrderLine]:
    """A bundle line swapped for another SKU: its component lines are done with — every unit
    cancelled and the line detached from the bundle line (so cancelling the new item later never
    reaches them); what they held is released by the caller."""
    retired = list(line.components.select_related("sku").order_by("line_no"))
    OrderLine.objects.filter(pk__in=[c.pk for c in retired]).update(
        parent_line=None, cancelled_quantity=F("quantity")
    )
    for component in retired:
        component.cancelled_quantity = component.quantity
    return retired


def _expand(order: Order, line: OrderLine) -> list[OrderLine]:
    """Component lines for a line now sold as a bundle, numbered after the order's lines."""
    after = (order.lines.aggregate(n=Max("line_no"))["n"] or 0) + 1
    return OrderLine.objects.bulk_create(bundles.component_lines([line], next_line_no={order.pk: after}))


def _carry_components(line: OrderLine, was: int) -> list[tuple[OrderLine, int]]:
    """A bundle line's new quantity or price, on its components: the same units per bundle, and
    the bundle's paid amount split over them in the proportion they had (by units when they had
    none), to the cent."""
    components = list(line.components.select_related("sku").order_by("line_no"))
    if not components:
        return []
    weights = [c.paid_amount for c in components]
    if not any(weights):
        weights = [Decimal(c.quantity) for c in components]
    carried = []
    for component, paid in zip(components, amounts.spread(line.paid_amount, weights), strict=True):
        before = component.quantity
        component.quantity = before // was * line.quantity
        component.paid_amount = paid
        component.save(update_fields=["quantity", "paid_amount"])
        carried.append((component, before))
    return carried


def _add_gifts(order: Order, gifts, skus: list[SKU]) -> list[OrderLine]:
    if not skus:
        return []
    next_no = order.lines.aggregate(n=Max("line_no"))["n"] or 0
    added = []
    for offset, (gift, sku) in enumerate(zip(gifts, skus, strict=True), start=1):
        added.append(
            OrderLine.objects.create(
                order=order,
                line_no=next_no + offset,
                kind=LineKind.GIFT,
                sku=sku,
                title=sku.name,
                quantity=gift.quantity,
                unit_price=ZERO,
                paid_amount=ZERO,
                presale=sku.presale,
            )
        )
    return added


def _move_order_amounts(order: Order, planned: list[_Planned]) -> dict[str, list[str]]:
    """Move the order's amounts by each edited line's difference; {field: [old, new]} of those
    that changed."""
    before = {name: getattr(order, name) for name in ORDER_AMOUNT_FIELDS}
    for plan in planned:
        if plan.new:
            for name, delta in amounts.order_deltas(
                plan.old, plan.new, tax_included=order.tax_included
            ).items():
                setattr(order, name, getattr(order, name) + delta)
    changed = {
        name: [str(before[name]), str(getattr(order, name))]
        for name in ORDER_AMOUNT_FIELDS
        if getattr(order, name) != before[name]
    }
    order.save(update_fields=[*ORDER_AMOUNT_FIELDS, "updated_at"])
    return changed


def _release(order: Order, planned: list[_Planned], reason: str, actor) -> reservations.ReleaseOutcome:
    """Give back what a swapped line held (the old SKU), what a shorter line holds beyond its
    units and what a removed gift held."""
    held = reservations.held_quantities(order.pk)
    keep: dict[int, int] = {}
    for plan in planned:
        keep[plan.line.pk] = 0 if plan.remove or plan.sku is not None else plan.line.live_quantity
        keep.update({c.pk: 0 for c in plan.retired})
        keep.update({c.pk: c.live_quantity for c, _was in plan.components})
    release = {pk: held[pk] - units for pk, units in keep.items() if held.get(pk, 0) > units}
    if not release:
        return reservations.ReleaseOutcome()
    return reservations.reservations_release(
        order_id=order.pk,
        fingerprints=reservations.order_fingerprints(order.pk),
        line_quantities=release,
        reason=reason or _("Order lines edited"),
        actor=actor,
    )


def _stock_fields(planned: list[_Planned], added: list[OrderLine]) -> dict[int, str]:
    """{line id: the form field its stock comes from} for every line this edit may need to
    reserve: edited lines, the components a bundle line carries or gets, and added gifts."""
    fields = {line.pk: "gift_sku" for line in added}
    for plan in planned:
        if plan.remove:
            continue
        name = f"line_{plan.line.pk}_{'sku' if plan.sku is not None else 'quantity'}"
        for line in [plan.line, *(c for c, _was in plan.components), *plan.expanded]:
            fields[line.pk] = name
    return fields


def _reserve(order: Order, fields: dict[int, str]) -> tuple[int, list[dict]]:
    """Reserve what the edited and added lines now lack (only them: another line the order is
    short of is not this edit's business). Short: the edit is refused and rolled back whole,
    naming the SKUs and the field of the first line short of them."""
    demand = stock.missing_demand(order)
    demand.lines = [line for line in demand.lines if line.order_line_id in fields]
    if not demand.lines:
        return 0, []
    result = reservations.reserve_orders([demand])
    short = result.short.get(order.pk)
    if short:
        first = next(line for line in demand.lines if line.sku_id in short)
        raise DomainError(
            _("Not enough stock of %(skus)s for this edit: nothing was changed.")
            % {"skus": ", ".join(stock.sku_codes(short))},
            field=fields[first.order_line_id],
        )
    reserved = sum(r.quantity for r in result.reservations.get(order.pk, []))
    return reserved, result.near_expiry.get(order.pk, [])


def _edit_payload(plan: _Planned) -> dict:
    line = plan.line
    changes = {}
    if plan.sku is not None:
        changes["sku"] = [plan.old_sku, plan.sku.code]
    for name in ("quantity", *amounts.LINE_MONEY_FIELDS):
        if name in plan.new and plan.new[name] != plan.old[name]:
            changes[name] = [_text(plan.old[name]), _text(plan.new[name])]
    components = [
        {"line": c.line_no, "sku": c.sku.code, "quantity": [was, c.quantity]} for c, was in plan.components
    ]
    components += [{"line": c.line_no, "sku": c.sku.code, "retired": c.quantity} for c in plan.retired]
    components += [
        {"line": c.line_no, "sku": _sku_code(c.sku_id), "added": c.quantity} for c in plan.expanded
    ]
    entry = {"line": line.line_no, "sku": line.sku.code if line.sku else "", "changes": changes}
    return {**entry, "components": components} if components else entry


def _sku_code(sku_id: int) -> str:
    return SKU.objects.values_list("code", flat=True).get(pk=sku_id)


def _text(value):
    return str(value) if isinstance(value, Decimal) else value
