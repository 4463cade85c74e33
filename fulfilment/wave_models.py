"""Waves (波次) of an own warehouse (issue #17 part 4): the sent-to-warehouse shipments grouped
by a rule (carrier, single- or multi-item, cut-off), picked together along the bin path, packed
with their weight and handed to the courier together. Services: fulfilment.waves.

Imported by fulfilment.models (app label "orders", like every fulfilment model)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import ConcurrentTransitions, TimeStampedModel


class WaveKind(models.TextChoices):
    SINGLE = "single", _("Single-item orders")  # one unit in the parcel: scan, label, done
    MULTI = "multi", _("Multi-item orders")
    ANY = "any", _("Any orders")


class WaveRule(TimeStampedModel):
    """How "Create waves" groups a warehouse's shipments. Rules are tried in `sequence` order and
    a shipment goes to the first that takes it; each rule's shipments become waves per carrier of
    at most `max_shipments`. A warehouse with no active rule uses one rule of every kind."""

    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.CASCADE,
        related_name="wave_rules",
        verbose_name=_("warehouse"),
    )
    name = models.CharField(_("name"), max_length=120)
    sequence = models.PositiveSmallIntegerField(
        _("sequence"), default=10, help_text=_("Lower is tried first.")
    )
    carrier = models.ForeignKey(
        "orders.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("carrier"),
        help_text=_("Empty: any carrier (each wave still holds one carrier's parcels)."),
    )
    kind = models.CharField(_("orders"), max_length=8, choices=WaveKind.choices, default=WaveKind.ANY)
    cut_off = models.TimeField(
        _("cut-off time"),
        null=True,
        blank=True,
        help_text=_(
            "Business time zone. After it, only shipments sent to the warehouse before today's "
            "cut-off are waved; later ones wait for tomorrow's. Empty: no cut-off."
        ),
    )
    max_shipments = models.PositiveIntegerField(
        _("shipments per wave at most"), default=100, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["warehouse", "sequence", "pk"]
        verbose_name = _("wave rule")
        verbose_name_plural = _("wave rules")
        constraints = [
            models.CheckConstraint(condition=models.Q(max_shipments__gte=1), name="wave_rule_max_positive")
        ]

    def __str__(self):
        return self.name


class WaveState(models.TextChoices):
    OPEN = "open", _("Open")
    PICKING = "picking", _("Picking")
    PACKED = "packed", _("Packed")
    HANDED_OVER = "handed_over", _("Handed over")


WORK = "orders.work_shipment"


class Wave(ConcurrentTransitions, TimeStampedModel):
    number = models.CharField(_("wave number"), max_length=32, unique=True)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="waves", verbose_name=_("warehouse")
    )
    rule = models.ForeignKey(
        WaveRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="waves",
        verbose_name=_("rule"),
    )
    rule_name = models.CharField(_("rule used"), max_length=120, blank=True)
    carrier = models.ForeignKey(
        "orders.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("carrier"),
    )
    kind = models.CharField(_("orders"), max_length=8, choices=WaveKind.choices)
    cut_off = models.DateTimeField(_("cut-off"), null=True, blank=True)
    state = FSMField(
        _("state"), default=WaveState.OPEN, choices=WaveState.choices, protected=True, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    picking_at = models.DateTimeField(_("picking started at"), null=True, blank=True)
    packed_at = models.DateTimeField(_("packed at"), null=True, blank=True)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    handed_over_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Courier pickup, booked by phone or in the carrier's own app: no carrier API we could find
    # books a pickup for parcels that already have e-waybills (see fulfilment.waves).
    pickup_reference = models.CharField(_("pickup booking reference"), max_length=64, blank=True)
    pickup_booked_at = models.DateTimeField(_("pickup booked at"), null=True, blank=True)
    pickup_booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["-created_at", "-id"]
        verbose_name = _("wave")
        verbose_name_plural = _("waves")
        indexes = [models.Index(fields=["warehouse", "state", "created_at"], name="wave_queue_idx")]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        return _("Wave %(number)s") % {"number": self.number}

    # --- transitions: they only assign fields; fulfilment.waves runs them -----------------

    @transition(field=state, source=WaveState.OPEN, target=WaveState.PICKING, permission=WORK)
    def start_picking(self):
        self.picking_at = timezone.now()

    @transition(field=state, source=WaveState.PICKING, target=WaveState.PACKED, permission=WORK)
    def mark_packed(self):
        self.packed_at = timezone.now()

    @transition(
        field=state,
        source=[WaveState.PICKING, WaveState.PACKED],
        target=WaveState.HANDED_OVER,
        permission=WORK,
    )
    def hand_over(self, *, by):
        self.handed_over_at = timezone.now()
        self.handed_over_by = by


class WaveShipment(models.Model):
    """A shipment in a wave. `active` while the wave is being worked: the partial unique index
    keeps a shipment in at most one such wave; handing over (or leaving a parcel out) ends it."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="members")
    shipment = models.ForeignKey("orders.Shipment", on_delete=models.PROTECT, related_name="wave_memberships")
    active = models.BooleanField(default=True)
    left_out = models.CharField(_("left out because"), max_length=255, blank=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["wave", "pk"]
        verbose_name = _("wave shipment")
        verbose_name_plural = _("wave shipments")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment"], condition=models.Q(active=True), name="wave_shipment_one_open_wave"
            ),
            models.UniqueConstraint(fields=["wave", "shipment"], name="wave_shipment_unique"),
        ]

    def __str__(self):
        return f"{self.wave_id}: {self.shipment_id}"


class WavePick(models.Model):
    """One line of the wave's pick list: take `quantity` of a SKU from a bin (no bin: the floor
    has no bin recorded for the SKU). `picked` counts the scans."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="picks")
    bin = models.ForeignKey(
        "inventory.BinLocation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    picked = models.PositiveIntegerField(_("picked"), default=0)
    short = models.BooleanField(_("bin record short"), default=False)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["wave", "pk"]  # created in path order
        verbose_name = _("wave pick")
        verbose_name_plural = _("wave picks")
        constraints = [
            models.UniqueConstraint(
                fields=["wave", "bin", "sku"], nulls_distinct=False, name="wave_pick_unique_bin_sku"
            ),
            models.CheckConstraint(
                condition=models.Q(picked__lte=models.F("quantity")), name="wave_pick_within"
            ),
        ]

    def __str__(self):
        return f"{self.wave_id}: {self.bin_id} {self.quantity}×{self.sku_id}"

    @property
    def left(self) -> int:
        return self.quantity - self.picked
