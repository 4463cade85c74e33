"""Platform items ↔ SKUs through the real webhook path and the real stock push: a platform line
without our SKU code is taken and held until its item is mapped (never refused), and a SKU
mapped on a WooCommerce channel has its stock pushed to the platform item orders named."""

import pytest
from django.db.models import Sum

from integrations.models import ChannelListing, InboundMessage, InboundStatus
from integrations.tests.conftest import payload, receive
from integrations.tests.test_stock_sync import WOO_KEY, WOO_SECRET_KEY, platform, push  # noqa: F401 (fixtures)
from inventory.models import ItemMapping
from orders.item_mapping import item_map
from orders.models import Order, OrderEventKind, OrderStatus
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data

pytestmark = pytest.mark.django_db


def reserved(code: str) -> int:
    return SKUFactory(code=code).balances.aggregate(total=Sum("reserved"))["total"] or 0


def test_a_woocommerce_line_without_sku_is_held_until_mapped_then_released_and_routed(
    post_woo, woo_channel, agent, django_capture_on_commit_callbacks
):
    """The WooCommerce REST API docs' order 727 (woocommerce/woocommerce-rest-api-docs,
    source/includes/wp-api-v3/_orders.md; integrations/tests/payloads/SOURCES.md): its first
    line, "Woo Single #1" × 2, has an empty sku and names product 93 (no variation)."""
    receive(SKUFactory(code="Bar3"), 10)
    single = SKUFactory(code="WOO-SINGLE")
    receive(single, 10)

    with django_capture_on_commit_callbacks(execute=True):
        assert post_woo(payload("woocommerce_order_rest_sample")).status_code == 202

    message = InboundMessage.objects.get()
    assert (message.status, message.error) == (InboundStatus.PROCESSED, "")  # not refused
    order = Order.objects.get(channel=woo_channel, external_id="727")
    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_reason == "Unmapped item: platform id 93."
    unmapped = order.lines.get(line_no=1)
    assert (unmapped.sku, unmapped.platform_item_id, unmapped.quantity, unmapped.title) == (
        None,
        "93",
        2,
        "Woo Single #1",
    )
    assert reserved("Bar3") == 1 and reserved("WOO-SINGLE") == 0  # the mapped line holds its unit

    with django_capture_on_commit_callbacks(execute=True):
        outcome = item_map(channel=woo_channel, platform_item_id="93", sku=single, actor=agent)

    order.refresh_from_db()
    assert outcome.released == [order.number]
    assert order.status == OrderStatus.ALLOCATED  # "processing" is paid: released, then routed
    assert order.lines.get(line_no=1).sku == single and reserved("WOO-SINGLE") == 2
    assert order.events.filter(kind=OrderEventKind.ITEM_MAPPED).count() == 1


def test_a_shopify_line_with_an_empty_sku_is_held_by_its_variant_id_and_mapped_once(
    post_shopify, shopify_channel, agent, django_capture_on_commit_callbacks
):
    """Shopify's sample order 450789469 (Shopify/shopify-app-js rest/admin/__tests__/2026-07/
    order.test.ts test_8; SOURCES.md §1) as Shopify sends it for a variant that has no SKU: the
    red iPod line's `sku` is empty. Two orders name that variant before anyone maps it."""
    for code in ("IPOD2008GREEN", "IPOD2008BLACK", "IPOD-RED"):
        receive(SKUFactory(code=code), 10)
    first = payload("shopify_order_rest_sample")["order"]
    first["line_items"][1]["sku"] = ""
    second = {**first, "id": first["id"] + 1, "name": "#1002"}

    with django_capture_on_commit_callbacks(execute=True):
        assert post_shopify(first).status_code == 202
        assert post_shopify(second, webhook_id="wh-2").status_code == 202

    orders = list(Order.objects.filter(channel=shopify_channel).order_by("external_id"))
    assert len(orders) == 2 and {o.status for o in orders} == {OrderStatus.ON_HOLD}
    assert all(o.hold_reason == "Unmapped item: platform id 49148385." for o in orders)
    assert all(o.lines.count() == 3 for o in orders)  # nothing lost

    outcome = item_map(
        channel=shopify_channel,
        platform_item_id="632910392",
        platform_sku_id="49148385",
        sku=SKUFactory(code="IPOD-RED"),
    )

    assert sorted(outcome.released) == sorted(o.number for o in orders) and outcome.lines == 2
    assert reserved("IPOD-RED") == 2
    assert not ChannelListing.objects.exists()  # Shopify needs the inventory item: entered in the admin


# --- the way out: stock push to what the orders named -------------------------------------------


@pytest.fixture
def woo_shop(platform):  # noqa: F811
    ensure_master_data(stock=0)
    return ChannelFactory(
        code="woo-cn",
        platform="woocommerce",
        api_credentials={
            "base_url": platform.base_url,
            "consumer_key": WOO_KEY,
            "consumer_secret": WOO_SECRET_KEY,
        },
    )


def test_a_sku_mapped_on_woocommerce_is_pushed_to_its_variation_and_follows_the_mapping(
    woo_shop,
    platform,  # noqa: F811
    push,  # noqa: F811
):
    """WooCommerce sets a variation's stock at products/{product}/variations/{id}
    (https://woocommerce.github.io/woocommerce-rest-api-docs/#update-a-product-variation)."""
    shirt, other = SKUFactory(code="SHIRT-M-BLACK"), SKUFactory(code="SHIRT-L-BLACK")
    item_map(channel=woo_shop, platform_item_id="22", platform_sku_id="23", sku=shirt)
    receive(shirt, 7)
    receive(other, 4)

    push()

    assert platform.requests == [
        ("PUT", "/wp-json/wc/v3/products/22/variations/23", {"manage_stock": True, "stock_quantity": 7})
    ]
    listing = ChannelListing.objects.get(channel=woo_shop)
    assert (listing.sku, listing.item_mapping.sku, listing.last_pushed_quantity) == (shirt, shirt, 7)

    # the mapping was wrong: re-pointed, the variation now shows the other SKU's stock
    item_map(channel=woo_shop, platform_item_id="22", platform_sku_id="23", sku=other, replace=True)
    push()

    assert platform.requests[-1] == (
        "PUT",
        "/wp-json/wc/v3/products/22/variations/23",
        {"manage_stock": True, "stock_quantity": 4},
    )
    assert list(ChannelListing.objects.values_list("sku__code", flat=True)) == ["SHIRT-L-BLACK"]

    # a listing entered by hand is kept: a mapping never replaces it
    manual = SKUFactory(code="CAP")
    ChannelListing.objects.create(channel=woo_shop, sku=manual, platform_item_id="501")
    item_map(channel=woo_shop, platform_item_id="77", sku=manual)
    receive(manual, 2)
    push()
    assert platform.requests[-1] == (
        "PUT",
        "/wp-json/wc/v3/products/501",
        {"manage_stock": True, "stock_quantity": 2},
    )
    assert ChannelListing.objects.get(sku=manual).item_mapping is None

    # a mapping removed in the admin takes the listing made from it along
    ItemMapping.objects.filter(sku=other).delete()
    assert not ChannelListing.objects.filter(sku=other).exists()
