"""Forms of the transfer screens. They only read and check what was typed; inventory.transfers
decides everything about stock."""

import secrets

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from inventory.models import SKU, PoolKind, ShortageReason, StockPool, TransferStatus, Warehouse
from inventory.transfers import MAX_LINES, MAX_UNITS, LineInput


def receipt_key() -> str:
    return f"desk-{secrets.token_hex(12)}"


def sellable_pools():
    return StockPool.objects.exclude(kind=PoolKind.IN_TRANSIT).order_by("code")


def find_sku(code: str) -> SKU | None:
    code = code.strip()
    return SKU.objects.filter(Q(code__iexact=code) | Q(barcode=code)).order_by("pk").first() if code else None


class TransferFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All")), *TransferStatus.choices], required=False
    )
    warehouse = forms.ModelChoiceField(
        label=_("Warehouse"),
        queryset=Warehouse.objects.order_by("code"),
        to_field_name="code",
        required=False,
    )
    q = forms.CharField(label=_("Number or reference"), max_length=100, required=False)


class TransferHeaderForm(forms.Form):
    from_warehouse = forms.ModelChoiceField(
        label=_("From warehouse"), queryset=Warehouse.objects.filter(is_active=True), to_field_name="code"
    )
    to_warehouse = forms.ModelChoiceField(
        label=_("To warehouse"), queryset=Warehouse.objects.filter(is_active=True), to_field_name="code"
    )
    reference = forms.CharField(label=_("Reference"), max_length=100, required=False)
    note = forms.CharField(label=_("Note"), max_length=255, required=False)

    def clean(self):
        data = super().clean()
        if data.get("from_warehouse") and data.get("from_warehouse") == data.get("to_warehouse"):
            self.add_error("to_warehouse", _("Choose a warehouse other than the source."))
        return data


class TransferLineForm(forms.Form):
    sku = forms.CharField(label=_("SKU or barcode"), max_length=64, required=False)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_UNITS, required=False)
    pool = forms.ModelChoiceField(
        label=_("Pool"),
        queryset=sellable_pools(),
        to_field_name="code",
        required=False,
        empty_label=_("Default pool"),
    )
    lot = forms.CharField(label=_("Lot"), max_length=64, required=False)

    def clean(self):
        data = super().clean()
        code = (data.get("sku") or "").strip()
        if not code and not data.get("quantity"):
            return data  # a blank row is skipped
        if not code:
            self.add_error("sku", _("Name the SKU of this line."))
        elif (sku := find_sku(code)) is None:
            self.add_error("sku", _("No SKU with code or barcode %(code)s.") % {"code": code})
        else:
            data["sku_obj"] = sku
        if not data.get("quantity") and "quantity" not in self.errors:
            self.add_error("quantity", _("Give the quantity of this line."))
        return data

    def line(self) -> LineInput:
        data = self.cleaned_data
        return LineInput(
            sku=data["sku_obj"],
            quantity=data["quantity"],
            pool=data.get("pool"),
            lot_code=data.get("lot") or "",
        )


class BaseLineFormSet(forms.BaseFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if not self.lines():
            raise forms.ValidationError(_("Add at least one line."))

    def lines(self) -> list[LineInput]:
        # Rows left blank are skipped (unchanged extra rows are not even cleaned by the formset).
        return [form.line() for form in self.forms if form.cleaned_data.get("sku_obj")]


TransferLineFormSet = forms.formset_factory(
    TransferLineForm, formset=BaseLineFormSet, extra=5, max_num=MAX_LINES, validate_max=True
)


class ScanForm(forms.Form):
    """Keyboard-wedge scanning: the box keeps focus; Enter posts one scan."""

    code = forms.CharField(label=_("Scan SKU or barcode"), max_length=64)
    quantity = forms.IntegerField(label=_("Units"), min_value=1, max_value=MAX_UNITS, initial=1)
    key = forms.CharField(max_length=100, widget=forms.HiddenInput, initial=receipt_key)


class ReceiveForm(forms.Form):
    """Counted units per line (by line id), typed on the detail page."""

    key = forms.CharField(max_length=100, widget=forms.HiddenInput, initial=receipt_key)
    overage = forms.BooleanField(label=_("More arrived than was shipped: book the overage"), required=False)
    expected_status = forms.CharField(max_length=20, widget=forms.HiddenInput, required=False)

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.line_fields = []
        for line in lines:
            name = f"line_{line.pk}"
            self.fields[name] = forms.IntegerField(
                label=line.sku.code, min_value=0, max_value=MAX_UNITS, required=False
            )
            self.line_fields.append((line, self[name]))

    def quantities(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data.get(f"line_{line.pk}") or 0
            for line, _bound in self.line_fields
            if self.cleaned_data.get(f"line_{line.pk}")
        }


class CloseShortForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why are the units missing?"), choices=ShortageReason.choices)
    note = forms.CharField(label=_("Note"), max_length=255, required=False)
    expected_status = forms.CharField(max_length=20, widget=forms.HiddenInput, required=False)


class StateForm(forms.Form):
    expected_status = forms.CharField(max_length=20, required=False)
