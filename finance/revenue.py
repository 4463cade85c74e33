"""Revenue breakdown (R-M2): each order's revenue as typed, signed lines.

Rules:
- Revenue is recognised once the order is paid (`Order.paid_at` set), at that moment; an unpaid
  order (or one cancelled before payment) has no lines.
- Lines derived from the order's amounts (source "order", orders.amounts): goods (+goods at
  list price, less the tax inside them when prices include tax), seller adjustments, merchant
  discount (−the discounts the seller funds), platform discount (−the discounts the platform
  funds), shipping (+fee − shipping discount, less its tax when included), tax (+all tax),
  commission (−platform commission). Every kind but commission adds up to the order total,
  what the buyer paid. Gift lines are sold at zero and add nothing.
- What the platform pays back for the discounts it funded arrives with settlement statements.
- A payment's provider fee is a `fee` line (source "payment:<id>"); a refund is a `refund` line
  (source "refund:<reference>"). Both are written once: the unique constraint makes it so.
- Rebuilding is deterministic and idempotent: order lines in open periods are replaced by what
  the order's amounts give; lines already in a closed period stay as they are and any
  difference is booked in the next open period.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from core.money import ZERO
from finance.models import ORDER_SOURCE, Payment, PeriodState, RevenueKind, RevenueLine
from finance.periods import period_for_booking
from orders.models import Order, OrderEvent, OrderEventKind

K = RevenueKind


class RevenueConflict(DomainError):
    status_code = 409


def order_revenue_amounts(order: Order) -> dict[str, Decimal]:
    """What the order's own amounts give, by kind (zero amounts left out)."""
    if order.paid_at is None:
        return {}
    included_goods_tax = order.tax_amount - order.shipping_tax if order.tax_included else ZERO
    included_shipping_tax = order.shipping_tax if order.tax_included else ZERO
    discounts = order.line_discount_amount + order.discount
    amounts = {
        K.GOODS: order.goods_amount - included_goods_tax,
        K.ADJUSTMENT: order.adjustment_amount,
        K.MERCHANT_DISCOUNT: -(discounts - order.platform_discount_amount),
        K.PLATFORM_DISCOUNT: -order.platform_discount_amount,
        K.SHIPPING: order.shipping_fee - order.shipping_discount - included_shipping_tax,
        K.TAX: order.tax_amount,
        K.COMMISSION: -order.platform_commission,
    }
    return {kind: amount for kind, amount in amounts.items() if amount}


def _lock_order(order: Order | int) -> Order:
    order_id = order.pk if isinstance(order, Order) else order
    return Order.objects.select_for_update(of=("self",)).get(pk=order_id)


def revenue_record_order(*, order: Order | int) -> list[RevenueLine]:
    """Bring the order's "order" lines in line with its amounts; returns its order lines."""
    with transaction.atomic():
        order = _lock_order(order)
        wanted = order_revenue_amounts(order)
        lines = list(order.revenue_lines.filter(source=ORDER_SOURCE).select_related("period"))
        fixed: dict[str, Decimal] = defaultdict(lambda: ZERO)
        changeable: dict[str, list[RevenueLine]] = defaultdict(list)
        for line in lines:
            if line.period.state == PeriodState.OPEN:
                changeable[line.kind].append(line)
            else:
                fixed[line.kind] += line.amount
        kinds = set(wanted) | set(fixed) | set(changeable)
        target = {kind: wanted.get(kind, ZERO) - fixed[kind] for kind in kinds}
        if all(_matches(changeable[kind], target[kind], order.currency) for kind in kinds):
            return lines
        for kind in sorted(kinds):
            if _matches(changeable[kind], target[kind], order.currency):
                continue
            RevenueLine.objects.filter(pk__in=[line.pk for line in changeable[kind]]).delete()
            if target[kind]:
                _book(
                    order,
                    kind=kind,
                    amount=target[kind],
                    currency=order.currency,
                    source=ORDER_SOURCE,
                    booked_at=order.paid_at,
                    note=_("Adjustment after a closed period") if fixed[kind] else "",
                )
        return list(order.revenue_lines.filter(source=ORDER_SOURCE))


def _matches(lines: list[RevenueLine], amount: Decimal, currency: str) -> bool:
    if not amount:
        return not lines
    return len(lines) == 1 and lines[0].amount == amount and lines[0].currency == currency


def _book(order: Order, *, kind, amount, currency, source, booked_at: datetime, **fields) -> RevenueLine:
    period, period_note = period_for_booking(booked_at)
    return RevenueLine.objects.create(
        order=order,
        kind=kind,
        amount=amount,
        currency=currency,
        source=source,
        booked_at=booked_at,
        period=period,
        period_note=period_note,
        **fields,
    )


def revenue_record_fee(*, payment: Payment) -> RevenueLine | None:
    """The provider's fee on a payment as a negative `fee` line (once per payment). Called by the
    payment service inside its transaction (the order row is locked)."""
    if not payment.fee:
        return None
    source = f"payment:{payment.pk}"
    existing = RevenueLine.objects.filter(order_id=payment.order_id, kind=K.FEE, source=source).first()
    if existing is not None:
        return existing
    return _book(
        payment.order,
        kind=K.FEE,
        amount=-payment.fee,
        currency=payment.currency,
        source=source,
        booked_at=payment.paid_at,
        payment=payment,
    )


def revenue_record_refund(
    *,
    order: Order | int,
    amount: Decimal,
    reference: str,
    currency: str | None = None,
    booked_at: datetime | None = None,
    payment: Payment | None = None,
    note: str = "",
    actor=None,
) -> tuple[RevenueLine, bool]:
    """Book a refund of `amount` (positive) as a negative `refund` line, once per reference; with
    `payment`, the payment's refunded amount moves too. The same reference with the same amount
    again returns the first line; with another amount it is refused. Returns (line, created)."""
    if actor is not None and not actor.has_perm("finance.add_revenueline"):
        raise NotPermitted(_("You are not allowed to record refunds."))
    reference = (reference or "").strip()
    if not reference:
        raise DomainError(_("A refund needs a reference (RMA, refund id)."), field="reference")
    if len(reference) > 90:
        raise DomainError(_("At most 90 characters."), field="reference")
    if not isinstance(amount, Decimal) or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_("A positive amount with at most two decimals."), field="amount")
    booked_at = booked_at or timezone.now()
    if timezone.is_naive(booked_at):
        raise DomainError(_("Give the time with its UTC offset."), field="booked_at")
    source = f"refund:{reference}"
    with transaction.atomic():
        order = _lock_order(order)
        currency = currency or order.currency
        if payment is not None:
            payment = Payment.objects.select_for_update().get(pk=payment.pk)
            if payment.order_id != order.pk:
                raise DomainError(_("The payment belongs to another order."), field="payment")
            if payment.currency != currency:
                raise DomainError(_("The payment is in %(c)s.") % {"c": payment.currency}, field="currency")
        existing = RevenueLine.objects.filter(order=order, kind=K.REFUND, source=source).first()
        if existing is not None:
            return _same_refund(existing, amount, currency), False
        if payment is not None:
            if payment.refunded_amount + amount > payment.amount:
                raise TransitionRefused(
                    _("Refunds would exceed payment %(payment)s (%(amount)s %(currency)s).")
                    % {"payment": payment.transaction_id, "amount": payment.amount, "currency": currency}
                )
            payment.refund(amount=amount)
            payment.save()
        try:
            with transaction.atomic():
                line = _book(
                    order,
                    kind=K.REFUND,
                    amount=-amount,
                    currency=currency,
                    source=source,
                    booked_at=booked_at,
                    payment=payment,
                    note=note[:255],
                )
        except IntegrityError:  # the same refund booked concurrently (no payment row to serialise on)
            existing = RevenueLine.objects.get(order=order, kind=K.REFUND, source=source)
            return _same_refund(existing, amount, currency), False
    return line, True


def _same_refund(existing: RevenueLine, amount: Decimal, currency: str) -> RevenueLine:
    if existing.amount != -amount or existing.currency != currency:
        raise RevenueConflict(
            _("Refund %(source)s was booked as %(amount)s %(currency)s.")
            % {"source": existing.source, "amount": -existing.amount, "currency": existing.currency},
            field="reference",
        )
    return existing


def revenue_backfill(*, since: datetime | None = None, batch_size: int = 500) -> int:
    """Order lines for paid orders that have none (orders paid on the platform, orders from before
    this module), and rebuilt for paid orders whose lines were edited after their revenue was
    last booked (orders.edits). Safe to run twice at once: each order is rebuilt under its own
    row lock, and an order whose lines already match changes nothing."""
    has_lines = RevenueLine.objects.filter(order=OuterRef("pk"), source=ORDER_SOURCE)
    edited_since = OrderEvent.objects.filter(
        order=OuterRef("pk"),
        kind=OrderEventKind.EDITED,
        created_at__gt=Subquery(
            RevenueLine.objects.filter(order=OuterRef("order_id"), source=ORDER_SOURCE)
            .order_by("-created_at")
            .values("created_at")[:1]
        ),
    )
    orders = Order.objects.filter(paid_at__isnull=False).filter(~Exists(has_lines) | Exists(edited_since))
    if since is not None:
        orders = orders.filter(Q(paid_at__gte=since) | Exists(edited_since.filter(created_at__gte=since)))
    done, last_id = 0, 0
    while True:
        ids = list(orders.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:batch_size])
        for order_id in ids:
            revenue_record_order(order=order_id)
        done += len(ids)
        if len(ids) < batch_size:
            return done
        last_id = ids[-1]
