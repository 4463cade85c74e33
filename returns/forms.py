"""Forms of the returns desk and the self-service page. They check shapes; the rules (window,
quantities, exclusions) are the services' and come back as messages naming the field."""

from django import forms
from django.utils.translation import gettext_lazy as _

from fulfilment.models import Carrier
from inventory.models import Warehouse
from returns.models import ReturnKind, ReturnReason, ReturnStatus

ACCEPT = ".jpg,.jpeg,.png,.webp,.pdf,image/jpeg,image/png,image/webp,application/pdf"


class ReturnRequestForm(forms.Form):
    """One quantity (and replacement SKU, for exchanges) per returnable order line."""

    kind = forms.ChoiceField(
        label=_("What does the customer want?"),
        choices=[
            (ReturnKind.RETURN, ReturnKind.RETURN.label),
            (ReturnKind.EXCHANGE, ReturnKind.EXCHANGE.label),
        ],
        initial=ReturnKind.RETURN,
    )
    reason = forms.ChoiceField(label=_("Reason"), choices=ReturnReason.choices)
    description = forms.CharField(
        label=_("Description"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    contact_name = forms.CharField(label=_("Contact name"), max_length=120, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=32, required=False)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False)

    def __init__(self, *args, allowances, **kwargs):
        super().__init__(*args, **kwargs)
        self.allowances = [a for a in allowances.values() if a.delivered]
        for allowance in self.allowances:
            line = allowance.line
            label = f"#{line.line_no} {line.sku.code} {line.sku.name}"
            if line.parent_line_id:  # a bundle's component: it comes back on its own
                label += " " + _("(from the bundle %(sku)s)") % {"sku": line.parent_line.sku.code}
            self.fields[f"qty_{line.pk}"] = forms.IntegerField(
                label=label,
                min_value=0,
                max_value=max(allowance.returnable, 0),
                initial=0,
                required=False,
            )
            self.fields[f"replacement_{line.pk}"] = forms.CharField(
                label=_("Replacement SKU"), max_length=64, required=False
            )

    def line_rows(self):
        return [(a, self[f"qty_{a.line.pk}"], self[f"replacement_{a.line.pk}"]) for a in self.allowances]

    def lines(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {
                "order_line": a.line.pk,
                "quantity": data.get(f"qty_{a.line.pk}") or 0,
                "replacement_sku": (data.get(f"replacement_{a.line.pk}") or "").strip() or None,
            }
            for a in self.allowances
            if data.get(f"qty_{a.line.pk}")
        ]

    def contact(self) -> dict:
        data = self.cleaned_data
        return {"name": data["contact_name"], "phone": data["contact_phone"], "email": data["contact_email"]}

    def rma_fields(self, files) -> dict:
        """What returns.opening.rma_create takes from this form (the desk's and the customer's)."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "reason": data["reason"],
            "lines": self.lines(),
            "description": data["description"],
            "contact": self.contact(),
            "attachments": files.getlist("attachments"),
        }


class DecisionForm(forms.Form):
    APPROVE, REJECT, CANCEL, CLOSE = "approve", "reject", "cancel", "close"

    action = forms.ChoiceField(
        choices=[(APPROVE, _("Approve")), (REJECT, _("Reject")), (CANCEL, _("Cancel")), (CLOSE, _("Close"))]
    )
    expected_status = forms.ChoiceField(choices=ReturnStatus.choices)
    reason = forms.CharField(label=_("Reason"), max_length=255, required=False)


class TrackingForm(forms.Form):
    carrier = forms.ModelChoiceField(
        label=_("Carrier"),
        queryset=Carrier.objects.filter(is_active=True),
        to_field_name="code",
        required=False,
        empty_label=_("— carrier —"),
    )
    tracking_number = forms.CharField(label=_("Return tracking number"), max_length=64)


def warehouse_field(**kwargs) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("Receiving warehouse"),
        queryset=Warehouse.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        **kwargs,
    )


class ReceiveForm(forms.Form):
    expected_status = forms.ChoiceField(choices=ReturnStatus.choices)
    warehouse = warehouse_field()


class ScanForm(forms.Form):
    warehouse = warehouse_field()
    code = forms.CharField(label=_("Scan the RMA, order or return tracking number"), max_length=64)


class RecheckForm(forms.Form):
    line = forms.IntegerField(min_value=1)
    passed = forms.TypedChoiceField(
        choices=[("1", _("Passed")), ("0", _("Failed"))], coerce=lambda value: value == "1"
    )
    note = forms.CharField(max_length=255, required=False)


class RefundConfirmForm(forms.Form):
    reference = forms.CharField(label=_("Payout reference"), max_length=128)


class MetricsForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("The end is before the start."))
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            self.add_error("end", _("At most one year at a time."))
        return data


class QueueFilterForm(forms.Form):
    status = forms.MultipleChoiceField(label=_("Status"), choices=ReturnStatus.choices, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", "—"), *ReturnKind.choices], required=False)
    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "—"), *ReturnReason.choices], required=False)
    warehouse = warehouse_field(required=False, empty_label=_("All warehouses"))
    search = forms.CharField(label=_("RMA, order, phone or tracking no."), max_length=64, required=False)


def inspection_grades(post, lines) -> dict[int, dict]:
    """The inspection form's per-line fields (intact_<id>, damaged_<id>, wrong_<id>, note_<id>);
    a field left empty is 0, anything else that is not a number is passed on for the service to
    refuse with the line named."""
    grades = {}
    for line in lines:
        grades[line.pk] = {
            "intact": post.get(f"intact_{line.pk}", "").strip() or 0,
            "damaged": post.get(f"damaged_{line.pk}", "").strip() or 0,
            "wrong_item": post.get(f"wrong_{line.pk}", "").strip() or 0,
            "note": post.get(f"note_{line.pk}", ""),
        }
    return grades
