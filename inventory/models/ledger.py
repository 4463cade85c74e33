"""The movement ledger: every change to a balance row is one append-only movement."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory.models.stock import SKU, StockBalance


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    ADJUSTMENT = "adjustment", _("Adjustment")
    RESERVE = "reserve", _("Reserve")
    RELEASE = "release", _("Release")
    EXPIRE = "expire", _("Reservation expired")
    COMMIT = "commit", _("Commit")
    SHIP = "ship", _("Ship")
    RETURN = "return", _("Return")
    QC_RELEASE = "qc_release", _("QC passed")
    WRITE_OFF = "write_off", _("Write-off")
    TRANSFER = "transfer", _("Transfer")
    TRANSFER_OUT = "transfer_out", _("Transfer shipped")
    TRANSFER_IN = "transfer_in", _("Transfer received")
    COUNT = "count", _("Cycle count")
    RECONCILE = "reconcile", _("Reconciliation repair")


RELEASE_KINDS = (MovementKind.RELEASE, MovementKind.EXPIRE)


class StockMovement(models.Model):
    """The append-only ledger: every balance equals the sum of its movements' deltas."""

    # Index budget: every movement insert maintains each index, so FKs that the composite indexes
    # below already lead with, or that nothing looks up by, carry none of their own.
    balance = models.ForeignKey(
        StockBalance, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(_("kind"), max_length=12, choices=MovementKind.choices)
    on_hand_delta = models.IntegerField(_("on hand Δ"), default=0)
    reserved_delta = models.IntegerField(_("reserved Δ"), default=0)
    qc_hold_delta = models.IntegerField(_("QC hold Δ"), default=0)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="stock_movements"
    )
    reservation = models.ForeignKey(
        "Reservation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_index=False,
    )
    actor = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="stock_movement_unique_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["sku", "-created_at"], name="movement_sku_time_idx"),
            models.Index(fields=["balance"], name="movement_balance_idx"),
            models.Index(fields=["sku", "kind", "created_at"], name="movement_release_count_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.on_hand_delta:+}/{self.reserved_delta:+}/{self.qc_hold_delta:+}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableMovementError("stock movements are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableMovementError("stock movements are append-only")


class ImmutableMovementError(Exception):
    pass
