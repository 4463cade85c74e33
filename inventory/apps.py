from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from inventory.models import ChannelPool, StockPool
        from inventory.reservations.reserve import forget_channel_pools

        # Generic writers (the admin, fixtures) change pool mappings: the per-process cache of
        # which pools a channel draws from is dropped at once (reserve.POOL_CACHE_SECONDS).
        for model in (ChannelPool, StockPool):
            post_save.connect(
                forget_channel_pools, sender=model, dispatch_uid=f"forget_pools_{model.__name__}"
            )
            post_delete.connect(
                forget_channel_pools, sender=model, dispatch_uid=f"forget_pools_{model.__name__}_d"
            )
