import secrets

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.models import MovementKind, PoolKind, StockBalance, StockPool, Warehouse

# The kinds a person may post by hand from the ledger; returns come from returns/, write-offs
# from inspection, everything else from reservations.
DESK_MOVEMENT_KINDS = [MovementKind.RECEIPT, MovementKind.ADJUSTMENT]


def _idempotency_key() -> str:
    return f"desk-{secrets.token_hex(12)}"


class StockSearchForm(forms.Form):
    sku = forms.CharField(label=_("SKU, barcode or name"), max_length=200, required=False)
    warehouse = forms.ModelChoiceField(
        label=_("Warehouse"), queryset=Warehouse.objects.all(), required=False, to_field_name="code"
    )
    pool = forms.ModelChoiceField(
        label=_("Pool"), queryset=StockPool.objects.all(), required=False, to_field_name="code"
    )


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", "---------"), *MovementKind.choices], required=False
    )
    warehouse = forms.ModelChoiceField(
        label=_("Warehouse"), queryset=Warehouse.objects.all(), required=False, to_field_name="code"
    )


class StockChangeForm(forms.Form):
    """A receipt or an adjustment of one SKU. The hidden key makes a double-clicked submit post once."""

    kind = forms.ChoiceField(label=_("Kind"), choices=[(k.value, k.label) for k in DESK_MOVEMENT_KINDS])
    warehouse = forms.ModelChoiceField(
        label=_("Warehouse"), queryset=Warehouse.objects.filter(is_active=True), to_field_name="code"
    )
    pool = forms.ModelChoiceField(
        label=_("Pool"),
        queryset=StockPool.objects.exclude(kind=PoolKind.IN_TRANSIT),
        required=False,
        to_field_name="code",
        empty_label=_("Default pool"),
    )
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Receipts are positive; adjustments may be negative."),
    )
    lot = forms.CharField(label=_("Lot"), max_length=64, required=False)
    expires_on = forms.DateField(
        label=_("Expires on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reference = forms.CharField(label=_("Reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=255, required=False)
    idempotency_key = forms.CharField(max_length=100, widget=forms.HiddenInput, initial=_idempotency_key)


class QCReleaseForm(forms.Form):
    balance = forms.ModelChoiceField(label=_("Stock position"), queryset=StockBalance.objects.none())
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1)
    reference = forms.CharField(label=_("Reference"), max_length=100, required=False)

    def __init__(self, *args, sku, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["balance"]
        field.queryset = (
            StockBalance.objects.filter(sku=sku, qc_hold__gt=0)
            .select_related("warehouse", "pool", "lot")
            .order_by("warehouse__code", "pool__code", "lot__expires_on", "pk")
        )
        field.label_from_instance = balance_label


def balance_label(balance: StockBalance) -> str:
    lot = f" / {balance.lot.code}" if balance.lot_id else ""
    return _("%(warehouse)s / %(pool)s%(lot)s — QC hold %(qc)s") % {
        "warehouse": balance.warehouse.code,
        "pool": balance.pool.code,
        "lot": lot,
        "qc": balance.qc_hold,
    }


class TransferForm(forms.Form):
    """Move available units of one stock position (SKU × warehouse × pool × lot) to another pool of
    the same warehouse, at once."""

    sku = forms.CharField(label=_("SKU"), max_length=64)
    from_warehouse = forms.ModelChoiceField(
        label=_("From warehouse"), queryset=Warehouse.objects.all(), to_field_name="code"
    )
    from_pool = forms.ModelChoiceField(
        label=_("From pool"), queryset=StockPool.objects.all(), to_field_name="code"
    )
    lot = forms.CharField(label=_("Lot"), max_length=64, required=False)
    # Another warehouse is a transfer document (inventory.transfers): stock travels, in transit.
    to_pool = forms.ModelChoiceField(
        label=_("To pool"),
        queryset=StockPool.objects.exclude(kind=PoolKind.IN_TRANSIT),
        to_field_name="code",
    )
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1)
    reference = forms.CharField(label=_("Reference"), max_length=100, required=False)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        balance = (
            StockBalance.objects.filter(
                sku__code=data["sku"].strip(), warehouse=data["from_warehouse"], pool=data["from_pool"]
            )
            .filter(**({"lot__code": data["lot"]} if data.get("lot") else {"lot__isnull": True}))
            .select_related("sku", "warehouse", "pool", "lot")
            .first()
        )
        if balance is None:
            raise forms.ValidationError(_("There is no stock at that position."))
        data["balance"] = balance
        return data
