"""Stock snapshots: the cloud warehouse's inventory.query (from the fake Qimen WMS) against our
on-hand stock; differences listed and alerted, our balances never touched."""

from datetime import date

import pytest
from django.db.models import Sum
from django.urls import reverse

from core.models import Alert, AlertState
from core.roles import Role
from integrations.models import WmsStockDifference, WmsStockSnapshot
from integrations.tests.test_wms_qimen import cloud_warehouse, wms  # noqa: F401 - fixtures
from integrations.wms import wms_snapshot_compare
from integrations.wms.qimen import protocol
from integrations.wms.tasks import compare_wms_stock
from inventory.ledger import standard_pool
from inventory.models import StockBalance, StockMovement
from orders.tests.factories import SKUFactory, WarehouseFactory, ensure_master_data, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(cloud_warehouse):  # noqa: F811 - the fixture imported above
    """WH-HZ (cloud) holds 1000 of SKU-1..3, SKU-1 also in the promotion pool, and SKU-LOT in two lots."""
    ensure_master_data()
    receive(SKUFactory(code="SKU-1"), 20, cloud_warehouse, pool=standard_pool("promotion"))
    lotted = SKUFactory(code="SKU-LOT", lot_tracked=True)
    receive(lotted, 5, cloud_warehouse, lot_code="L2026A", expires_on=date(2027, 1, 31))
    receive(lotted, 3, cloud_warehouse, lot_code="L2026B", expires_on=date(2027, 3, 31))
    return cloud_warehouse


AGREEING = [("SKU-1", 1020, "ZP"), ("SKU-2", 1000, "ZP"), ("SKU-3", 1000, "ZP"), ("SKU-LOT", 8, "ZP")]


def balances() -> list[tuple]:
    return list(StockBalance.objects.order_by("pk").values_list("pk", "on_hand", "reserved", "qc_hold"))


def test_differences_are_listed_alerted_and_our_stock_is_left_alone(wms, stocked):  # noqa: F811
    # given the WMS agrees on SKU-1 (over its batches), has fewer SKU-2, none of SKU-3 and an item we do not know
    wms.stock = [
        ("SKU-1", 1000, "ZP"),
        ("SKU-1", 20, "ZP"),
        ("SKU-1", 7, "CC"),  # defective: not comparable with our saleable on-hand
        ("SKU-LOT", 5, "ZP"),
        ("SKU-LOT", 3, "ZP"),
        ("SKU-2", 990, "ZP"),
        ("GHOST-1", 3, "ZP"),
    ]
    SKUFactory(code="GHOST-1", is_active=False)  # known to us, never stocked here
    before, movements = balances(), StockMovement.objects.count()

    # when the snapshot is compared
    snapshot = wms_snapshot_compare(stocked)

    # then it asked for every SKU it could hold, in one signed inventory.query
    assert [request["method"] for request in wms.requests] == [protocol.INVENTORY_QUERY]
    asked = [c.findtext("itemCode") for c in wms.requests[0]["root"].iterfind("criteriaList/criteria")]
    assert sorted(asked) == [
        "SKU-1",
        "SKU-2",
        "SKU-3",
        "SKU-LOT",
    ]  # GHOST-1 is inactive and was never stocked here
    # and only the differences are recorded, with both numbers
    assert (snapshot.sku_count, snapshot.difference_count, snapshot.error) == (3, 2, "")
    assert [(d.sku_code, d.ours, d.theirs, d.difference) for d in snapshot.differences.all()] == [
        ("SKU-2", 1000, 990, -10),
        ("SKU-3", 1000, 0, -1000),
    ]
    # and the warehouse role is alerted once per warehouse
    alert = Alert.objects.get(key="wms-stock:WH-HZ")
    assert (alert.role, alert.state) == (Role.WAREHOUSE, AlertState.OPEN)
    assert "2 SKU(s)" in alert.message
    # and nothing of ours changed
    assert balances() == before
    assert StockMovement.objects.count() == movements

    # when a later snapshot agrees again, the alert is resolved
    wms.stock = AGREEING
    clean = wms_snapshot_compare(stocked)
    assert clean.difference_count == 0
    assert not WmsStockDifference.objects.filter(snapshot=clean).exists()
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_an_item_only_the_wms_knows_is_a_difference_without_a_sku(wms, stocked):  # noqa: F811
    SKUFactory(code="NEW-1")  # active, never received anywhere: the WMS has 4 of it
    wms.stock = [*AGREEING, ("NEW-1", 4, "ZP")]

    snapshot = wms_snapshot_compare(stocked)

    difference = snapshot.differences.get()
    assert (difference.sku.code, difference.ours, difference.theirs) == ("NEW-1", 0, 4)


def test_a_failed_snapshot_is_recorded_and_alerted(wms, stocked):  # noqa: F811
    wms.answers.append(("http", 502))

    snapshot = wms_snapshot_compare(stocked)

    assert "502" in snapshot.error
    assert not snapshot.differences.exists()
    assert Alert.objects.get(key="wms-snapshot-failed:WH-HZ").state == AlertState.OPEN

    wms.stock = AGREEING
    wms_snapshot_compare(stocked)
    assert Alert.objects.get(key="wms-snapshot-failed:WH-HZ").state == AlertState.RESOLVED


def test_own_warehouses_have_no_snapshot(db):
    assert wms_snapshot_compare(WarehouseFactory(code="WH-OWN", name="Own")) is None
    assert not WmsStockSnapshot.objects.exists()


def test_the_periodic_job_snapshots_every_active_cloud_warehouse(wms, stocked):  # noqa: F811
    WarehouseFactory(code="WH-OWN", name="Own")
    WarehouseFactory(code="WH-OFF", name="Closed", kind="3pl", wms_protocol="qimen", is_active=False)
    wms.stock = AGREEING

    assert compare_wms_stock.delay().get() == 1

    assert list(WmsStockSnapshot.objects.values_list("warehouse__code", "difference_count")) == [("WH-HZ", 0)]
    assert StockBalance.objects.filter(warehouse=stocked).aggregate(total=Sum("on_hand"))["total"] == 3028


def test_the_snapshot_page_for_the_warehouse_role(client, warehouse_user, agent, wms, stocked):  # noqa: F811
    wms.stock = [*AGREEING[:1], ("SKU-2", 990, "ZP"), *AGREEING[2:]]
    wms_snapshot_compare(stocked)
    url = reverse("fulfilment:wms-snapshots")

    client.force_login(agent)
    assert client.get(url).status_code == 403

    client.force_login(warehouse_user)
    response = client.get(url)
    assert response.status_code == 200
    assert "SKU-2" in response.content.decode() and "-10" in response.content.decode()
