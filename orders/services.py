"""Order writes. Each service: one transaction → lock the order → check permission and state →
run the transition → save → write the timeline event → enqueue follow-up work on commit.

`actor=None` means the system (integrations, scheduled jobs); a user is checked for permission.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, TransitionRefused
from core.handoff import publish_on_commit
from core.money import CENT, ZERO
from core.transitions import may, require_perm, require_state
from inventory import reservations
from orders import addresses, amounts, bundles, review, stock
from orders.breakdown import line_label
from orders.building import amount_values, header_values
from orders.fulfilment_port import fulfilment
from orders.models import (
    EDITABLE,
    HOLDABLE,
    LineKind,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
    Priority,
)
from orders.transitions import lock_order, record_order_event, run_order_transition
from orders.unmapped import map_late_lines

ADDRESS_FIELDS = (
    "ship_name",
    "ship_phone",
    "ship_country",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_line1",
    "ship_line2",
    "ship_postcode",
)


# --- shared steps -----------------------------------------------------------------------------


def refresh_customer_stats_on_commit(*customer_ids: int | None) -> None:
    customer_ids = sorted({pk for pk in customer_ids if pk})
    if customer_ids:
        from orders.tasks import refresh_customer_stats

        publish_on_commit(refresh_customer_stats, *customer_ids)


def _refresh_customer_stats_on_commit(order: Order) -> None:
    refresh_customer_stats_on_commit(order.customer_id)


def _require_editable(order: Order) -> None:
    if order.status not in EDITABLE:
        raise TransitionRefused(
            _("Order %(number)s can no longer be changed: it is %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )


# --- transitions ------------------------------------------------------------------------------


def _needs_reason(reason: str, message: str) -> None:
    if not reason.strip():
        raise DomainError(message, field="reason")


def _hold(order, actor, reason):
    _needs_reason(reason, _("Say why the order is held."))
    run_order_transition(order, "hold", actor, reason=reason, args={"reason": reason})
    _stop_shipments_on_hold(order, reason)


def _stop_shipments_on_hold(order: Order, reason: str) -> None:
    """A held order must not ship: its shipments still in the warehouse are cancelled there; it
    keeps its stock, and is routed again when released."""
    if order.held_from == OrderStatus.ALLOCATED:
        fulfilment().stop_shipments(order, reason)


def _release(order, actor, reason):
    """Back to where it was held from — with its stock: what it lacks is reserved first. Not while
    a line names an item not mapped to a SKU: mapping it releases the order (orders.item_mapping)."""
    unmapped = unmapped_hold_reason(list(order.lines.all()))
    if unmapped:
        raise TransitionRefused(unmapped[0])
    if platform_holding(order):
        raise TransitionRefused(
            _("The platform still holds this order; it is released when the platform releases it.")
        )
    if may(order, "release", actor):
        short, _lots = stock.reserve_missing(order)
        if short:
            raise TransitionRefused(stock.shortage_reason(short))
    run_order_transition(order, "release", actor, reason=reason)  # refuses with the reason when not allowed
    if order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED):
        route_on_commit(order)


def _cancel(order, actor, reason, *, refresh_stats: bool = True):
    _needs_reason(reason, _("Say why the order is cancelled."))
    run_order_transition(order, "cancel", actor, reason=reason, args={"reason": reason})
    _cancel_shipments(order, reason)
    _after_stock_release(order, stock.release_cancelled(order, reason=reason, actor=actor), actor)
    if refresh_stats:
        _refresh_customer_stats_on_commit(order)


def _after_stock_release(order, outcome, actor) -> None:
    if outcome.deferred:
        record_order_event(
            order,
            OrderEventKind.NOTE,
            actor,
            reason=_("%(n)s units wait for a manager's review before they return to stock.")
            % {"n": outcome.deferred},
            payload={"deferred_release": outcome.deferred},
        )


def _mark_paid(order, actor, reason):
    run_order_transition(order, "mark_paid", actor, reason=reason, args={"paid_at": timezone.now()})
    reservations.reservations_commit(order_id=order.pk)
    _ensure_stock(order)
    if order.status == OrderStatus.PAID:
        route_on_commit(order)


def _route(order, actor, reason):
    """The desk's "Route now": shipments are made by routing, not by a bare state change."""
    routed = fulfilment().route_now(order, actor, reason)
    order.refresh_from_db()
    if not routed and order.status != OrderStatus.ON_HOLD:  # held for stock: that is the outcome
        raise TransitionRefused(
            _("Nothing to route in order %(number)s yet: its pre-sale lines wait for stock.")
            % {"number": order.number}
        )


def route_on_commit(*orders: Order) -> None:
    """Orders that became paid (or were released) are routed by a task once this commits; an
    order with nothing to ship (pickup, digital) is not."""
    shipping = [order.pk for order in orders if order.requires_shipping]
    if shipping:
        fulfilment().route_on_commit(shipping)


def _cancel_shipments(order: Order, reason: str, line_ids=None) -> None:
    """Cancelled units must not ship: cancel the shipments still in the warehouse that carry
    them; what the order still has live is routed again."""
    live = order.status != OrderStatus.CANCELLED
    fulfilment().stop_shipments(order, reason, line_ids=line_ids, reroute=live)


def _ensure_stock(order: Order, review_hits=()) -> None:
    """Reserve what the order lacks; hold it when stock is short or a lot is close to expiry, or
    when a review rule caught the new order (it keeps what was reserved)."""
    short, near_expiry = stock.reserve_missing(order)
    hold_for_stock(order, short, near_expiry, review_hits)


def hold_for_stock(order: Order, short: list[str], near_expiry: list[dict], review_hits=()) -> None:
    """Hold the order when stock is short, a lot is near expiry, a review rule caught it or one of
    its lines names an item not mapped to a SKU yet."""
    waiting = combined_hold_reason(
        unmapped_hold_reason(list(order.lines.all())), stock_hold_reason(short, near_expiry)
    )
    hold = review.hold_reason(waiting, list(review_hits))
    if hold and order.status in HOLDABLE:
        reason, payload = hold
        run_order_transition(
            order, "hold", None, reason=reason, args={"reason": reason[:255]}, payload=payload
        )
        _stop_shipments_on_hold(order, reason)


def address_hold_reason(order: Order) -> tuple[str, dict] | None:
    """An order with goods to ship but no address from the platform waits for one (the desk's
    address change) instead of being refused: the sale happened."""
    if order.requires_shipping and not (order.ship_country and order.ship_city and order.ship_line1):
        return _("No shipping address: the platform sent none, but the order has goods to ship."), {
            "missing_address": True
        }
    return None


def money_hold_reason(order: Order) -> tuple[str, dict] | None:
    """The platform says the buyer paid something else than the order's amounts add up to: a
    person looks before it ships (a dropped discount or a missed adjustment shows up here)."""
    mismatch = amounts.paid_mismatch(order)
    if mismatch is None:
        return None
    stated, computed = mismatch
    return _("Paid amount %(paid)s %(currency)s differs from the computed total %(total)s %(currency)s.") % {
        "paid": stated,
        "total": computed,
        "currency": order.currency,
    }, {"paid_mismatch": {"paid": str(stated), "total": str(computed)}}


def platform_hold_reason(data: dict[str, Any]) -> tuple[str, dict] | None:
    """The platform says the order must not ship yet (canonical `platform_hold`, e.g. Douyin's
    risk check): it waits on hold, paid and reserved, until a later version no longer says so."""
    reason = (data.get("platform_hold") or "").strip()
    return (reason, {"platform_hold": reason}) if reason else None


def platform_holding(order: Order) -> bool:
    """Whether the platform's last word on this order was a hold (`platform_hold` in the payload
    of the newest event that has one: the hold, a note adding it, the release lifting it)."""
    payload = (
        order.events.filter(payload__has_key="platform_hold")
        .order_by("-created_at", "-pk")
        .values_list("payload", flat=True)
        .first()
    )
    return bool(payload and payload.get("platform_hold"))


def unmapped_hold_reason(lines: list[OrderLine]) -> tuple[str, dict] | None:
    """Lines whose platform item is not mapped to a SKU yet: the order waits for the mapping."""
    unmapped = [line for line in lines if line.sku_id is None and line.live_quantity]  # cancelled: moot
    if not unmapped:
        return None
    names = [line.platform_sku_id or line.platform_item_id or line.seller_code for line in unmapped]
    return _("Unmapped item: platform id %(ids)s.") % {"ids": ", ".join(names)}, {"unmapped": names}


def combined_hold_reason(*holds: tuple[str, dict] | None) -> tuple[str, dict] | None:
    given = [hold for hold in holds if hold]
    if not given:
        return None
    return "; ".join(reason for reason, _payload in given), {k: v for _r, p in given for k, v in p.items()}


def stock_hold_reason(short: list[str], near_expiry: list[dict]) -> tuple[str, dict] | None:
    """Why an order must wait: stock short, or a lot close to expiry (QA review)."""
    if short:
        return stock.shortage_reason(short), {"short": short}
    if near_expiry:
        return stock.near_expiry_reason(near_expiry), {"lots": near_expiry}
    return None


def _plain(name):
    return lambda order, actor, reason: run_order_transition(order, name, actor, reason=reason)


# Desk and API actions. Shipping and delivery are not among them: the order follows its
# shipments (fulfilment.services.follow_shipments), and "allocate" means routing it.
TRANSITIONS = {
    "mark_paid": _mark_paid,
    "allocate": _route,
    "complete": _plain("complete"),
    "hold": _hold,
    "release": _release,
    "cancel": _cancel,
}


def order_transition(
    *, order: Order | int, name: str, actor=None, reason: str = "", expected_status=None
) -> Order:
    """Run one named transition on the locked order (desk buttons, API, system jobs)."""
    if name not in TRANSITIONS:
        raise DomainError(_("Unknown action “%(name)s”.") % {"name": name}, field="action")
    with transaction.atomic():
        order = lock_order(order)
        require_state(order, expected_status)
        TRANSITIONS[name](order, actor, reason)
    return order


# --- line cancellation, edits, notes ------------------------------------------------------------


def order_cancel_lines(*, order: Order | int, quantities: dict[int, int], actor=None, reason: str) -> Order:
    """Cancel some quantity of some lines ({line_id: qty}); the order is cancelled when no live
    line remains. Quantities are taken by conditional UPDATEs, never read-then-write."""
    _needs_reason(reason, _("Say why the lines are cancelled."))
    with transaction.atomic():
        order = lock_order(order)
        _cancel_line_quantities(order, quantities, actor, reason)
    return order


def order_cancel(
    *, order: Order | int, actor=None, reason: str, sku_quantities: dict[str, int] | None = None
) -> Order:
    """The API's cancel: the whole order, or quantities per SKU spread over that SKU's lines."""
    if sku_quantities is None:
        return order_transition(order=order, name="cancel", actor=actor, reason=reason)
    _needs_reason(reason, _("Say why the lines are cancelled."))
    with transaction.atomic():
        order = lock_order(order)
        quantities: dict[int, int] = {}
        for sku_code, wanted in sku_quantities.items():
            remaining = wanted
            sold = order.lines.filter(sku__code=sku_code).exclude(kind=LineKind.COMPONENT)
            for line in sold.order_by("line_no"):
                take = min(remaining, line.live_quantity)
                if take:
                    quantities[line.pk] = take
                    remaining -= take
            if remaining:
                raise DomainError(
                    _("Only %(live)s live units of %(sku)s to cancel.")
                    % {"live": wanted - remaining, "sku": sku_code},
                    field="lines",
                )
        _cancel_line_quantities(order, quantities, actor, reason)
    return order


def _cancel_line_quantities(order: Order, quantities: dict[int, int], actor, reason: str) -> None:
    if not quantities:
        raise DomainError(_("Name at least one line to cancel."), field="lines")
    require_perm(actor, "orders.cancel_order")
    _require_editable(order)
    quantities = bundles.with_components(order, quantities)  # a bundle's components go with it
    lines = {line.pk: line for line in order.lines.select_related("sku").filter(pk__in=quantities)}
    cancelled = []
    for line_id in sorted(quantities):
        quantity, line = quantities[line_id], lines.get(line_id)
        if line is None or quantity < 1:
            raise DomainError(_("Unknown line or quantity below 1."), field="lines")
        taken = OrderLine.objects.filter(pk=line_id, quantity__gte=F("cancelled_quantity") + quantity).update(
            cancelled_quantity=F("cancelled_quantity") + quantity
        )
        if not taken:
            raise DomainError(
                _("Line %(no)s (%(sku)s) has fewer than %(qty)s live units.")
                % {"no": line.line_no, "sku": line_label(line), "qty": quantity},
                field="lines",
            )
        cancelled.append({"line": line.line_no, "sku": line_label(line), "quantity": quantity})
    outcome = stock.release_cancelled(order, line_ids=list(quantities), reason=reason, actor=actor)
    record_order_event(
        order,
        OrderEventKind.LINES_CANCELLED,
        actor,
        reason=reason,
        payload={"lines": cancelled, "released": outcome.released},
    )
    _after_stock_release(order, outcome, actor)
    if order.status == OrderStatus.ALLOCATED:
        _cancel_shipments(order, reason, line_ids=list(quantities))
    if not order.lines.filter(quantity__gt=F("cancelled_quantity")).exists():
        run_order_transition(
            order,
            "cancel",
            actor,
            reason=reason,
            args={"reason": reason},
            payload={"all_lines_cancelled": True},
        )
        _after_stock_release(order, stock.release_cancelled(order, reason=reason, actor=actor), actor)
        _refresh_customer_stats_on_commit(order)


def order_change_address(
    *, order: Order | int, address: dict[str, str], actor=None, reason: str = ""
) -> Order:
    unknown = set(address) - set(ADDRESS_FIELDS)
    if unknown:
        raise DomainError(_("Unknown address fields."), field=sorted(unknown)[0])
    for required in ("ship_country", "ship_city", "ship_line1"):
        if required in address and not address[required].strip():
            raise DomainError(_("This field may not be blank."), field=required)
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.change_order_address")
        _require_editable(order)
        if any(
            field in address and address[field] != getattr(order, field) for field in addresses.PLACE_FIELDS
        ):
            # a new place: official names and the new district's centre (never the old one's)
            current = {field: address.get(field, getattr(order, field)) for field in addresses.PLACE_FIELDS}
            address = {**address, **addresses.placed(current)}
        changes = _assign_changes(order, address)
        if changes:
            order.save(update_fields=[*changes, "updated_at"])
            payload = {field: [_jsonable(old), _jsonable(new)] for field, (old, new) in changes.items()}
            record_order_event(order, OrderEventKind.ADDRESS_CHANGED, actor, reason=reason, payload=payload)
    return order


def order_change_priority(*, order: Order | int, priority: str, actor=None, reason: str = "") -> Order:
    if priority not in Priority.values:
        raise DomainError(_("Unknown priority."), field="priority")
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.change_order_priority")
        changes = _assign_changes(order, {"priority": priority})
        if changes:
            order.save(update_fields=["priority", "updated_at"])
            record_order_event(order, OrderEventKind.PRIORITY_CHANGED, actor, reason=reason, payload=changes)
    return order


def order_add_note(*, order: Order | int, text: str, actor=None) -> OrderEvent:
    if not text.strip():
        raise DomainError(_("A note needs some text."), field="text")
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.add_order_note")
        return record_order_event(order, OrderEventKind.NOTE, actor, reason=text.strip())


def _assign_changes(order: Order, values: dict[str, Any]) -> dict[str, list]:
    """Assign values and return {field: [old, new]} for those that differ (for the audit row)."""
    changes = {}
    for field, new in values.items():
        old = getattr(order, field)
        if old != new:
            changes[field] = [old, new]
            setattr(order, field, new)
    return changes


# --- what the platform says ---------------------------------------------------------------------


def cancel_on_platform(order: Order, *, refresh_stats: bool = True) -> None:
    """`refresh_stats=False` when the caller refreshes the customer's statistics itself (the
    intake does, once for its whole batch)."""
    _cancel(order, None, _("Cancelled on the platform"), refresh_stats=refresh_stats)


def platform_paid(order: Order, paid_at, review_hits=()) -> None:
    run_order_transition(
        order, "mark_paid", None, reason=_("Paid on the platform"), args={"paid_at": paid_at}
    )
    reservations.reservations_commit(order_id=order.pk)
    _ensure_stock(order, review_hits)
    if order.status == OrderStatus.PAID:
        route_on_commit(order)


def order_apply_platform_version(order: Order, data: dict[str, Any], actor) -> Order:
    """A later version of a known order updates it; an equal or older one changes nothing.

    While the order can still change, the platform's lines win: fewer units of a SKU cancel ours
    (stock released, parcels stopped), more units or a new SKU add a line that is reserved and
    routed. Before payment the amounts follow the platform too (the buyer pays the new total);
    after payment money comes back as refunds, so the amounts stay as paid."""
    incoming = data.get("updated_at")
    if incoming is None or (order.platform_updated_at and incoming <= order.platform_updated_at):
        return order
    changes = {}
    # Lines a person edited here are not overwritten by the platform: a change the platform
    # makes afterwards (lines or money) holds the order for that person to reconcile the two.
    overridden = order.status in EDITABLE and order.events.filter(kind=OrderEventKind.EDITED).exists()
    money_moved = overridden and amount_values(data)["paid_amount"] != order.paid_amount
    if order.status in EDITABLE:
        values = header_values(data)
        protected = _kept_ciphertext(order.receiver_protected, values["receiver_protected"])
        values["receiver_protected"] = protected
        changes = _assign_changes(order, values)
        if order.status == OrderStatus.PENDING_PAYMENT and not overridden:
            changes.update(_assign_changes(order, amount_values(data)))
    order.platform_updated_at = incoming
    order.save(update_fields=[*changes, "platform_updated_at", "updated_at"])
    added, fewer = [], {}
    if order.status in EDITABLE:
        added, fewer = _platform_line_changes(order, data, apply=not overridden)
    record_order_event(
        order,
        OrderEventKind.PLATFORM_UPDATE,
        actor,
        payload={
            "updated_at": incoming.isoformat(),
            "changes": {field: [_jsonable(old), _jsonable(new)] for field, (old, new) in changes.items()},
            "lines_added": [
                {"line": line.line_no, "sku": line.sku.code if line.sku else "", "quantity": line.quantity}
                for line in added
            ],
        },
    )
    if overridden and (added or fewer or money_moved):
        _hold_for_platform_lines(order, data)
    elif added:
        _ensure_stock(order)
        if order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED):
            route_on_commit(order)
    if fewer and not overridden:
        _cancel_line_quantities(order, fewer, actor, _("Quantity reduced on the platform"))
    platform_hold = None if data.get("cancelled") else platform_hold_reason(data)
    if platform_hold:  # held before it is marked paid, so it is never routed in between
        _hold_for_platform(order, platform_hold)
    if data.get("paid") and may(order, "mark_paid", None):
        platform_paid(order, data.get("paid_at") or incoming)
    if data.get("cancelled") and may(order, "cancel", None):
        cancel_on_platform(order)
    if not platform_hold and order.status == OrderStatus.ON_HOLD and platform_holding(order):
        _lift_platform_hold(order)
    return order


def _hold_for_platform(order: Order, hold: tuple[str, dict]) -> None:
    """A version saying the order must not ship: held (an order held already waits for this too)."""
    reason, payload = hold
    if order.status in HOLDABLE:
        run_order_transition(
            order, "hold", None, reason=reason, args={"reason": reason[:255]}, payload=payload
        )
        _stop_shipments_on_hold(order, reason)
    elif order.status == OrderStatus.ON_HOLD and not platform_holding(order):
        order.hold_reason = "; ".join(filter(None, [reason, order.hold_reason]))[:255]
        order.save(update_fields=["hold_reason", "updated_at"])
        record_order_event(order, OrderEventKind.NOTE, None, reason=reason, payload=payload)


def order_lift_platform_hold(*, order: Order | int) -> Order:
    """The order's source lifts its own hold without sending a whole new version (the B2B
    schedule releasing a delivery that is due): as when a later version no longer holds it."""
    with transaction.atomic():
        order = lock_order(order)
        if order.status == OrderStatus.ON_HOLD and platform_holding(order):
            _lift_platform_hold(order)
    return order


def _lift_platform_hold(order: Order) -> None:
    """The platform released the order. Held for nothing else, it is released (with its stock) and
    routed; held for other reasons too, only the platform's is struck and the others stay."""
    held = _hold_transition_payload(order)
    held_for = set(held) - {"transition", "platform_hold"}
    lifted = _("Released on the platform")
    short = []
    # a hold a person (or anything else) put on first is theirs to lift
    if "platform_hold" in held and not held_for and not unmapped_hold_reason(list(order.lines.all())):
        short, _lots = stock.reserve_missing(order)
        if not short:
            run_order_transition(order, "release", None, reason=lifted, payload={"platform_hold": ""})
            if order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED):
                route_on_commit(order)
            return
    still = [part for part in order.hold_reason.split("; ") if part and not _is_platform_reason(order, part)]
    if short:
        still.append(stock.shortage_reason(short))
    order.hold_reason = "; ".join(still)[:255]
    order.save(update_fields=["hold_reason", "updated_at"])
    record_order_event(order, OrderEventKind.NOTE, None, reason=lifted, payload={"platform_hold": ""})


def _hold_transition_payload(order: Order) -> dict:
    payload = (
        order.events.filter(
            kind=OrderEventKind.TRANSITION, to_status=OrderStatus.ON_HOLD, payload__transition="hold"
        )
        .order_by("-created_at", "-pk")
        .values_list("payload", flat=True)
        .first()
    )
    return dict(payload or {})


def _is_platform_reason(order: Order, text: str) -> bool:
    """Whether a part of the hold reason is the platform's hold, as its events stated it."""
    stated = order.events.filter(payload__has_key="platform_hold").values_list("payload", flat=True)
    return any(text == (payload or {}).get("platform_hold") for payload in stated)


def _kept_ciphertext(stored: dict, incoming: dict) -> dict:
    """The protected receiver of a later version, keeping the ciphertext stored before where the
    version sends none: platforms hide it once the order ships or is under review (Pinduoduo:
    "收件人信息请在订单待发货状态获取后密文保存"), and it is what a waybill is decrypted from."""
    if not stored:
        return incoming
    kept = {name: dict(field) for name, field in (incoming or {}).items()}
    for name, field in stored.items():
        if (field or {}).get("cipher") and not (kept.get(name) or {}).get("cipher"):
            cipher = {"cipher": field["cipher"], "index": field.get("index", "")}
            kept[name] = {**(kept.get(name) or {}), **cipher}
    return kept


def _hold_for_platform_lines(order: Order, data: dict[str, Any]) -> None:
    """The platform changed the lines or money of an order edited here: hold it rather than undo
    the edit."""
    platform_lines = [
        {
            "item": line["sku"].code
            if line["sku"]
            else line.get("platform_sku_id") or line.get("platform_item_id") or line.get("seller_code", ""),
            "quantity": line["quantity"],
        }
        for line in data["lines"]
    ]
    reason = _("The platform changed this order's lines or amounts after it was edited here: compare them.")
    payload = {
        "platform_lines": platform_lines,
        "platform_paid": _jsonable(amount_values(data)["paid_amount"]),
    }
    if order.status in HOLDABLE:
        run_order_transition(
            order, "hold", None, reason=reason, args={"reason": reason[:255]}, payload=payload
        )
        _stop_shipments_on_hold(order, reason)
        return
    if order.status == OrderStatus.ON_HOLD and reason not in order.hold_reason:
        # Already held: the hold now waits for this too (orders.item_mapping never lifts it).
        order.hold_reason = "; ".join(filter(None, [order.hold_reason, reason]))[:255]
        order.save(update_fields=["hold_reason", "updated_at"])
    record_order_event(order, OrderEventKind.NOTE, None, reason=reason, payload=payload)


def _platform_line_changes(
    order: Order, data: dict[str, Any], *, apply: bool = True
) -> tuple[list[OrderLine], dict[int, int]]:
    """Compare the platform's units per item with ours (lines as sold: bundle components and
    rule gifts are ours, not the platform's). Returns the lines added for units we lack and
    {line id: units to cancel} for units the platform no longer has, newest lines first; with
    `apply` the added lines are saved (and mapped, and their bundles expanded)."""
    wanted: dict[tuple, int] = defaultdict(int)
    platform_line: dict[tuple, dict] = {}
    for line in data["lines"]:
        if line.get("gift"):
            continue
        key = sold_item_key(line["sku"].pk if line["sku"] else None, line)
        wanted[key] += line["quantity"]
        platform_line.setdefault(key, line)
    ours = list(order.lines.filter(kind__in=[LineKind.GOODS, LineKind.BUNDLE]).order_by("line_no"))
    live: dict[tuple, int] = defaultdict(int)
    for line in ours:
        live[sold_item_key(line.sku_id, vars(line))] += line.live_quantity
    fewer = {}
    for line in reversed(ours):
        key = sold_item_key(line.sku_id, vars(line))
        take = min(live[key] - wanted.get(key, 0), line.live_quantity)
        if take > 0:
            fewer[line.pk] = take
            live[key] -= take
    added = []
    next_no = order.lines.aggregate(n=Max("line_no"))["n"] or 0
    tax_included = data.get("tax_included", order.tax_included)
    for key, quantity in wanted.items():
        extra = quantity - live[key]
        if extra > 0:
            added.append(
                _added_line(order, platform_line[key], extra, next_no + len(added) + 1, tax_included)
            )
    if not apply:
        return added, fewer
    OrderLine.objects.bulk_create(added)
    map_late_lines(added, {order.pk: order.channel_id})  # an item mapped since the order was read
    OrderLine.objects.bulk_create(
        bundles.component_lines(added, next_line_no={order.pk: next_no + len(added) + 1})
    )
    return added, fewer


def sold_item_key(sku_id: int | None, line: dict) -> tuple:
    """What identifies an item as sold: our SKU, else the platform's ids or seller code."""
    if sku_id is not None:
        return ("sku", sku_id)
    return (
        "item",
        line.get("platform_sku_id", ""),
        line.get("platform_item_id", ""),
        line.get("seller_code", ""),
    )


def _added_line(order: Order, source: dict, units: int, line_no: int, tax_included: bool) -> OrderLine:
    """A line for `units` more of a platform line: its money in proportion to those units."""
    whole = source["quantity"]
    share = {
        name: _share(source.get(name, ZERO), units, whole)
        for name in ("discount", "platform_discount", "adjustment", "order_discount_share", "tax_amount")
    }
    paid = source.get("paid_amount")
    line = OrderLine(
        order=order,
        line_no=line_no,
        kind=bundles.sold_kind(source["sku"]),
        sku=source["sku"],
        platform_line_id=source.get("platform_line_id", ""),
        platform_item_id=source.get("platform_item_id", ""),
        platform_sku_id=source.get("platform_sku_id", ""),
        seller_code=source.get("seller_code", ""),
        title=source.get("title", ""),
        quantity=units,
        unit_price=source["unit_price"],
        tax_rate=source.get("tax_rate"),
        presale=source.get("presale", bool(source["sku"] and source["sku"].presale)),
        **share,
    )
    line.paid_amount = (
        _share(paid, units, whole)
        if paid is not None
        else amounts.line_paid({**source, **share, "quantity": units}, tax_included=tax_included)
    )
    return line


def _share(amount: Decimal, part: int, whole: int) -> Decimal:
    """`part` units' share of an amount stated for `whole` units, to the cent."""
    if part >= whole:
        return amount
    return (amount * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def _jsonable(value):
    return str(value) if isinstance(value, Decimal) else value
