"""Where stock is: warehouses, SKUs and their lots, the pools stock is split into (and which
channel draws from which), and the balance rows holding the quantities."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from core.encrypted_fields import EncryptedTextField
from core.models import TimeStampedModel


class WarehouseKind(models.TextChoices):
    OWN = "own", _("Own warehouse")
    THIRD_PARTY = "3pl", _("Cloud warehouse (3PL)")
    STORE = "store", _("Store")
    VIRTUAL = "virtual", _("Virtual warehouse")


def validate_region_list(value):
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError(_('Service regions are a list of region names, e.g. ["浙江省"].'))


class WmsProtocol(models.TextChoices):
    OWN = "own", _("Own warehouse (desk)")
    QIMEN = "qimen", _("Cloud warehouse (Qimen WMS API)")


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
    wms_protocol = models.CharField(
        _("warehouse system"),
        max_length=10,
        choices=WmsProtocol.choices,
        default=WmsProtocol.OWN,
        help_text=_("Own: our staff work shipments in the desk. Qimen: pushed to a cloud warehouse."),
    )
    wms_endpoint = models.URLField(_("WMS endpoint"), blank=True)
    wms_customer_id = models.CharField(_("WMS customer id"), max_length=64, blank=True)
    wms_owner_code = models.CharField(_("WMS owner code"), max_length=64, blank=True)
    wms_app_key = models.CharField(_("WMS app key"), max_length=64, blank=True)
    # The app key is an identifier sent in the clear with every call; the secret signs them.
    wms_secret = EncryptedTextField(_("WMS secret"), max_length=255, blank=True)  # write-only in the admin
    default_carrier = models.ForeignKey(
        "orders.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default carrier"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")

    def __str__(self):
        return f"{self.name} ({self.code})"


class WarehouseCarrierCode(models.Model):
    """A warehouse's own name for a carrier: what its WMS reports a parcel left with (a Qimen
    confirmation's logisticsCode, e.g. "STO2" for the warehouse's second Shentong account). Read
    before the carriers' own codes (integrations.wms.qimen.callbacks)."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, related_name="carrier_codes", verbose_name=_("warehouse")
    )
    code = models.CharField(_("warehouse's carrier code"), max_length=50)  # logisticsCode is string(50)
    carrier = models.ForeignKey(
        "orders.Carrier", on_delete=models.PROTECT, related_name="+", verbose_name=_("carrier")
    )

    class Meta:
        ordering = ["warehouse", "code"]
        verbose_name = _("warehouse carrier code")
        verbose_name_plural = _("warehouse carrier codes")
        constraints = [
            models.UniqueConstraint(
                models.F("warehouse"), Upper("code"), name="warehouse_carrier_code_unique"
            )
        ]

    def __str__(self):
        return f"{self.warehouse_id}: {self.code} → {self.carrier_id}"


class SKU(TimeStampedModel):
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    barcode = models.CharField(_("barcode"), max_length=64, unique=True, null=True, blank=True)
    presale = models.BooleanField(_("pre-sale"), default=False)
    lot_tracked = models.BooleanField(_("lot-tracked"), default=False)
    near_expiry_days = models.PositiveIntegerField(
        _("near-expiry window (days)"),
        null=True,
        blank=True,
        help_text=_("Lines from a lot expiring this soon are held for QA; empty = the default."),
    )
    release_breaker_limit = models.PositiveIntegerField(
        _("release breaker limit"),
        null=True,
        blank=True,
        help_text=_("Automatic releases per hour before they pause for review; empty = the default."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # A bundle (组合装) holds no stock of its own: orders reserve, ship and return its components
    # (inventory.models.bundles.BundleComponent) and channels are shown what they make up.
    is_bundle = models.BooleanField(
        _("bundle"),
        default=False,
        db_default=False,
        help_text=_("Sold as one item, made of the components below; it holds no stock of its own."),
    )
    # One unit, packed: carrier rules estimate a parcel's weight from it until the parcel is weighed.
    weight_grams = models.PositiveIntegerField(_("weight (g)"), null=True, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")

    def __str__(self):
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        self.barcode = self.barcode or None  # blank barcodes must not collide on the unique index
        super().save(*args, **kwargs)


class PoolKind(models.TextChoices):
    REGULAR = "regular", _("Regular sales")
    PROMOTION = "promotion", _("Promotion")
    OFFLINE = "offline", _("Offline stores")
    LIVE = "live", _("Live-stream virtual warehouse")
    # Units shipped by a transfer and not yet received, held at the destination: never sellable,
    # never a channel's pool or the default (inventory.transfers).
    IN_TRANSIT = "in_transit", _("In transit (transfers)")


class StockPool(models.Model):
    """A partition of stock (R-I4). Every balance row belongs to one pool; a channel draws only
    from the pools mapped to it, or from the default pool when it has no mapping."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12, choices=PoolKind.choices)
    is_default = models.BooleanField(_("default pool"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("stock pool")
        verbose_name_plural = _("stock pools")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="stock_pool_one_default"
            ),
            models.CheckConstraint(
                condition=~models.Q(is_default=True, kind="in_transit"), name="stock_pool_transit_not_default"
            ),
        ]

    def __str__(self):
        return self.name


class ChannelPool(models.Model):
    channel = models.ForeignKey("integrations.Channel", on_delete=models.CASCADE, related_name="pools")
    pool = models.ForeignKey(
        StockPool,
        on_delete=models.PROTECT,
        related_name="channels",
        limit_choices_to=~models.Q(kind="in_transit"),  # units on the way are nobody's to sell
    )
    priority = models.PositiveSmallIntegerField(_("priority"), default=1, help_text=_("Lower draws first."))

    class Meta:
        ordering = ["channel", "priority"]
        verbose_name = _("channel pool")
        verbose_name_plural = _("channel pools")
        constraints = [
            models.UniqueConstraint(fields=["channel", "pool"], name="channel_pool_unique"),
        ]

    def __str__(self):
        return f"{self.channel_id} → {self.pool_id}"


class Lot(models.Model):
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(_("lot"), max_length=64)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)

    class Meta:
        ordering = ["sku", "expires_on", "code"]
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        constraints = [models.UniqueConstraint(fields=["sku", "code"], name="lot_unique_per_sku")]

    def __str__(self):
        return f"{self.code} ({self.expires_on or '—'})"


class StockBalance(models.Model):
    """Quantities per (SKU, warehouse, pool, lot): a cache of the movement ledger, changed only
    by set-based conditional updates in inventory.ledger (available = on_hand − reserved − qc_hold)."""

    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="balances")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="balances")
    pool = models.ForeignKey(StockPool, on_delete=models.PROTECT, related_name="balances")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="balances")
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    qc_hold = models.IntegerField(_("QC hold"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stock balance")
        verbose_name_plural = _("stock balances")
        constraints = [
            models.UniqueConstraint(
                fields=["sku", "warehouse", "pool", "lot"],
                condition=models.Q(lot__isnull=False),
                name="stock_balance_unique_with_lot",
            ),
            models.UniqueConstraint(
                fields=["sku", "warehouse", "pool"],
                condition=models.Q(lot__isnull=True),
                name="stock_balance_unique_without_lot",
            ),
            models.CheckConstraint(
                condition=models.Q(on_hand__gte=0, reserved__gte=0, qc_hold__gte=0),
                name="stock_balance_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.sku_id}@{self.warehouse_id}/{self.pool_id}/{self.lot_id}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.qc_hold
