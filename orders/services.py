"""Order writes. Each service: one transaction → lock the order → check permission and state →
run the transition → save → write the timeline event → enqueue follow-up work on commit.

`actor=None` means the system (integrations, scheduled jobs); a user is checked for permission.
"""

from datetime import timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.money import ZERO
from core.sequences import next_values
from core.timezones import business_date
from inventory import locks, reservations
from orders import review, stock
from orders.fulfilment_port import fulfilment
from orders.models import (
    EDITABLE,
    HOLDABLE,
    Customer,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
    Priority,
)

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
# Header fields a newer platform version may change; lines never change after creation.
PLATFORM_UPDATABLE_FIELDS = (
    "customer_name",
    "customer_phone",
    "customer_email",
    "buyer_note",
    "buyer_ip",
    "tags",
    *ADDRESS_FIELDS,
)
AUTO_COMPLETE_AFTER = timedelta(days=15)  # past the 7-day no-reason return window, with margin


# --- shared steps -----------------------------------------------------------------------------


def record_order_event(order: Order, kind: str, actor=None, **fields: Any) -> OrderEvent:
    return OrderEvent.objects.create(order=order, kind=kind, actor=actor, **fields)


def refresh_customer_stats_on_commit(*customer_ids: int | None) -> None:
    customer_ids = sorted({pk for pk in customer_ids if pk})
    if customer_ids:
        from orders.tasks import refresh_customer_stats

        transaction.on_commit(partial(refresh_customer_stats.delay, *customer_ids))


def _refresh_customer_stats_on_commit(order: Order) -> None:
    refresh_customer_stats_on_commit(order.customer_id)


def _lock_order(order: Order | int) -> Order:
    order_id = order.pk if isinstance(order, Order) else order
    return Order.objects.select_for_update(of=("self",)).get(pk=order_id)


def _require_perm(actor, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(_("You are not allowed to do this."))


def _require_state(order: Order, expected_status: str | None) -> None:
    # The desk posts the status the user saw; a click on a stale page must not act on a new state.
    if expected_status and order.status != expected_status:
        raise TransitionRefused(
            _("Order %(number)s changed meanwhile: it is now %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )


def _require_editable(order: Order) -> None:
    if order.status not in EDITABLE:
        raise TransitionRefused(
            _("Order %(number)s can no longer be changed: it is %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )


def _run_transition(
    order: Order, name: str, actor, *, reason: str = "", payload=None, args=None
) -> OrderEvent:
    method = getattr(order, name)
    allowed = has_transition_perm(method, actor) if actor is not None else can_proceed(method)
    if not allowed:
        if actor is not None and can_proceed(method):
            raise NotPermitted(_("You are not allowed to do this."))
        raise TransitionRefused(
            _("Order %(number)s cannot “%(action)s” while %(status)s.")
            % {"number": order.number, "action": name, "status": order.get_status_display()}
        )
    from_status = order.status
    method(**(args or {}))
    order.save()
    return record_order_event(
        order,
        OrderEventKind.TRANSITION,
        actor,
        from_status=from_status,
        to_status=order.status,
        reason=reason,
        payload={"transition": name, **(payload or {})},
    )


# --- transitions ------------------------------------------------------------------------------


def _needs_reason(reason: str, message: str) -> None:
    if not reason.strip():
        raise DomainError(message, field="reason")


def _hold(order, actor, reason):
    _needs_reason(reason, _("Say why the order is held."))
    _run_transition(order, "hold", actor, reason=reason, args={"reason": reason})
    _stop_shipments_on_hold(order, reason)


def _stop_shipments_on_hold(order: Order, reason: str) -> None:
    """A held order must not ship: its shipments still in the warehouse are cancelled there; it
    keeps its stock, and is routed again when released."""
    if order.held_from == OrderStatus.ALLOCATED:
        fulfilment().stop_shipments(order, reason)


def _release(order, actor, reason):
    """Back to where it was held from — with its stock: what it lacks is reserved first."""
    allowed = can_proceed(order.release) and (actor is None or has_transition_perm(order.release, actor))
    if allowed:
        short, _lots = stock.reserve_missing(order)
        if short:
            raise TransitionRefused(stock.shortage_reason(short))
    _run_transition(order, "release", actor, reason=reason)  # refuses with the reason when not allowed
    if order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED):
        route_on_commit(order)


def _cancel(order, actor, reason):
    _needs_reason(reason, _("Say why the order is cancelled."))
    _run_transition(order, "cancel", actor, reason=reason, args={"reason": reason})
    _cancel_shipments(order, reason)
    _after_stock_release(order, stock.release_cancelled(order, reason=reason, actor=actor), actor)
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
    _run_transition(order, "mark_paid", actor, reason=reason, args={"paid_at": timezone.now()})
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
    """Orders that became paid (or were released) are routed by a task once this commits."""
    fulfilment().route_on_commit([order.pk for order in orders])


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
    hold = review.hold_reason(stock_hold_reason(short, near_expiry), list(review_hits))
    if hold and order.status in HOLDABLE:
        reason, payload = hold
        _run_transition(order, "hold", None, reason=reason, args={"reason": reason[:255]}, payload=payload)
        _stop_shipments_on_hold(order, reason)


def stock_hold_reason(short: list[str], near_expiry: list[dict]) -> tuple[str, dict] | None:
    """Why an order must wait: stock short, or a lot close to expiry (QA review)."""
    if short:
        return stock.shortage_reason(short), {"short": short}
    if near_expiry:
        return stock.near_expiry_reason(near_expiry), {"lots": near_expiry}
    return None


def _plain(name):
    return lambda order, actor, reason: _run_transition(order, name, actor, reason=reason)


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
        order = _lock_order(order)
        _require_state(order, expected_status)
        TRANSITIONS[name](order, actor, reason)
    return order


# --- line cancellation, edits, notes ------------------------------------------------------------


def order_cancel_lines(*, order: Order | int, quantities: dict[int, int], actor=None, reason: str) -> Order:
    """Cancel some quantity of some lines ({line_id: qty}); the order is cancelled when no live
    line remains. Quantities are taken by conditional UPDATEs, never read-then-write."""
    _needs_reason(reason, _("Say why the lines are cancelled."))
    with transaction.atomic():
        order = _lock_order(order)
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
        order = _lock_order(order)
        quantities: dict[int, int] = {}
        for sku_code, wanted in sku_quantities.items():
            remaining = wanted
            for line in order.lines.filter(sku__code=sku_code).order_by("line_no"):
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
    _require_perm(actor, "orders.cancel_order")
    _require_editable(order)
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
                % {"no": line.line_no, "sku": line.sku.code, "qty": quantity},
                field="lines",
            )
        cancelled.append({"line": line.line_no, "sku": line.sku.code, "quantity": quantity})
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
        _run_transition(
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
        order = _lock_order(order)
        _require_perm(actor, "orders.change_order_address")
        _require_editable(order)
        changes = _assign_changes(order, address)
        if changes:
            order.save(update_fields=[*changes, "updated_at"])
            record_order_event(order, OrderEventKind.ADDRESS_CHANGED, actor, reason=reason, payload=changes)
    return order


def order_change_priority(*, order: Order | int, priority: str, actor=None, reason: str = "") -> Order:
    if priority not in Priority.values:
        raise DomainError(_("Unknown priority."), field="priority")
    with transaction.atomic():
        order = _lock_order(order)
        _require_perm(actor, "orders.change_order_priority")
        changes = _assign_changes(order, {"priority": priority})
        if changes:
            order.save(update_fields=["priority", "updated_at"])
            record_order_event(order, OrderEventKind.PRIORITY_CHANGED, actor, reason=reason, payload=changes)
    return order


def order_add_note(*, order: Order | int, text: str, actor=None) -> OrderEvent:
    if not text.strip():
        raise DomainError(_("A note needs some text."), field="text")
    with transaction.atomic():
        order = _lock_order(order)
        _require_perm(actor, "orders.add_order_note")
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


# --- ingestion: one order per (channel, external_id), whatever the number of deliveries -------


def order_ingest(*, data: dict[str, Any], actor=None) -> tuple[Order, bool]:
    """Create the order from a validated canonical payload, or update the existing one when the
    payload is newer. The unique constraint on (channel, external_id) is the deduplication:
    the insert is tried first and a conflict falls back to the update path.
    Returns (order, created)."""
    if actor is not None and not actor.has_perm("orders.add_order"):
        raise NotPermitted(_("You are not allowed to create orders."))
    channel = data["channel"]
    with transaction.atomic():
        try:
            with transaction.atomic():
                order = _order_insert(data, actor)
        except IntegrityError:
            existing = (
                Order.objects.select_for_update(of=("self",))
                .filter(channel=channel, external_id=data["external_id"])
                .first()
            )
            if existing is None:
                raise
            return _order_apply_platform_version(existing, data, actor), False
        _refresh_customer_stats_on_commit(order)
    return order, True


def allocate_order_number(moment=None) -> str:
    return allocate_order_numbers(1, moment)[0]


def allocate_order_numbers(count: int, moment=None) -> list[str]:
    day = business_date(moment)
    return [f"SO{day:%Y%m%d}{value:06d}" for value in next_values(name="order_number", day=day, count=count)]


def _customer_for(data: dict[str, Any]) -> Customer | None:
    identity = customer_identity(data)
    if identity is None:
        return None
    customer, _created = Customer.objects.get_or_create(identity_key=identity[0], defaults=identity[1])
    return customer


def customer_identity(data: dict[str, Any]) -> tuple[str, dict] | None:
    """The customer's deduplication key (phone first, then e-mail) and the values to create it."""
    contact = data.get("customer") or {}
    phone = _normalise_phone(contact.get("phone", ""))
    email = (contact.get("email") or "").strip().lower()
    if not (phone or email):
        return None
    key = f"phone:{phone}" if phone else f"email:{email}"
    return key, {"name": contact.get("name", ""), "phone": phone, "email": email}


def _normalise_phone(phone: str) -> str:
    return "".join(ch for ch in (phone or "") if ch.isdigit() or ch == "+")


def _header_values(data: dict[str, Any]) -> dict[str, Any]:
    contact = data.get("customer") or {}
    address = data["shipping_address"]
    return {
        "customer_name": contact.get("name", ""),
        "customer_phone": _normalise_phone(contact.get("phone", "")),
        "customer_email": (contact.get("email") or "").strip().lower(),
        "buyer_note": data.get("note", ""),
        "buyer_ip": data.get("buyer_ip") or None,
        "tags": list(data.get("tags") or []),
        "ship_name": address.get("name", "") or contact.get("name", ""),
        "ship_phone": _normalise_phone(address.get("phone", "")),
        "ship_country": address["country"],
        "ship_province": address.get("province", ""),
        "ship_city": address["city"],
        "ship_district": address.get("district", ""),
        "ship_line1": address["line1"],
        "ship_line2": address.get("line2", ""),
        "ship_postcode": address.get("postcode", ""),
    }


def build_order(data: dict[str, Any], *, number: str, customer: Customer | None) -> Order:
    """An unsaved order (and its amounts) from a validated canonical payload."""
    channel = data["channel"]
    lines = data["lines"]
    goods = sum((line["unit_price"] * line["quantity"] for line in lines), ZERO)
    line_discounts = sum((line.get("discount", ZERO) for line in lines), ZERO)
    discount = data.get("discount", ZERO)
    shipping_fee = data.get("shipping_fee", ZERO)
    priority = data.get("priority") or Priority.NORMAL
    if customer and customer.is_vip and priority == Priority.NORMAL:
        priority = Priority.VIP
    return Order(
        number=number,
        channel=channel,
        external_id=data["external_id"],
        customer=customer,
        priority=priority,
        currency=data["currency"],
        goods_amount=goods,
        line_discount_amount=line_discounts,
        discount=discount,
        shipping_fee=shipping_fee,
        platform_commission=data.get("platform_commission", ZERO),
        total=goods - line_discounts - discount + shipping_fee,
        placed_at=data["placed_at"],
        platform_updated_at=data.get("updated_at"),
        channel_time_zone=channel.time_zone,
        **_header_values(data),
    )


def build_lines(order: Order, data: dict[str, Any]) -> list[OrderLine]:
    return [
        OrderLine(
            order=order,
            line_no=index,
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price=line["unit_price"],
            discount=line.get("discount", ZERO),
            presale=line.get("presale", line["sku"].presale),
        )
        for index, line in enumerate(data["lines"], start=1)
    ]


def bind_checkout_locks(order: Order, lines: list[OrderLine], data: dict[str, Any]) -> dict[int, int]:
    """Lines that name a checkout lock take it as their reservation (inventory.locks)."""
    pairs = [
        (line, given["lock"]) for line, given in zip(lines, data["lines"], strict=True) if given.get("lock")
    ]
    return (
        locks.bind_locks(order=order, lines_with_locks=pairs, paid=order.status == OrderStatus.PAID)
        if pairs
        else {}
    )


def created_event(order: Order, actor, *, line_count: int) -> OrderEvent:
    return OrderEvent(
        order=order,
        kind=OrderEventKind.CREATED,
        actor=actor,
        to_status=OrderStatus.PENDING_PAYMENT,
        payload={"channel": order.channel.code, "external_id": order.external_id, "line_count": line_count},
    )


def _order_insert(data: dict[str, Any], actor) -> Order:
    order = build_order(data, number=allocate_order_number(), customer=_customer_for(data))
    order.save()
    lines = OrderLine.objects.bulk_create(build_lines(order, data))
    created_event(order, actor, line_count=len(data["lines"])).save()
    bind_checkout_locks(order, lines, data)
    if data.get("cancelled"):  # known only as cancelled: nothing to reserve
        _cancel(order, None, _("Cancelled on the platform"))
        return order
    fulfilment().orders_placed([order])
    hits = review.review_orders([order]).get(order.pk, [])
    if data.get("paid"):
        _platform_paid(order, data.get("paid_at") or data["placed_at"], hits)
    else:
        _ensure_stock(order, hits)
    return order


def _platform_paid(order: Order, paid_at, review_hits=()) -> None:
    _run_transition(order, "mark_paid", None, reason=_("Paid on the platform"), args={"paid_at": paid_at})
    reservations.reservations_commit(order_id=order.pk)
    _ensure_stock(order, review_hits)
    if order.status == OrderStatus.PAID:
        route_on_commit(order)


def _order_apply_platform_version(order: Order, data: dict[str, Any], actor) -> Order:
    """A later version of a known order updates it; an equal or older one changes nothing."""
    incoming = data.get("updated_at")
    if incoming is None or (order.platform_updated_at and incoming <= order.platform_updated_at):
        return order
    changes = {}
    if order.status in EDITABLE:
        changes = _assign_changes(order, _header_values(data))
    order.platform_updated_at = incoming
    order.save(update_fields=[*changes, "platform_updated_at", "updated_at"])
    record_order_event(
        order,
        OrderEventKind.PLATFORM_UPDATE,
        actor,
        payload={"updated_at": incoming.isoformat(), "changes": changes},
    )
    if data.get("paid") and can_proceed(order.mark_paid):
        _platform_paid(order, data.get("paid_at") or incoming)
    if data.get("cancelled") and can_proceed(order.cancel):
        _cancel(order, None, _("Cancelled on the platform"))
    return order


# --- follow-up and scheduled work ------------------------------------------------------------


def customer_refresh_stats(*, customer_ids: list[int]) -> None:
    """Recompute from the orders themselves, so running it twice or late is harmless."""
    stats = (
        Order.objects.filter(customer_id__in=customer_ids)
        .values("customer_id")
        .annotate(count=Count("pk", filter=~Q(status=OrderStatus.CANCELLED)), last=Max("placed_at"))
    )
    for row in stats:
        Customer.objects.filter(pk=row["customer_id"]).update(
            order_count=row["count"], last_order_at=row["last"]
        )


def orders_auto_complete(*, now=None, batch_size: int = 500) -> int:
    """Complete orders delivered longer ago than the return window. Rows other workers hold are
    skipped (SKIP LOCKED), so two runs at once never fight over or double-complete an order."""
    cutoff = (now or timezone.now()) - AUTO_COMPLETE_AFTER
    completed = 0
    while True:
        with transaction.atomic():
            batch = list(
                Order.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=OrderStatus.DELIVERED, delivered_at__lt=cutoff)
                .order_by("pk")[:batch_size]
            )
            for order in batch:
                _run_transition(
                    order, "complete", None, reason=_("Return window over: completed automatically")
                )
        completed += len(batch)
        if len(batch) < batch_size:
            return completed
