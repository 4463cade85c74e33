from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfilmentConfig(AppConfig):
    """Shipments, routing, packing, tracking, SLA and notifications.

    Its models declare `app_label = "orders"`: they were born in the orders app, so their tables
    (`orders_shipment`…), migrations (orders/migrations) and permission names
    (`orders.work_shipment`, `orders.route_order`) stay where they have always been, while the
    code lives here, one layer above the order domain."""

    name = "fulfilment"
    verbose_name = _("Fulfilment")
