"""Stock push (R-I10): what each channel may sell goes out to the platforms that take it.

inventory.stock_push hands the debounced numbers to `channel_stock_changed` after commit; it
enqueues one outbox message per listed SKU whose number differs from the last one pushed, and
`stock_push_deliver` sends it with the platform's client (retries and dead letters: R-X4).

Every change carries a version (microseconds since the epoch) kept on the listing, so a push
retried after a newer change is dropped instead of overwriting the newer number."""

import time

from django.db import transaction
from django.db.models.functions import Greatest
from django.utils import timezone

from catalog.models import Channel
from core.http import PlatformError, RateLimited, outbox_outcome
from core.outbox import PermanentFailure, outbox_enqueue
from integrations.adapters import get_adapter
from integrations.models import ChannelListing

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
    try:
        item_id = int(listing.platform_item_id)
        location_id = int(listing.platform_location_id) if listing.platform_location_id else None
    except ValueError as exc:
        raise PermanentFailure(f"listing #{listing.pk}: platform ids must be numbers") from exc
    if channel.platform == "shopify":
        if location_id is None:
            raise PermanentFailure(f"listing #{listing.pk}: a Shopify listing needs a location id")
        client.set_inventory(inventory_item_id=item_id, location_id=location_id, available=quantity)
    else:
        client.set_stock(product_id=item_id, quantity=quantity)
