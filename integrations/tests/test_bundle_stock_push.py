"""A bundle (组合装) listed on Shopify is pushed like any SKU, with the quantity its components
make up, whenever a component's stock changes — through the real stock push and outbox, against
the local HTTP server playing Shopify's `inventory_levels/set.json` (test_stock_sync)."""

import pytest

from integrations.models import ChannelListing
from integrations.tests.test_stock_sync import SHOPIFY_PATH, SHOPIFY_TOKEN, platform, push  # noqa: F401
from inventory.models import SKU, BundleComponent
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed_box(platform):  # noqa: F811 - the fixture imported above
    ensure_master_data(stock=0)
    channel = ChannelFactory(
        code="shop-us",
        platform="shopify",
        api_credentials={"access_token": SHOPIFY_TOKEN, "base_url": platform.base_url},
    )
    box = SKU.objects.create(code="BOX", name="Gift box", is_bundle=True)
    BundleComponent.objects.create(bundle=box, component=SKUFactory(code="SKU-1"), quantity=2)
    BundleComponent.objects.create(bundle=box, component=SKUFactory(code="SKU-2"), quantity=1)
    ChannelListing.objects.create(
        channel=channel, sku=box, platform_item_id="808950811", platform_location_id="655441491"
    )
    return channel


def test_receiving_components_pushes_the_bundles_quantity(listed_box, platform, push):  # noqa: F811
    receive(SKUFactory(code="SKU-1"), 7)
    receive(SKUFactory(code="SKU-2"), 10)

    push()

    # 7 // 2 = 3 boxes (SKU-2 would allow 10); only the listed bundle goes out
    assert platform.requests == [
        ("POST", SHOPIFY_PATH, {"location_id": 655441491, "inventory_item_id": 808950811, "available": 3})
    ]
    assert ChannelListing.objects.get(channel=listed_box).last_pushed_quantity == 3

    platform.requests.clear()
    receive(SKUFactory(code="SKU-1"), 1)  # 8 // 2 = 4
    push()
    assert [body["available"] for _m, _p, body in platform.requests] == [4]
