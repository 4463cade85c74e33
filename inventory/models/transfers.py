"""Transfers between warehouses (调拨单, R-I11): a document moving stock that physically travels
from one warehouse to another, with an in-transit state in between. inventory.transfers runs the
transitions; the units on the way sit on the destination's "in transit" pool (PoolKind.IN_TRANSIT),
which no channel draws from, so they are in neither warehouse's available stock."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import AppendOnlyModel, ConcurrentTransitions
from inventory.models.stock import SKU, Lot, StockPool, Warehouse


class TransferStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT_TO_WAREHOUSE = "sent_to_warehouse", _("Sent to the warehouse")  # a cloud warehouse picks it
    IN_TRANSIT = "in_transit", _("In transit")
    PARTIALLY_RECEIVED = "partially_received", _("Partially received")
    RECEIVED = "received", _("Received")
    CLOSED = "closed", _("Closed with a shortage")
    CANCELLED = "cancelled", _("Cancelled")


TS = TransferStatus
RECEIVING = (TS.IN_TRANSIT, TS.PARTIALLY_RECEIVED)


class ShortageReason(models.TextChoices):
    LOST = "lost", _("Lost in transit")
    DAMAGED = "damaged", _("Damaged in transit")
    SHORT_SHIPPED = "short_shipped", _("Fewer units left the source than recorded")
    OTHER = "other", _("Other (see the note)")


class StockTransfer(ConcurrentTransitions, models.Model):
    number = models.CharField(_("number"), max_length=20, unique=True)
    from_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="transfers_out", verbose_name=_("from warehouse")
    )
    to_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="transfers_in", verbose_name=_("to warehouse")
    )
    status = FSMField(_("status"), default=TS.DRAFT, choices=TS.choices, protected=True)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    # What the cloud warehouses call it once they accepted it (deliveryOrderId / entryOrderId).
    wms_out_ref = models.CharField(_("source WMS reference"), max_length=64, blank=True)
    wms_in_ref = models.CharField(_("destination WMS reference"), max_length=64, blank=True)
    has_overage = models.BooleanField(_("overage"), default=False)
    shortage_reason = models.CharField(
        _("shortage reason"), max_length=20, choices=ShortageReason.choices, blank=True
    )
    shortage_note = models.CharField(_("shortage note"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("stock transfer")
        verbose_name_plural = _("stock transfers")
        permissions = [
            ("ship_stocktransfer", _("Can ship and receive stock transfers")),
            ("close_stocktransfer", _("Can close stock transfers with a shortage")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(from_warehouse=models.F("to_warehouse")),
                name="stock_transfer_between_two_warehouses",
            )
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="stock_transfer_status_idx")]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return reverse("inventory:transfer-detail", args=[self.number])

    @property
    def transition_subject(self) -> str:
        return _("Transfer %(number)s") % {"number": self.number}

    # --- transitions: they only assign fields; inventory.transfers runs them ----------------------

    @transition(
        field=status, source=TS.DRAFT, target=TS.SENT_TO_WAREHOUSE, permission="inventory.ship_stocktransfer"
    )
    def send_to_warehouse(self):
        pass

    @transition(
        field=status,
        source=[TS.DRAFT, TS.SENT_TO_WAREHOUSE],
        target=TS.IN_TRANSIT,
        permission="inventory.ship_stocktransfer",
    )
    def ship(self, *, at):
        self.shipped_at = at

    @transition(
        field=status,
        source=RECEIVING,
        target=TS.PARTIALLY_RECEIVED,
        permission="inventory.ship_stocktransfer",
    )
    def receive_part(self):
        pass

    @transition(field=status, source=RECEIVING, target=TS.RECEIVED, permission="inventory.ship_stocktransfer")
    def receive_all(self, *, at):
        self.finished_at = at

    @transition(field=status, source=RECEIVING, target=TS.CLOSED, permission="inventory.close_stocktransfer")
    def close_short(self, *, reason, note, at):
        self.shortage_reason = reason
        self.shortage_note = note
        self.finished_at = at

    @transition(field=status, source=TS.DRAFT, target=TS.CANCELLED, permission="inventory.add_stocktransfer")
    def cancel(self, *, at):
        self.finished_at = at


class StockTransferLine(models.Model):
    """One stock position to move: SKU, lot and pool at the source; it lands in the same pool at
    the destination. Units on the way = shipped − received − written off as short."""

    transfer = models.ForeignKey(StockTransfer, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    lot = models.ForeignKey(
        Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("lot")
    )
    pool = models.ForeignKey(StockPool, on_delete=models.PROTECT, related_name="+", verbose_name=_("pool"))
    quantity = models.PositiveIntegerField(_("quantity"))
    shipped_quantity = models.PositiveIntegerField(_("shipped"), default=0)
    received_quantity = models.PositiveIntegerField(_("received"), default=0)
    short_quantity = models.PositiveIntegerField(_("written off short"), default=0)
    over_quantity = models.PositiveIntegerField(_("overage"), default=0)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("stock transfer line")
        verbose_name_plural = _("stock transfer lines")
        constraints = [
            models.UniqueConstraint(
                fields=["transfer", "sku", "pool", "lot"],
                condition=models.Q(lot__isnull=False),
                name="stock_transfer_line_unique_with_lot",
            ),
            models.UniqueConstraint(
                fields=["transfer", "sku", "pool"],
                condition=models.Q(lot__isnull=True),
                name="stock_transfer_line_unique_without_lot",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="stock_transfer_line_quantity_positive"
            ),
        ]

    def __str__(self):
        return f"{self.transfer_id}: {self.sku_id} ×{self.quantity}"

    @property
    def in_transit(self) -> int:
        return self.shipped_quantity - self.received_quantity - self.short_quantity


class StockTransferReceipt(models.Model):
    """One receipt at the destination (a scan, a counted form, a WMS confirmation). Its unique key
    is the deduplication: a retried receipt finds its row and changes nothing."""

    transfer = models.ForeignKey(StockTransfer, on_delete=models.CASCADE, related_name="receipts")
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    quantities = models.JSONField(_("units per line"), default=dict)  # {line id: units}
    overage = models.JSONField(_("overage per line"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("stock transfer receipt")
        verbose_name_plural = _("stock transfer receipts")

    def __str__(self):
        return self.idempotency_key


class TransferEventKind(models.TextChoices):
    """Stored as a code with parameters; inventory.transfer_events renders them in the reader's language."""

    CREATED = "created", _("Created")
    SENT = "sent", _("Sent to the warehouse")
    SHIPPED = "shipped", _("Shipped")
    RECEIVED = "received", _("Received")
    OVERAGE = "overage", _("Overage")
    CLOSED = "closed", _("Closed with a shortage")
    CANCELLED = "cancelled", _("Cancelled")
    WMS_FINISHED_SHORT = "wms_short", _("Warehouse finished short")


class StockTransferEvent(AppendOnlyModel):
    """The transfer's append-only history."""

    transfer = models.ForeignKey(StockTransfer, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=TransferEventKind.choices)
    from_status = models.CharField(_("from"), max_length=20, choices=TS.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=TS.choices, blank=True)
    params = models.JSONField(_("details"), default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("stock transfer event")
        verbose_name_plural = _("stock transfer events")

    def __str__(self):
        return f"{self.transfer_id} {self.kind}"
