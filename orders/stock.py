"""The orders side of inventory: what an order holds, asks for and gives back (R-I2, R-O5).
Every function runs inside the caller's transaction, with the order row already locked."""

from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory import reservations
from inventory.models import SKU
from orders import gifts
from orders.models import LineKind, Order, OrderLine, OrderStatus


def missing_demand(order: Order, *, now=None) -> reservations.OrderDemand:
    """What the order's live, in-stock lines still need reserved (pre-sale lines wait for stock)."""
    now = now or timezone.now()
    held = reservations.held_quantities(order.pk)
    lines = [
        reservations.LineDemand(line.pk, line.sku_id, line.live_quantity - held.get(line.pk, 0))
        for line in order.lines.filter(presale=False, quantity__gt=F("cancelled_quantity")).order_by(
            "line_no"
        )
        if line.is_stocked and line.live_quantity > held.get(line.pk, 0)
    ]
    unpaid = order.status == OrderStatus.PENDING_PAYMENT or (
        order.status == OrderStatus.ON_HOLD and order.held_from == OrderStatus.PENDING_PAYMENT
    )
    ttl = timedelta(minutes=order.channel.reservation_ttl_minutes)
    return reservations.OrderDemand(
        order.pk, order.channel_id, lines, expires_at=now + ttl if unpaid else None
    )


def demand_for_new(order: Order, lines, *, bound=None, now=None) -> reservations.OrderDemand:
    """A just-created order needs every in-stock line reserved (pre-sale lines wait for stock),
    less what checkout locks bound to its lines already hold."""
    now = now or timezone.now()
    bound = bound or {}
    ttl = timedelta(minutes=order.channel.reservation_ttl_minutes)
    return reservations.OrderDemand(
        order.pk,
        order.channel_id,
        [
            reservations.LineDemand(line.pk, line.sku_id, line.quantity - bound.get(line.pk, 0))
            for line in lines
            if line.is_stocked and not line.presale and line.quantity > bound.get(line.pk, 0)
        ],
        expires_at=now + ttl if order.status == OrderStatus.PENDING_PAYMENT else None,
    )


def reserve_missing(order: Order, *, now=None) -> tuple[list[str], list[dict]]:
    """Reserve what the order lacks, all or nothing. Returns (SKU codes short, near-expiry lots).

    A gift a rule added (orders.gifts) is reserved on its own, after the goods: when its stock is
    gone meanwhile (its unpaid reservation expired), the gift is dropped and the order says so
    rather than waiting on hold for a free gift."""
    demand = missing_demand(order, now=now)
    if not demand.lines:
        return [], []
    rule_gifts = set(
        order.lines.filter(kind=LineKind.GIFT, gift_rule__isnull=False).values_list("pk", flat=True)
    )
    gift_demands = [
        reservations.OrderDemand(
            order.pk, order.channel_id, [line], expires_at=demand.expires_at, key=("gift", line.order_line_id)
        )
        for line in demand.lines
        if line.order_line_id in rule_gifts
    ]
    demand.lines = [line for line in demand.lines if line.order_line_id not in rule_gifts]
    result = reservations.reserve_orders([demand, *gift_demands], now=now)
    lots = list(result.near_expiry.get(order.pk, []))
    for gift in gift_demands:
        lots += result.near_expiry.get(gift.key, [])
    short_gifts = [gift.lines[0].order_line_id for gift in gift_demands if gift.key in result.short]
    if short_gifts:
        OrderLine.objects.filter(pk__in=short_gifts).update(cancelled_quantity=F("quantity"))
        release_cancelled(order, line_ids=short_gifts, reason=_("Gift out of stock"))
        gifts.record_dropped(order, short_gifts)
    return sku_codes(result.short.get(order.pk, [])), lots


def shortage_reason(short: list[str]) -> str:
    return _("Out of stock: %(skus)s") % {"skus": ", ".join(short)}


def near_expiry_reason(lots: list[dict]) -> str:
    described = ", ".join(f"{lot['lot']} ({lot['expires_on']})" for lot in lots)
    return _("Near-expiry lot, QA review: %(lots)s") % {"lots": described}


def release_cancelled(order: Order, *, line_ids=None, reason: str, actor=None) -> reservations.ReleaseOutcome:
    """Give back exactly what the cancelled quantities held: per line, whatever is held beyond its
    live quantity (all of it when the whole order is cancelled)."""
    held = reservations.held_quantities(order.pk)
    lines = order.lines.all() if line_ids is None else order.lines.filter(pk__in=line_ids)
    release = {}
    for line in lines:
        keep = 0 if order.status == OrderStatus.CANCELLED else line.live_quantity
        if held.get(line.pk, 0) > keep:
            release[line.pk] = held[line.pk] - keep
    if not release:
        return reservations.ReleaseOutcome()
    return reservations.reservations_release(
        order_id=order.pk,
        fingerprints=reservations.order_fingerprints(order.pk),
        line_quantities=release,
        reason=reason,
        actor=actor,
    )


def sku_codes(sku_ids) -> list[str]:
    codes = dict(SKU.objects.filter(pk__in=sku_ids).values_list("pk", "code"))
    return [codes[sku_id] for sku_id in sku_ids]
