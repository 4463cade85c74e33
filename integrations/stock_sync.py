"""Stock push (R-I10): what each channel may sell goes out to the platforms that take it.

inventory.stock_push hands the debounced numbers to `channel_stock_changed` after commit; it
enqueues one outbox message per listed SKU whose number differs from the last one pushed, and
`stock_push_deliver` sends it with the platform's client (retries and dead letters: R-X4).

Every change carries a version (microseconds since the epoch) kept on the listing, so a push
retried after a newer change is dropped instead of overwriting the newer number.

Where a SKU goes on a platform is its channel listing. A SKU mapped on a channel (inventory
ItemMapping: the platform item that orders name) is pushed there too: `listings_from_mappings`
makes the listing from the mapping when the channel has none for the SKU and the mapping names
what the platform's stock call takes — WooCommerce's product id, with the variation id of a
variable product; Taobao's item num_iid with the SKU's sku_id (taobao.item.quantity.update);
Amazon's seller SKU (the Listings Items API sets the seller-fulfilled quantity of a listing); JD's
wareId with the skuId jingdong.stock.write.updateSkuStock sets. A
Shopify mapping names a product and variant, but Shopify sets stock on an inventory item at a
location, which orders do not carry: Shopify listings are entered in the admin (or imported). A
listing made from a mapping follows it: removed with the mapping, and when the mapping now names
another SKU."""

import time

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from catalog.models import Channel
from core.http import PlatformError, RateLimited, outbox_outcome
from core.outbox import PermanentFailure, outbox_enqueue
from integrations.adapters import get_adapter
from integrations.models import ChannelListing
from inventory.models import ItemMapping

KIND = "stock_push"


def supports_stock_push(platform: str) -> bool:
    try:
        return get_adapter(platform).supports_stock_push
    except LookupError:
        return False


def channel_stock_changed(sellable: dict[int, dict[str, int]]) -> None:
    """Enqueue a push for each listed SKU of each push-capable active channel whose quantity changed."""
    version = time.time_ns() // 1000
    channels = Channel.objects.filter(pk__in=list(sellable), is_active=True).order_by("pk")
    with transaction.atomic():
        for channel in channels:
            if not supports_stock_push(channel.platform):
                continue
            quantities = sellable[channel.pk]
            listings_from_mappings(channel, list(quantities))
            listings = ChannelListing.objects.filter(
                channel=channel, sku__code__in=list(quantities)
            ).select_related("sku")
            listings = sorted(listings, key=lambda listing: listing.pk)
            # Even an unchanged quantity supersedes a push still waiting with an older number.
            ChannelListing.objects.filter(pk__in=[listing.pk for listing in listings]).update(
                stock_version=Greatest("stock_version", version)
            )
            for listing in listings:
                quantity = quantities[listing.sku.code]
                if quantity == listing.last_pushed_quantity:
                    continue
                outbox_enqueue(
                    kind=KIND,
                    payload={"sku": listing.sku.code, "quantity": quantity, "version": version},
                    idempotency_key=f"stock:{channel.pk}:{listing.sku.code}:{quantity}:{version}",
                    channel_id=channel.pk,
                )


def _woocommerce_target(mapping: ItemMapping) -> dict | None:
    """PUT products/{id}, or products/{product id}/variations/{id} for a variation: a variation
    id cannot be set through products/{id} (WooCommerce answers woocommerce_rest_invalid_product_id).
    https://woocommerce.github.io/woocommerce-rest-api-docs/#update-a-product-variation"""
    if not mapping.platform_item_id.isdigit() or not (mapping.platform_sku_id or "0").isdigit():
        return None
    return {"platform_item_id": mapping.platform_item_id, "platform_sku_id": mapping.platform_sku_id}


def _taobao_target(mapping: ItemMapping) -> dict | None:
    """taobao.item.quantity.update takes the item's num_iid and, for an item with SKUs, the SKU's
    sku_id (TOP SDK ItemQuantityUpdateRequest.php): exactly what a Taobao order line names, both
    numbers like WooCommerce's product and variation ids."""
    return _woocommerce_target(mapping)


def _amazon_target(mapping: ItemMapping) -> dict | None:
    """Amazon's Listings Items API names a listing by the seller's SKU (SellerSKU, an order
    line's seller code); the ASIN alone names no listing of this seller."""
    return {"platform_item_id": mapping.seller_code} if mapping.seller_code else None


def _pdd_target(mapping: ItemMapping) -> dict | None:
    """pdd.goods.quantity.update takes goods_id and the SKU's sku_id (PDD Java SDK
    PddGoodsQuantityUpdateRequest; every PDD order line names both): numbers, both required here."""
    if not (mapping.platform_item_id.isdigit() and mapping.platform_sku_id.isdigit()):
        return None
    return {"platform_item_id": mapping.platform_item_id, "platform_sku_id": mapping.platform_sku_id}


def _jd_target(mapping: ItemMapping) -> dict | None:
    """jingdong.stock.write.updateSkuStock sets a JD SKU's stock by its skuId (JD PHP SDK
    StockWriteUpdateSkuStock.php); every JD order line names it and its wareId, both numbers."""
    if not (mapping.platform_item_id.isdigit() and mapping.platform_sku_id.isdigit()):
        return None
    return {"platform_item_id": mapping.platform_item_id, "platform_sku_id": mapping.platform_sku_id}


def _douyin_target(mapping: ItemMapping) -> dict | None:
    """sku.syncStock names the product_id and the SKU's sku_id (Douyin Go SDK SkuSyncStockParam;
    every Douyin order line names both): numbers, both required here."""
    if not (mapping.platform_item_id.isdigit() and mapping.platform_sku_id.isdigit()):
        return None
    return {"platform_item_id": mapping.platform_item_id, "platform_sku_id": mapping.platform_sku_id}


def _xiaohongshu_target(mapping: ItemMapping) -> dict | None:
    """inventory.syncSkuStock names the SKU by its skuId alone (XHS-DOC 库存API; every XHS order
    line names it): a 24-character id, not a number."""
    if not mapping.platform_sku_id:
        return None
    return {"platform_item_id": mapping.platform_item_id, "platform_sku_id": mapping.platform_sku_id}


# platform → the listing a mapping makes (None when the mapping does not name the push target)
LISTING_FROM_MAPPING = {
    "woocommerce": _woocommerce_target,
    "taobao": _taobao_target,
    "amazon": _amazon_target,
    "pdd": _pdd_target,
    "jd": _jd_target,
    "douyin": _douyin_target,
    "xiaohongshu": _xiaohongshu_target,
}


def listings_from_mappings(channel: Channel, sku_codes: list[str]) -> None:
    """Make the listings of these SKUs from the channel's item mappings where the channel has
    none yet (the oldest mapping of a SKU that names a push target), and drop the listings made
    from a mapping that names another SKU now. A listing entered by hand is never replaced."""
    listings = ChannelListing.objects.filter(channel=channel, sku__code__in=sku_codes)
    listings.filter(item_mapping__isnull=False).exclude(sku_id=F("item_mapping__sku_id")).delete()
    target = LISTING_FROM_MAPPING.get(channel.platform)
    if target is None or not sku_codes:
        return
    listed = set(listings.values_list("sku_id", flat=True))
    made: dict[int, ChannelListing] = {}
    for mapping in ItemMapping.objects.filter(channel=channel, sku__code__in=sku_codes).order_by("pk"):
        where = target(mapping) if mapping.sku_id not in listed else None
        if where is not None and mapping.sku_id not in made:
            made[mapping.sku_id] = ChannelListing(
                channel=channel, sku_id=mapping.sku_id, item_mapping=mapping, **where
            )
    # A concurrent push making the same listing, or one entered meanwhile, wins: (channel, sku) is unique.
    ChannelListing.objects.bulk_create(made.values(), ignore_conflicts=True)


def stock_push_deliver(message) -> None:
    """Push one quantity. A failed call goes by the one HTTP rule (core.http.outbox_outcome):
    network errors, 408, 425, 429 and 5xx are retried, other 4xx dead-letter; so does a listing
    that is gone."""
    payload = message.payload
    sku, quantity, version = payload["sku"], int(payload["quantity"]), int(payload.get("version", 0))
    listing = (
        ChannelListing.objects.select_related("channel")
        .filter(channel_id=message.channel_id, sku__code=sku)
        .first()
    )
    if listing is None:
        raise PermanentFailure(f"no listing of {sku} on channel #{message.channel_id}")
    if version < listing.stock_version:
        return  # a newer change has its own push (or found the platform already right)
    channel = listing.channel
    if not channel.is_active or not supports_stock_push(channel.platform):
        raise PermanentFailure(f"channel {channel.code} does not take stock pushes")
    try:
        _push(channel, listing, quantity)
    except (PlatformError, RateLimited) as exc:
        raise outbox_outcome(exc) from exc
    ChannelListing.objects.filter(pk=listing.pk).update(
        last_pushed_quantity=quantity, last_pushed_at=timezone.now()
    )


def _push(channel: Channel, listing: ChannelListing, quantity: int) -> None:
    client = get_adapter(channel.platform).client_class(channel)
    if channel.platform == "amazon":  # the listing's seller SKU (integrations.amazon.client.set_stock)
        client.set_stock(sku=listing.platform_item_id, quantity=quantity)
        return
    if channel.platform == "xiaohongshu":  # inventory.syncSkuStock {skuId, qty}: ids are not numbers
        # qty is XHS's TOTAL (sellable + what XHS holds for unpaid orders, channel and activity
        # stock; XHS sets sellable = qty − what it holds). We send our sellable figure: XHS then
        # shows it less what XHS holds, never more than we can ship; it under-sells only by the
        # units XHS holds for unpaid orders we already reserved, until they are paid or closed.
        if not listing.platform_sku_id:
            raise PermanentFailure(f"listing #{listing.pk}: a Xiaohongshu listing needs the SKU's skuId")
        client.sync_stock(sku_id=listing.platform_sku_id, qty=quantity)
        return
    try:
        item_id = int(listing.platform_item_id)
        location_id = int(listing.platform_location_id) if listing.platform_location_id else None
        variation_id = int(listing.platform_sku_id) if listing.platform_sku_id else None
    except ValueError as exc:
        raise PermanentFailure(f"listing #{listing.pk}: platform ids must be numbers") from exc
    if channel.platform == "shopify":
        if location_id is None:
            raise PermanentFailure(f"listing #{listing.pk}: a Shopify listing needs a location id")
        client.set_inventory(inventory_item_id=item_id, location_id=location_id, available=quantity)
    elif channel.platform == "taobao":
        client.set_quantity(num_iid=item_id, sku_id=variation_id, quantity=quantity)
    elif channel.platform == "pdd":  # pdd.goods.quantity.update, update_type 1 (全量)
        if variation_id is None:
            raise PermanentFailure(f"listing #{listing.pk}: a Pinduoduo listing needs the SKU's sku_id")
        client.set_quantity(goods_id=item_id, sku_id=variation_id, quantity=quantity)
    elif channel.platform == "jd":  # jingdong.stock.write.updateSkuStock (a full set)
        if variation_id is None:
            raise PermanentFailure(f"listing #{listing.pk}: a JD listing needs the SKU's skuId")
        client.set_stock(sku_id=variation_id, quantity=quantity)
    elif channel.platform == "douyin":  # sku.syncStock, incremental false (the absolute number)
        if variation_id is None:
            raise PermanentFailure(f"listing #{listing.pk}: a Douyin listing needs the SKU's sku_id")
        client.sync_stock(product_id=str(item_id), sku_id=str(variation_id), stock_num=quantity)
    else:
        client.set_stock(product_id=item_id, variation_id=variation_id, quantity=quantity)
