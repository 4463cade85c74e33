"""E-invoices (数电发票) per order: what the buyer asked for, what the provider issued, and the
red-letter reversals (红字) refunds cause. finance.invoices.services moves them along.

The request number is the provider's order number (Nuonuo `orderNo`, unique per seller): it is
what makes a retried submission issue one invoice, never two."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import ConcurrentTransitions
from core.money import CurrencyField, MoneyField


class BuyerKind(models.TextChoices):
    PERSON = "b2c", _("Person (B2C)")
    COMPANY = "b2b", _("Company (B2B)")


class InvoiceType(models.TextChoices):
    NORMAL = "normal", _("Normal invoice (普票)")
    SPECIAL = "special", _("Special VAT invoice (专票)")


class InvoiceState(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ISSUING = "issuing", _("Issuing at the provider")
    ISSUED = "issued", _("Issued")
    REVERSING = "reversing", _("Red-letter reversal under way")
    REVERSED = "reversed", _("Reversed (red-letter)")
    FAILED = "failed", _("Failed")


class InvoiceRequest(ConcurrentTransitions, models.Model):
    """One blue invoice asked for an order. At most one live (not failed-and-abandoned, not
    reversed) request per order: a second request for the same order is refused."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="invoice_requests")
    buyer_kind = models.CharField(_("buyer"), max_length=3, choices=BuyerKind.choices)
    invoice_type = models.CharField(
        _("invoice type"), max_length=7, choices=InvoiceType.choices, default=InvoiceType.NORMAL
    )
    buyer_title = models.CharField(_("buyer title"), max_length=100)
    buyer_tax_id = models.CharField(_("buyer tax id"), max_length=20, blank=True)
    buyer_email = models.EmailField(_("e-mail"), max_length=50, blank=True)
    buyer_phone = models.CharField(_("phone"), max_length=20, blank=True)
    currency = CurrencyField()
    amount = MoneyField(_("amount"), help_text=_("Price and tax together, as issued (blue)."))
    state = FSMField(_("state"), default=InvoiceState.REQUESTED, choices=InvoiceState.choices, protected=True)
    provider = models.CharField(_("provider"), max_length=20)
    provider_serial = models.CharField(_("provider serial number"), max_length=32, blank=True)
    invoice_number = models.CharField(_("invoice number"), max_length=20, blank=True)
    pdf_url = models.URLField(_("PDF"), max_length=500, blank=True)
    ofd_url = models.URLField(_("OFD"), max_length=500, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("submissions"), default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invoice request")
        verbose_name_plural = _("invoice requests")
        permissions = [("retry_invoicerequest", _("Can retry failed invoices"))]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_request_amount_positive"),
            models.UniqueConstraint(
                fields=["order"],
                condition=~Q(state__in=[InvoiceState.REVERSED]),
                name="invoice_request_one_live_per_order",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        return _("Invoice %(number)s") % {"number": self.number}

    @property
    def is_special(self) -> bool:
        return self.invoice_type == InvoiceType.SPECIAL

    @transition(
        field=state, source=[InvoiceState.REQUESTED, InvoiceState.FAILED], target=InvoiceState.ISSUING
    )
    def submit(self, *, serial: str = ""):
        self.provider_serial = serial or self.provider_serial
        self.attempts += 1
        self.error = ""

    @transition(
        field=state, source=[InvoiceState.REQUESTED, InvoiceState.ISSUING], target=InvoiceState.FAILED
    )
    def fail(self, *, error: str):
        self.error = error[:2000]

    @transition(
        field=state,
        source=InvoiceState.FAILED,
        target=InvoiceState.REQUESTED,
        permission="finance.retry_invoicerequest",
    )
    def retry(self):
        self.error = ""

    @transition(field=state, source=InvoiceState.ISSUING, target=InvoiceState.ISSUED)
    def issue(self, *, invoice_number: str, pdf_url: str, ofd_url: str, issued_at, serial: str = ""):
        self.invoice_number = invoice_number
        self.pdf_url, self.ofd_url = pdf_url, ofd_url
        self.issued_at = issued_at
        self.provider_serial = serial or self.provider_serial

    @transition(
        field=state, source=[InvoiceState.ISSUED, InvoiceState.REVERSING], target=InvoiceState.REVERSING
    )
    def start_reversal(self):
        pass

    @transition(field=state, source=InvoiceState.REVERSING, target=InvoiceState.ISSUED)
    def end_partial_reversal(self):
        pass

    @transition(field=state, source=InvoiceState.REVERSING, target=InvoiceState.REVERSED)
    def end_full_reversal(self):
        pass


class InvoiceLine(models.Model):
    """The blue invoice's amount at one tax rate, exact to the cent: amount = net + tax."""

    request = models.ForeignKey(InvoiceRequest, on_delete=models.CASCADE, related_name="lines")
    index = models.PositiveSmallIntegerField(_("line"))  # the provider's detail line number, from 1
    tax_rate = models.DecimalField(_("tax rate"), max_digits=5, decimal_places=4)
    amount = MoneyField(_("price and tax"))
    net_amount = MoneyField(_("amount excluding tax"))
    tax_amount = MoneyField(_("tax"))

    class Meta:
        ordering = ["request", "index"]
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        constraints = [
            models.UniqueConstraint(fields=["request", "index"], name="invoice_line_unique_index"),
            models.UniqueConstraint(fields=["request", "tax_rate"], name="invoice_line_one_per_rate"),
        ]

    def __str__(self):
        return f"{self.request_id} {self.tax_rate}: {self.amount}"


class InvoiceRefund(models.Model):
    """A refund that went through on an order, as invoicing needs it: what each order line and
    the shipping gave back. Recorded for every succeeded refund, invoiced or not (the refund key
    deduplicates), so a later invoice request never covers money that was given back."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="invoice_refunds")
    key = models.CharField(_("refund"), max_length=64, unique=True)
    amount = MoneyField(_("amount"))
    # {"<line_no>": "12.34", ...}: the goods each order line gave back (after any kept fee).
    lines = models.JSONField(_("per line"), default=dict)
    shipping = MoneyField(_("shipping"))
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("refund for invoicing")
        verbose_name_plural = _("refunds for invoicing")

    def __str__(self):
        return self.key


class ReversalState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SUBMITTED = "submitted", _("Sent: waiting for the red invoice")
    DONE = "done", _("Red invoice issued")
    FAILED = "failed", _("Failed")


class InvoiceReversal(models.Model):
    """A red-letter reversal (红字) of an issued invoice: full (`lines` empty, everything
    reversed) or partial (`lines`: the negative amount per blue line). `number` is the red
    invoice's own order number at the provider."""

    request = models.ForeignKey(InvoiceRequest, on_delete=models.PROTECT, related_name="reversals")
    number = models.CharField(_("number"), max_length=20, unique=True)
    full = models.BooleanField(_("full reversal"))
    amount = MoneyField(_("amount reversed"))
    # [{"index": 1, "tax_rate": "0.13", "amount": "-10.00", "net_amount": "-8.85", "tax_amount": "-1.15"}]
    lines = models.JSONField(_("lines"), default=list, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=ReversalState.choices, default=ReversalState.PENDING
    )
    provider_reference = models.CharField(_("provider reference"), max_length=64, blank=True)
    invoice_number = models.CharField(_("red invoice number"), max_length=20, blank=True)
    pdf_url = models.URLField(_("PDF"), max_length=500, blank=True)
    ofd_url = models.URLField(_("OFD"), max_length=500, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("red-letter reversal")
        verbose_name_plural = _("red-letter reversals")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_reversal_amount_positive")
        ]

    def __str__(self):
        return self.number

    def lines_total(self) -> Decimal:
        return sum((Decimal(line["amount"]) for line in self.lines), Decimal("0.00"))
