"""Imported statement lines and the batches (one uploaded file each) that brought them in."""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.errors import DomainError
from core.models import ConcurrentTransitions
from core.money import CurrencyField, MoneyField


class StatementSource(models.TextChoices):
    SETTLEMENT = "settlement", _("Platform settlement statement")
    BANK = "bank", _("Bank statement")
    POS = "pos", _("POS receipts")


class StatementKind(models.TextChoices):
    SALE = "sale", _("Sale")
    REFUND = "refund", _("Refund")
    FEE = "fee", _("Fee")
    COMMISSION = "commission", _("Commission")
    PLATFORM_DISCOUNT = "platform_discount", _("Platform discount")
    PAYOUT = "payout", _("Payout to bank")
    OTHER = "other", _("Other")


class ImportLayout(models.Model):
    """How one kind of file reads: which header is which field. The built-in layouts live in
    finance.imports.layouts; these rows are the ones finance adds for other files."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    source = models.CharField(_("statement"), max_length=12, choices=StatementSource.choices)
    mapping = models.JSONField(
        _("column mapping"),
        default=dict,
        help_text=_('Header in the file → field, e.g. {"Trade no": "entry_id", "Amount": "amount"}.'),
    )
    kind_values = models.JSONField(
        _("kind values"),
        default=dict,
        blank=True,
        help_text=_('Value of the kind column → kind, e.g. {"退款": "refund"}.'),
    )
    account = models.CharField(
        _("account"), max_length=64, blank=True, help_text=_("Used when the file has no account column.")
    )
    currency = CurrencyField(default="CNY")
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        help_text=_("Times without an offset are read in this zone (default: the business time zone)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("import layout")
        verbose_name_plural = _("import layouts")

    def __str__(self):
        return self.name

    def clean(self):
        from finance.imports.layouts import layout_from_model

        try:
            layout_from_model(self).check()
        except DomainError as exc:  # the admin form shows it next to the field
            raise ValidationError({exc.field or NON_FIELD_ERRORS: exc.message}) from exc


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("Waiting to be checked")
    VALIDATING = "validating", _("Checking rows")
    VALID = "valid", _("Ready to import")
    REJECTED = "rejected", _("Rejected")
    IMPORTING = "importing", _("Importing")
    IMPORTED = "imported", _("Imported")
    FAILED = "failed", _("Failed")


class ImportBatch(ConcurrentTransitions, models.Model):
    """One uploaded file: checked row by row (preview), then imported whole after a confirm, or
    rejected with its errors. `processed_rows` / `total_rows` drive the progress bar."""

    source = models.CharField(_("statement"), max_length=12, choices=StatementSource.choices)
    layout_name = models.CharField(_("layout"), max_length=100)
    layout = models.JSONField(_("layout used"), default=dict)  # a snapshot: later edits change nothing here
    file = models.FileField(_("file"), upload_to="finance/imports/%Y/%m/")
    file_name = models.CharField(_("file name"), max_length=255)
    staged = models.FileField(_("checked rows"), upload_to="finance/imports/staged/", blank=True)
    state = FSMField(_("state"), default=ImportState.UPLOADED, choices=ImportState.choices, protected=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    line_count = models.PositiveIntegerField(_("lines to import"), default=0)
    duplicate_count = models.PositiveIntegerField(_("imported before"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    imported_count = models.PositiveIntegerField(_("lines imported"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    preview = models.JSONField(_("preview"), default=list, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    message = models.TextField(_("message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Bumped by every save and by the check's progress: a check silent for long lost its worker.
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # A batch waiting for a task that never ran or died is handed to a worker again by the
    # sweeper (core.handoff): how often so far, and when next; and how often its current step's
    # task started (the sweeper gives up on those, never on a task no worker took).
    handoffs = models.PositiveSmallIntegerField(_("hand-offs by the sweeper"), default=0)
    next_handoff_at = models.DateTimeField(_("next hand-off at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("task starts"), default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("statement import")
        verbose_name_plural = _("statement imports")

    def __str__(self):
        return f"#{self.pk} {self.file_name}"

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.is_finished else 0
        return min(100, self.processed_rows * 100 // self.total_rows)

    @property
    def is_finished(self) -> bool:
        return self.state in (
            ImportState.VALID,
            ImportState.REJECTED,
            ImportState.IMPORTED,
            ImportState.FAILED,
        )

    @transition(field=state, source=ImportState.UPLOADED, target=ImportState.VALIDATING)
    def start_validation(self):
        pass

    @transition(field=state, source=ImportState.VALIDATING, target=ImportState.VALID)
    def accept(self):
        pass

    @transition(
        field=state, source=[ImportState.VALIDATING, ImportState.UPLOADED], target=ImportState.REJECTED
    )
    def reject(self, *, message):
        self.message = message

    @transition(field=state, source=ImportState.VALID, target=ImportState.IMPORTING)
    def confirm(self, *, by, at):
        self.confirmed_by, self.confirmed_at = by, at

    @transition(field=state, source=ImportState.IMPORTING, target=ImportState.IMPORTED)
    def finish(self, *, at):
        self.finished_at = at

    @transition(
        field=state,
        source=[ImportState.UPLOADED, ImportState.VALIDATING, ImportState.IMPORTING],
        target=ImportState.FAILED,
    )
    def fail(self, *, message, at):
        self.message, self.finished_at = message, at

    @transition(field=state, source=ImportState.FAILED, target=ImportState.UPLOADED)
    def retry(self):
        """Check the file again from the start; a confirmed import must be confirmed again."""
        self.message, self.finished_at = "", None
        self.errors, self.error_count, self.preview, self.summary = [], 0, [], {}
        self.processed_rows = self.total_rows = self.line_count = self.duplicate_count = 0
        self.confirmed_by = self.confirmed_at = None
        self.handoffs, self.next_handoff_at, self.attempts = 0, None, 0


class StatementLine(models.Model):
    """One line of an imported statement, signed (money in positive). `order` and `payment` are
    what it was matched to: by order number / transaction id when imported or reconciled, or by a
    finance user confirming a bank memo's candidate."""

    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="lines", verbose_name=_("import")
    )
    source = models.CharField(_("statement"), max_length=12, choices=StatementSource.choices)
    account = models.CharField(_("account"), max_length=64, blank=True)
    entry_id = models.CharField(_("entry id"), max_length=64)
    kind = models.CharField(_("kind"), max_length=20, choices=StatementKind.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    period = models.ForeignKey(
        "finance.AccountingPeriod",
        on_delete=models.PROTECT,
        related_name="statement_lines",
        verbose_name=_("period"),
    )
    period_note = models.CharField(_("period note"), max_length=255, blank=True)
    amount = MoneyField(_("amount"))
    currency = CurrencyField()
    transaction_id = models.CharField(_("transaction id"), max_length=128, blank=True)
    order_ref = models.CharField(_("order reference"), max_length=64, blank=True)
    counterparty = models.CharField(_("counterparty"), max_length=255, blank=True)
    memo = models.CharField(_("memo"), max_length=500, blank=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    method = models.CharField(_("method"), max_length=64, blank=True)
    row_number = models.PositiveIntegerField(_("row"))
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="statement_lines"
    )
    payment = models.ForeignKey(
        "finance.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="statement_lines"
    )
    # A bank credit that is a platform payout: the settlement line it pays out.
    payout_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="paid_out_by"
    )
    matched_by = models.CharField(_("matched by"), max_length=20, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "account", "entry_id"], name="statement_line_unique_entry"
            )
        ]
        indexes = [
            models.Index(fields=["period", "source"], name="statement_line_period_idx"),
            models.Index(
                fields=["period", "source"],
                condition=Q(order__isnull=True),
                name="statement_line_unmatched_idx",
            ),
        ]

    def __str__(self):
        return f"{self.source}:{self.entry_id}"
