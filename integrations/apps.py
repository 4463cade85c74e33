from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        # Importing a platform package registers its webhook adapter.
        import integrations.taobao  # noqa: F401
        from integrations import carriers, shopify, stock_sync, wms, woocommerce  # noqa: F401
        from integrations.carriers import tasks as carrier_tasks  # noqa: F401
        from integrations.wms import tasks as wms_tasks  # noqa: F401
