"""Fulfilment models (SPEC R-F1–R-F5, R-O7, R-X6): how orders are routed to warehouses, the
shipments that carry them, the carrier events that track them, the SLA rules that watch them
and the notifications that tell the customer. Services live in fulfilment.*."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.encrypted_fields import EncryptedJSONField
from core.models import ConcurrentTransitions, TimeStampedModel
from core.money import CurrencyField, MoneyField
from core.roles import Role


class Carrier(TimeStampedModel):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    # The tracking aggregator's company code (Kuaidi100 "com", e.g. "shunfeng", "zhongtong").
    tracking_code = models.CharField(_("tracking company code"), max_length=40, blank=True)
    first_scan_minutes = models.PositiveIntegerField(
        _("first scan expected within (minutes)"),
        null=True,
        blank=True,
        help_text=_("Alert when a waybill has no carrier event after this long; empty = the default."),
    )
    # Electronic-waybill account at the aggregator (partner id/key, …); write-only in the admin.
    waybill_credentials = EncryptedJSONField(_("waybill account"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["code"]
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")

    def __str__(self):
        return self.name


class ShippingRate(models.Model):
    """What a parcel from a warehouse to a province costs and how many days it takes (R-F1 cost
    and delivery-time strategies). An empty province is the warehouse's rate for everywhere else."""

    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.CASCADE, related_name="shipping_rates"
    )
    province = models.CharField(_("province"), max_length=60, blank=True)
    cost = MoneyField(_("cost per parcel"))
    currency = CurrencyField()
    days = models.PositiveSmallIntegerField(_("delivery days"), default=2)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["warehouse", "province"]
        verbose_name = _("shipping rate")
        verbose_name_plural = _("shipping rates")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "province"], name="shipping_rate_unique_province")
        ]

    def __str__(self):
        return f"{self.warehouse_id} → {self.province or '*'}: {self.cost} {self.currency}"


class RoutingStrategy(models.TextChoices):
    AVAILABILITY = "availability", _("Stock availability (fewest shipments)")
    DELIVERY_TIME = "delivery_time", _("Delivery time (service region, distance)")
    COST = "cost", _("Shipping cost")
    NEAREST_STORE = "nearest_store", _("Nearest store within the geo-fence")


DEFAULT_STRATEGIES = [RoutingStrategy.AVAILABILITY, RoutingStrategy.DELIVERY_TIME, RoutingStrategy.COST]


def validate_strategies(value):
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or not value or any(v not in RoutingStrategy.values for v in value):
        raise ValidationError(
            _("List strategies in priority order, from: %(choices)s.")
            % {"choices": ", ".join(RoutingStrategy.values)}
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("Each strategy may appear once."))


class RoutingPolicy(TimeStampedModel):
    """How a channel's orders are routed; the policy without a channel applies to all others."""

    name = models.CharField(_("name"), max_length=120)
    channel = models.OneToOneField(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="routing_policy",
        verbose_name=_("channel"),
        help_text=_("Empty: the default policy for every channel without its own."),
    )
    strategies = models.JSONField(
        _("strategies"),
        default=list,
        validators=[validate_strategies],
        help_text=_("Tie-breakers in priority order."),
    )
    allow_split = models.BooleanField(
        _("split across warehouses"),
        default=True,
        help_text=_("When no warehouse holds the whole order, ship it from several."),
    )
    merge_open_orders = models.BooleanField(
        _("merge open orders"),
        default=False,
        help_text=_("Ship a customer's open orders to the same address in one parcel."),
    )
    merge_window_minutes = models.PositiveIntegerField(
        _("merge window (minutes)"),
        default=0,
        help_text=_("With merging on, new shipments wait this long for the customer's next order."),
    )
    store_geofence_km = models.DecimalField(
        _("store geo-fence (km)"),
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Stores within this distance of the address may fulfil; empty = stores never do."),
    )

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        verbose_name = _("routing policy")
        verbose_name_plural = _("routing policies")
        constraints = [
            models.UniqueConstraint(
                fields=["channel"], condition=models.Q(channel__isnull=True), name="routing_one_default"
            )
        ]

    def __str__(self):
        return self.name


class ShipmentStatus(models.TextChoices):
    CREATED = "created", _("Created")
    SENT_TO_WAREHOUSE = "sent_to_warehouse", _("Sent to warehouse")
    PICKING = "picking", _("Picking")
    PACKED = "packed", _("Packed")
    SHIPPED = "shipped", _("Shipped")
    IN_TRANSIT = "in_transit", _("In transit")
    DELIVERED = "delivered", _("Delivered")
    EXCEPTION = "exception", _("Exception")
    CANCELLED = "cancelled", _("Cancelled")


SS = ShipmentStatus
# Before handover the warehouse may still reject or we may cancel; from "shipped" on, goods left.
IN_WAREHOUSE = [SS.CREATED, SS.SENT_TO_WAREHOUSE, SS.PICKING, SS.PACKED]
LEFT_WAREHOUSE = [SS.SHIPPED, SS.IN_TRANSIT, SS.DELIVERED, SS.EXCEPTION]


class Shipment(ConcurrentTransitions, TimeStampedModel):
    """One parcel from one warehouse (R-F2). Its lines may come from several orders when open
    orders are merged; `order` is the order it was routed for."""

    number = models.CharField(_("shipment number"), max_length=32, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="shipments", verbose_name=_("order")
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="shipments", verbose_name=_("warehouse")
    )
    status = FSMField(_("status"), default=SS.CREATED, choices=SS.choices, protected=True, db_index=True)
    presale = models.BooleanField(_("pre-sale"), default=False)
    priority = models.CharField(_("priority"), max_length=10, default="normal")
    routing = models.JSONField(_("routing decision"), default=dict, blank=True)

    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, null=True, blank=True, related_name="shipments"
    )
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True, db_index=True)
    waybill = models.JSONField(_("waybill"), default=dict, blank=True)
    external_ref = models.CharField(_("warehouse reference"), max_length=64, blank=True)
    problem = models.CharField(_("problem"), max_length=255, blank=True)
    # Declared parcel weight. SKUs carry no weight (inventory.SKU), so carrier rules with a weight
    # range match only shipments whose weight was entered (fulfilment.carrier_rules).
    weight_grams = models.PositiveIntegerField(_("weight (g)"), null=True, blank=True)
    # The parcel this one was split off: a cloud warehouse shipped part of it in a box of its
    # own (several packages, or a partial confirmation); see fulfilment.splitting.
    split_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="split_parcels",
        verbose_name=_("split from"),
    )

    sent_at = models.DateTimeField(_("sent to warehouse at"), null=True, blank=True)
    packed_at = models.DateTimeField(_("packed at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    first_scan_at = models.DateTimeField(_("first scan at"), null=True, blank=True)
    last_tracking_at = models.DateTimeField(_("last tracking event at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    # Shipping labels printed (fulfilment.printing): every copy after the first is a reprint,
    # written on the order's timeline with who printed it.
    label_prints = models.PositiveIntegerField(_("labels printed"), default=0)
    label_printed_at = models.DateTimeField(_("label printed at"), null=True, blank=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["-created_at", "-id"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        indexes = [
            models.Index(fields=["warehouse", "status", "created_at"], name="shipment_queue_idx"),
            # The no-first-scan watch: shipped parcels with no carrier event yet.
            models.Index(
                fields=["shipped_at"],
                condition=models.Q(status="shipped", first_scan_at__isnull=True),
                name="shipment_no_first_scan_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~models.Q(tracking_number=""),
                name="shipment_unique_tracking_number",
            )
        ]
        permissions = [
            ("work_shipment", _("Can pick, pack and ship shipments")),
            ("route_order", _("Can route and re-route orders")),
        ]

    def __str__(self):
        return self.number

    @property
    def transition_subject(self) -> str:
        """How core.transitions names the shipment in its messages."""
        return _("Shipment %(number)s") % {"number": self.number}

    # --- transitions: they only assign fields; fulfilment.services runs them -----------

    @transition(field=status, source=SS.CREATED, target=SS.SENT_TO_WAREHOUSE)
    def send_to_warehouse(self, *, external_ref: str = ""):
        self.sent_at = timezone.now()
        self.external_ref = external_ref or self.external_ref

    @transition(
        field=status, source=SS.SENT_TO_WAREHOUSE, target=SS.PICKING, permission="orders.work_shipment"
    )
    def start_picking(self):
        pass

    @transition(
        field=status,
        source=[SS.SENT_TO_WAREHOUSE, SS.PICKING],
        target=SS.PACKED,
        permission="orders.work_shipment",
    )
    def pack(self):
        self.packed_at = timezone.now()

    @transition(
        field=status,
        source=[SS.SENT_TO_WAREHOUSE, SS.PICKING, SS.PACKED],
        target=SS.SHIPPED,
        permission="orders.work_shipment",
    )
    def ship(self, *, carrier, tracking_number: str, shipped_at=None):
        self.carrier = carrier
        self.tracking_number = tracking_number
        self.shipped_at = shipped_at or timezone.now()

    @transition(field=status, source=[SS.SHIPPED, SS.EXCEPTION], target=SS.IN_TRANSIT)
    def mark_in_transit(self, *, at):
        self.first_scan_at = self.first_scan_at or at
        self.problem = ""

    @transition(field=status, source=[SS.SHIPPED, SS.IN_TRANSIT, SS.EXCEPTION], target=SS.DELIVERED)
    def deliver(self, *, at):
        self.first_scan_at = self.first_scan_at or at
        self.delivered_at = at

    @transition(field=status, source=[SS.SHIPPED, SS.IN_TRANSIT], target=SS.EXCEPTION)
    def mark_exception(self, *, problem: str):
        self.problem = problem

    @transition(field=status, source=IN_WAREHOUSE, target=SS.CANCELLED, permission="orders.route_order")
    def cancel(self, *, problem: str = ""):
        self.problem = problem
        self.cancelled_at = timezone.now()


class CodCondition(models.TextChoices):
    ANY = "any", _("Any payment")
    COD = "cod", _("Cash on delivery only")
    PREPAID = "prepaid", _("Prepaid only")


class CarrierRule(TimeStampedModel):
    """快递策略 (issue #17): which carrier takes a shipment released to an own warehouse. Rules are
    tried by ascending priority; the first active rule whose every condition holds wins (an empty
    condition holds for everything). Its backup carrier is tried once when the first carrier
    refuses the waybill (fulfilment.carrier_rules, fulfilment.waybills)."""

    name = models.CharField(_("name"), max_length=120)
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("Lower is tried first."))
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="carrier_rules",
        verbose_name=_("channel"),
        help_text=_("Empty: every channel."),
    )
    provinces = models.JSONField(
        _("provinces"), default=list, blank=True, help_text=_("Destination provinces; empty: any.")
    )
    cities = models.JSONField(
        _("cities"), default=list, blank=True, help_text=_("Destination cities; empty: any.")
    )
    min_weight_grams = models.PositiveIntegerField(_("from weight (g)"), null=True, blank=True)
    max_weight_grams = models.PositiveIntegerField(_("up to weight (g)"), null=True, blank=True)
    min_amount = MoneyField(_("from order total"), null=True, blank=True, default=None)
    max_amount = MoneyField(_("up to order total"), null=True, blank=True, default=None)
    currency = CurrencyField(
        blank=True, help_text=_("Currency of the amount range; other orders never match.")
    )
    sku_codes = models.JSONField(
        _("SKU codes"), default=list, blank=True, help_text=_("The parcel carries any of these; empty: any.")
    )
    order_tags = models.JSONField(
        _("order tags"), default=list, blank=True, help_text=_("The order has any of these tags; empty: any.")
    )
    cod = models.CharField(
        _("cash on delivery"),
        max_length=8,
        choices=CodCondition.choices,
        default=CodCondition.ANY,
        help_text=_("Cash-on-delivery orders are those tagged “cod”."),
    )
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="carrier_rules", verbose_name=_("carrier")
    )
    backup_carrier = models.ForeignKey(
        Carrier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="backup_carrier_rules",
        verbose_name=_("backup carrier"),
        help_text=_("Tried once when the carrier refuses the waybill or its waybill call fails."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["priority", "id"]
        verbose_name = _("carrier rule")
        verbose_name_plural = _("carrier rules")
        indexes = [models.Index(fields=["is_active", "priority"], name="carrier_rule_order_idx")]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        errors = {}
        if (
            None not in (self.min_weight_grams, self.max_weight_grams)
            and self.min_weight_grams > self.max_weight_grams
        ):
            errors["max_weight_grams"] = _("The upper weight is below the lower one.")
        if None not in (self.min_amount, self.max_amount) and self.min_amount > self.max_amount:
            errors["max_amount"] = _("The upper amount is below the lower one.")
        if (self.min_amount is not None or self.max_amount is not None) and not self.currency:
            errors["currency"] = _("Say which currency the amount range is in.")
        if self.backup_carrier_id and self.backup_carrier_id == self.carrier_id:
            errors["backup_carrier"] = _("The backup carrier must differ from the carrier.")
        for name in ("provinces", "cities", "sku_codes", "order_tags"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = _("A list of texts is expected.")
        if errors:
            raise ValidationError(errors)


class WaybillState(models.TextChoices):
    PENDING = "pending", _("Requested")
    ISSUED = "issued", _("Issued")
    FAILED = "failed", _("Failed")


class WaybillRequest(TimeStampedModel):
    """The electronic waybill of one shipment, requested at release (fulfilment.waybills): which
    source and carrier it is asked of, and the carrier's error when it failed — the "waybill
    failed" queue is the failed rows. One row per shipment: a retry reuses it."""

    shipment = models.OneToOneField(
        Shipment, on_delete=models.CASCADE, related_name="waybill_request", verbose_name=_("shipment")
    )
    state = models.CharField(
        _("state"), max_length=8, choices=WaybillState.choices, default=WaybillState.PENDING, db_index=True
    )
    source = models.CharField(_("waybill source"), max_length=20)  # kuaidi100, cainiao, pdd, douyin, jd
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="+", verbose_name=_("carrier")
    )
    backup_carrier = models.ForeignKey(
        Carrier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("backup carrier"),
        help_text=_("Still to try when the carrier fails; empty once used."),
    )
    attempt = models.PositiveIntegerField(_("attempt"), default=1)  # part of the outbox key
    error = models.CharField(_("carrier error"), max_length=500, blank=True)
    # A delivery calling the source holds the request until then (two deliveries at once: one waits).
    claimed_until = models.DateTimeField(null=True, blank=True)
    history = models.JSONField(_("history"), default=list, blank=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["-updated_at", "-id"]
        verbose_name = _("waybill request")
        verbose_name_plural = _("waybill requests")

    def __str__(self):
        return f"{self.shipment_id} {self.source} {self.state}"


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines"
    )
    sku = models.ForeignKey("inventory.SKU", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    packed_quantity = models.PositiveIntegerField(_("packed"), default=0)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["shipment", "id"]
        verbose_name = _("shipment line")
        verbose_name_plural = _("shipment lines")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(packed_quantity__lte=models.F("quantity")),
                name="shipment_line_packed_within",
            )
        ]

    def __str__(self):
        return f"{self.shipment_id}: {self.quantity}×{self.sku_id}"


class TrackingStatus(models.TextChoices):
    ACCEPTED = "accepted", _("Picked up by the carrier")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERED = "delivered", _("Signed for")
    EXCEPTION = "exception", _("Exception")
    RETURNED = "returned", _("Returned to sender")
    LOST = "lost", _("Lost")


class TrackingEvent(models.Model):
    """One carrier scan, from a push callback or a poll; deduplicated by its fingerprint."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="tracking_events")
    occurred_at = models.DateTimeField(_("at"))
    status = models.CharField(_("status"), max_length=20, choices=TrackingStatus.choices)
    carrier_status = models.CharField(_("carrier status"), max_length=40, blank=True)
    description = models.CharField(_("description"), max_length=500, blank=True)
    location = models.CharField(_("location"), max_length=120, blank=True)
    source = models.CharField(_("source"), max_length=20)  # "push", "poll", "wms"
    fingerprint = models.CharField(max_length=64)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["occurred_at", "id"]
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        constraints = [
            models.UniqueConstraint(fields=["shipment", "fingerprint"], name="tracking_event_unique")
        ]

    def __str__(self):
        return f"{self.shipment_id} {self.status} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class SlaRule(TimeStampedModel):
    """R-O7: an order may stay in `status` at most `hours`; then `role` is alerted, and the alert
    escalates to `escalate_to` when nobody acknowledges it within `escalate_after_minutes`."""

    name = models.CharField(_("name"), max_length=120)
    status = models.CharField(_("order status"), max_length=20)
    hours = models.DecimalField(_("deadline (hours)"), max_digits=6, decimal_places=2)
    role = models.CharField(_("responsible role"), max_length=30, choices=Role.choices)
    escalate_after_minutes = models.PositiveIntegerField(_("escalate after (minutes)"), default=60)
    escalate_to = models.CharField(
        _("escalate to"), max_length=30, choices=Role.choices, default=Role.MANAGER
    )
    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sla_rules",
        help_text=_("Empty means every channel."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["status", "hours"]
        verbose_name = _("SLA rule")
        verbose_name_plural = _("SLA rules")

    def __str__(self):
        return self.name


class NotificationEvent(models.TextChoices):
    PLACED = "placed", _("Order placed")
    SHIPPED = "shipped", _("Order shipped")
    DELIVERED = "delivered", _("Order delivered")


class NotificationMedium(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom robot")


class NotificationState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Notification(models.Model):
    """A message to the customer (R-X6), sent through the outbox; one per order, event, medium
    and shipment unless resent on purpose."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="notifications")
    shipment = models.ForeignKey(
        Shipment, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    event = models.CharField(_("event"), max_length=12, choices=NotificationEvent.choices)
    medium = models.CharField(_("medium"), max_length=8, choices=NotificationMedium.choices)
    recipient = models.CharField(_("recipient"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("body"))
    state = models.CharField(
        _("state"), max_length=8, choices=NotificationState.choices, default=NotificationState.QUEUED
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        app_label = "orders"  # see fulfilment/apps.py
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["order", "-created_at"], name="notification_order_idx")]

    def __str__(self):
        return f"{self.order_id} {self.event} via {self.medium}"


# Waves, their rules, members and pick lines live in their own module (issue #17 part 4).
from fulfilment.wave_models import Wave, WaveKind, WavePick, WaveRule, WaveShipment, WaveState  # noqa: E402, F401
