"""Replenishment suggestions (R-I8): written daily by orders.replenishment, which knows the sales
they are computed from; shown on the stock desk."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from inventory.models.stock import SKU


class ReplenishmentSuggestion(models.Model):
    """R-I8: a SKU whose available stock covers fewer days than the threshold (default 7)."""

    sku = models.ForeignKey(SKU, on_delete=models.CASCADE, related_name="replenishment_suggestions")
    computed_on = models.DateField(_("computed on"))
    available = models.IntegerField(_("available"))
    average_daily_sales = models.DecimalField(_("average daily sales"), max_digits=12, decimal_places=2)
    days_of_cover = models.DecimalField(_("days of cover"), max_digits=12, decimal_places=1)
    suggested_quantity = models.PositiveIntegerField(_("suggested quantity"))

    class Meta:
        ordering = ["-computed_on", "days_of_cover"]
        verbose_name = _("replenishment suggestion")
        verbose_name_plural = _("replenishment suggestions")
        constraints = [
            models.UniqueConstraint(fields=["sku", "computed_on"], name="replenishment_unique_per_day")
        ]

    def __str__(self):
        return f"{self.sku_id} {self.computed_on}: +{self.suggested_quantity}"
