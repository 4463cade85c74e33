import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Channel, Platform

# Inbound messages also come from partners that are not sales platforms.
MESSAGE_SOURCES = [
    *Platform.choices,
    ("qimen", _("Qimen WMS callback")),
    ("kuaidi100", _("Kuaidi100 tracking push")),
]


class InboundStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")


class InboundMessage(models.Model):
    """One delivery from a platform (a webhook), kept as received for audit and replay (R-X5)."""

    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, blank=True, related_name="inbound_messages"
    )
    platform = models.CharField(_("platform"), max_length=20, choices=MESSAGE_SOURCES)
    topic = models.CharField(_("topic"), max_length=100, blank=True)
    # The platform's delivery id; repeated deliveries share it (see the unique constraint).
    dedupe_id = models.CharField(_("dedupe id"), max_length=255, null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    body = models.TextField(_("body"), blank=True)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=20, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    error = models.TextField(_("error"), blank=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="inbound_messages"
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    # A message still "received" after its task should have run is handed to a worker again by
    # the sweeper (core.handoff): how often so far, and when next.
    handoffs = models.PositiveSmallIntegerField(_("hand-offs by the sweeper"), default=0)
    next_handoff_at = models.DateTimeField(_("next hand-off at"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "dedupe_id"],
                condition=models.Q(dedupe_id__isnull=False),
                name="inbound_message_unique_dedupe",
            )
        ]
        indexes = [
            models.Index(fields=["channel", "received_at"], name="inbound_channel_received_idx"),
            models.Index(fields=["status"], name="inbound_status_idx"),
        ]

    def __str__(self):
        return f"{self.platform} {self.topic or '-'} #{self.pk}"


class SyncCursor(models.Model):
    """How far a channel's orders are known to be polled (R-X2): every order updated before
    `cursor` has been read. Each run re-reads `overlap_seconds` before it, for orders the platform
    shows late; re-reads are duplicates of stored messages and change nothing."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="sync_cursor")
    cursor = models.DateTimeField(_("complete up to"), null=True, blank=True)
    overlap_seconds = models.PositiveIntegerField(_("overlap (seconds)"), default=300)
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    next_run_at = models.DateTimeField(
        _("next run at"), null=True, blank=True, help_text=_("Set while backing off after a rate limit.")
    )
    backoff_level = models.PositiveSmallIntegerField(_("rate limits in a row"), default=0)
    # A run holds the lease while it talks to the platform, so no row lock is held across HTTP.
    lease_until = models.DateTimeField(_("running until"), null=True, blank=True)
    lease_token = models.UUIDField(_("run token"), null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(_("pages fetched (last run)"), default=0)
    orders_seen = models.PositiveIntegerField(_("orders seen (last run)"), default=0)

    class Meta:
        verbose_name = _("sync cursor")
        verbose_name_plural = _("sync cursors")

    def __str__(self):
        return f"{self.channel} @ {self.cursor.isoformat() if self.cursor else '-'}"

    @property
    def lag(self):
        """How far behind the platform the channel's orders may be (None before the first run)."""
        return timezone.now() - self.cursor if self.cursor else None


class AfterSaleCursor(models.Model):
    """How far a channel's after-sales requests are known to be polled (integrations.after_sales),
    kept apart from the order cursor: the two are read by different calls, each at its own pace.
    Leased, overlapped and backed off the way SyncCursor is."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="after_sale_cursor")
    cursor = models.DateTimeField(_("complete up to"), null=True, blank=True)
    overlap_seconds = models.PositiveIntegerField(_("overlap (seconds)"), default=600)
    last_run_at = models.DateTimeField(_("last run at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    next_run_at = models.DateTimeField(_("next run at"), null=True, blank=True)
    backoff_level = models.PositiveSmallIntegerField(_("rate limits in a row"), default=0)
    lease_until = models.DateTimeField(_("running until"), null=True, blank=True)
    lease_token = models.UUIDField(_("run token"), null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(_("pages fetched (last run)"), default=0)
    records_seen = models.PositiveIntegerField(_("after-sales seen (last run)"), default=0)

    class Meta:
        verbose_name = _("after-sales cursor")
        verbose_name_plural = _("after-sales cursors")

    def __str__(self):
        return f"{self.channel} after-sales @ {self.cursor.isoformat() if self.cursor else '-'}"


class ChannelListing(models.Model):
    """Where a SKU lives on a channel's platform, so its sellable quantity can be pushed (R-I10)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="listings")
    sku = models.ForeignKey("inventory.SKU", on_delete=models.CASCADE, related_name="channel_listings")
    platform_item_id = models.CharField(
        _("platform item id"),
        max_length=64,
        help_text=_("Shopify inventory item id; WooCommerce product id."),
    )
    platform_sku_id = models.CharField(
        _("platform SKU id"),
        max_length=64,
        blank=True,
        help_text=_("WooCommerce variation id (the platform item id is then its product's id)."),
    )
    platform_location_id = models.CharField(
        _("platform location id"), max_length=64, blank=True, help_text=_("Shopify location id.")
    )
    # Made from the channel's item mapping of the SKU (integrations.stock_sync): it follows the
    # mapping, and goes with it. Empty for a listing entered by hand.
    item_mapping = models.ForeignKey(
        "inventory.ItemMapping",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="listings",
        verbose_name=_("item mapping"),
    )
    last_pushed_quantity = models.IntegerField(_("last pushed quantity"), null=True, blank=True)
    last_pushed_at = models.DateTimeField(_("last pushed at"), null=True, blank=True)
    # The newest stock version seen for this listing: a retried push older than it is stale.
    stock_version = models.BigIntegerField(_("stock version"), default=0, editable=False)

    class Meta:
        ordering = ["channel", "sku"]
        verbose_name = _("channel listing")
        verbose_name_plural = _("channel listings")
        constraints = [
            models.UniqueConstraint(fields=["channel", "sku"], name="channel_listing_unique"),
        ]

    def __str__(self):
        return f"{self.channel_id}/{self.sku_id} → {self.platform_item_id}"


class WmsStockSnapshot(models.Model):
    """A cloud warehouse's stock as its WMS reported it, compared with our balances (R-X4).
    Differences are listed for a person to decide; nothing is overwritten."""

    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.CASCADE, related_name="wms_snapshots"
    )
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)
    sku_count = models.PositiveIntegerField(_("SKUs reported"), default=0)
    difference_count = models.PositiveIntegerField(_("differences"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        verbose_name = _("WMS stock snapshot")
        verbose_name_plural = _("WMS stock snapshots")

    def __str__(self):
        return f"{self.warehouse_id} @ {self.taken_at:%Y-%m-%d %H:%M}"


class WmsStockDifference(models.Model):
    snapshot = models.ForeignKey(WmsStockSnapshot, on_delete=models.CASCADE, related_name="differences")
    sku = models.ForeignKey(
        "inventory.SKU", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sku_code = models.CharField(_("SKU code"), max_length=64)
    ours = models.IntegerField(_("our on hand"))
    theirs = models.IntegerField(_("WMS on hand"))

    class Meta:
        ordering = ["sku_code"]
        verbose_name = _("WMS stock difference")
        verbose_name_plural = _("WMS stock differences")

    def __str__(self):
        return f"{self.sku_code}: {self.ours} vs {self.theirs}"

    @property
    def difference(self) -> int:
        return self.theirs - self.ours


class OrderUploadState(models.TextChoices):
    QUEUED = "queued", _("Waiting to be read")
    READY = "ready", _("Read: preview ready")
    REFUSED = "refused", _("Refused")
    IMPORTED = "imported", _("Imported")


class OrderUpload(models.Model):
    """An uploaded order sheet (integrations.order_upload): stored by the request, read by a
    worker into rows and a preview, imported when its uploader confirms. Only its uploader sees it,
    by its token."""

    token = models.UUIDField(_("token"), default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        "core.User", on_delete=models.CASCADE, related_name="+", verbose_name=_("uploaded by")
    )
    file_name = models.CharField(_("file name"), max_length=255)
    file = models.FileField(_("file"), upload_to="order-uploads/", blank=True)
    state = models.CharField(
        _("state"), max_length=20, choices=OrderUploadState.choices, default=OrderUploadState.QUEUED
    )
    message = models.TextField(_("message"), blank=True)
    # What the worker read: the header row, the data rows (JSON-safe cells), the problems found
    # ({rows, field, message}) and the orders the rows make ({channel, external_id, rows, …}).
    headers = models.JSONField(_("headers"), default=list, blank=True)
    rows = models.JSONField(_("rows"), default=list, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    orders = models.JSONField(_("orders"), default=list, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    imported_at = models.DateTimeField(_("imported at"), null=True, blank=True)
    # core.handoff: the sweeper hands a file still waiting after the grace period to a worker
    # again, and gives up once reading it started `attempts` times without finishing
    handoffs = models.PositiveSmallIntegerField(default=0)
    next_handoff_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("task starts"), default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("order upload")
        verbose_name_plural = _("order uploads")
        indexes = [models.Index(fields=["created_at"], name="order_upload_created")]

    def __str__(self):
        return f"{self.file_name} ({self.get_state_display()})"


class RepullState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


REPULL_ACTIVE_STATES = (RepullState.QUEUED, RepullState.RUNNING)


class ChannelRepull(models.Model):
    """One re-pull of a time window of a channel's orders (integrations.repull): who asked for
    which window, and what the platform's orders in it did here. The window is re-read through
    the polling path (stored raw, then ingested), so an order seen again changes nothing unless
    the platform's version is newer. At most one re-pull per channel is queued or running."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="repulls")
    since = models.DateTimeField(_("updated since"))
    until = models.DateTimeField(_("updated until"))
    state = models.CharField(
        _("state"), max_length=20, choices=RepullState.choices, default=RepullState.QUEUED
    )
    requested_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_via = models.CharField(_("requested via"), max_length=20, default="desk")
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # While running: the channel's sync lease (SyncCursor.lease_token) this run holds, renewed
    # with `heartbeat_at`; a run whose heartbeat is older than the lease died with its worker.
    lease_token = models.UUIDField(_("lease token"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    fetched = models.PositiveIntegerField(_("fetched"), default=0)
    created = models.PositiveIntegerField(_("new"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    ignored = models.PositiveIntegerField(_("ignored"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    pages_fetched = models.PositiveIntegerField(_("pages fetched"), default=0)
    # The orders that failed: [{"message": inbound message id, "dedupe_id": …, "error": …}] (capped).
    errors = models.JSONField(_("errors"), default=list, blank=True)
    # Why the run failed, or what it waits for while queued.
    message = models.TextField(_("message"), blank=True)
    # core.handoff: the sweeper hands a run still queued (or whose worker died) to a worker again.
    handoffs = models.PositiveSmallIntegerField(default=0)
    next_handoff_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("task starts"), default=0)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("channel re-pull")
        verbose_name_plural = _("channel re-pulls")
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=models.Q(state__in=["queued", "running"]),
                name="channel_repull_one_active",
            ),
            models.CheckConstraint(
                condition=models.Q(since__lt=models.F("until")), name="channel_repull_window"
            ),
        ]
        indexes = [models.Index(fields=["channel", "requested_at"], name="channel_repull_requested")]

    def __str__(self):
        return f"{self.channel.code} {self.since:%Y-%m-%d %H:%M} – {self.until:%Y-%m-%d %H:%M} ({self.state})"


class CarrierCode(models.Model):
    """What a platform calls one of our carriers (the carrier code map of the shipment write-back,
    integrations.writeback). A row without a channel holds for every channel of its platform; a
    channel's own row wins. A carrier with no row is sent by its name (and the tracking URL) to
    platforms that take free text; platforms that only take their own codes refuse it."""

    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="carrier_codes",
        verbose_name=_("channel"),
        help_text=_("Empty: every channel of the platform without its own row."),
    )
    carrier = models.ForeignKey(
        "orders.Carrier", on_delete=models.CASCADE, related_name="platform_codes", verbose_name=_("carrier")
    )
    code = models.CharField(
        _("platform code"),
        max_length=100,
        blank=True,
        help_text=_(
            "The platform's code or name for the carrier: Shopify's tracking company (e.g. “SF "
            "Express”), the WooCommerce store's Shipment Tracking provider, Taobao's company code "
            "(e.g. “SF”). Empty: send the name below as free text."
        ),
    )
    name = models.CharField(
        _("name sent"), max_length=120, blank=True, help_text=_("Empty: the carrier's own name.")
    )
    tracking_url = models.CharField(
        _("tracking URL"),
        max_length=500,
        blank=True,
        help_text=_("Where the buyer follows the parcel; {number} is replaced by the tracking number."),
    )

    class Meta:
        ordering = ["platform", "channel", "carrier"]
        verbose_name = _("carrier code")
        verbose_name_plural = _("carrier codes")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "carrier"],
                condition=models.Q(channel__isnull=False),
                name="carrier_code_unique_per_channel",
            ),
            models.UniqueConstraint(
                fields=["platform", "carrier"],
                condition=models.Q(channel__isnull=True),
                name="carrier_code_unique_per_platform",
            ),
        ]

    def __str__(self):
        return f"{self.platform}/{self.channel_id or '*'}: {self.carrier_id} → {self.code or self.name}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.channel_id and not self.platform:
            self.platform = self.channel.platform
        if self.channel_id and self.channel.platform != self.platform:
            raise ValidationError({"channel": _("This channel is not on the platform chosen.")})
        if "{number}" not in self.tracking_url and self.tracking_url:
            raise ValidationError({"tracking_url": _("Put {number} where the tracking number goes.")})


class WriteBackState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent")


class ShipmentWriteBack(models.Model):
    """Whether the platform has been told that a parcel of one of its orders shipped (发货回传,
    integrations.writeback): one row per parcel and order (a merged parcel carries several orders,
    each told on its own), delivered through the outbox."""

    shipment = models.ForeignKey(
        "orders.Shipment", on_delete=models.CASCADE, related_name="write_backs", verbose_name=_("shipment")
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, related_name="write_backs", verbose_name=_("order")
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="+", verbose_name=_("channel")
    )
    state = models.CharField(
        _("state"), max_length=10, choices=WriteBackState.choices, default=WriteBackState.PENDING
    )
    trigger = models.CharField(_("triggered by"), max_length=12, blank=True)  # shipped / first_scan
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("platform's error"), blank=True)
    platform_reference = models.CharField(_("platform reference"), max_length=255, blank=True)
    already_done = models.BooleanField(_("already on the platform"), default=False)
    outbox_message = models.ForeignKey(
        "core.OutboxMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["shipment", "order"]
        verbose_name = _("shipment write-back")
        verbose_name_plural = _("shipment write-backs")
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order"], name="shipment_writeback_unique"),
        ]
        indexes = [models.Index(fields=["state", "channel"], name="shipment_writeback_state_idx")]
        permissions = [("retry_shipmentwriteback", _("Can send a failed shipment write-back again"))]

    def __str__(self):
        return f"{self.shipment_id}/{self.order_id}: {self.state}"
