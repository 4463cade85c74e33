import pytest
from rest_framework.test import APIClient

from inventory.ledger import standard_pool
from inventory.models import StockMovement
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, make_order, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(warehouse_user):
    ensure_master_data(stock=10)
    client = APIClient()
    client.force_authenticate(warehouse_user)
    return client


def test_stock_per_warehouse_and_pool_with_channel_sellable(api):
    make_order(lines=[{"sku": "SKU-1", "quantity": 3, "unit_price": "1.00"}])
    body = api.get("/api/v1/stock/", {"sku": "SKU-1"}).data

    assert body["sku"] == "SKU-1"
    [warehouse] = body["warehouses"]
    assert (warehouse["warehouse"], warehouse["on_hand"], warehouse["reserved"], warehouse["available"]) == (
        "WH-HZ",
        10,
        3,
        7,
    )
    assert warehouse["pools"]["regular"]["available"] == 7
    assert body["channels"] == {"shop-cn": 7}


def test_unknown_sku_is_a_400_naming_the_field(api):
    response = api.get("/api/v1/stock/", {"sku": "NOPE"})
    assert response.status_code == 400 and "sku" in response.data


def test_receipt_and_adjustment_through_the_api(api):
    receipt = {
        "sku": "SKU-1",
        "warehouse": "WH-HZ",
        "quantity": 5,
        "kind": "receipt",
        "reference": "PO-1",
        "idempotency_key": "PO-1-1",
    }
    first = api.post("/api/v1/stock/movements/", receipt, format="json")
    again = api.post("/api/v1/stock/movements/", receipt, format="json")
    adjust = api.post(
        "/api/v1/stock/movements/",
        {**receipt, "kind": "adjustment", "quantity": -2, "idempotency_key": None},
        format="json",
    )

    assert (first.status_code, again.status_code, adjust.status_code) == (201, 200, 201)
    assert first.data["id"] == again.data["id"]
    assert api.get("/api/v1/stock/", {"sku": "SKU-1"}).data["warehouses"][0]["on_hand"] == 13


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sku": "NOPE"}, "sku"),
        ({"warehouse": "NOPE"}, "warehouse"),
        ({"kind": "reserve"}, "kind"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": -50, "kind": "adjustment"}, "quantity"),
        ({"lot": "L1"}, "lot"),
    ],
)
def test_bad_movements_name_the_field_and_change_nothing(api, change, field):
    body = {
        "sku": "SKU-1",
        "warehouse": "WH-HZ",
        "quantity": 5,
        "kind": "receipt",
        "reference": "PO-2",
        **change,
    }
    before = StockMovement.objects.count()
    response = api.post("/api/v1/stock/movements/", body, format="json")
    assert response.status_code in (400, 409)
    assert field in response.data
    assert StockMovement.objects.count() == before


def test_roles_without_stock_rights_are_refused(make_user):
    ensure_master_data(stock=1)
    client = APIClient()
    client.force_authenticate(make_user("finance"))
    assert client.get("/api/v1/stock/", {"sku": "SKU-1"}).status_code == 403
    client.force_authenticate(make_user("customer_service"))
    assert client.get("/api/v1/stock/", {"sku": "SKU-1"}).status_code == 200
    movement = {"sku": "SKU-1", "warehouse": "WH-HZ", "quantity": 5, "kind": "receipt", "reference": "x"}
    assert client.post("/api/v1/stock/movements/", movement, format="json").status_code == 403


def test_pools_are_listed_per_warehouse(api):
    receive(SKUFactory(code="SKU-2"), 4, pool=standard_pool("promotion"))
    body = api.get("/api/v1/stock/", {"sku": "SKU-2"}).data
    assert body["warehouses"][0]["pools"]["promotion"]["on_hand"] == 4
    assert body["channels"][ChannelFactory().code] == 10  # the shop draws only from the regular pool
