"""The transfer screens: bad input answers a form error naming the field (never a 500, nothing
written), each action says what it did, and the buttons follow the roles."""

import pytest
from django.urls import reverse

from inventory import transfers
from inventory.models import SKU, StockBalance, StockTransfer, TransferStatus
from orders.tests.factories import WarehouseFactory, ensure_master_data

pytestmark = pytest.mark.django_db
TS = TransferStatus


@pytest.fixture
def warehouses():
    ensure_master_data()
    return WarehouseFactory(code="WH-HZ"), WarehouseFactory(code="WH-SH", name="Shanghai")


def form(**fields):
    data = {
        "from_warehouse": "WH-HZ",
        "to_warehouse": "WH-SH",
        "reference": "restock",
        "note": "",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "500",
        "lines-0-sku": "SKU-1",
        "lines-0-quantity": "40",
        "lines-1-sku": "",
        "lines-1-quantity": "",
        "lines-2-sku": "",
        "lines-2-quantity": "",
    }
    data.update(fields)
    return data


def test_create_ship_receive_and_close_through_the_desk(client, warehouses, warehouse_user, manager):
    client.force_login(warehouse_user)
    response = client.post(
        reverse("inventory:transfer-create"), form(**{"lines-1-sku": "SKU-2", "lines-1-quantity": "5"})
    )
    transfer = StockTransfer.objects.get()
    assert response.status_code == 302 and response.url == transfer.get_absolute_url()
    page = client.get(transfer.get_absolute_url()).content.decode()
    assert "Ship 45 units from WH-HZ to WH-SH?" in page  # the confirmation before it leaves
    assert 'id="close"' not in page  # nothing to close yet, and not the warehouse's call

    shipped = client.post(
        reverse("inventory:transfer-ship", args=[transfer.number]), {"expected_status": "draft"}, follow=True
    )
    assert (
        f"Transfer {transfer.number} shipped: its units are in transit to WH-SH." in shipped.content.decode()
    )
    lines = {line.sku.code: line for line in transfer.lines.select_related("sku")}
    key = "desk-test-key"
    received = client.post(
        reverse("inventory:transfer-receive", args=[transfer.number]),
        {"key": key, f"line_{lines['SKU-1'].pk}": "38", "expected_status": "in_transit"},
        follow=True,
    )
    assert f"38 units received on {transfer.number}; 7 still in transit." in received.content.decode()
    again = client.post(
        reverse("inventory:transfer-receive", args=[transfer.number]),
        {"key": key, f"line_{lines['SKU-1'].pk}": "38"},
        follow=True,
    )
    assert "That receipt was already recorded; nothing changed." in again.content.decode()
    assert (
        client.post(
            reverse("inventory:transfer-close", args=[transfer.number]), {"reason": "lost"}
        ).status_code
        == 403
    )

    client.force_login(manager)
    closed = client.post(
        reverse("inventory:transfer-close", args=[transfer.number]),
        {"reason": "lost", "note": "", "expected_status": "partially_received"},
        follow=True,
    )
    assert f"Transfer {transfer.number} closed; 7 missing units written off." in closed.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == TS.CLOSED
    assert (
        StockBalance.objects.get(warehouse__code="WH-SH", sku__code="SKU-1", pool__code="regular").on_hand
        == 38
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"to_warehouse": "WH-HZ"}, "Choose a warehouse other than the source."),
        ({"to_warehouse": "NOPE"}, "Select a valid choice."),
        ({"lines-0-sku": "NOPE"}, "No SKU with code or barcode NOPE."),
        ({"lines-0-quantity": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"lines-0-quantity": "abc"}, "Enter a whole number."),
        ({"lines-0-sku": "", "lines-0-quantity": ""}, "Add at least one line."),
        ({"lines-0-sku": "SKU-1", "lines-0-quantity": ""}, "Give the quantity of this line."),
        ({"lines-TOTAL_FORMS": "x"}, "(Hidden field TOTAL_FORMS) Enter a whole number."),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(client, warehouses, warehouse_user, fields, error):
    client.force_login(warehouse_user)
    response = client.post(reverse("inventory:transfer-create"), form(**fields))
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not StockTransfer.objects.exists()


def test_a_service_refusal_lands_on_its_row(client, warehouses, warehouse_user):
    from orders.tests.factories import SKUFactory

    SKUFactory(code="LOT-1", lot_tracked=True)
    client.force_login(warehouse_user)
    response = client.post(
        reverse("inventory:transfer-create"), form(**{"lines-1-sku": "LOT-1", "lines-1-quantity": "2"})
    )
    assert response.status_code == 400
    assert "Line 2: LOT-1 is lot-tracked: name the lot." in response.content.decode()
    assert not StockTransfer.objects.exists()


def test_actions_on_the_wrong_state_or_with_junk_say_so(client, warehouses, warehouse_user):
    transfer = transfers.transfer_create(
        from_warehouse=warehouses[0],
        to_warehouse=warehouses[1],
        lines=[transfers.LineInput(sku=SKU.objects.get(code="SKU-1"), quantity=1001)],
        actor=None,
    )
    client.force_login(warehouse_user)
    short = client.post(
        reverse("inventory:transfer-ship", args=[transfer.number]), follow=True
    ).content.decode()
    assert "Not enough stock at WH-HZ; nothing moved. SKU-1 (pool regular): 1000 available." in short
    # junk for no line of this transfer: "line_1" was its own line wherever line ids start at 1
    not_a_line = f"line_{transfer.lines.get().pk + 1}"
    junk = client.post(
        reverse("inventory:transfer-receive", args=[transfer.number]),
        {"key": "k", not_a_line: "x"},
        follow=True,
    )
    assert junk.status_code == 200 and "nothing is on the way to receive" in junk.content.decode()
    scan = client.post(
        reverse("inventory:transfer-scan", args=[transfer.number]),
        {"code": "", "quantity": "1", "key": "s"},
        follow=True,
    )
    assert scan.status_code == 200 and "This field is required." in scan.content.decode()
    cancelled = client.post(
        reverse("inventory:transfer-cancel", args=[transfer.number]),
        {"expected_status": "draft"},
        follow=True,
    )
    assert f"Transfer {transfer.number} cancelled; no stock moved." in cancelled.content.decode()
    stale = client.post(
        reverse("inventory:transfer-ship", args=[transfer.number]), {"expected_status": "draft"}, follow=True
    )
    assert "changed meanwhile: it is now Cancelled" in stale.content.decode()
    assert client.get(reverse("inventory:transfer-detail", args=["TR-NOPE"])).status_code == 404


def test_roles_without_transfer_rights_get_403(client, warehouses, agent, finance_user):
    for user in (agent, finance_user):
        client.force_login(user)
        assert client.get(reverse("inventory:transfer-list")).status_code == 403
        assert client.post(reverse("inventory:transfer-create"), form()).status_code == 403
    assert not StockTransfer.objects.exists()


def test_the_pool_move_no_longer_offers_another_warehouse(client, warehouses, warehouse_user):
    client.force_login(warehouse_user)
    page = client.get(reverse("inventory:pools")).content.decode()
    assert 'name="to_warehouse"' not in page and reverse("inventory:transfer-list") in page
    response = client.post(
        reverse("inventory:transfer"),
        {
            "sku": "SKU-1",
            "from_warehouse": "WH-HZ",
            "from_pool": "regular",
            "to_warehouse": "WH-SH",
            "quantity": 5,
        },
        follow=True,
    )
    assert "To pool: This field is required." in response.content.decode()
    assert StockBalance.objects.get(warehouse__code="WH-HZ", sku__code="SKU-1").on_hand == 1000
