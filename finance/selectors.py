"""Finance reads: payment search, an order's finance panel, revenue sums for reports, periods."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from core.money import ZERO, MoneySum
from core.timezones import business_zone
from finance.models import (
    BILLED_KINDS,
    AccountingPeriod,
    Payment,
    PaymentCallback,
    RevenueKind,
    RevenueLine,
    next_month,
)
from finance.periods import period_month
from finance.rates.selectors import business_currency
from orders.models import Order


def payment_list(*, search: str = "", provider: str = "") -> QuerySet[Payment]:
    """Payments, newest first; `search` is an order number or a transaction id (exact)."""
    payments = Payment.objects.select_related("order", "period").order_by("-paid_at", "-id")
    search = search.strip()
    if search:
        payments = payments.filter(Q(order__number=search) | Q(transaction_id=search))
    if provider:
        payments = payments.filter(provider=provider)
    return payments


def callback_list(*, status: str = "", provider: str = "") -> QuerySet[PaymentCallback]:
    callbacks = PaymentCallback.objects.select_related("payment__order").order_by("-received_at", "-id")
    if status:
        callbacks = callbacks.filter(status=status)
    if provider:
        callbacks = callbacks.filter(provider=provider)
    return callbacks


@dataclass
class CurrencyTotals:
    currency: str
    by_kind: dict[str, Decimal] = field(default_factory=dict)

    @property
    def billed(self) -> Decimal:
        """Goods, shipping and discounts: what the buyer was charged (the order total)."""
        return sum((self.by_kind.get(kind, ZERO) for kind in BILLED_KINDS), ZERO)

    @property
    def net(self) -> Decimal:
        """Everything: what the merchant keeps after commission, fees and refunds."""
        return sum(self.by_kind.values(), ZERO)

    @property
    def rows(self) -> list[tuple[str, str, Decimal]]:
        labels = dict(RevenueKind.choices)
        return [
            (kind, labels[kind], self.by_kind[kind]) for kind in RevenueKind.values if kind in self.by_kind
        ]


@dataclass
class OrderFinance:
    order: Order
    payments: list[Payment]
    lines: list[RevenueLine]
    totals: list[CurrencyTotals]
    received: Decimal  # in the order's currency

    @property
    def outstanding(self) -> Decimal:
        return max(self.order.total - self.received, ZERO)


def order_finance(order: Order) -> OrderFinance:
    payments = list(order.payments.select_related("period").order_by("paid_at", "id"))
    lines = list(order.revenue_lines.select_related("period").order_by("booked_at", "id"))
    totals: dict[str, CurrencyTotals] = {}
    for line in lines:
        entry = totals.setdefault(line.currency, CurrencyTotals(line.currency))
        entry.by_kind[line.kind] = entry.by_kind.get(line.kind, ZERO) + line.amount
    received = sum((p.amount for p in payments if p.currency == order.currency), ZERO)
    return OrderFinance(order, payments, lines, list(totals.values()), received)


@dataclass
class PeriodRow:
    year: int
    month: int
    period: AccountingPeriod | None
    payment_count: int = 0
    line_count: int = 0
    moved_in: int = 0  # items dated in an earlier, closed period
    payment_sums: dict[str, Decimal] = field(default_factory=dict)
    # The payments' amounts fixed in the business currency, and how many have no rate yet.
    business_total: Decimal = ZERO
    unconverted: int = 0

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def is_open(self) -> bool:
        return self.period is None or self.period.is_open

    def has_ended(self, now: datetime) -> bool:
        year, month = next_month(self.year, self.month)
        return timezone.localtime(now, business_zone()) >= datetime(year, month, 1, tzinfo=business_zone())


def period_overview(*, months: int = 12, now: datetime | None = None) -> list[PeriodRow]:
    """The last `months` months (current first) and every older period on record."""
    now = now or timezone.now()
    year, month = period_month(now)
    wanted = []
    for _step in range(months):
        wanted.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    periods = {(p.year, p.month): p for p in AccountingPeriod.objects.select_related("closed_by")}
    keys = sorted(set(wanted) | set(periods), reverse=True)
    rows = {key: PeriodRow(*key, periods.get(key)) for key in keys}
    by_id = {p.pk: rows[key] for key, p in periods.items()}
    for item in Payment.objects.values("period_id", "currency").annotate(
        n=Count("id"),
        total=MoneySum("amount"),
        moved=Count("id", filter=~Q(period_note="")),
        business=MoneySum("business_amount", filter=Q(business_currency=business_currency())),
        unconverted=Count("id", filter=~Q(business_currency=business_currency())),
    ):
        row = by_id[item["period_id"]]
        row.payment_count += item["n"]
        row.moved_in += item["moved"]
        row.payment_sums[item["currency"]] = item["total"]
        row.business_total += item["business"] or ZERO
        row.unconverted += item["unconverted"]
    for item in RevenueLine.objects.values("period_id").annotate(
        n=Count("id"), moved=Count("id", filter=~Q(period_note=""))
    ):
        row = by_id[item["period_id"]]
        row.line_count += item["n"]
        row.moved_in += item["moved"]
    return list(rows.values())
