"""Desk forms for purchasing: filters, the by-hand purchase order, the replenishment click, the
actions on an order, and the dock's scan and count forms. Bad input is a form error, never a 500."""

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.models import Warehouse
from purchasing.models import PurchaseOrderState, Supplier


class OrderFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("Any state")), *PurchaseOrderState.choices]
    )
    supplier = forms.ChoiceField(label=_("Supplier"), required=False)
    q = forms.CharField(label=_("PO number or SKU"), required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["supplier"].choices = [("", _("Any supplier"))] + [
            (code, f"{code} {name}")
            for code, name in Supplier.objects.order_by("code").values_list("code", "name")
        ]


def active_warehouses():
    return Warehouse.objects.filter(is_active=True).order_by("code")


class PurchaseOrderForm(forms.Form):
    supplier = forms.ModelChoiceField(
        label=_("Supplier"),
        queryset=Supplier.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
    )
    warehouse = forms.ModelChoiceField(
        label=_("Deliver to"), queryset=active_warehouses(), to_field_name="code"
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=255)


class OrderLineForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), required=False, max_length=64)
    quantity = forms.IntegerField(label=_("Quantity"), required=False, min_value=1, max_value=10_000_000)
    unit_price = forms.DecimalField(
        label=_("Unit price"),
        required=False,
        min_value=0,
        max_digits=16,
        decimal_places=2,
        help_text=_("Empty: the supplier's price."),
    )

    def clean(self):
        data = super().clean()
        if data.get("sku") and not data.get("quantity") and "quantity" not in self.errors:
            self.add_error("quantity", _("Enter the quantity."))
        if data.get("quantity") and not data.get("sku"):
            self.add_error("sku", _("Enter the SKU code."))
        return data


OrderLineFormSet = forms.formset_factory(OrderLineForm, extra=6, max_num=200, absolute_max=200)


class FromSuggestionsForm(forms.Form):
    suggestions = forms.TypedMultipleChoiceField(label=_("Suggestions"), coerce=int, choices=())
    warehouse = forms.ModelChoiceField(
        label=_("Deliver to"), queryset=active_warehouses(), to_field_name="code"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any integer is accepted here; the service says which no longer exist.
        self.fields["suggestions"].valid_value = lambda value: str(value).isdigit() and len(str(value)) < 19


class ActionForm(forms.Form):
    expected_state = forms.ChoiceField(choices=PurchaseOrderState.choices, required=False)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)


class ReceivableForm(forms.Form):
    code = forms.CharField(label=_("Scan or type the PO or notice number"), max_length=64)


class ScanForm(forms.Form):
    code = forms.CharField(label=_("Scan barcode or type SKU code"), max_length=64)


class PostReceiptForm(forms.Form):
    accept_over = forms.BooleanField(label=_("Accept more than the tolerance (manager)"), required=False)


class CountsForm(forms.Form):
    """One quantity (and lot, expiry for lot-tracked SKUs) per receipt line."""

    def __init__(self, *args, rows=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = list(rows)
        for row in self.rows:
            self.fields[f"qty-{row.line_id}"] = forms.IntegerField(
                label=row.sku_code, min_value=0, max_value=10_000_000, initial=row.counted
            )
            if row.lot_tracked:
                self.fields[f"lot-{row.line_id}"] = forms.CharField(
                    label=_("Lot of %(sku)s") % {"sku": row.sku_code},
                    required=False,
                    max_length=100,
                    initial=row.lot_code,
                )
                self.fields[f"exp-{row.line_id}"] = forms.DateField(
                    label=_("Expiry of %(sku)s") % {"sku": row.sku_code},
                    required=False,
                    initial=row.expires_on,
                    widget=forms.DateInput(attrs={"type": "date"}),
                )
