"""The SKU admin edits a bundle's components inline and refuses a bundle that breaks the rules,
naming why (inventory.bundles.validate_bundle); a saved bundle is queued for the stock push."""

import pytest

from inventory.models import SKU, BundleComponent, StockPushPending
from orders.tests.factories import SKUFactory, ensure_master_data

pytestmark = pytest.mark.django_db

PREFIX = "bundle_components"


@pytest.fixture
def admin_client(client, django_user_model):
    ensure_master_data(stock=0)
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-for-tests-1"))
    return client


def sku_form(code: str, *, is_bundle: bool, components=()) -> dict:
    data = {
        "code": code,
        "name": f"Item {code}",
        "barcode": "",
        "is_active": "on",
        f"{PREFIX}-TOTAL_FORMS": str(len(components)),
        f"{PREFIX}-INITIAL_FORMS": "0",
        f"{PREFIX}-MIN_NUM_FORMS": "0",
        f"{PREFIX}-MAX_NUM_FORMS": "1000",
    }
    if is_bundle:
        data["is_bundle"] = "on"
    for index, (component, quantity, price) in enumerate(components):
        data[f"{PREFIX}-{index}-component"] = str(component.pk)
        data[f"{PREFIX}-{index}-quantity"] = str(quantity)
        data[f"{PREFIX}-{index}-reference_price"] = price
    return data


def test_a_bundle_is_created_with_its_components(admin_client):
    sku1, sku2 = SKUFactory(code="SKU-1"), SKUFactory(code="SKU-2")
    StockPushPending.objects.all().delete()

    response = admin_client.post(
        "/admin/inventory/sku/add/",
        sku_form("BOX", is_bundle=True, components=[(sku1, 2, "30.00"), (sku2, 1, "40.00")]),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    box = SKU.objects.get(code="BOX")
    assert box.is_bundle
    assert list(
        BundleComponent.objects.filter(bundle=box).values_list(
            "component__code", "quantity", "reference_price"
        )
    ) == [("SKU-1", 2, 30), ("SKU-2", 1, 40)]
    assert StockPushPending.objects.filter(sku=box).exists()


@pytest.mark.parametrize(
    ("is_bundle", "components", "message"),
    [
        (True, [], "A bundle needs at least one component."),
        (False, [("SKU-1", 1)], "Only a bundle has components"),
        (True, [("OTHER-BOX", 1)], "OTHER-BOX is a bundle: a bundle cannot contain another bundle."),
        (True, [("RETIRED", 1)], "RETIRED is inactive"),
    ],
)
def test_a_bundle_breaking_the_rules_is_refused_with_the_reason(admin_client, is_bundle, components, message):
    SKU.objects.create(code="OTHER-BOX", name="Other box", is_bundle=True)
    SKUFactory(code="RETIRED", is_active=False)
    given = [(SKU.objects.get(code=code), quantity, "0") for code, quantity in components]

    response = admin_client.post(
        "/admin/inventory/sku/add/", sku_form("BOX", is_bundle=is_bundle, components=given)
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SKU.objects.filter(code="BOX").exists()


def test_a_component_of_a_bundle_cannot_be_made_a_bundle(admin_client):
    sku1 = SKUFactory(code="SKU-1")
    box = SKU.objects.create(code="BOX", name="Box", is_bundle=True)
    BundleComponent.objects.create(bundle=box, component=sku1, quantity=1)

    response = admin_client.post(
        f"/admin/inventory/sku/{sku1.pk}/change/",
        sku_form("SKU-1", is_bundle=True, components=[(SKUFactory(code="SKU-2"), 1, "0")]),
    )

    assert response.status_code == 200
    assert "SKU-1 is a component of BOX" in response.content.decode()
    sku1.refresh_from_db()
    assert not sku1.is_bundle
