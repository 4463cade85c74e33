"""Voucher layouts (how an accounting system wants the file) and voucher batches (a period's
entries, prepared by one finance user and approved by another before anyone can download them or
push them to an accounting system by API)."""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.encrypted_fields import EncryptedJSONField
from core.errors import DomainError
from core.models import ConcurrentTransitions
from core.money import CurrencyField, MoneyField


class AccountingProvider(models.TextChoices):
    KINGDEE = "kingdee", _("Kingdee K3 Cloud (金蝶云星空) WebAPI")
    YONYOU = "yonyou", _("Yonyou YonBIP (用友) open API")


class AccountingSystem(models.Model):
    """An accounting system approved voucher batches are pushed to (finance.vouchers.accounting).
    `options` holds the customer's own codes the adapter needs (account book, voucher group…);
    `credentials` the login, encrypted and write-only in the admin."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    provider = models.CharField(_("system"), max_length=20, choices=AccountingProvider.choices)
    base_url = models.URLField(
        _("API address"),
        help_text=_("Kingdee: the site, e.g. https://host/k3cloud/ · Yonyou: the API gateway address."),
    )
    auth_url = models.URLField(
        _("token address"),
        blank=True,
        help_text=_("Yonyou only: the address of iuap-api-auth, e.g. https://host/iuap-api-auth."),
    )
    credentials = EncryptedJSONField(_("login"), default=dict, blank=True)
    options = models.JSONField(
        _("options"),
        default=dict,
        blank=True,
        help_text=_(
            "Kingdee: account_book, voucher_group, currency (default PRE001), rate_type (default "
            "HLTX01_SYS), lcid (default 2052). Yonyou: accbook_code, voucher_type_code, maker_mobile "
            "or maker_email."
        ),
    )
    account_map = models.JSONField(
        _("account codes"),
        default=dict,
        blank=True,
        help_text=_("Our account code → the accounting system's, where they differ."),
    )
    base_currency = CurrencyField(_("book currency"), default="CNY")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("accounting system")
        verbose_name_plural = _("accounting systems")

    def __str__(self):
        return self.name

    def clean(self):
        from finance.vouchers.accounting.base import options_problem

        problem = options_problem(self)
        if problem:
            raise ValidationError({"options": problem})


class VoucherLayout(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    columns = models.JSONField(
        _("columns"),
        default=list,
        help_text=_(
            "A list of [header, value]: value is one of date, voucher_no, line_no, summary, account, debit, "
            'credit, currency, channel, kind, period, or "text:…" for a fixed text.'
        ),
    )
    account_codes = models.JSONField(
        _("account codes"),
        default=dict,
        help_text=_("Revenue kind → account code, plus “receivable” for the balancing entry."),
    )
    date_format = models.CharField(_("date format"), max_length=40, default="%Y-%m-%d")
    summary_template = models.CharField(
        _("summary"),
        max_length=200,
        default="{channel} {date} {kind}",
        help_text=_("Placeholders: {channel}, {date}, {kind}, {period}."),
    )
    accounting_system = models.ForeignKey(
        AccountingSystem,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="layouts",
        verbose_name=_("push to"),
        help_text=_("Approved batches of this layout can be pushed to it by API; the file stays."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("voucher layout")
        verbose_name_plural = _("voucher layouts")

    def __str__(self):
        return self.name

    def clean(self):
        from finance.vouchers.services import layout_check

        try:
            layout_check(self)
        except DomainError as exc:  # the admin form shows it next to the field
            raise ValidationError({exc.field or NON_FIELD_ERRORS: exc.message}) from exc


class VoucherState(models.TextChoices):
    PREPARED = "prepared", _("Waiting for approval")
    APPROVED = "approved", _("Approved: released")
    REJECTED = "rejected", _("Rejected")


class PushState(models.TextChoices):
    NOT_PUSHED = "", _("Not pushed")
    PENDING = "pending", _("Pushing")
    PUSHED = "pushed", _("Pushed")
    FAILED = "failed", _("Push failed")


class VoucherBatch(ConcurrentTransitions, models.Model):
    period = models.ForeignKey(
        "finance.AccountingPeriod",
        on_delete=models.PROTECT,
        related_name="voucher_batches",
        verbose_name=_("period"),
    )
    layout = models.ForeignKey(
        VoucherLayout, on_delete=models.PROTECT, related_name="batches", verbose_name=_("layout")
    )
    # Columns and date format as they were when prepared: what was approved is what downloads.
    layout_snapshot = models.JSONField(_("layout used"), default=dict)
    state = FSMField(_("state"), default=VoucherState.PREPARED, choices=VoucherState.choices, protected=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("prepared by")
    )
    prepared_at = models.DateTimeField(_("prepared at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved or rejected by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=500, blank=True)
    voucher_count = models.PositiveIntegerField(_("vouchers"), default=0)
    entry_count = models.PositiveIntegerField(_("entries"), default=0)
    totals = models.JSONField(_("totals"), default=dict, blank=True)  # currency → {"debit", "credit"}
    # Push to the accounting system (finance.vouchers.push), set only by its services. Each push
    # request is one outbox message keyed by the batch and `push_attempt`; vouchers already in
    # `push_results` (voucher_no → {"id", "number"} the system gave) are never sent again.
    push_state = models.CharField(
        _("push"), max_length=10, choices=PushState.choices, default=PushState.NOT_PUSHED, blank=True
    )
    push_system = models.ForeignKey(
        AccountingSystem,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="batches",
        verbose_name=_("pushed to"),
    )
    push_attempt = models.PositiveIntegerField(_("push attempts"), default=0)
    push_results = models.JSONField(_("vouchers in the accounting system"), default=dict, blank=True)
    push_error = models.CharField(_("push error"), max_length=1000, blank=True)
    push_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("push requested by"),
    )
    pushed_at = models.DateTimeField(_("pushed at"), null=True, blank=True)

    class Meta:
        ordering = ["-prepared_at", "-id"]
        verbose_name = _("voucher batch")
        verbose_name_plural = _("voucher batches")
        permissions = [("approve_voucherbatch", _("Can approve voucher batches prepared by someone else"))]

    def __str__(self):
        return f"{self.period} #{self.pk}"

    @property
    def is_released(self) -> bool:
        return self.state == VoucherState.APPROVED

    @transition(
        field=state,
        source=VoucherState.PREPARED,
        target=VoucherState.APPROVED,
        permission="finance.approve_voucherbatch",
    )
    def approve(self, *, by, at, note=""):
        self.decided_by, self.decided_at, self.decision_note = by, at, note

    @transition(
        field=state,
        source=VoucherState.PREPARED,
        target=VoucherState.REJECTED,
        permission="finance.approve_voucherbatch",
    )
    def reject(self, *, by, at, note=""):
        self.decided_by, self.decided_at, self.decision_note = by, at, note


class VoucherEntry(models.Model):
    """One debit or credit line; the entries of one voucher (day × channel × currency) balance."""

    batch = models.ForeignKey(VoucherBatch, on_delete=models.CASCADE, related_name="entries")
    voucher_no = models.PositiveIntegerField(_("voucher"))
    line_no = models.PositiveSmallIntegerField(_("line"))
    date = models.DateField(_("date"))
    channel = models.CharField(_("channel"), max_length=50)
    kind = models.CharField(_("kind"), max_length=20)
    account = models.CharField(_("account"), max_length=40)
    summary = models.CharField(_("summary"), max_length=200)
    debit = MoneyField(_("debit"))
    credit = MoneyField(_("credit"))
    currency = CurrencyField()

    class Meta:
        ordering = ["voucher_no", "line_no"]
        verbose_name = _("voucher entry")
        verbose_name_plural = _("voucher entries")
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "voucher_no", "line_no"], name="voucher_entry_unique_line"
            )
        ]

    def __str__(self):
        return f"{self.voucher_no}/{self.line_no} {self.account}"
