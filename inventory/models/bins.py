"""Bin locations (库位) of an own warehouse and which SKUs sit in which bin (issue #17 part 4).

The movement ledger stays the truth of how many units a warehouse holds (StockBalance per
warehouse × pool × lot). A bin's quantity is the warehouse floor's own record of where those
units are: put-away adds to it, a wave's pick scan takes from it, a bin count (the admin import)
sets it. It never moves the ledger, and the ledger never moves it, so the two may disagree; the
pick list says where to look first, not how much the company owns."""

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from inventory.models.stock import SKU, Warehouse

bin_code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
    _("A bin code is letters and digits, joined by - . _ or / (e.g. A-01-03)."),
)


class BinLocation(models.Model):
    """One shelf position. Pickers walk the warehouse in `pick_sequence` order (then by code),
    so a pick list sorted by it is one walk with no doubling back."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, related_name="bins", verbose_name=_("warehouse")
    )
    code = models.CharField(_("bin code"), max_length=32, validators=[bin_code_validator])
    zone = models.CharField(_("zone"), max_length=32, blank=True)
    pick_sequence = models.PositiveIntegerField(
        _("pick sequence"), default=0, help_text=_("Position on the picking path: lower is visited first.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["warehouse", "pick_sequence", "code"]
        verbose_name = _("bin location")
        verbose_name_plural = _("bin locations")
        constraints = [
            models.UniqueConstraint(models.F("warehouse"), Upper("code"), name="bin_location_unique_code")
        ]
        indexes = [models.Index(fields=["warehouse", "pick_sequence", "code"], name="bin_location_path_idx")]

    def __str__(self):
        return self.code


class BinStock(models.Model):
    """A SKU's place in a bin (its home bin, or one of several) and the units the floor
    recorded there. A row with quantity 0 still says where the SKU belongs."""

    bin = models.ForeignKey(
        BinLocation, on_delete=models.CASCADE, related_name="stock", verbose_name=_("bin")
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="bin_stock", verbose_name=_("SKU"))
    quantity = models.PositiveIntegerField(_("units recorded in the bin"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["bin", "sku"]
        verbose_name = _("bin stock")
        verbose_name_plural = _("bin stock")
        constraints = [models.UniqueConstraint(fields=["bin", "sku"], name="bin_stock_unique_sku")]

    def __str__(self):
        return f"{self.bin_id}: {self.quantity}×{self.sku_id}"
