"""Desk forms for B2B contracts: a quotation's lines and its delivery schedule as one grid (rows
of lines; each delivery a date and one quantity per line), and the plan-change forms."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from b2b.contracts import DeliveryInput, LineInput
from b2b.models import B2BAccount, Contract

LINE_ROWS = 6
DELIVERY_ROWS = 4


class ContractForm(forms.Form):
    account = forms.ModelChoiceField(
        label=_("Account"), queryset=B2BAccount.objects.filter(is_active=True), to_field_name="code"
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    expected_status = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, contract: Contract | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for row in range(1, LINE_ROWS + 1):
            self.fields[f"line_{row}_sku"] = forms.CharField(label=_("SKU"), required=False, max_length=64)
            self.fields[f"line_{row}_quantity"] = forms.IntegerField(
                label=_("Quantity"), required=False, min_value=1
            )
            self.fields[f"line_{row}_unit_price"] = forms.DecimalField(
                label=_("Unit price"),
                required=False,
                min_value=0,
                max_digits=14,
                decimal_places=2,
                help_text=_("Empty: the price-list price."),
            )
            self.fields[f"line_{row}_made_to_order"] = forms.BooleanField(
                label=_("Made to order"), required=False
            )
            self.fields[f"line_{row}_ready_on"] = forms.DateField(
                label=_("Ready on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
            )
        for row in range(1, DELIVERY_ROWS + 1):
            self.fields[f"delivery_{row}_due_on"] = forms.DateField(
                label=_("Due on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
            )
            for line in range(1, LINE_ROWS + 1):
                self.fields[f"delivery_{row}_q_{line}"] = forms.IntegerField(
                    label=_("Delivery %(d)s, line %(l)s") % {"d": row, "l": line}, required=False, min_value=0
                )
        if contract is not None:
            self.fields["account"].disabled = True
            self.initial.update(_initial(contract))

    def line_rows(self):
        return [
            {
                name: self[f"line_{row}_{name}"]
                for name in ("sku", "quantity", "unit_price", "made_to_order", "ready_on")
            }
            | {"row": row}
            for row in range(1, LINE_ROWS + 1)
        ]

    def delivery_rows(self):
        return [
            {
                "row": row,
                "due_on": self[f"delivery_{row}_due_on"],
                "quantities": [self[f"delivery_{row}_q_{line}"] for line in range(1, LINE_ROWS + 1)],
            }
            for row in range(1, DELIVERY_ROWS + 1)
        ]

    def clean(self):
        data = super().clean()
        self.line_positions = [
            r for r in range(1, LINE_ROWS + 1) if (data.get(f"line_{r}_sku") or "").strip()
        ]
        for row in self.line_positions:
            if not data.get(f"line_{row}_quantity"):
                self.add_error(f"line_{row}_quantity", _("Give a quantity."))
        self.delivery_positions = [r for r in range(1, DELIVERY_ROWS + 1) if data.get(f"delivery_{r}_due_on")]
        for row in range(1, DELIVERY_ROWS + 1):
            if row not in self.delivery_positions and any(
                data.get(f"delivery_{row}_q_{line}") for line in range(1, LINE_ROWS + 1)
            ):
                self.add_error(f"delivery_{row}_due_on", _("Give the delivery a date."))
        return data

    def lines(self) -> list[LineInput]:
        data = self.cleaned_data
        return [
            LineInput(
                sku=data[f"line_{row}_sku"].strip(),
                quantity=data[f"line_{row}_quantity"],
                unit_price=data.get(f"line_{row}_unit_price"),
                made_to_order=bool(data.get(f"line_{row}_made_to_order")),
                ready_on=data.get(f"line_{row}_ready_on"),
            )
            for row in self.line_positions
        ]

    def deliveries(self) -> list[DeliveryInput]:
        data = self.cleaned_data
        return [
            DeliveryInput(
                due_on=data[f"delivery_{row}_due_on"],
                quantities=[data.get(f"delivery_{row}_q_{line}") or 0 for line in self.line_positions],
            )
            for row in self.delivery_positions
        ]

    def add_service_error(self, field: str | None, message: str) -> None:
        """A service's field ("line_2_unit_price", "delivery_1") named by the form's own rows."""
        match = re.fullmatch(r"(line|delivery)_(\d+)(_\w+)?", field or "")
        if match:
            kind, position, rest = match.group(1), int(match.group(2)), match.group(3) or "_due_on"
            rows = self.line_positions if kind == "line" else self.delivery_positions
            if 1 <= position <= len(rows) and f"{kind}_{rows[position - 1]}{rest}" in self.fields:
                self.add_error(f"{kind}_{rows[position - 1]}{rest}", message)
                return
        self.add_error(None, message)


def _initial(contract: Contract) -> dict:
    initial = {"account": contract.account.code, "note": contract.note, "expected_status": contract.status}
    lines = list(contract.lines.select_related("sku"))
    for row, line in enumerate(lines, start=1):
        initial |= {
            f"line_{row}_sku": line.sku.code,
            f"line_{row}_quantity": line.quantity,
            f"line_{row}_unit_price": line.unit_price,
            f"line_{row}_made_to_order": line.made_to_order,
            f"line_{row}_ready_on": line.ready_on,
        }
    rows = {line.pk: row for row, line in enumerate(lines, start=1)}
    for row, delivery in enumerate(contract.deliveries.prefetch_related("lines"), start=1):
        initial[f"delivery_{row}_due_on"] = delivery.due_on
        for dl in delivery.lines.all():
            initial[f"delivery_{row}_q_{rows[dl.contract_line_id]}"] = dl.quantity
    return initial


class ContractActionForm(forms.Form):
    ACTIONS = ("submit", "approve", "reject", "cancel", "settle")
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)
    expected_status = forms.CharField(required=False)


class MoveForm(forms.Form):
    due_on = forms.DateField(label=_("New date"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=500)


class ResplitForm(forms.Form):
    """One contract line: a quantity per delivery still scheduled that carries it."""

    line_no = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args, delivery_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        for pk in delivery_ids:
            self.fields[f"delivery_{pk}"] = forms.IntegerField(label=_("Units"), min_value=0, required=False)

    def quantities(self) -> dict[int, int]:
        return {
            int(name.split("_", 1)[1]): value
            for name, value in self.cleaned_data.items()
            if name.startswith("delivery_") and value is not None
        }


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)
