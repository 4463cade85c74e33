"""Cycle counts (R-I9): an uploaded count sheet and its lines, and the draft → approved/cancelled
states; inventory.cycle_counts runs the transitions."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import ConcurrentTransitions
from inventory.models.stock import SKU, Lot, StockBalance, StockPool, Warehouse


class CycleCountState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    CANCELLED = "cancelled", _("Cancelled")


def _may_cancel_cycle_count(cycle_count: "CycleCount", user) -> bool:
    """An approver may cancel any draft; whoever uploaded it may withdraw their own."""
    return user.has_perm("inventory.approve_cyclecount") or (
        user.has_perm("inventory.add_cyclecount") and cycle_count.created_by_id == user.pk
    )


class CycleCount(ConcurrentTransitions, models.Model):
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


class CycleCountUploadState(models.TextChoices):
    QUEUED = "queued", _("Waiting to be read")
    READ = "read", _("Read")
    REFUSED = "refused", _("Refused")


class CycleCountUpload(models.Model):
    """An uploaded count sheet, kept in the default storage until a worker reads it: the request
    only stores it. Reading makes a draft CycleCount, or refuses the file with every bad row named
    in `errors` (nothing else is stored then)."""

    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    file_name = models.CharField(_("file name"), max_length=255)
    file = models.FileField(_("file"), upload_to="cycle-counts/", blank=True)
    state = models.CharField(
        _("state"), max_length=20, choices=CycleCountUploadState.choices, default=CycleCountUploadState.QUEUED
    )
    message = models.TextField(_("message"), blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)  # [[row, column, message], …]
    cycle_count = models.OneToOneField(
        CycleCount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upload",
        verbose_name=_("cycle count"),
    )
    created_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    finished_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # core.handoff: the sweeper hands a sheet still waiting after the grace period to a worker
    # again, and gives up once reading it started `attempts` times without finishing
    handoffs = models.PositiveSmallIntegerField(default=0)
    next_handoff_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("task starts"), default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("cycle count upload")
        verbose_name_plural = _("cycle count uploads")
        indexes = [
            models.Index(
                fields=["created_at"], condition=models.Q(state="queued"), name="cycle_count_upload_queued"
            )
        ]

    def __str__(self):
        return f"{self.file_name} ({self.get_state_display()})"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("inventory:cyclecount-upload-detail", args=[self.pk])
