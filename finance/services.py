"""Payments (R-M1). One service records a payment, whoever reports it (API, Stripe, Alipay):
lock the order → insert the payment (the unique (provider, transaction_id) constraint is the
deduplication) → book it in its accounting period → move the order to paid when covered →
write the revenue lines, all in one transaction.

The rule for amounts: a payment is never refused for its amount. The order becomes paid once its
payments in the order's currency add up to at least the order total. Less than that (a partial
payment or deposit) leaves it pending_payment and alerts finance; more than that (overpayment),
another currency, or a payment for a cancelled order is recorded and alerted too.
The same transaction reported again is answered with the payment already recorded; reported with
another amount, currency or order it is refused (409) and alerted, never overwritten.
The exchange rate of the payment's business day is fixed on it with its amount in the business
currency (finance.rates.conversion); without a rate yet it is recorded all the same, flagged by
an alert, and the repair job (finance.tasks.fill_payment_rates) fixes the rate once it arrives.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError, NotPermitted
from core.models import AlertSeverity
from core.money import CENT, MONEY_MAX_DIGITS, ZERO, MoneySum, currency_validator
from core.roles import Role
from core.transitions import may
from finance.models import Payment, PaymentProvider
from finance.periods import period_for_booking
from finance.rates.conversion import fix_rate
from finance.rates.services import payment_rate_missing
from finance.revenue import revenue_record_fee, revenue_record_order
from orders.models import Order, OrderEventKind, OrderStatus
from orders.services import order_transition
from orders.transitions import record_order_event

FUTURE_TOLERANCE = timedelta(hours=1)
MAX_AMOUNT = Decimal(10) ** (MONEY_MAX_DIGITS - 2)


class PaymentConflict(DomainError):
    """The transaction id is known with other facts (amount, currency, order)."""

    status_code = 409


def payment_record(
    *,
    order_number: str,
    provider: str,
    transaction_id: str,
    amount: Decimal,
    currency: str,
    paid_at: datetime,
    method: str = "",
    fee: Decimal = ZERO,
    raw: dict[str, Any] | None = None,
    callback=None,
    actor=None,
) -> tuple[Payment, bool]:
    """Record a payment; returns (payment, created). See the module docstring for the rules."""
    if actor is not None and not actor.has_perm("finance.add_payment"):
        raise NotPermitted(_("You are not allowed to record payments."))
    _validate(provider, transaction_id, amount, currency, paid_at, method, fee)
    conflict = None
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).filter(number=order_number).first()
        if order is None:
            raise DomainError(
                _("Unknown order “%(number)s”.") % {"number": order_number}, field="order_number"
            )
        period, period_note = period_for_booking(paid_at)
        fixed = fix_rate(amount, currency, paid_at)  # None: recorded anyway, converted later
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    order=order,
                    provider=provider,
                    transaction_id=transaction_id,
                    amount=amount,
                    currency=currency,
                    fee=fee,
                    paid_at=paid_at,
                    method=method,
                    raw=raw or {},
                    callback=callback,
                    period=period,
                    period_note=period_note,
                    recorded_by=actor,
                    rate=fixed and fixed.rate,
                    rate_date=fixed and fixed.rate_date,
                    business_amount=fixed and fixed.amount,
                    business_currency=fixed.currency if fixed else "",
                )
        except IntegrityError:
            existing = (
                Payment.objects.select_related("order")
                .filter(provider=provider, transaction_id=transaction_id)
                .first()
            )
            if existing is None:
                raise
            differences = _differences(existing, order, amount, currency)
            if not differences:
                return existing, False
            conflict = (existing, differences)
        else:
            _apply(order, payment, actor)
            if fixed is None:
                payment_rate_missing(payment)
    if conflict is None:
        return payment, True
    # Outside the rolled-back work: the alert must outlive the refusal.
    existing, differences = conflict
    _alert_conflict(existing, order_number, amount, currency, differences)
    raise PaymentConflict(
        _(
            "Transaction %(id)s was already recorded as %(amount)s %(currency)s for order %(order)s; "
            "this report differs in %(fields)s. Nothing was changed."
        )
        % {
            "id": transaction_id,
            "amount": existing.amount,
            "currency": existing.currency,
            "order": existing.order.number,
            "fields": ", ".join(differences),
        },
        field="transaction_id",
    )


def _validate(provider, transaction_id, amount, currency, paid_at, method, fee) -> None:
    if provider not in PaymentProvider.values:
        raise DomainError(_("Unknown provider “%(p)s”.") % {"p": provider}, field="provider")
    if not isinstance(transaction_id, str) or not transaction_id.strip() or len(transaction_id) > 128:
        raise DomainError(_("A transaction id of 1 to 128 characters."), field="transaction_id")
    for field, value, minimum in (("amount", amount, CENT), ("fee", fee, ZERO)):
        if not isinstance(value, Decimal) or not value.is_finite() or value != value.quantize(CENT):
            raise DomainError(_("An amount with at most two decimals."), field=field)
        if not minimum <= value < MAX_AMOUNT:
            raise DomainError(_("Out of range."), field=field)
    if fee > amount:
        raise DomainError(_("The fee is more than the payment."), field="fee")
    try:
        currency_validator(currency)
    except Exception as exc:  # noqa: BLE001 - ValidationError or a non-string
        raise DomainError(_("Use a three-letter ISO 4217 code, e.g. CNY."), field="currency") from exc
    if not isinstance(paid_at, datetime) or timezone.is_naive(paid_at):
        raise DomainError(_("Give the time with its UTC offset."), field="paid_at")
    if paid_at > timezone.now() + FUTURE_TOLERANCE:
        raise DomainError(_("In the future: check the time zone offset."), field="paid_at")
    if len(method) > 40:
        raise DomainError(_("At most 40 characters."), field="method")


def _differences(existing: Payment, order: Order, amount: Decimal, currency: str) -> list[str]:
    differences = []
    if existing.order_id != order.pk:
        differences.append("order_number")
    if existing.amount != amount:
        differences.append("amount")
    if existing.currency != currency:
        differences.append("currency")
    return differences


def _alert_conflict(existing: Payment, order_number, amount, currency, differences) -> None:
    alert_raise(
        kind="finance.payment_conflict",
        key=f"finance:payment-conflict:{existing.provider}:{existing.transaction_id}",
        role=Role.FINANCE,
        severity=AlertSeverity.CRITICAL,
        message=_(
            "Transaction %(id)s (%(provider)s) reported again with other facts: %(amount)s %(currency)s "
            "for %(order)s, recorded as %(old_amount)s %(old_currency)s for %(old_order)s."
        )
        % {
            "id": existing.transaction_id,
            "provider": existing.provider,
            "amount": amount,
            "currency": currency,
            "order": order_number,
            "old_amount": existing.amount,
            "old_currency": existing.currency,
            "old_order": existing.order.number,
        },
        payload={
            "payment": existing.pk,
            "differences": differences,
            "reported": {"order_number": order_number, "amount": str(amount), "currency": currency},
        },
    )


def order_received(order: Order) -> Decimal:
    """What the order's payments in its own currency add up to (refunds are not netted: they do
    not make a paid order unpaid)."""
    total = order.payments.filter(currency=order.currency).aggregate(total=MoneySum("amount"))["total"]
    return total or ZERO


def _apply(order: Order, payment: Payment, actor) -> None:
    """The consequences of a new payment, in the same transaction (the order row is locked)."""
    record_order_event(
        order,
        OrderEventKind.NOTE,
        actor,
        reason=_("Payment received: %(amount)s %(currency)s by %(provider)s, transaction %(id)s.")
        % {
            "amount": payment.amount,
            "currency": payment.currency,
            "provider": payment.get_provider_display(),
            "id": payment.transaction_id,
        },
        payload={
            "payment": payment.pk,
            "provider": payment.provider,
            "transaction_id": payment.transaction_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
        },
    )
    received = order_received(order)
    underpaid_key = f"finance:order-underpaid:{order.number}"
    if payment.currency != order.currency:
        _alert(
            order,
            "finance.payment_currency",
            f"finance:payment-currency:{payment.pk}",
            _("Payment %(id)s for %(order)s is in %(currency)s; the order is in %(order_currency)s."),
            payment,
        )
    if received >= order.total and may(order, "mark_paid", None):
        # The transitioned instance comes back (refresh_from_db on FSM models is not thread-safe).
        order = order_transition(
            order=order,
            name="mark_paid",
            actor=None,
            reason=_("Paid: %(provider)s transaction %(id)s")
            % {"provider": payment.get_provider_display(), "id": payment.transaction_id},
        )
    if received >= order.total:
        alert_resolve(key=underpaid_key)
    elif may(order, "mark_paid", None):
        _alert(
            order,
            "finance.order_underpaid",
            underpaid_key,
            _("Order %(order)s has received %(received)s of %(total)s %(order_currency)s: it stays unpaid."),
            payment,
            received=received,
        )
    if received > order.total:
        _alert(
            order,
            "finance.order_overpaid",
            f"finance:order-overpaid:{order.number}",
            _("Order %(order)s has received %(received)s %(order_currency)s, more than its total %(total)s."),
            payment,
            received=received,
        )
    if order.status == OrderStatus.CANCELLED:
        _alert(
            order,
            "finance.paid_after_cancel",
            f"finance:paid-after-cancel:{payment.pk}",
            _("Payment %(id)s arrived for cancelled order %(order)s: refund it."),
            payment,
        )
    revenue_record_fee(payment=payment)
    revenue_record_order(order=order)


def _alert(order: Order, kind: str, key: str, message: str, payment: Payment, received=None) -> None:
    alert_raise(
        kind=kind,
        key=key,
        role=Role.FINANCE,
        message=message
        % {
            "id": payment.transaction_id,
            "order": order.number,
            "currency": payment.currency,
            "order_currency": order.currency,
            "received": received,
            "total": order.total,
        },
        payload={"order": order.number, "payment": payment.pk, "received": str(received or ZERO)},
    )
