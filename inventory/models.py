import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

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
    wms_secret = models.CharField(_("WMS secret"), max_length=255, blank=True)  # write-only in the admin
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
            )
        ]

    def __str__(self):
        return self.name


class ChannelPool(models.Model):
    channel = models.ForeignKey("integrations.Channel", on_delete=models.CASCADE, related_name="pools")
    pool = models.ForeignKey(StockPool, on_delete=models.PROTECT, related_name="channels")
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


class ReservationState(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMMITTED = "committed", _("Committed")
    CONSUMED = "consumed", _("Consumed")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


R = ReservationState
HOLDING = (R.ACTIVE, R.COMMITTED)  # states whose quantity counts in StockBalance.reserved


def new_fingerprint() -> str:
    return secrets.token_hex(16)


class Reservation(ConcurrentTransitionMixin, models.Model):
    """Stock held for one order line in one balance row (R-I2). `fingerprint` is the lock id a
    caller must present to release it. `quantity` is what it still holds; partial releases and
    shipments lower it, and it leaves the holding states when it reaches zero."""

    fingerprint = models.CharField(_("lock fingerprint"), max_length=32, unique=True, default=new_fingerprint)
    # A checkout lock has no order yet: the order that lands later with its fingerprint binds it.
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="reservations"
    )
    # Looked up by order (indexed) or through the partial indexes below; no index of their own.
    order_line = models.ForeignKey(
        "orders.OrderLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reservations",
        db_index=False,
    )
    channel = models.ForeignKey(
        "integrations.Channel", on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    balance = models.ForeignKey(
        StockBalance, on_delete=models.PROTECT, related_name="reservations", db_index=False
    )
    # The shipment that will take these units off the shelf (set by routing).
    shipment = models.ForeignKey(
        "orders.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="reservations"
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+", db_index=False)
    quantity = models.PositiveIntegerField(_("quantity held"))
    original_quantity = models.PositiveIntegerField(_("quantity reserved"))
    state = FSMField(_("state"), default=R.ACTIVE, choices=R.choices, protected=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        indexes = [
            models.Index(
                fields=["expires_at"], condition=models.Q(state="active"), name="reservation_due_idx"
            ),
            models.Index(
                fields=["balance"],
                condition=models.Q(state__in=["active", "committed"]),
                name="reservation_holding_idx",
            ),
        ]

    def __str__(self):
        return f"{self.fingerprint[:8]} {self.quantity}×{self.sku_id} ({self.state})"

    # Transitions for single rows; bulk paths in inventory.reservations filter on the same sources.
    @transition(field=state, source=R.ACTIVE, target=R.COMMITTED)
    def commit(self):
        self.expires_at = None

    @transition(field=state, source=HOLDING, target=R.CONSUMED)
    def consume(self):
        self.quantity = 0

    @transition(field=state, source=HOLDING, target=R.RELEASED)
    def release(self):
        self.quantity = 0

    @transition(field=state, source=R.ACTIVE, target=R.EXPIRED)
    def expire(self):
        self.quantity = 0


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


class ReleaseBreaker(models.Model):
    """R-I6: too many releases of one SKU within an hour pause its automatic releases until a
    manager resumes them. Releases asked for while paused wait as PendingRelease rows."""

    sku = models.OneToOneField(SKU, on_delete=models.CASCADE, related_name="release_breaker")
    is_open = models.BooleanField(_("paused"), default=False)
    tripped_at = models.DateTimeField(_("tripped at"), null=True, blank=True)
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    resumed_by = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("release circuit breaker")
        verbose_name_plural = _("release circuit breakers")

    def __str__(self):
        return f"{self.sku_id}: {'paused' if self.is_open else 'closed'}"


class PendingRelease(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="pending_releases")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    kind = models.CharField(_("kind"), max_length=12, choices=MovementKind.choices)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("pending release")
        verbose_name_plural = _("pending releases")
        indexes = [
            models.Index(
                fields=["sku"], condition=models.Q(applied_at__isnull=True), name="pending_release_idx"
            )
        ]

    def __str__(self):
        return f"{self.quantity} of {self.reservation_id}"


class StockPushPending(models.Model):
    """SKUs whose channel quantities must be recomputed and pushed; one row per SKU debounces."""

    sku = models.OneToOneField(SKU, on_delete=models.CASCADE, related_name="+")
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("stock push pending")
        verbose_name_plural = _("stock pushes pending")

    def __str__(self):
        return str(self.sku_id)


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


class CycleCountState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    CANCELLED = "cancelled", _("Cancelled")


def _may_cancel_cycle_count(cycle_count: "CycleCount", user) -> bool:
    """An approver may cancel any draft; whoever uploaded it may withdraw their own."""
    return user.has_perm("inventory.approve_cyclecount") or (
        user.has_perm("inventory.add_cyclecount") and cycle_count.created_by_id == user.pk
    )


class CycleCount(ConcurrentTransitionMixin, models.Model):
    """R-I9: counted quantities of one warehouse, uploaded from a spreadsheet. Nothing changes in
    stock until it is approved; approval posts the differences to the ledger as `count` movements."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="cycle_counts", verbose_name=_("warehouse")
    )
    state = FSMField(
        _("state"), default=CycleCountState.DRAFT, choices=CycleCountState.choices, protected=True
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    source_file_name = models.CharField(_("source file"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    approved_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("cycle count")
        verbose_name_plural = _("cycle counts")
        permissions = [("approve_cyclecount", _("Can approve cycle counts"))]

    def __str__(self):
        return self.reference or f"CC-{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("inventory:cyclecount-detail", args=[self.pk])

    # --- transitions: they only assign fields; inventory.cycle_counts runs them --------------

    @transition(
        field=state,
        source=CycleCountState.DRAFT,
        target=CycleCountState.APPROVED,
        permission="inventory.approve_cyclecount",
    )
    def approve(self, *, by, at):
        self.approved_by = by
        self.approved_at = at

    @transition(
        field=state,
        source=CycleCountState.DRAFT,
        target=CycleCountState.CANCELLED,
        permission=_may_cancel_cycle_count,
    )
    def cancel(self, *, by, at):
        self.cancelled_by = by
        self.cancelled_at = at


class CycleCountLine(models.Model):
    """One spreadsheet row: what was counted in one stock position, beside what the system held
    when the file was uploaded (the difference is posted against that snapshot)."""

    cycle_count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="lines")
    row_number = models.PositiveIntegerField(_("row"))
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    lot = models.ForeignKey(
        Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("lot")
    )
    pool = models.ForeignKey(StockPool, on_delete=models.PROTECT, related_name="+", verbose_name=_("pool"))
    balance = models.ForeignKey(
        StockBalance, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    counted_quantity = models.PositiveIntegerField(_("counted"))
    system_quantity = models.IntegerField(_("on hand at upload"))

    class Meta:
        ordering = ["cycle_count", "row_number"]
        verbose_name = _("cycle count line")
        verbose_name_plural = _("cycle count lines")
        constraints = [
            models.UniqueConstraint(fields=["cycle_count", "row_number"], name="cycle_count_line_unique_row"),
            models.UniqueConstraint(
                fields=["cycle_count", "sku", "pool", "lot"],
                condition=models.Q(lot__isnull=False),
                name="cycle_count_line_unique_with_lot",
            ),
            models.UniqueConstraint(
                fields=["cycle_count", "sku", "pool"],
                condition=models.Q(lot__isnull=True),
                name="cycle_count_line_unique_without_lot",
            ),
        ]

    def __str__(self):
        return f"{self.cycle_count_id}#{self.row_number}"

    @property
    def difference(self) -> int:
        return self.counted_quantity - self.system_quantity
