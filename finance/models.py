"""Finance records (SPEC R-M1, R-M2, R-M5): payments received, the raw provider callbacks behind
them, the typed revenue lines of each order and the accounting periods they are booked in.

Each money row carries the period it is booked in, so reconciliation (orders ↔ payments ↔
settlements ↔ bank lines) can match within a period and a closed period never changes.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField, transition

from core.encrypted_fields import EncryptedTextField
from core.models import ConcurrentTransitions
from core.money import CurrencyField, Money, MoneyField
from core.timezones import business_zone
from finance.rates.models import RateField


class PeriodState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


def next_month(year: int, month: int) -> tuple[int, int]:
    """(year, month) of the calendar month after the given one."""
    return (year + 1, 1) if month == 12 else (year, month + 1)


class AccountingPeriod(ConcurrentTransitions, models.Model):
    """A calendar month in the business time zone (settings.BUSINESS_TIME_ZONE). Closing it locks
    it: an item dated inside it later is booked in the next open period, with a note."""

    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    state = FSMField(_("state"), default=PeriodState.OPEN, choices=PeriodState.choices, protected=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("closed by"),
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-year", "-month"]
        verbose_name = _("accounting period")
        verbose_name_plural = _("accounting periods")
        constraints = [
            models.UniqueConstraint(fields=["year", "month"], name="accounting_period_unique_month"),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12), name="accounting_period_month"),
        ]
        permissions = [("close_accountingperiod", _("Can close accounting periods"))]

    def __str__(self):
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def starts_at(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=business_zone())

    @property
    def ends_at(self) -> datetime:
        """The first instant of the next month (exclusive end)."""
        return datetime(*next_month(self.year, self.month), 1, tzinfo=business_zone())

    @property
    def is_open(self) -> bool:
        return self.state == PeriodState.OPEN

    @transition(
        field=state,
        source=PeriodState.OPEN,
        target=PeriodState.CLOSED,
        permission="finance.close_accountingperiod",
    )
    def close(self, *, by):
        self.closed_by = by
        self.closed_at = timezone.now()


class PaymentProvider(models.TextChoices):
    API = "api", _("API")
    STRIPE = "stripe", "Stripe"
    ALIPAY = "alipay", _("Alipay")
    WECHAT_PAY = "wechat_pay", _("WeChat Pay")
    UNIONPAY = "unionpay", _("UnionPay")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    POS = "pos", _("POS")
    PLATFORM = "platform", _("Sales platform")


class CallbackStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")


class PaymentCallback(models.Model):
    """One notification from a payment provider, kept as received for audit and replay.
    A rejected one (bad, expired or replayed signature) is an audit line without a body."""

    provider = models.CharField(_("provider"), max_length=20, choices=PaymentProvider.choices)
    # The provider's id for this notification (Stripe event id, Alipay notify_id): redeliveries
    # share it, so the partial unique constraint makes a redelivery a no-op.
    event_id = models.CharField(_("event id"), max_length=128, null=True, blank=True)
    event_type = models.CharField(_("event type"), max_length=100, blank=True)
    signature = models.CharField(_("signature"), max_length=1024, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.TextField(_("body"), blank=True)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=12, choices=CallbackStatus.choices, default=CallbackStatus.RECEIVED
    )
    error = models.TextField(_("error"), blank=True)
    payment = models.ForeignKey(
        "finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="callbacks"
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("payment callback")
        verbose_name_plural = _("payment callbacks")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"],
                condition=Q(event_id__isnull=False),
                name="payment_callback_unique_event",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="payment_callback_status_idx"),
            models.Index(fields=["provider", "-received_at"], name="payment_callback_provider_idx"),
        ]

    def __str__(self):
        return f"{self.provider} {self.event_type or '-'} #{self.pk}"


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")


class Payment(ConcurrentTransitions, models.Model):
    """Money received for an order. (provider, transaction_id) is unique: the same transaction
    reported again is the same payment; it is never overwritten."""

    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="payments", verbose_name=_("order")
    )
    provider = models.CharField(_("provider"), max_length=20, choices=PaymentProvider.choices)
    transaction_id = models.CharField(_("transaction id"), max_length=128)
    amount = MoneyField(_("amount"))
    currency = CurrencyField()
    fee = MoneyField(_("provider fee"))
    refunded_amount = MoneyField(_("refunded"))
    paid_at = models.DateTimeField(_("paid at"))
    method = models.CharField(_("method"), max_length=40, blank=True)
    status = FSMField(
        _("status"), default=PaymentStatus.SUCCEEDED, choices=PaymentStatus.choices, protected=True
    )
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    callback = models.ForeignKey(
        PaymentCallback, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    period = models.ForeignKey(
        AccountingPeriod, on_delete=models.PROTECT, related_name="payments", verbose_name=_("period")
    )
    period_note = models.CharField(_("period note"), max_length=255, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True, db_index=True)
    # The rate fixed when the payment was recorded (finance.rates.conversion): empty until a rate
    # of its day is known, then filled once by the repair job and never changed (on PostgreSQL a
    # trigger refuses it).
    rate = RateField(_("exchange rate"), null=True, blank=True)
    rate_date = models.DateField(_("rate of"), null=True, blank=True)
    business_amount = MoneyField(_("amount in the business currency"), null=True, blank=True, default=None)
    business_currency = CurrencyField(_("business currency"), blank=True)

    class Meta:
        ordering = ["-paid_at", "-id"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "transaction_id"], name="payment_unique_provider_transaction"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="payment_fee_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=models.F("amount")),
                name="payment_refunded_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(rate__isnull=True, rate_date__isnull=True, business_amount__isnull=True)
                | Q(rate__gt=0, rate_date__isnull=False, business_amount__isnull=False),
                name="payment_rate_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["transaction_id"], name="payment_transaction_idx"),
            models.Index(fields=["period", "provider"], name="payment_period_provider_idx"),
            models.Index(fields=["-paid_at"], name="payment_paid_at_idx"),
            models.Index(fields=["id"], condition=Q(rate__isnull=True), name="payment_without_rate_idx"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.transaction_id}"

    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @transition(
        field=status,
        source=[PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED],
        target=RETURN_VALUE(PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED),
    )
    def refund(self, *, amount):
        self.refunded_amount += amount
        return (
            PaymentStatus.REFUNDED
            if self.refunded_amount >= self.amount
            else PaymentStatus.PARTIALLY_REFUNDED
        )


class RevenueKind(models.TextChoices):
    GOODS = "goods", _("Goods")
    ADJUSTMENT = "adjustment", _("Seller price adjustment")
    SHIPPING = "shipping", _("Shipping")
    TAX = "tax", _("Tax")
    MERCHANT_DISCOUNT = "merchant_discount", _("Merchant discount")
    PLATFORM_DISCOUNT = "platform_discount", _("Platform discount")
    COMMISSION = "commission", _("Platform commission")
    FEE = "fee", _("Payment fee")
    REFUND = "refund", _("Refund")


# Kinds that make up what the buyer owes (the order total); commission, fees and refunds come
# on top of it to give what the merchant keeps.
BILLED_KINDS = (
    RevenueKind.GOODS,
    RevenueKind.ADJUSTMENT,
    RevenueKind.SHIPPING,
    RevenueKind.TAX,
    RevenueKind.MERCHANT_DISCOUNT,
    RevenueKind.PLATFORM_DISCOUNT,
)
# Lines derived from the order's own amounts carry this source and are rebuilt from them;
# other sources ("payment:<id>", "refund:<reference>") name the one thing they come from.
ORDER_SOURCE = "order"


class RevenueLine(models.Model):
    """One typed amount of an order's revenue, signed: income positive, deductions negative.
    Every report sums these lines, so a breakdown always adds up to the same totals."""

    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="revenue_lines", verbose_name=_("order")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=RevenueKind.choices)
    amount = MoneyField(_("amount"))
    currency = CurrencyField()
    source = models.CharField(_("source"), max_length=100)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="revenue_lines"
    )
    booked_at = models.DateTimeField(_("booked at"))
    period = models.ForeignKey(
        AccountingPeriod, on_delete=models.PROTECT, related_name="revenue_lines", verbose_name=_("period")
    )
    period_note = models.CharField(_("period note"), max_length=255, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["order", "booked_at", "id"]
        verbose_name = _("revenue line")
        verbose_name_plural = _("revenue lines")
        constraints = [
            # One line per fee, refund or settlement item; order-derived lines may be split across
            # a closed period and an adjustment in the next open one.
            models.UniqueConstraint(
                fields=["order", "kind", "source"],
                condition=~Q(source=ORDER_SOURCE),
                name="revenue_line_unique_source",
            )
        ]
        indexes = [
            models.Index(fields=["order", "source"], name="revenue_line_order_source_idx"),
            models.Index(fields=["booked_at"], name="revenue_line_booked_idx"),
            models.Index(fields=["period", "kind"], name="revenue_line_period_kind_idx"),
            # Reconciliation reads every order's refunds; they are few among the lines.
            models.Index(fields=["order"], condition=Q(kind="refund"), name="revenue_line_refund_idx"),
        ]

    def __str__(self):
        return f"{self.order_id} {self.kind} {self.currency} {self.amount}"


class WechatPayCertificate(models.Model):
    """A WeChat Pay platform certificate, as GET /v3/certificates gave it (decrypted with the
    APIv3 key): its key verifies the notifications and answers that name its serial
    (finance.providers.wechatpay_client). Kept encrypted at rest like the other secrets."""

    serial_no = models.CharField(_("serial number"), max_length=64, unique=True)
    certificate = EncryptedTextField(_("certificate (PEM)"))
    effective_at = models.DateTimeField(_("effective from"))
    expires_at = models.DateTimeField(_("expires at"))
    fetched_at = models.DateTimeField(_("fetched at"), default=timezone.now)

    class Meta:
        ordering = ["-expires_at"]
        verbose_name = _("WeChat Pay platform certificate")
        verbose_name_plural = _("WeChat Pay platform certificates")

    def __str__(self):
        return self.serial_no


# The models of the imports, reconciliation and voucher packages belong to this app too.
from finance.imports.models import ImportBatch, ImportLayout, StatementLine  # noqa: E402, F401
from finance.invoices.models import InvoiceLine, InvoiceRefund, InvoiceRequest, InvoiceReversal  # noqa: E402, F401
from finance.rates.models import ExchangeRate  # noqa: E402, F401
from finance.reconciliation.models import MemoCandidate, ReconciliationItem, ReconciliationRun  # noqa: E402, F401
from finance.vouchers.models import AccountingSystem, VoucherBatch, VoucherEntry, VoucherLayout  # noqa: E402, F401
