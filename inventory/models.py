from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel


class WarehouseKind(models.TextChoices):
    OWN = "own", _("Own warehouse")
    THIRD_PARTY = "3pl", _("Cloud warehouse (3PL)")
    STORE = "store", _("Store")
    VIRTUAL = "virtual", _("Virtual warehouse")


def validate_region_list(value):
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError(_('Service regions are a list of region names, e.g. ["浙江省"].'))


class Warehouse(TimeStampedModel):
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=WarehouseKind.choices)
    country = models.CharField(_("country"), max_length=2, default="CN")
    province = models.CharField(_("province"), max_length=60, blank=True)
    city = models.CharField(_("city"), max_length=60, blank=True)
    district = models.CharField(_("district"), max_length=60, blank=True)
    address_line = models.CharField(_("address"), max_length=255, blank=True)
    postcode = models.CharField(_("postcode"), max_length=20, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    service_regions = models.JSONField(
        _("service regions"),
        default=list,
        blank=True,
        validators=[validate_region_list],
        help_text=_("Provinces or regions this warehouse delivers to fastest."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")

    def __str__(self):
        return f"{self.name} ({self.code})"


class SKU(TimeStampedModel):
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    barcode = models.CharField(_("barcode"), max_length=64, unique=True, null=True, blank=True)
    presale = models.BooleanField(_("pre-sale"), default=False)
    lot_tracked = models.BooleanField(_("lot-tracked"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")

    def __str__(self):
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        self.barcode = self.barcode or None  # blank barcodes must not collide on the unique index
        super().save(*args, **kwargs)
