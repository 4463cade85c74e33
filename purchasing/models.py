"""Purchasing: who we buy from, what we ordered, what they announced and what arrived.

A purchase order moves draft → pending approval → approved (sent to the supplier) → confirmed →
partially received → received, or is cancelled / closed short. The supplier answers through the
portal: it confirms lines or proposes other dates and quantities, which the buyer accepts or
rejects, and announces shipments (ASN) that the warehouse receives against. Receiving posts
`receipt` movements to the stock ledger; what arrived beyond or short of the order is flagged.
purchasing.services runs the transitions (core.transitions); these models only assign fields.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import AppendOnlyModel, ConcurrentTransitions, TimeStampedModel
from core.money import CurrencyField, MoneyField
from inventory.models import SKU, Warehouse


class Supplier(TimeStampedModel):
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    contact_name = models.CharField(_("contact"), max_length=120, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    currency = CurrencyField(default="CNY")
    default_lead_time_days = models.PositiveIntegerField(_("lead time (days)"), default=7)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")

    def __str__(self):
        return f"{self.code} {self.name}"


class SupplierUser(models.Model):
    """A portal login: the user sees this supplier's purchase orders and nothing else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supplier_membership"
    )
    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="users")

    class Meta:
        verbose_name = _("supplier user")
        verbose_name_plural = _("supplier users")

    def __str__(self):
        return f"{self.user} → {self.supplier.code}"


class SupplierItem(models.Model):
    """What one supplier sells us of a SKU: its own code, price, lead time and minimum quantity."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="supplier_items")
    supplier_code = models.CharField(_("supplier's code"), max_length=100, blank=True)
    unit_price = MoneyField(_("unit price"))
    currency = CurrencyField()
    lead_time_days = models.PositiveIntegerField(_("lead time (days)"), null=True, blank=True)
    minimum_quantity = models.PositiveIntegerField(_("minimum order quantity"), default=1)
    pack_size = models.PositiveIntegerField(_("pack size"), default=1, help_text=_("Order in multiples."))
    is_preferred = models.BooleanField(
        _("preferred"), default=False, help_text=_("Suggestions for this SKU go to this supplier.")
    )

    class Meta:
        ordering = ["supplier", "sku"]
        verbose_name = _("supplier item")
        verbose_name_plural = _("supplier items")
        constraints = [
            models.UniqueConstraint(fields=["supplier", "sku"], name="supplier_item_unique"),
            models.UniqueConstraint(
                fields=["sku"], condition=models.Q(is_preferred=True), name="supplier_item_one_preferred"
            ),
        ]

    def __str__(self):
        return f"{self.supplier.code}: {self.sku_id}"


class PurchaseOrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
    APPROVED = "approved", _("Sent to supplier")
    CONFIRMED = "confirmed", _("Confirmed by supplier")
    PARTIALLY_RECEIVED = "partially_received", _("Partially received")
    RECEIVED = "received", _("Received")
    CLOSED = "closed", _("Closed short")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_FOR_RECEIPT = [
    PurchaseOrderState.APPROVED,
    PurchaseOrderState.CONFIRMED,
    PurchaseOrderState.PARTIALLY_RECEIVED,
]


class PurchaseOrder(ConcurrentTransitions, TimeStampedModel):
    number = models.CharField(_("number"), max_length=32, unique=True)
    supplier = models.ForeignKey(
        Supplier, on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("supplier")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("deliver to")
    )
    state = FSMField(
        _("state"), default=PurchaseOrderState.DRAFT, choices=PurchaseOrderState.choices, protected=True
    )
    currency = CurrencyField()
    total_amount = MoneyField(_("total"))
    expected_on = models.DateField(_("expected on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    # The supplier proposed other dates or quantities: the buyer accepts or rejects them.
    has_open_proposal = models.BooleanField(_("proposal waiting"), default=False)
    # A cloud warehouse (purchasing.warehouse_systems): the outbox message that announced the order
    # to it (its state says sent / delivered / failed) and the warehouse's own reference once accepted.
    wms_outbox_key = models.CharField(_("cloud warehouse message"), max_length=200, blank=True)
    wms_ref = models.CharField(_("cloud warehouse reference"), max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        permissions = [
            ("approve_purchaseorder", _("Can approve purchase orders")),
            ("receive_purchaseorder", _("Can receive purchase orders")),
        ]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        return _("Purchase order %(number)s") % {"number": self.number}

    # --- transitions: they only assign fields; purchasing.services runs them -----------------

    @transition(
        field=state,
        source=PurchaseOrderState.DRAFT,
        target=PurchaseOrderState.PENDING_APPROVAL,
        permission="purchasing.add_purchaseorder",
    )
    def submit(self):
        pass

    @transition(
        field=state,
        source=PurchaseOrderState.PENDING_APPROVAL,
        target=PurchaseOrderState.APPROVED,
        permission="purchasing.approve_purchaseorder",
    )
    def approve(self, *, by, at=None):
        self.approved_by = by
        self.approved_at = at or timezone.now()

    @transition(
        field=state,
        source=PurchaseOrderState.PENDING_APPROVAL,
        target=PurchaseOrderState.DRAFT,
        permission="purchasing.approve_purchaseorder",
    )
    def reject(self):
        pass

    @transition(field=state, source=PurchaseOrderState.APPROVED, target=PurchaseOrderState.CONFIRMED)
    def confirm(self):
        """The supplier confirmed every line (through the portal, or the buyer on its behalf)."""

    @transition(
        field=state,
        source=[PurchaseOrderState.APPROVED, PurchaseOrderState.CONFIRMED],
        target=PurchaseOrderState.PARTIALLY_RECEIVED,
        permission="purchasing.receive_purchaseorder",
    )
    def receive_part(self):
        pass

    @transition(
        field=state,
        source=OPEN_FOR_RECEIPT,
        target=PurchaseOrderState.RECEIVED,
        permission="purchasing.receive_purchaseorder",
    )
    def receive_all(self):
        pass

    @transition(
        field=state,
        source=[PurchaseOrderState.PARTIALLY_RECEIVED],
        target=PurchaseOrderState.CLOSED,
        permission="purchasing.approve_purchaseorder",
    )
    def close_short(self):
        """Nothing more will come: the rest is no longer expected."""

    @transition(
        field=state,
        source=[
            PurchaseOrderState.DRAFT,
            PurchaseOrderState.PENDING_APPROVAL,
            PurchaseOrderState.APPROVED,
            PurchaseOrderState.CONFIRMED,
        ],
        target=PurchaseOrderState.CANCELLED,
        permission="purchasing.change_purchaseorder",
    )
    def cancel(self):
        pass


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    quantity = models.PositiveIntegerField(_("ordered"))
    # What the buyer (or the suggestion) asked for, before rounding up to the supplier's minimum
    # quantity and pack size; shown next to the ordered quantity when they differ.
    requested_quantity = models.PositiveIntegerField(_("requested"), null=True, blank=True)
    unit_price = MoneyField(_("unit price"))
    line_amount = MoneyField(_("amount"))
    expected_on = models.DateField(_("expected on"), null=True, blank=True)
    # The supplier's answer: what it confirmed, or what it proposes instead (until the buyer decides).
    confirmed_quantity = models.PositiveIntegerField(_("confirmed"), null=True, blank=True)
    confirmed_on = models.DateField(_("confirmed date"), null=True, blank=True)
    proposed_quantity = models.PositiveIntegerField(_("proposed quantity"), null=True, blank=True)
    proposed_on = models.DateField(_("proposed date"), null=True, blank=True)
    received_quantity = models.PositiveIntegerField(_("received"), default=0)
    # Which replenishment suggestion this line came from, if any (one click from the stock desk).
    suggestion = models.ForeignKey(
        "inventory.ReplenishmentSuggestion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="purchase_order_lines",
    )

    class Meta:
        ordering = ["purchase_order", "id"]
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "sku"], name="purchase_line_one_per_sku")
        ]

    def __str__(self):
        return f"{self.purchase_order_id}: {self.sku_id} × {self.quantity}"

    @property
    def open_quantity(self) -> int:
        return max(0, self.quantity - self.received_quantity)

    @property
    def over_received(self) -> int:
        return max(0, self.received_quantity - self.quantity)


class ShipmentNoticeState(models.TextChoices):
    ANNOUNCED = "announced", _("Announced")
    PARTIALLY_RECEIVED = "partially_received", _("Partially received")
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


class ShipmentNotice(ConcurrentTransitions, TimeStampedModel):
    """An advance shipment notice (ASN, 到货通知): what the supplier says is on its way."""

    number = models.CharField(_("number"), max_length=32, unique=True)
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.PROTECT, related_name="notices", verbose_name=_("purchase order")
    )
    state = FSMField(
        _("state"), default=ShipmentNoticeState.ANNOUNCED, choices=ShipmentNoticeState.choices, protected=True
    )
    expected_on = models.DateField(_("expected on"))
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    announced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["expected_on", "id"]
        verbose_name = _("shipment notice")
        verbose_name_plural = _("shipment notices")

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        return _("Shipment notice %(number)s") % {"number": self.number}

    @transition(
        field=state,
        source=[ShipmentNoticeState.ANNOUNCED],
        target=ShipmentNoticeState.PARTIALLY_RECEIVED,
    )
    def receive_part(self):
        pass

    @transition(
        field=state,
        source=[ShipmentNoticeState.ANNOUNCED, ShipmentNoticeState.PARTIALLY_RECEIVED],
        target=ShipmentNoticeState.RECEIVED,
    )
    def receive_all(self):
        pass

    @transition(field=state, source=[ShipmentNoticeState.ANNOUNCED], target=ShipmentNoticeState.CANCELLED)
    def cancel(self):
        pass


class ShipmentNoticeLine(models.Model):
    notice = models.ForeignKey(ShipmentNotice, on_delete=models.CASCADE, related_name="lines")
    purchase_order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("announced"))
    received_quantity = models.PositiveIntegerField(_("received"), default=0)

    class Meta:
        ordering = ["notice", "id"]
        verbose_name = _("shipment notice line")
        verbose_name_plural = _("shipment notice lines")

    def __str__(self):
        return f"{self.notice_id}: {self.purchase_order_line_id} × {self.quantity}"


class GoodsReceipt(TimeStampedModel):
    """One receiving session at the dock (收货单): what was counted against a purchase order
    (and the notice it came with, if any). Posting it writes the ledger receipts once."""

    number = models.CharField(_("number"), max_length=32, unique=True)
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.PROTECT, related_name="receipts", verbose_name=_("purchase order")
    )
    notice = models.ForeignKey(
        ShipmentNotice, on_delete=models.PROTECT, null=True, blank=True, related_name="receipts"
    )
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    # A receipt a cloud warehouse confirmed: its confirmation's key. Unique, so the same
    # confirmation again finds this receipt and changes nothing.
    external_key = models.CharField(_("confirmation key"), max_length=120, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("goods receipt")
        verbose_name_plural = _("goods receipts")
        constraints = [
            models.UniqueConstraint(
                fields=["external_key"],
                condition=~models.Q(external_key=""),
                name="receipt_external_key_unique",
            )
        ]

    def __str__(self):
        return self.number


class GoodsReceiptLine(models.Model):
    receipt = models.ForeignKey(GoodsReceipt, on_delete=models.CASCADE, related_name="lines")
    purchase_order_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("received"), default=0)
    # Beyond what was still open on the order line when this receipt was posted.
    over_quantity = models.PositiveIntegerField(_("over-delivered"), default=0)
    lot_code = models.CharField(_("lot"), max_length=100, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    movement = models.ForeignKey(
        "inventory.StockMovement", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["receipt", "id"]
        verbose_name = _("goods receipt line")
        verbose_name_plural = _("goods receipt lines")
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "purchase_order_line"], name="receipt_line_one_per_po_line"
            )
        ]

    def __str__(self):
        return f"{self.receipt_id}: {self.purchase_order_line_id} × {self.quantity}"


class PurchaseEventKind(models.TextChoices):
    """What happened to a purchase order, stored as a code with parameters and rendered in the
    reader's language (purchasing.events)."""

    CREATED = "created", _("Created")
    EDITED = "edited", _("Lines changed")
    SUBMITTED = "submitted", _("Submitted for approval")
    APPROVED = "approved", _("Approved and sent")
    REJECTED = "rejected", _("Rejected")
    CONFIRMED = "confirmed", _("Confirmed by supplier")
    PROPOSED = "proposed", _("Supplier proposed changes")
    PROPOSAL_ACCEPTED = "proposal_accepted", _("Proposal accepted")
    PROPOSAL_REJECTED = "proposal_rejected", _("Proposal rejected")
    ANNOUNCED = "announced", _("Shipment announced")
    NOTICE_CANCELLED = "notice_cancelled", _("Shipment notice withdrawn")
    RECEIVED = "received", _("Goods received")
    OVER_RECEIVED = "over_received", _("More delivered than ordered")
    CLOSED = "closed", _("Closed short")
    CANCELLED = "cancelled", _("Cancelled")
    WMS_ACCEPTED = "wms_accepted", _("Accepted by the cloud warehouse")
    WMS_SHORT = "wms_short", _("Cloud warehouse finished short")


class PurchaseEvent(AppendOnlyModel):
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=PurchaseEventKind.choices)
    params = models.JSONField(_("details"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("purchase order event")
        verbose_name_plural = _("purchase order events")

    def __str__(self):
        return f"{self.purchase_order_id} {self.kind}"
