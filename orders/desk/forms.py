from django import forms
from django.utils.translation import gettext_lazy as _

from orders.models import Order, OrderStatus, Priority
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
    """One quantity box per live line; blank or 0 means keep it."""

    reason = forms.CharField(label=_("Reason"), max_length=255)

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        self.live_lines = [line for line in order.lines.all() if line.live_quantity]
        for line in self.live_lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"#{line.line_no} {line.sku.code}",
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
