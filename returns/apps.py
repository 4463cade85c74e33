from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReturnsConfig(AppConfig):
    name = "returns"
    verbose_name = _("Returns")

    def ready(self):
        # Outbox handlers (refunds to each provider) and the Shopify refunds webhook processor
        # register on import.
        from returns import platform  # noqa: F401
        from returns.refunds import alipay, shopify, stripe  # noqa: F401
