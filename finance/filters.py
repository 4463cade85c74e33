import django_filters
from django.utils.translation import gettext_lazy as _

from core.filters import FilterSet
from finance.models import Payment, PaymentProvider


class PaymentFilter(FilterSet):
    """The API's payment list filters."""

    order_number = django_filters.CharFilter(field_name="order__number", label=_("Order number"))
    transaction_id = django_filters.CharFilter(label=_("Transaction id"))
    provider = django_filters.ChoiceFilter(choices=PaymentProvider.choices, label=_("Provider"))

    class Meta:
        model = Payment
        fields = ["order_number", "transaction_id", "provider"]
