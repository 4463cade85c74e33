"""What each sales channel is shown: the safety stock kept back from it, and the SKUs whose
channel quantities wait to be pushed."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory.models.stock import SKU


class SafetyStock(models.Model):
    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="safety_stocks")
    channel = models.ForeignKey(
        "integrations.Channel", on_delete=models.CASCADE, related_name="safety_stocks"
    )
    quantity = models.PositiveIntegerField(_("safety stock"))

    class Meta:
        verbose_name = _("safety stock")
        verbose_name_plural = _("safety stock")
        constraints = [models.UniqueConstraint(fields=["sku", "channel"], name="safety_stock_unique")]

    def __str__(self):
        return f"{self.sku_id}/{self.channel_id}: {self.quantity}"


class StockPushPending(models.Model):
    """SKUs whose channel quantities must be recomputed and pushed; one row per SKU debounces."""

    sku = models.OneToOneField(SKU, on_delete=models.CASCADE, related_name="+")
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("stock push pending")
        verbose_name_plural = _("stock pushes pending")

    def __str__(self):
        return str(self.sku_id)
