from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    """The manager dashboard: day rollups and panels over orders, shipments and money.

    Its models declare `app_label = "orders"` so their tables, migrations and the
    `orders.view_dashboard` permission stay as they were."""

    name = "dashboard"
    verbose_name = _("Dashboard")
