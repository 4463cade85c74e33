from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PurchasingConfig(AppConfig):
    """Buying stock in: suppliers and what they sell us, purchase orders (from replenishment
    suggestions or by hand) with approval, shipment notices (ASN), receiving against the order,
    and the supplier portal."""

    name = "purchasing"
    verbose_name = _("Purchasing")
