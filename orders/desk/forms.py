from django import forms
from django.utils.translation import gettext_lazy as _

from orders import edits
from orders.breakdown import line_label
from orders.models import LineKind, Order, OrderStatus, Priority
from orders.services import ADDRESS_FIELDS, TRANSITIONS


class TransitionForm(forms.Form):
    action = forms.ChoiceField(choices=[(name, name) for name in TRANSITIONS])
    expected_status = forms.ChoiceField(choices=OrderStatus.choices)
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


class AddressForm(forms.ModelForm):
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)

    class Meta:
        model = Order
        fields = list(ADDRESS_FIELDS)


class CancelLinesForm(forms.Form):
    """One quantity box per live line as sold (a bundle's components go with their bundle line);
    blank or 0 means keep it."""

    reason = forms.CharField(label=_("Reason"), max_length=255)

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        self.live_lines = [line for line in order.lines.all() if line.live_quantity and line.is_sold]
        for line in self.live_lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"#{line.line_no} {line_label(line)}",
                min_value=0,
                max_value=line.live_quantity,
                required=False,
            )

    def line_fields(self):
        return [(line, self[f"line_{line.pk}"]) for line in self.live_lines]

    def quantities(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data[f"line_{line.pk}"]
            for line in self.live_lines
            if self.cleaned_data.get(f"line_{line.pk}")
        }


class EditLinesForm(forms.Form):
    """The order's lines during review: per line a quantity, a SKU to swap to (search by code) and,
    for users allowed to change prices, a unit price; gift lines can be removed; one gift can be
    added. Hidden `seen_*` fields carry what the user saw, so only what they changed is sent and a
    line someone else edited meanwhile is refused instead of overwritten (orders.edits)."""

    expected_status = forms.ChoiceField(choices=OrderStatus.choices, widget=forms.HiddenInput)
    gift_sku = forms.CharField(label=_("Gift SKU"), max_length=64, required=False)
    gift_quantity = forms.IntegerField(
        label=_("Gift quantity"), min_value=1, max_value=edits.MAX_QUANTITY, required=False, initial=1
    )
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)

    def __init__(self, *args, order: Order, can_price: bool, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("expected_status", order.status)
        kwargs.setdefault("auto_id", "edit_%s")  # the order page has other forms with a reason
        super().__init__(*args, **kwargs)
        self.can_price = can_price
        self.lines = [
            line for line in order.lines.all() if line.live_quantity and line.kind != LineKind.COMPONENT
        ]
        for line in self.lines:
            self._add_line_fields(line)

    def _add_line_fields(self, line) -> None:
        prefix, no = f"line_{line.pk}", line.line_no
        code = line.sku.code if line.sku_id else ""
        fields = {
            "quantity": forms.IntegerField(
                label=_("Line %(no)s quantity") % {"no": no},
                min_value=1,
                max_value=edits.MAX_QUANTITY,
                initial=line.quantity,
            ),
            "seen_quantity": forms.IntegerField(widget=forms.HiddenInput, initial=line.quantity),
            "seen_sku": forms.CharField(widget=forms.HiddenInput, initial=code, required=False),
            "seen_unit_price": forms.DecimalField(widget=forms.HiddenInput, initial=line.unit_price),
        }
        if line.sku_id:
            fields["sku"] = forms.CharField(
                label=_("Line %(no)s SKU") % {"no": no}, max_length=64, initial=code, required=False
            )
        if self.can_price and line.kind != LineKind.GIFT:
            fields["unit_price"] = forms.DecimalField(
                label=_("Line %(no)s unit price") % {"no": no},
                max_digits=18,
                decimal_places=2,
                min_value=0,
                initial=line.unit_price,
            )
        if line.kind == LineKind.GIFT:
            fields["remove"] = forms.BooleanField(
                label=_("Remove gift line %(no)s") % {"no": no}, required=False
            )
        for name, field in fields.items():
            self.fields[f"{prefix}_{name}"] = field

    def rows(self):
        """(line, {name: bound field}) per line, for the template."""
        rows = []
        for line in self.lines:
            prefix = f"line_{line.pk}_"
            rows.append(
                (line, {name[len(prefix) :]: self[name] for name in self.fields if name.startswith(prefix)})
            )
        return rows

    def clean(self):
        data = super().clean()
        if data.get("gift_sku") and not data.get("gift_quantity"):
            self.add_error("gift_quantity", _("How many units of the gift?"))
        return data

    def changes(self) -> list[edits.LineChange]:
        """The lines whose values differ from what the user saw, with only those values."""
        data, found = self.cleaned_data, []
        for line in self.lines:
            prefix = f"line_{line.pk}_"
            seen = {
                "quantity": data[f"{prefix}seen_quantity"],
                "sku": data[f"{prefix}seen_sku"],
                "unit_price": data[f"{prefix}seen_unit_price"],
            }
            quantity = data.get(f"{prefix}quantity")
            sku = (data.get(f"{prefix}sku") or "").strip()
            price = data.get(f"{prefix}unit_price")
            change = edits.LineChange(
                line.pk,
                quantity=quantity if quantity != seen["quantity"] else None,
                sku=sku if sku and sku != seen["sku"] else None,
                unit_price=price if price is not None and price != seen["unit_price"] else None,
                remove=bool(data.get(f"{prefix}remove")),
                seen=seen,
            )
            if change.remove or any(v is not None for v in (change.quantity, change.sku, change.unit_price)):
                found.append(change)
        return found

    def gifts(self) -> list[edits.GiftAdd]:
        code = (self.cleaned_data.get("gift_sku") or "").strip()
        return [edits.GiftAdd(code, self.cleaned_data["gift_quantity"])] if code else []
