"""Which SKU of ours a sales platform's item is, per channel: orders name an item by the
platform's ids or by the seller's own code (商家编码), not by our SKU code."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from inventory.models.stock import SKU


class ItemMapping(TimeStampedModel):
    """A platform item on one channel is one of our SKUs. Inbound lines are resolved by it
    (orders.canonical, through inventory.item_mappings), the stock push finds the platform item
    of a SKU by it (integrations.stock_sync), and mapping an item releases the orders waiting for
    it (orders.item_mapping).

    An item is named by its ids (product/item id with a variant/SKU id, or the item id alone for
    an item without variants) and/or by the seller's code; each name belongs to one mapping."""

    channel = models.ForeignKey(
        "integrations.Channel",
        on_delete=models.CASCADE,
        related_name="item_mappings",
        verbose_name=_("channel"),
    )
    platform_item_id = models.CharField(
        _("platform item id"),
        max_length=64,
        blank=True,
        help_text=_("Shopify product id, WooCommerce product id, Taobao item id (num_iid)."),
    )
    platform_sku_id = models.CharField(
        _("platform SKU id"),
        max_length=64,
        blank=True,
        help_text=_(
            "Shopify variant id, WooCommerce variation id, Taobao sku_id; empty for an item without variants."
        ),
    )
    seller_code = models.CharField(
        _("seller code"),
        max_length=64,
        blank=True,
        help_text=_(
            "The seller's own code on the platform: Shopify or WooCommerce SKU, Taobao outer_sku_id."
        ),
    )
    title = models.CharField(_("title"), max_length=255, blank=True)
    sku = models.ForeignKey(
        SKU, on_delete=models.PROTECT, related_name="item_mappings", verbose_name=_("SKU")
    )
    mapped_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("mapped by"),
    )

    class Meta:
        ordering = ["channel", "seller_code", "platform_item_id", "platform_sku_id"]
        verbose_name = _("item mapping")
        verbose_name_plural = _("item mappings")
        constraints = [
            models.CheckConstraint(
                condition=~Q(platform_item_id="", platform_sku_id="", seller_code=""),
                name="item_mapping_names_an_item",
            ),
            models.UniqueConstraint(
                fields=["channel", "platform_item_id", "platform_sku_id"],
                condition=~Q(platform_item_id="", platform_sku_id=""),
                name="item_mapping_unique_ids",
            ),
            models.UniqueConstraint(
                fields=["channel", "seller_code"],
                condition=~Q(seller_code=""),
                name="item_mapping_unique_seller_code",
            ),
        ]
        indexes = [
            # Inbound lines are looked up by variant id alone (resolution step 1).
            models.Index(
                fields=["channel", "platform_sku_id"],
                condition=~Q(platform_sku_id=""),
                name="item_mapping_sku_id",
            ),
        ]

    def __str__(self):
        return f"{self.channel_id}:{self.platform_name} → {self.sku_id}"

    @property
    def platform_name(self) -> str:
        """How the platform names the item, for messages: its ids, else the seller's code."""
        ids = "/".join(part for part in (self.platform_item_id, self.platform_sku_id) if part)
        return ids or self.seller_code
