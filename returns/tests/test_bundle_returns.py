"""Returns of a bundle (组合装): what was shipped — its components — is what comes back. The return
form (desk and self-service) offers the component lines, named with their bundle, never the
bundle line; a Shopify refund naming the bundle's SKU opens the RMA on its components."""

import pytest

from inventory.models import SKU, BundleComponent
from orders.tests.factories import ensure_master_data
from returns import policy
from returns.forms import ReturnRequestForm
from returns.models import ReturnRequest
from returns.tests.conftest import delivered_order
from returns.tests.test_platform import SHOPIFY_ORDER_ID, post_refund, shop, shopify_refund  # noqa: F401

pytestmark = pytest.mark.django_db

BOX_LINES = [{"sku": "BOX", "quantity": 2, "unit_price": "150.00"}]


@pytest.fixture
def box():
    ensure_master_data()
    bundle = SKU.objects.create(code="BOX", name="Gift box", is_bundle=True)
    BundleComponent.objects.create(bundle=bundle, component=SKU.objects.get(code="SKU-1"), quantity=2)
    BundleComponent.objects.create(bundle=bundle, component=SKU.objects.get(code="SKU-2"), quantity=1)
    return bundle


def test_the_return_form_offers_the_components_named_with_their_bundle(box):
    order = delivered_order(lines=BOX_LINES)

    form = ReturnRequestForm(allowances=policy.line_allowances(order))

    offered = {field.label: field.max_value for name, field in form.fields.items() if name.startswith("qty_")}
    assert offered == {
        "#2 SKU-1 Item SKU-1 (from the bundle BOX)": 4,
        "#3 SKU-2 Item SKU-2 (from the bundle BOX)": 2,
    }


def test_a_shopify_refund_of_a_bundle_opens_the_rma_on_its_components(box, shop, post_refund):  # noqa: F811
    order = delivered_order(channel="shop-sy", external_id=str(SHOPIFY_ORDER_ID), lines=BOX_LINES)
    body = shopify_refund(amount="150.00")
    body["refund_line_items"][0]["line_item"]["sku"] = "BOX"

    response = post_refund(body)

    assert response.status_code == 202
    rma = ReturnRequest.objects.get(order=order)
    assert sorted((rl.order_line.line_no, rl.sku.code, rl.quantity) for rl in rma.lines.all()) == [
        (2, "SKU-1", 2),
        (3, "SKU-2", 1),
    ]
