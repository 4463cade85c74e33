"""B2B: business accounts (credit terms, price lists), contracts that need approval before they
reserve stock, and their delivery schedules. Each scheduled delivery becomes an order on the
account's channel at approval — reserved at once and held until it is due (b2b.schedule)."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import AppendOnlyModel, ConcurrentTransitions, TimeStampedModel
from core.money import CurrencyField, Money, MoneyField


class PriceList(TimeStampedModel):
    name = models.CharField(_("name"), max_length=120)
    currency = CurrencyField()
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.currency})"


class PriceListItem(models.Model):
    """A SKU's unit price from `min_quantity` units on (quantity tiers: the highest tier the
    quantity reaches applies)."""

    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    min_quantity = models.PositiveIntegerField(
        _("from quantity"), default=1, validators=[MinValueValidator(1)]
    )
    unit_price = MoneyField(_("unit price"), validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        verbose_name = _("price list item")
        verbose_name_plural = _("price list items")
        ordering = ["sku__code", "min_quantity"]
        constraints = [
            models.UniqueConstraint(
                fields=["price_list", "sku", "min_quantity"], name="b2b_price_item_unique_tier"
            )
        ]

    def __str__(self):
        return f"{self.sku} ≥{self.min_quantity}: {self.unit_price}"


class B2BAccount(TimeStampedModel):
    """A business customer. Its orders.Customer is the one the intake finds for its contact (the
    same identity key), so the delivery orders land on the customer's page like any other."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=120)
    customer = models.OneToOneField(
        "orders.Customer", on_delete=models.PROTECT, related_name="b2b_account", verbose_name=_("customer")
    )
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("sales channel"),
        help_text=_("The B2B channel (platform “generic”) the delivery orders are placed on."),
    )
    currency = CurrencyField(help_text=_("Contracts and the credit limit are in this currency."))
    credit_limit = MoneyField(_("credit limit"), validators=[MinValueValidator(Decimal("0"))])
    payment_terms_days = models.PositiveSmallIntegerField(_("payment terms (net days)"), default=30)
    price_list = models.ForeignKey(
        PriceList, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts"
    )
    contact_name = models.CharField(_("contact"), max_length=120, blank=True)
    contact_phone = models.CharField(_("phone"), max_length=32, blank=True)
    contact_email = models.EmailField(_("email"), blank=True)
    ship_country = models.CharField(_("country"), max_length=2, default="CN")
    ship_province = models.CharField(_("province"), max_length=60, blank=True)
    ship_city = models.CharField(_("city"), max_length=60)
    ship_district = models.CharField(_("district"), max_length=60, blank=True)
    ship_line1 = models.CharField(_("address"), max_length=255)
    ship_postcode = models.CharField(_("postcode"), max_length=20, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("B2B account")
        verbose_name_plural = _("B2B accounts")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("b2b:account", args=[self.code])


class ApprovalTier(models.TextChoices):
    STANDARD = "standard", _("Standard (manager)")
    SENIOR = "senior", _("Senior")


TIER_PERMISSION = {
    ApprovalTier.STANDARD: "b2b.approve_contract",
    ApprovalTier.SENIOR: "b2b.approve_contract_senior",
}


class ApprovalRule(models.Model):
    """From `min_amount` (in `currency`) on, a contract needs this tier's approver. Thresholds are
    kept per currency: b2b sits below finance and its exchange rates."""

    currency = CurrencyField()
    min_amount = MoneyField(_("from amount"), validators=[MinValueValidator(Decimal("0"))])
    tier = models.CharField(_("approver"), max_length=10, choices=ApprovalTier.choices)

    class Meta:
        verbose_name = _("approval rule")
        verbose_name_plural = _("approval rules")
        ordering = ["currency", "min_amount"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "min_amount"], name="b2b_approval_rule_unique")
        ]

    def __str__(self):
        return f"{self.currency} ≥ {self.min_amount}: {self.get_tier_display()}"


class ContractStatus(models.TextChoices):
    DRAFT = "draft", _("Draft (quotation)")
    SUBMITTED = "submitted", _("Waiting for approval")
    APPROVED = "approved", _("Approved: in delivery")
    SETTLED = "settled", _("Settled")
    CANCELLED = "cancelled", _("Cancelled")


CS = ContractStatus


class Contract(ConcurrentTransitions, FSMModelMixin, TimeStampedModel):
    number = models.CharField(_("contract number"), max_length=24, unique=True)
    account = models.ForeignKey(B2BAccount, on_delete=models.PROTECT, related_name="contracts")
    currency = CurrencyField()
    status = FSMField(_("status"), default=CS.DRAFT, choices=CS.choices, protected=True)
    amount = MoneyField(_("amount"))
    required_tier = models.CharField(
        _("approver needed"), max_length=10, choices=ApprovalTier.choices, blank=True
    )
    credit_check = models.JSONField(_("credit check"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("submit_contract", _("Can submit B2B contracts for approval")),
            ("approve_contract", _("Can approve B2B contracts (standard tier)")),
            ("approve_contract_senior", _("Can approve B2B contracts of any amount or over credit")),
            ("cancel_contract", _("Can cancel B2B contracts")),
            ("change_schedule", _("Can change the delivery schedule of approved contracts")),
            ("settle_contract", _("Can record a B2B contract as settled (paid in full)")),
        ]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        return _("Contract %(number)s") % {"number": self.number}

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("b2b:contract", args=[self.number])

    def money(self) -> Money:
        return Money(self.amount, self.currency)

    # --- transitions: they only assign fields; b2b.contracts runs them -----------------------

    @transition(field=status, source=CS.DRAFT, target=CS.SUBMITTED, permission="b2b.submit_contract")
    def submit(self, *, by, tier, credit_check):
        self.submitted_by, self.required_tier, self.credit_check = by, tier, credit_check

    @transition(field=status, source=CS.SUBMITTED, target=CS.APPROVED, permission="b2b.approve_contract")
    def approve(self, *, by):
        self.approved_by, self.approved_at = by, timezone.now()

    @transition(field=status, source=CS.SUBMITTED, target=CS.DRAFT, permission="b2b.approve_contract")
    def reject(self):
        self.submitted_by, self.required_tier = None, ""

    @transition(
        field=status, source=[CS.DRAFT, CS.SUBMITTED], target=CS.CANCELLED, permission="b2b.cancel_contract"
    )
    def cancel(self):
        pass

    @transition(field=status, source=CS.APPROVED, target=CS.SETTLED, permission="b2b.settle_contract")
    def settle(self):
        pass


class ContractLine(models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField(_("line"))
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    unit_price = MoneyField(_("unit price"))
    list_price = MoneyField(_("price-list price"), null=True, blank=True, default=None)
    made_to_order = models.BooleanField(_("made to order"), default=False)
    ready_on = models.DateField(_("production / receipt date"), null=True, blank=True)

    class Meta:
        verbose_name = _("contract line")
        verbose_name_plural = _("contract lines")
        ordering = ["line_no"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "line_no"], name="b2b_contract_line_unique_no")
        ]

    def __str__(self):
        return f"{self.contract_id} #{self.line_no} {self.sku_id} ×{self.quantity}"

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def deviation(self) -> Decimal | None:
        """How far below the price list the agreed price is (None: at or above it, or no list)."""
        if self.list_price is None or self.unit_price >= self.list_price:
            return None
        return self.list_price - self.unit_price


class DeliveryStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")  # the contract is not approved yet: no order
    SCHEDULED = "scheduled", _("Scheduled: reserved, held until due")
    RELEASED = "released", _("Released to fulfilment")
    CANCELLED = "cancelled", _("Cancelled")


DS = DeliveryStatus
CHANGEABLE = [DS.PLANNED, DS.SCHEDULED]


class Delivery(ConcurrentTransitions, FSMModelMixin, models.Model):
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="deliveries")
    seq = models.PositiveSmallIntegerField(_("delivery"))
    due_on = models.DateField(_("due on"))
    status = FSMField(_("status"), default=DS.PLANNED, choices=DS.choices, protected=True)
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="b2b_delivery"
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("scheduled delivery")
        verbose_name_plural = _("scheduled deliveries")
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["contract", "seq"], name="b2b_delivery_unique_seq")]
        indexes = [models.Index(fields=["status", "due_on"], name="b2b_delivery_due_idx")]

    def __str__(self):
        return self.reference

    @property
    def reference(self) -> str:
        return f"{self.contract.number}-D{self.seq}"

    @property
    def transition_subject(self) -> str:
        return _("Delivery %(ref)s") % {"ref": self.reference}

    @transition(field=status, source=DS.PLANNED, target=DS.SCHEDULED)
    def schedule(self, *, order):
        self.order = order

    @transition(field=status, source=DS.SCHEDULED, target=DS.RELEASED)
    def release(self):
        self.released_at = timezone.now()

    @transition(field=status, source=CHANGEABLE, target=DS.CANCELLED)
    def cancel(self):
        pass


class DeliveryLine(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="lines")
    contract_line = models.ForeignKey(ContractLine, on_delete=models.CASCADE, related_name="delivery_lines")
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    order_line = models.OneToOneField(
        "orders.OrderLine", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("delivery line")
        verbose_name_plural = _("delivery lines")
        ordering = ["contract_line__line_no"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "contract_line"], name="b2b_delivery_line_unique")
        ]

    def __str__(self):
        return f"{self.delivery_id} {self.contract_line_id} ×{self.quantity}"


class ContractEventCode(models.TextChoices):
    CREATED = "created", _("Created")
    EDITED = "edited", _("Edited")
    SUBMITTED = "submitted", _("Submitted for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    SETTLED = "settled", _("Settled")
    DELIVERY_SCHEDULED = "delivery_scheduled", _("Delivery scheduled")
    DELIVERY_MOVED = "delivery_moved", _("Delivery moved")
    DELIVERY_RESPLIT = "delivery_resplit", _("Quantities re-split")
    DELIVERY_RELEASED = "delivery_released", _("Delivery released")
    REST_CANCELLED = "rest_cancelled", _("Rest of the schedule cancelled")


class ContractEvent(AppendOnlyModel):
    """One immutable row of a contract's audit trail: a code and its parameters, rendered in the
    reader's language (b2b.events)."""

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="events")
    code = models.CharField(_("event"), max_length=24, choices=ContractEventCode.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("contract event")
        verbose_name_plural = _("contract events")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.contract_id} {self.code}"
