"""Order lines whose platform item is not mapped to a SKU yet: the lock that keeps a mapping and
the intake from missing each other, and the intake's second look-up under it.

A mapping of a channel's item (orders.item_mapping) takes the channel's mapping lock exclusively;
an intake batch with unmapped lines takes it shared before it writes anything, and looks those
lines up again once they are written (`map_late_lines`). An order arriving while an item is mapped
either waits for the mapping and finds it here, or commits first and is found by the mapping's
UPDATE of the waiting lines — never left waiting for a mapping that exists."""

from django.db import connection
from django.db.models import Count, F, Min, Sum

from inventory.item_mappings import ItemName, ItemResolver
from orders import bundles
from orders.models import EDITABLE, LineKind, OrderLine

LOCK_NAMESPACE = "conduit.item_mapping"


def lock_channels(channel_ids, *, shared: bool) -> None:
    """The item-mapping lock of these channels (in ascending id) until the transaction ends: a
    PostgreSQL advisory lock. SQLite runs one writer at a time: nothing to take there."""
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        for channel_id in sorted(set(channel_ids)):
            cursor.execute(f"SELECT {function}(hashtext(%s), %s)", [LOCK_NAMESPACE, channel_id])


def channels_with_unmapped(items) -> set[int]:
    """The channels of validated canonical orders that name an item not mapped (yet)."""
    return {data["channel"].pk for data in items if any(line["sku"] is None for line in data["lines"])}


def map_late_lines(lines: list[OrderLine], channel_of: dict[int, int]) -> list[OrderLine]:
    """Saved lines without a SKU, looked up again (with the channels' lock held shared): an item
    mapped after the order was validated but before this transaction took the lock is found.
    Gives those lines their SKU (saved; a bundle SKU makes the line a bundle line) and returns
    them. `channel_of` is {order id: channel id}."""
    unmapped = [line for line in lines if line.sku_id is None]
    if not unmapped:
        return []
    lock_channels({channel_of[line.order_id] for line in unmapped}, shared=True)
    names = {
        line.pk: ItemName(
            channel_of[line.order_id],
            platform_item_id=line.platform_item_id,
            platform_sku_id=line.platform_sku_id,
            seller_code=line.seller_code,
        )
        for line in unmapped
    }
    resolver = ItemResolver()
    resolver.load(names.values())
    found = []
    for line in unmapped:
        sku = resolver.resolve(names[line.pk])
        if sku is None:
            continue
        line.sku = sku
        line.presale = line.presale or sku.presale
        if line.kind == LineKind.GOODS:
            line.kind = bundles.sold_kind(sku)
        found.append(line)
    if found:
        OrderLine.objects.bulk_update(found, ["sku", "kind", "presale"])
    return found


# --- the desk's queue of unmapped items ------------------------------------------------------------


def unmapped_items(*, channel_id: int | None = None):
    """The items waiting to be mapped, one row per (channel, item ids, seller code, title) with
    the orders and units waiting for it (live lines of orders that can still change), most orders
    first. The lines are found by `sku IS NULL` on the SKU column's index: few rows, fast."""
    lines = OrderLine.objects.filter(
        sku__isnull=True, order__status__in=EDITABLE, quantity__gt=F("cancelled_quantity")
    )
    if channel_id is not None:
        lines = lines.filter(order__channel_id=channel_id)
    return (
        lines.values(
            "order__channel_id",
            "order__channel__code",
            "order__channel__name",
            "platform_item_id",
            "platform_sku_id",
            "seller_code",
            "title",
        )
        .annotate(
            orders=Count("order_id", distinct=True),
            units=Sum(F("quantity") - F("cancelled_quantity")),
            since=Min("order__placed_at"),
        )
        .order_by(
            "-orders", "since", "order__channel__code", "platform_item_id", "platform_sku_id", "seller_code"
        )
    )


def unmapped_item_count() -> int:
    return unmapped_items().count()
