"""Finance in the demo (issue #19): every paid order got its payment, the last full month's
Alipay statement is imported through the real import, and one reconciliation run of that month
shows a handful of planted differences — each a different kind the rules detect — and nothing
else.

Payments are written set-based (one bulk insert per kind of row, in one transaction) with exactly
what `finance.services.payment_record` writes for an order that is already paid: the payment in
its period with the day's exchange rate (or the rate-missing alert), the "payment received" note
on the order's timeline, the provider fee as a revenue line. Calling the service per order cost
~15 queries an order; the demo has thousands. Orders paid on account (tag "b2b") have no payment.

Providers: Tmall orders are paid through Alipay (settled by the Alipay statement), Shopify and
WooCommerce by card through Stripe; the other Chinese platforms collect the money themselves and
report it with the order (provider "api") — the demo has no settlement files in their formats,
and recording them as platform-settled would make every one a "missing settlement".
"""

import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Platform
from core.money import CENT, ZERO, MoneySum
from core.roles import Role
from core.timezones import business_zone
from finance.imports.layouts import ALIPAY_ACCOUNT
from finance.imports.models import ImportBatch, ImportState
from finance.imports.samples import (
    ALIPAY_ACCOUNT_NO,
    COMMISSION,
    REFUND,
    SALE,
    AlipayEntry,
    alipay_fee,
    alipay_statement,
    alipay_trade_no,
    payment_entries,
)
from finance.imports.services import import_commit, import_confirm, import_upload, import_validate
from finance.models import Payment, PaymentProvider, PaymentStatus, RevenueKind, RevenueLine, next_month
from finance.periods import booking_note, period_for, period_for_booking
from finance.rates.conversion import fix_rate, to_business
from finance.rates.services import payment_rate_missing
from finance.reconciliation.models import DifferenceClass as D
from finance.reconciliation.models import ReconciliationRun, RunState
from finance.reconciliation.services import reconciliation_execute, reconciliation_start
from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus

B2B_TAG = "b2b"
STRIPE_RATES = {"USD": (Decimal("0.029"), Decimal("0.30")), "EUR": (Decimal("0.015"), Decimal("0.25"))}


@dataclass
class FinanceDemo:
    payments: int = 0
    batch: ImportBatch | None = None
    run: ReconciliationRun | None = None
    planted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def planted_counts(self) -> dict[str, int]:
        return {str(kind): len(subjects) for kind, subjects in self.planted.items()}


def seed_finance_demo(*, now: datetime | None = None) -> FinanceDemo:
    now = now or timezone.now()
    demo = FinanceDemo()
    demo.payments = demo_payments_record()
    actor = get_user_model().objects.filter(groups__name=Role.FINANCE).order_by("pk").first()
    month_start = _last_full_month_start(now)
    name = f"{ALIPAY_ACCOUNT_NO}_账务明细_{month_start:%Y%m}.csv"
    if ImportBatch.objects.filter(file_name=name).exists():  # seed_demo --force: imported once
        return demo
    entries = _statement_entries(demo, month_start, now)
    if not entries:
        return demo
    demo.batch = _import(alipay_statement(entries, start=month_start, end=now), name, actor)
    run, _created = reconciliation_start(year=month_start.year, month=month_start.month, actor=actor, now=now)
    reconciliation_execute(run_id=run.pk)
    demo.run = _settled(ReconciliationRun, run.pk, (RunState.QUEUED, RunState.RUNNING))
    return demo


def _last_full_month_start(now: datetime) -> datetime:
    local = timezone.localtime(now, business_zone())
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return datetime(year, month, 1, tzinfo=business_zone())


# --- payments ------------------------------------------------------------------------------------


def _provider(order: Order) -> tuple[str, str, str, Decimal]:
    """(provider, transaction id, method, fee) of the payment the order's channel takes."""
    platform = order.channel.platform
    if platform == Platform.TAOBAO:
        return (
            PaymentProvider.ALIPAY,
            alipay_trade_no(order.pk, order.paid_at),
            "支付宝",
            alipay_fee(_paid(order)),
        )
    if order.currency in STRIPE_RATES:
        rate, fixed = STRIPE_RATES[order.currency]
        fee = min((_paid(order) * rate + fixed).quantize(CENT), _paid(order))
        return (
            PaymentProvider.STRIPE,
            f"pi_3Q{zlib.crc32(order.number.encode()):010d}{order.pk:08d}",
            "card",
            fee,
        )
    return (
        PaymentProvider.API,
        f"{order.channel.code.upper()}-{order.external_id}",
        order.channel.name[:40],
        ZERO,
    )


def _paid(order: Order) -> Decimal:
    return order.paid_amount if order.paid_amount is not None else order.total


def demo_payments_record() -> int:
    """The payment each paid order got (B2B orders on account excluded), once: orders that have
    a payment are left alone. Refunds already booked for an order (the demo's RMAs) were paid
    back through it: its refunded amount and status say so, as revenue_record_refund would."""
    orders = [
        order
        for order in Order.objects.filter(paid_at__isnull=False, payments__isnull=True)
        .select_related("channel")
        .order_by("pk")
        if B2B_TAG not in (order.tags or [])
    ]
    if not orders:
        return 0
    refunded = dict(
        RevenueLine.objects.filter(order__in=[o.pk for o in orders], kind=RevenueKind.REFUND)
        .values_list("order_id")
        .annotate(total=MoneySum("amount"))
    )
    with transaction.atomic():
        periods, rates = {}, {}
        payments = []
        for order in orders:
            provider, transaction_id, method, fee = _provider(order)
            amount = _paid(order)
            back = min(-(refunded.get(order.pk) or ZERO), amount)
            period, note = _period(periods, order.paid_at)
            rate = _rate(rates, order.currency, order.paid_at)
            payments.append(
                Payment(
                    order=order,
                    provider=provider,
                    transaction_id=transaction_id,
                    amount=amount,
                    currency=order.currency,
                    fee=fee,
                    refunded_amount=back,
                    status=_status(back, amount),
                    paid_at=order.paid_at,
                    method=method,
                    raw={"source": "seed_demo"},
                    period=period,
                    period_note=note,
                    rate=rate and rate.rate,
                    rate_date=rate and rate.rate_date,
                    business_amount=rate and to_business(amount, rate.rate),
                    business_currency=rate.currency if rate else "",
                )
            )
        Payment.objects.bulk_create(payments, batch_size=500)
        OrderEvent.objects.bulk_create([_received_event(p) for p in payments], batch_size=500)
        RevenueLine.objects.bulk_create([_fee_line(p, periods) for p in payments if p.fee], batch_size=500)
        for payment in payments:
            if payment.refunded_amount:
                RevenueLine.objects.filter(
                    order_id=payment.order_id, kind=RevenueKind.REFUND, payment__isnull=True
                ).update(payment=payment)
        for payment in {p.currency: p for p in payments if p.rate is None}.values():
            payment_rate_missing(payment)
    return len(payments)


def _status(refunded: Decimal, amount: Decimal) -> str:
    if not refunded:
        return PaymentStatus.SUCCEEDED
    return PaymentStatus.REFUNDED if refunded >= amount else PaymentStatus.PARTIALLY_REFUNDED


def _period(cache: dict, moment: datetime):
    """period_for_booking, asked once per month (every moment of a month books alike)."""
    own = period_for(moment)
    if own.pk not in cache:
        cache[own.pk] = (own, period_for_booking(moment)[0])
    own, booked = cache[own.pk]
    return booked, "" if booked.pk == own.pk else booking_note(moment, own, booked)


def _rate(cache: dict, currency: str, moment: datetime):
    key = (currency, timezone.localtime(moment, business_zone()).date())
    if key not in cache:
        cache[key] = fix_rate(Decimal(1), currency, moment)
    return cache[key]


def _received_event(payment: Payment) -> OrderEvent:
    return OrderEvent(
        order_id=payment.order_id,
        kind=OrderEventKind.NOTE,
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
        created_at=payment.paid_at,
    )


def _fee_line(payment: Payment, periods: dict) -> RevenueLine:
    period, note = _period(periods, payment.paid_at)
    return RevenueLine(
        order_id=payment.order_id,
        kind=RevenueKind.FEE,
        amount=-payment.fee,
        currency=payment.currency,
        source=f"payment:{payment.pk}",
        booked_at=payment.paid_at,
        period=period,
        period_note=note,
        payment=payment,
    )


# --- the statement and its planted differences -----------------------------------------------------


def _statement_entries(demo: FinanceDemo, month_start: datetime, now: datetime) -> list[AlipayEntry]:
    """Alipay's entries from the first of last month to now: every Alipay payment with its fee,
    Tmall's commission and the refunds paid back, with the planted differences."""
    month_end = datetime(*next_month(month_start.year, month_start.month), 1, tzinfo=business_zone())
    payments = list(
        Payment.objects.filter(provider=PaymentProvider.ALIPAY, paid_at__gte=month_start, paid_at__lte=now)
        .select_related("order")
        .order_by("paid_at", "pk")
    )
    refunds = defaultdict(list)
    for order_id, amount, booked_at in RevenueLine.objects.filter(
        order__in=[p.order_id for p in payments], kind=RevenueKind.REFUND
    ).values_list("order_id", "amount", "booked_at"):
        refunds[order_id].append((-amount, booked_at))
    clean = [
        p
        for p in payments
        if p.paid_at < month_end - timedelta(hours=1)
        and p.order.status != OrderStatus.CANCELLED
        and not refunds[p.order_id]
        and p.fee
        and p.amount > Decimal("1.00")
    ]
    picks = {}
    if clean:
        picks[D.PERIOD_MISMATCH] = clean.pop()  # the last sale of the month, booked by Alipay next month
    for kind in (D.AMOUNT_MISMATCH, D.MISSING_SETTLEMENT, D.FEE_NOT_ATTRIBUTED, D.REFUND_NOT_REFLECTED):
        if clean:
            picks[kind] = clean.pop(0)
    picked = {p.pk: kind for kind, p in picks.items()}
    entries = []
    for payment in payments:
        kind = picked.get(payment.pk)
        if kind == D.MISSING_SETTLEMENT:  # Alipay never settled it: not on the statement
            demo.planted[kind].append(payment.order.number)
            continue
        own = payment_entries(
            payment, commission=payment.order.platform_commission, refunds=refunds[payment.order_id]
        )
        if kind == D.AMOUNT_MISMATCH:  # settled one cent short
            own[0].amount -= CENT
        elif kind == D.FEE_NOT_ATTRIBUTED:  # the fee charged twice
            own.append(AlipayEntry(**{**own[1].__dict__}))
        elif kind == D.REFUND_NOT_REFLECTED:  # refunded on Tmall, never booked here
            back = (payment.amount * Decimal("0.3")).quantize(CENT)
            refunded_at = min(payment.paid_at + timedelta(days=1), now)
            own.append(
                AlipayEntry(payment.transaction_id, payment.order.number, "退款", refunded_at,
                            own[0].counterparty, -back, REFUND)
            )  # fmt: skip
        elif kind == D.PERIOD_MISMATCH:  # booked by Alipay just after midnight on the 1st
            own[0].occurred_at = min(month_end + timedelta(seconds=3), now)
        if kind:
            demo.planted[kind].append(payment.order.number)
        entries += own
    if entries or payments:
        entries += _foreign_sale(demo, month_start)
        entries += _unrecorded_payment(demo, month_start, month_end)
    return entries


def _foreign_sale(demo: FinanceDemo, month_start: datetime) -> list[AlipayEntry]:
    """A sale for a merchant order number we do not know (another shop on the same account)."""
    at = month_start + timedelta(days=9, hours=3, minutes=17)
    demo.planted[D.UNMATCHED_LINE].append("SO-OTHERSHOP-88412")
    return [
        AlipayEntry(f"{at:%Y%m%d}22001{987654321:015d}", "SO-OTHERSHOP-88412", "线下门店订单", at,
                    "张* (zhang***@163.com)", Decimal("268.00"), SALE)
    ]  # fmt: skip


def _unrecorded_payment(demo: FinanceDemo, month_start: datetime, month_end: datetime) -> list[AlipayEntry]:
    """The buyer paid a Tmall order we still show as awaiting payment (the notice was lost)."""
    order = (
        Order.objects.filter(
            channel__platform=Platform.TAOBAO,
            status=OrderStatus.PENDING_PAYMENT,
            paid_at__isnull=True,
            placed_at__gte=month_start,
            placed_at__lt=month_end - timedelta(hours=1),
            payments__isnull=True,
        )
        .order_by("placed_at", "pk")
        .first()
    )
    if order is None:
        return []
    demo.planted[D.MISSING_PAYMENT].append(order.number)
    at = order.placed_at + timedelta(minutes=3)
    trade_no = alipay_trade_no(order.pk, at)
    entries = [
        AlipayEntry(trade_no, order.number, f"订单 {order.number}", at, "天猫买家 (tb_buyer)",
                    order.total, SALE),
    ]  # fmt: skip
    if order.platform_commission:  # no fee: Alipay books that with a payment, and we have none
        entries.append(
            AlipayEntry(trade_no, order.number, "天猫佣金", at, "天猫 (tmall@service.taobao.com)",
                        -order.platform_commission, COMMISSION)
        )  # fmt: skip
    return entries


def _import(data: bytes, name: str, actor) -> ImportBatch:
    """Through the real import: upload → check → confirm → insert (the same services the desk and
    the workers call). A worker beside us may take a step first: we wait for it to finish it."""
    batch = import_upload(file=ContentFile(data, name=name), layout_key=ALIPAY_ACCOUNT.key, actor=actor)
    import_validate(batch_id=batch.pk)
    batch = _settled(ImportBatch, batch.pk, (ImportState.UPLOADED, ImportState.VALIDATING))
    if batch.state != ImportState.VALID:
        raise RuntimeError(f"the demo statement did not check: {batch.message} {batch.errors[:3]}")
    import_confirm(batch_id=batch.pk, actor=actor)
    import_commit(batch_id=batch.pk)
    return _settled(ImportBatch, batch.pk, (ImportState.IMPORTING,))


def _settled(model, pk: int, busy: tuple, wait: float = 60.0):
    """The row once no worker is busy with it (at most `wait` seconds)."""
    deadline = time.monotonic() + wait
    row = model.objects.get(pk=pk)
    while row.state in busy and time.monotonic() < deadline:
        time.sleep(0.2)
        row = model.objects.get(pk=pk)
    return row
