"""Finance rows are written by services only: the admin shows them read-only; its actions call
the services (closing a period, replaying a failed callback)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from finance.callbacks import Outcome, payment_callback_replay
from finance.models import AccountingPeriod, Payment, PaymentCallback, RevenueLine
from finance.periods import period_close


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "transaction_id",
        "provider",
        "order",
        "amount",
        "currency",
        "status",
        "paid_at",
        "period",
    )
    list_filter = ("provider", "status", "currency", "period")
    search_fields = ("=transaction_id", "=order__number")
    list_select_related = ("order", "period")
    date_hierarchy = "paid_at"
    ordering = ("-paid_at", "-id")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RevenueLine)
class RevenueLineAdmin(ReadOnlyAdmin):
    list_display = ("order", "kind", "amount", "currency", "source", "booked_at", "period")
    list_filter = ("kind", "currency", "period")
    search_fields = ("=order__number", "source")
    list_select_related = ("order", "period")
    ordering = ("-booked_at", "-id")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PaymentCallback)
class PaymentCallbackAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "event_type", "event_id", "status", "attempts", "received_at")
    list_filter = ("provider", "status")
    search_fields = ("=event_id",)
    ordering = ("-received_at", "-id")
    actions = ("replay",)

    @admin.action(description=_("Replay selected failed callbacks"), permissions=["change"])
    def replay(self, request, queryset):
        replayed, refused = 0, 0
        for callback_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                receipt = payment_callback_replay(callback_id=callback_id, actor=request.user)
            except DomainError:
                refused += 1
            else:
                replayed += receipt.outcome != Outcome.FAILED
                refused += receipt.outcome == Outcome.FAILED
        if replayed:
            self.message_user(request, _("%(n)d callback(s) applied.") % {"n": replayed}, messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                _("%(n)d callback(s) not applied (see their errors).") % {"n": refused},
                messages.WARNING,
            )


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "state", "closed_by", "closed_at")
    list_filter = ("state",)
    actions = ("close_periods",)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Close selected periods"), permissions=["close"])
    def close_periods(self, request, queryset):
        for period in queryset.order_by("year", "month"):
            try:
                period_close(year=period.year, month=period.month, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{period}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, _("%(period)s closed.") % {"period": period}, messages.SUCCESS)

    def has_close_permission(self, request):
        return request.user.has_perm("finance.close_accountingperiod")


# --- imports, reconciliation, vouchers ---------------------------------------------------------

from django import forms  # noqa: E402
from import_export.admin import ExportMixin, ImportExportMixin  # noqa: E402

from core.forms import WriteOnlyJSONObjectField  # noqa: E402
from finance.imports.models import ImportBatch, ImportLayout, StatementLine  # noqa: E402
from finance.invoices import admin as _invoices_admin  # noqa: E402, F401 — registers e-invoice admin
from finance.rates.models import ExchangeRate  # noqa: E402
from finance.reconciliation.models import MemoCandidate, ReconciliationItem, ReconciliationRun  # noqa: E402
from finance.resources import ExchangeRateResource, StatementLineResource  # noqa: E402
from finance.vouchers.models import AccountingSystem, VoucherBatch, VoucherLayout  # noqa: E402


@admin.register(ImportLayout)
class ImportLayoutAdmin(admin.ModelAdmin):
    """Column mappings for statement files; clean() refuses a mapping that could not import."""

    list_display = ("name", "source", "account", "currency", "is_active", "updated_at")
    list_filter = ("source", "is_active")
    search_fields = ("name",)


class AccountingSystemForm(forms.ModelForm):
    base_url = forms.URLField(
        label=_("API address"),
        assume_scheme="https",
        help_text=AccountingSystem._meta.get_field("base_url").help_text,
    )
    auth_url = forms.URLField(
        label=_("token address"),
        assume_scheme="https",
        required=False,
        help_text=AccountingSystem._meta.get_field("auth_url").help_text,
    )
    credentials_json = WriteOnlyJSONObjectField(
        label=_("Login (JSON)"),
        help_text=_(
            'Write-only. Kingdee: {"acctid", "username", "password"} · Yonyou: {"app_key", '
            '"app_secret"}; leave empty to keep the current one.'
        ),
    )

    class Meta:
        model = AccountingSystem
        fields = [
            "name",
            "provider",
            "base_url",
            "auth_url",
            "options",
            "account_map",
            "base_currency",
            "is_active",
        ]

    def save(self, commit=True):
        if self.cleaned_data.get("credentials_json") is not None:
            self.instance.credentials = self.cleaned_data["credentials_json"]
        return super().save(commit=commit)


@admin.register(AccountingSystem)
class AccountingSystemAdmin(admin.ModelAdmin):
    """Where approved voucher batches are pushed (finance.vouchers.push); the login is write-only."""

    form = AccountingSystemForm
    list_display = ("name", "provider", "base_url", "base_currency", "is_active")
    list_filter = ("provider", "is_active")
    search_fields = ("name",)


@admin.register(VoucherLayout)
class VoucherLayoutAdmin(admin.ModelAdmin):
    list_display = ("name", "date_format", "accounting_system", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name",)


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "file_name",
        "source",
        "layout_name",
        "state",
        "line_count",
        "error_count",
        "created_at",
    )
    list_filter = ("source", "state")
    search_fields = ("file_name",)
    exclude = ("errors", "preview")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StatementLine)
class StatementLineAdmin(ExportMixin, ReadOnlyAdmin):
    resource_classes = [StatementLineResource]
    list_display = ("entry_id", "source", "kind", "amount", "currency", "occurred_at", "order", "period")
    list_filter = ("source", "kind", "currency", "period")
    search_fields = ("=entry_id", "=transaction_id", "=order_ref", "=order__number")
    list_select_related = ("order", "period")
    raw_id_fields = ("order", "payment", "payout_of", "batch")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "period", "state", "order_count", "created_at", "seconds")
    list_filter = ("state",)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReconciliationItem)
class ReconciliationItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "order", "difference", "column", "expected", "actual", "resolved_at")
    list_filter = ("difference",)
    raw_id_fields = ("order", "line", "run")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MemoCandidate)
class MemoCandidateAdmin(ReadOnlyAdmin):
    list_display = ("id", "line", "order", "digits", "matched_on", "state", "decided_by")
    list_filter = ("state", "matched_on")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(VoucherBatch)
class VoucherBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "period", "layout", "state", "prepared_by", "decided_by", "push_state")
    list_filter = ("state", "push_state")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ImportExportMixin, ReadOnlyAdmin):
    """Rates are added by the import (Excel or CSV: date, currency, rate) or the ECB task
    (finance.tasks.fetch_exchange_rates), both through finance.rates.services; read here."""

    resource_classes = [ExchangeRateResource]
    list_display = ("date", "currency", "rate", "business_currency", "source", "basis", "updated_at")
    list_filter = ("source", "currency", "business_currency")
    search_fields = ("=currency",)
    date_hierarchy = "date"
    ordering = ("-date", "currency")

    def has_change_permission(self, request, obj=None):
        return False

    def has_import_permission(self, request):
        return request.user.has_perm("finance.add_exchangerate") and request.user.has_perm(
            "finance.change_exchangerate"
        )
