import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from core.filters import AwareDateTimeFilter, FilterSet
from desk.search import order_search
from orders.models import Order, OrderStatus, Priority


class OrderFilter(FilterSet):
    """One filter set for the API and the desk list."""

    search = django_filters.CharFilter(
        method="filter_search", label=_("Order no., external id, phone, email, tracking or RMA no.")
    )
    channel = django_filters.CharFilter(field_name="channel__code", label=_("Channel"))
    # Tick boxes, not a list box that needs Ctrl-click to pick two states.
    status = django_filters.MultipleChoiceFilter(
        choices=OrderStatus.choices, label=_("Status"), widget=forms.CheckboxSelectMultiple
    )
    priority = django_filters.ChoiceFilter(choices=Priority.choices, label=_("Priority"))
    external_id = django_filters.CharFilter(label=_("External id"))
    placed_from = AwareDateTimeFilter(field_name="placed_at", lookup_expr="gte", label=_("Placed from"))
    placed_to = AwareDateTimeFilter(field_name="placed_at", lookup_expr="lt", label=_("Placed before"))

    class Meta:
        model = Order
        fields = ["search", "channel", "status", "priority", "external_id"]

    def filter_search(self, queryset, name, value):
        return order_search(queryset, value)
