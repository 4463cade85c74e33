"""django-import-export resources: the admin's export of statement lines (R-D4), and the
library's default import/export path that the benchmarks measure ours against; the admin's import
and export of exchange rates (read by core.sheets, the guarded reader, like every admin import)."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, instance_loaders, resources, widgets

from core.errors import DomainError
from core.handoff import publish_on_commit
from finance.imports.models import StatementLine
from finance.rates.models import ExchangeRate
from finance.rates.selectors import business_currency
from finance.rates.services import rate_checked, rate_save
from finance.tasks import fill_payment_rates


class StatementLineResource(resources.ModelResource):
    order_number = fields.Field(attribute="order__number", column_name="order_number", readonly=True)
    period = fields.Field(attribute="period", column_name="period", readonly=True)

    class Meta:
        model = StatementLine
        fields = (
            "id",
            "occurred_at",
            "source",
            "account",
            "entry_id",
            "kind",
            "amount",
            "currency",
            "transaction_id",
            "order_ref",
            "order_number",
            "counterparty",
            "memo",
            "period",
            "period_note",
            "batch",
        )
        export_order = fields
        import_id_fields = ("source", "account", "entry_id")


# --- exchange rates (admin import and export) ----------------------------------------------------


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class DayWidget(widgets.Widget):
    """A date cell: an Excel date or the text YYYY-MM-DD."""

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            raise ValueError(_("Enter the date (YYYY-MM-DD)."))
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(
                _("“%(value)s” is not a date: use YYYY-MM-DD.") % {"value": str(value)[:40]}
            ) from None

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


class CodeWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            raise ValueError(_("Name the currency (ISO 4217, e.g. USD)."))
        return str(value).strip().upper()

    def render(self, value, obj=None, **kwargs):
        return value or ""


class RateWidget(widgets.Widget):
    """A rate cell: a number (Excel) or its text with a dot as the decimal separator."""

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            raise ValueError(_("Enter the rate."))
        if isinstance(value, bool):
            raise ValueError(_("Enter the rate as a number, e.g. 7.1234."))
        try:
            return Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise ValueError(_("Enter the rate as a number, e.g. 7.1234.")) from None

    def render(self, value, obj=None, **kwargs):
        return format(value.normalize(), "f") if value is not None else ""


class RateLoader(instance_loaders.ModelInstanceLoader):
    def get_instance(self, row):
        try:
            return super().get_instance(row)
        except ValueError:  # a bad date or currency: import_instance names the cell
            return None


class ExchangeRateResource(resources.ModelResource):
    """Rates to the business currency, one row per (date, currency): a row for a stored day
    replaces its rate (an update in the preview). Each row is checked by finance.rates.services
    and an error names its field; the admin imports nothing while any row is wrong."""

    date = fields.Field(attribute="date", column_name="date", widget=DayWidget())
    currency = fields.Field(attribute="currency", column_name="currency", widget=CodeWidget())
    rate = fields.Field(attribute="rate", column_name="rate", widget=RateWidget())
    business_currency = fields.Field(
        attribute="business_currency", column_name="business_currency", readonly=True
    )
    source = fields.Field(attribute="source", column_name="source", readonly=True)
    basis = fields.Field(attribute="basis", column_name="basis", readonly=True)

    class Meta:
        model = ExchangeRate
        fields = ("date", "currency", "rate", "business_currency", "source", "basis")
        export_order = fields
        import_id_fields = ("date", "currency")
        instance_loader_class = RateLoader
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return ExchangeRate.objects.filter(business_currency=business_currency())

    def before_import(self, dataset, **kwargs):
        missing = [column for column in ("date", "currency", "rate") if column not in (dataset.headers or [])]
        if missing:
            raise ValueError(
                _("Columns missing from the header row: %(columns)s.") % {"columns": ", ".join(missing)}
            )

    def import_instance(self, instance, row, **kwargs):
        errors: dict = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        stated = row.get("business_currency")
        if not _blank(stated) and str(stated).strip().upper() != business_currency():
            errors["business_currency"] = [
                _("Rates are to %(business)s, the business currency.") % {"business": business_currency()}
            ]
        if not errors:
            try:
                rate_checked(day=instance.date, currency=instance.currency, rate=instance.rate)
            except DomainError as exc:
                errors[exc.field] = [exc.message]
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        """Through the service (which checks the user's permission), never instance.save()."""
        if self._is_dry_run(kwargs) and not self._is_using_transactions(kwargs):
            return
        saved, _created = rate_save(
            day=instance.date, currency=instance.currency, rate=instance.rate, actor=kwargs.get("user")
        )
        instance.pk, instance.source, instance.business_currency = (
            saved.pk,
            saved.source,
            saved.business_currency,
        )

    def after_import(self, dataset, result, **kwargs):
        if not kwargs.get("dry_run") and not result.has_errors() and not result.has_validation_errors():
            publish_on_commit(fill_payment_rates)  # payments waiting for these rates
