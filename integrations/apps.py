from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        # Importing a platform package registers its webhook adapter.
        import integrations.taobao  # noqa: F401
        from integrations import shopify, stock_sync, woocommerce  # noqa: F401
