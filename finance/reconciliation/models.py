"""A reconciliation run for a period, the differences it found, and the bank-memo candidates
waiting for a finance user to confirm."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ReconciliationRun(models.Model):
    period = models.ForeignKey(
        "finance.AccountingPeriod",
        on_delete=models.PROTECT,
        related_name="reconciliation_runs",
        verbose_name=_("period"),
    )
    state = models.CharField(_("state"), max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    order_count = models.PositiveIntegerField(_("orders with differences"), default=0)
    payment_count = models.PositiveIntegerField(_("payments"), default=0)
    line_count = models.PositiveIntegerField(_("statement lines"), default=0)
    counts = models.JSONField(_("differences per class"), default=dict, blank=True)
    candidate_count = models.PositiveIntegerField(_("memo candidates found"), default=0)
    seconds = models.FloatField(_("seconds"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # A run queued without a worker taking it, or running without a worker holding its row lock,
    # is handed to a worker again by the sweeper (core.handoff): how often so far, and when next;
    # and how often a worker started it (the sweeper gives up on those, never on a run no worker
    # took).
    handoffs = models.PositiveSmallIntegerField(_("hand-offs by the sweeper"), default=0)
    next_handoff_at = models.DateTimeField(_("next hand-off at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("task starts"), default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        constraints = [
            # One run at a time per period: a second click (or beat firing twice) joins the first.
            models.UniqueConstraint(
                fields=["period"],
                condition=Q(state__in=["queued", "running"]),
                name="reconciliation_one_active_run_per_period",
            )
        ]

    def __str__(self):
        return f"{self.period} #{self.pk}"

    @property
    def difference_count(self) -> int:
        return sum(self.counts.values())


class DifferenceClass(models.TextChoices):
    MISSING_PAYMENT = "missing_payment", _("Missing payment")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
    REFUND_NOT_REFLECTED = "refund_not_reflected", _("Refund not reflected")
    FEE_NOT_ATTRIBUTED = "fee_not_attributed", _("Fee or commission not attributed")
    PERIOD_MISMATCH = "period_mismatch", _("Different accounting period")
    MISSING_SETTLEMENT = "missing_settlement", _("Missing settlement")
    MISSING_BANK_LINE = "missing_bank_line", _("Missing bank line")
    UNMATCHED_LINE = "unmatched_line", _("Statement line without order")


class ReconciliationItem(models.Model):
    """One difference: for an order (or a statement line that names none), what was expected and
    what was found, with the records behind it (trail). Resolved with a reason, audited."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    line = models.ForeignKey(
        "finance.StatementLine", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    difference = models.CharField(_("difference"), max_length=24, choices=DifferenceClass.choices)
    column = models.CharField(
        _("column"), max_length=12
    )  # the matrix cell that differs: erp/payment/settlement/bank
    expected = models.CharField(_("expected"), max_length=64, blank=True)
    actual = models.CharField(_("actual"), max_length=64, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    key = models.CharField(max_length=200)  # same difference in a later run → same key
    trail = models.JSONField(_("trail"), default=dict)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta:
        ordering = ["order_id", "id"]
        verbose_name = _("reconciliation difference")
        verbose_name_plural = _("reconciliation differences")
        indexes = [
            models.Index(fields=["run", "difference"], name="recon_item_run_class_idx"),
            models.Index(fields=["key"], name="recon_item_key_idx"),
        ]

    def __str__(self):
        return f"{self.get_difference_display()} {self.order_id or self.line_id}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class CandidateState(models.TextChoices):
    PENDING = "pending", _("Waiting for confirmation")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class MatchedOn(models.TextChoices):
    ORDER_NUMBER = "order_number", _("Order number")
    EXTERNAL_ID = "external_id", _("Platform order id")


class MemoCandidate(models.Model):
    """An order a bank line's memo may mean (a run of ≥ 8 digits in it), for a person to confirm."""

    line = models.ForeignKey(
        "finance.StatementLine", on_delete=models.CASCADE, related_name="memo_candidates"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, related_name="+", verbose_name=_("order")
    )
    digits = models.CharField(_("digits in the memo"), max_length=64)
    matched_on = models.CharField(_("matched on"), max_length=16, choices=MatchedOn.choices)
    amount_matches = models.BooleanField(_("amount matches"), default=False)
    state = models.CharField(
        _("state"), max_length=10, choices=CandidateState.choices, default=CandidateState.PENDING
    )
    created_at = models.DateTimeField(_("found at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("bank memo candidate")
        verbose_name_plural = _("bank memo candidates")
        constraints = [models.UniqueConstraint(fields=["line", "order"], name="memo_candidate_unique")]
        indexes = [models.Index(fields=["state", "created_at"], name="memo_candidate_state_idx")]

    def __str__(self):
        return f"{self.line_id} → {self.order_id} ({self.digits})"
