from django import forms
from django.utils.translation import gettext_lazy as _

from finance.models import CallbackStatus, PaymentProvider


class PaymentSearchForm(forms.Form):
    search = forms.CharField(
        label=_("Order no. or transaction id"), required=False, max_length=128, strip=True
    )
    provider = forms.ChoiceField(
        label=_("Provider"), required=False, choices=[("", _("All")), *PaymentProvider.choices]
    )


class CallbackFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *CallbackStatus.choices]
    )
    provider = forms.ChoiceField(
        label=_("Provider"), required=False, choices=[("", _("All")), *PaymentProvider.choices]
    )


class PeriodCloseForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2999)
    month = forms.IntegerField(min_value=1, max_value=12)


# --- imports, reconciliation, reports, vouchers --------------------------------------------------

MONTH_INPUT = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})


class MonthField(forms.CharField):
    """An accounting month as YYYY-MM; cleans to (year, month)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", MONTH_INPUT)
        kwargs.setdefault("max_length", 7)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            year, month = (int(part) for part in value.split("-"))
        except ValueError:
            raise forms.ValidationError(_("Use YYYY-MM, e.g. 2026-01.")) from None
        if not (2000 <= year <= 2999 and 1 <= month <= 12):
            raise forms.ValidationError(_("Use YYYY-MM, e.g. 2026-01."))
        return year, month


class StatementUploadForm(forms.Form):
    layout = forms.ChoiceField(label=_("Layout"))
    file = forms.FileField(
        label=_("Statement file"),
        help_text=_("Excel (.xlsx) or CSV (UTF-8 or GBK)."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )

    def __init__(self, *args, layout_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].choices = layout_choices


class ReconciliationStartForm(forms.Form):
    month = MonthField(label=_("Month"))


class ReconciliationFilterForm(forms.Form):
    difference = forms.ChoiceField(label=_("Difference"), required=False)
    show = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[("open", _("Open")), ("resolved", _("Resolved")), ("all", _("All"))],
    )

    def __init__(self, *args, **kwargs):
        from finance.reconciliation.models import DifferenceClass

        super().__init__(*args, **kwargs)
        self.fields["difference"].choices = [("", _("All")), *DifferenceClass.choices]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, strip=True)


class CandidateDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("accept", _("Accept")), ("reject", _("Reject"))])
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False, strip=True)


class DateRangeForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.CharField(label=_("Channel code"), required=False, max_length=50, strip=True)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The start is after the end."))
        if start and end and (end - start).days > 366:
            raise forms.ValidationError(_("At most one year at a time."))
        return cleaned


class StatementFilterForm(forms.Form):
    month = MonthField(label=_("Period"), required=False)
    source = forms.ChoiceField(label=_("Statement"), required=False)
    unmatched = forms.BooleanField(label=_("Without order only"), required=False)
    batch = forms.IntegerField(label=_("Import"), required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        from finance.imports.models import StatementSource

        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", _("All")), *StatementSource.choices]


class VoucherPrepareForm(forms.Form):
    month = MonthField(label=_("Period"))
    layout = forms.ModelChoiceField(label=_("Layout"), queryset=None, empty_label=None)

    def __init__(self, *args, **kwargs):
        from finance.vouchers.models import VoucherLayout

        super().__init__(*args, **kwargs)
        self.fields["layout"].queryset = VoucherLayout.objects.filter(is_active=True)


class DecisionNoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, required=False, strip=True)
