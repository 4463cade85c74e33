from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from catalog.models import Channel
        from inventory.api.fields import forget_recent_codes
        from inventory.models import SKU, ChannelPool, StockPool
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
        # …and so are the codes a checkout lock names, when a SKU or channel changes
        # (inventory.api.fields.CODE_CACHE_SECONDS).
        for model in (SKU, Channel):
            post_save.connect(
                forget_recent_codes, sender=model, dispatch_uid=f"forget_codes_{model.__name__}"
            )
            post_delete.connect(
                forget_recent_codes, sender=model, dispatch_uid=f"forget_codes_{model.__name__}_d"
            )
