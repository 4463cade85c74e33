"""Returns of orders whose items came unmapped: an unmapped line never breaks the return checks,
and a Shopify refund names a line mapped from an empty `sku` by its variant id."""

import pytest

from orders import intake
from orders.item_mapping import item_map
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    receive,
    validated,
)
from returns import platform
from returns import policy as policies
from returns.models import ReturnExclusion

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(db):
    ensure_master_data()
    ChannelFactory(code="shop-us", platform="shopify")
    unmapped = {
        "platform_item_id": "632910392",
        "platform_sku_id": "49148385",
        "quantity": 1,
        "unit_price": "199.00",
    }
    mapped = {"sku": "SKU-1", "quantity": 1, "unit_price": "10.00"}
    data = validated(canonical_payload(channel="shop-us", discount="0.00", lines=[unmapped, mapped]))
    return intake.order_ingest(data=data)[0]


def test_return_checks_pass_over_an_unmapped_line(order):
    ReturnExclusion.objects.create(sku_prefix="SKU-", reason="Opened goods")

    allowances = policies.line_allowances(order)

    unmapped, mapped = (allowances[line.pk] for line in order.lines.order_by("line_no"))
    assert unmapped.excluded_because == "" and mapped.excluded_because == "Opened goods"
    verdict = policies.judge(
        order, policies.policy_for(order.channel_id), allowances, {unmapped.line.pk: 1}, now=order.placed_at
    )
    assert "not mapped: platform id 49148385" in verdict.refusals[0][1]  # not delivered, named by its id


def test_a_shopify_refund_finds_a_mapped_line_by_its_variant_id(order):
    red = SKUFactory(code="IPOD-RED")
    receive(red, 5)
    item_map(channel=order.channel, platform_item_id="632910392", platform_sku_id="49148385", sku=red)

    lines, goods_back = platform._lines(
        order, [{"line_item": {"sku": "", "variant_id": 49148385}, "quantity": 1, "restock_type": "return"}]
    )

    assert lines == [{"order_line": order.lines.get(line_no=1).pk, "quantity": 1}] and goods_back
