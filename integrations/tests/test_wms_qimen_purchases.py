"""Purchase orders delivered to a Qimen cloud warehouse, end to end against the fake WMS of
test_wms_qimen (a real local HTTP server checking the MD5 signature): approval announces the order
as entryorder.create (CGRK), its entryorder.confirm (partial, repeated, final, over, short, wrong)
is a goods receipt posted through purchasing.receiving, and cancelling withdraws it (order.cancel)."""

import threading
from datetime import date
from decimal import Decimal
from http.server import ThreadingHTTPServer
from xml.etree import ElementTree as ET

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from core.errors import DomainError
from core.models import Alert, OutboxMessage, OutboxState
from core.outbox import outbox_sweep
from core.roles import Role
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_replay
from integrations.tests.test_wms_qimen import OWNER, Handler, callback
from integrations.tests.test_wms_qimen_transfers import FakeTransferWms, cloud
from integrations.wms.qimen import protocol
from inventory.models import SKU, Lot, MovementKind, StockMovement
from inventory.tests.test_concurrency import run_parallel
from inventory.tests.test_transfers import ledger_proves_balances
from orders.tests.factories import WarehouseFactory
from purchasing import receiving, selectors, services
from purchasing.models import GoodsReceipt, PurchaseEventKind, PurchaseOrderState
from purchasing.services import LineInput
from purchasing.tests.factories import ledger_sum, make_item, make_supplier, on_hand

pytestmark = pytest.mark.django_db
S = PurchaseOrderState


class FakePurchaseWms(FakeTransferWms):
    """The transfers' fake WMS (entry orders idempotent by code, signature checked), also giving the
    queued misbehaviour of test_wms_qimen (wms.answers) to entry orders."""

    def respond(self, params, body, headers):
        if params.get("method") == protocol.ENTRYORDER_CREATE and self.answers:
            with self.lock:
                self.requests.append(
                    {
                        "method": params["method"],
                        "params": params,
                        "root": ET.fromstring(body),
                        "headers": headers,
                    }
                )
                _kind, code, message = self.answers.pop(0)
                return 200, protocol.response(success=False, code=code, message=message)
        return super().respond(params, body, headers)


@pytest.fixture
def wms():
    fake = FakePurchaseWms()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.wms = fake
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def buyer(make_user):
    return make_user(Role.BUYER)


@pytest.fixture
def cloud_sz(wms):
    return cloud(wms, "WH-SZ", "Shenzhen cloud")


def approved_po(buyer, warehouse, capture, **units):
    supplier = make_supplier("acme", name="Acme 五金")
    for code in units:
        if not supplier.items.filter(sku__code=code).exists():
            make_item(supplier, code, "2.50")
    po = services.purchase_order_create(
        supplier=supplier,
        warehouse=warehouse,
        lines=[LineInput(sku=code, quantity=n) for code, n in units.items()],
        actor=buyer,
        note="春季补货",
    )
    with capture(execute=True):
        po = services.purchase_order_submit(po=po, actor=buyer)
        if po.state != S.APPROVED:
            po = services.purchase_order_approve(po=po, actor=None)
    po.refresh_from_db()
    return po


def confirm(
    number: str, lines: dict[str, int], *, confirm_type: str, out_biz: str, kind: str = "CGRK"
) -> str:
    rows = "".join(
        f"<orderLine><itemCode>{code}</itemCode><inventoryType>ZP</inventoryType>"
        f"<actualQty>{n}</actualQty></orderLine>"
        for code, n in lines.items()
    )
    status = "FULFILLED" if confirm_type == "0" else "PARTFULFILLED"
    return (
        f"<request><entryOrder><entryOrderCode>{number}</entryOrderCode><entryOrderId>WMS-T1</entryOrderId>"
        f"<warehouseCode>WH-SZ</warehouseCode><entryOrderType>{kind}</entryOrderType>"
        f"<outBizCode>{out_biz}</outBizCode><confirmType>{confirm_type}</confirmType><status>{status}</status>"
        f"<operateTime>2026-12-07 09:00:00</operateTime></entryOrder><orderLines>{rows}</orderLines></request>"
    )


def post(client, body: str):
    return callback(client, "entryorder.confirm", body, warehouse="WH-SZ")[:2]


def test_approval_announces_one_cgrk_entry_order_and_the_desk_leaves_it_to_the_warehouse(
    wms, cloud_sz, buyer, client, make_user, django_capture_on_commit_callbacks
):
    # when a purchase order to the cloud warehouse is approved
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=10, NUT=4)

    # then exactly one signed entryorder.create (CGRK) carries the order
    assert wms.methods() == [protocol.ENTRYORDER_CREATE]
    request = wms.requests[0]
    entry = request["root"].find("entryOrder")
    assert {
        tag: entry.findtext(tag)
        for tag in (
            "entryOrderCode",
            "purchaseOrderCode",
            "orderType",
            "entryOrderType",
            "warehouseCode",
            "ownerCode",
            "supplierCode",
            "supplierName",
            "remark",
        )
    } == {
        "entryOrderCode": po.number,
        "purchaseOrderCode": po.number,
        "orderType": "CGRK",
        "entryOrderType": "CGRK",
        "warehouseCode": "WH-SZ",
        "ownerCode": OWNER,
        "supplierCode": "acme",
        "supplierName": "Acme 五金",
        "remark": "春季补货",
    }
    assert entry.findtext("expectStartTime").startswith(po.expected_on.isoformat())
    assert [
        (x.findtext("itemCode"), x.findtext("planQty"), x.findtext("purchasePrice"), x.findtext("ownerCode"))
        for x in request["root"].iterfind("orderLines/orderLine")
    ] == [("BOLT", "10", "2.50", OWNER), ("NUT", "4", "2.50", OWNER)]
    po.refresh_from_db()
    assert (po.wms_ref, po.wms_outbox_key) == ("WMS-T1", f"wms-purchase-in:{po.number}")
    assert selectors.cloud_warehouse_status(po).state == "accepted"
    assert po.events.filter(kind=PurchaseEventKind.WMS_ACCEPTED).count() == 1

    # and the desk: the page says so, offers no receiving, the dock does not list it nor starts it
    client.force_login(make_user(Role.MANAGER))
    page = client.get(reverse("purchasing:order", args=[po.number])).content.decode()
    assert 'data-state="accepted"' in page and "WMS-T1" in page
    assert "Receive against this order" not in page
    orders, _notices = selectors.expected_receipts()
    assert po not in orders
    with pytest.raises(DomainError, match="cloud warehouse"):
        receiving.receipt_start(po=po, actor=make_user(Role.WAREHOUSE))


def test_a_partial_then_a_final_confirmation_receive_the_order_in_two_parts(
    wms, cloud_sz, buyer, client, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=10, NUT=4)

    # when the warehouse confirms 6 BOLT (partial), the same again by mistake
    partial = confirm(po.number, {"BOLT": 6}, confirm_type="1", out_biz="IN-1")
    assert post(client, partial) == (200, "success")
    assert post(client, partial) == (200, "success")

    # then 6 are in stock once, the order is partially received and stays open
    po.refresh_from_db()
    assert po.state == S.PARTIALLY_RECEIVED
    assert (on_hand("BOLT", "WH-SZ"), ledger_sum("BOLT", "WH-SZ")) == (6, 6)
    assert [m.status for m in InboundMessage.objects.order_by("pk")] == [
        InboundStatus.PROCESSED,
        InboundStatus.IGNORED,
    ]
    assert GoodsReceipt.objects.filter(purchase_order=po).count() == 1

    # when the final confirmation brings the rest
    assert post(client, confirm(po.number, {"BOLT": 4, "NUT": 4}, confirm_type="0", out_biz="IN-2")) == (
        200,
        "success",
    )

    # then everything is received, in two receipts, one ledger receipt movement per confirmation and line
    po.refresh_from_db()
    assert po.state == S.RECEIVED
    assert sorted(po.lines.values_list("sku__code", "received_quantity")) == [("BOLT", 10), ("NUT", 4)]
    assert (on_hand("BOLT", "WH-SZ"), on_hand("NUT", "WH-SZ")) == (10, 4)
    movements = StockMovement.objects.filter(kind=MovementKind.RECEIPT, note=po.number)
    assert sorted(movements.values_list("sku__code", "on_hand_delta")) == [
        ("BOLT", 4),
        ("BOLT", 6),
        ("NUT", 4),
    ]
    assert GoodsReceipt.objects.filter(purchase_order=po, posted_at__isnull=False).count() == 2
    received = po.events.filter(kind=PurchaseEventKind.RECEIVED).order_by("pk")
    assert [event.params["units"] for event in received] == [6, 8]
    assert received.first().params["warehouse"] == "WH-SZ"
    assert not Alert.objects.filter(kind="purchase_short").exists()
    ledger_proves_balances()


def test_a_final_confirmation_short_leaves_the_rest_open_and_alerts_the_buyers(
    wms, cloud_sz, buyer, client, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=10)

    assert post(client, confirm(po.number, {"BOLT": 7}, confirm_type="0", out_biz="IN-1")) == (200, "success")

    po.refresh_from_db()
    assert po.state == S.PARTIALLY_RECEIVED and on_hand("BOLT", "WH-SZ") == 7
    alert = Alert.objects.get(kind="purchase_short")
    assert alert.role == Role.BUYER and alert.payload["short"] == [{"sku": "BOLT", "quantity": 3}]
    assert po.events.get(kind=PurchaseEventKind.WMS_SHORT).params["short"] == [{"sku": "BOLT", "quantity": 3}]
    # the buyer closes it short
    services.purchase_order_close_short(po=po, actor=None)
    po.refresh_from_db()
    assert po.state == S.CLOSED
    ledger_proves_balances()


@override_settings(PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT=Decimal("10"))
def test_more_than_the_tolerance_is_booked_as_counted_flagged_and_alerted(
    wms, cloud_sz, buyer, client, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=10, NUT=10)

    # NUT 11 is within the 10 % tolerance; BOLT 15 is beyond it
    body = confirm(po.number, {"BOLT": 15, "NUT": 11}, confirm_type="0", out_biz="IN-1")
    assert post(client, body) == (200, "success")

    po.refresh_from_db()
    assert po.state == S.RECEIVED
    assert (on_hand("BOLT", "WH-SZ"), on_hand("NUT", "WH-SZ")) == (15, 11)
    over = po.events.get(kind=PurchaseEventKind.OVER_RECEIVED).params
    assert over["lines"] == [
        {"sku": "BOLT", "quantity": 5, "open": 10},
        {"sku": "NUT", "quantity": 1, "open": 10},
    ]
    assert over["beyond_tolerance"] == ["BOLT"]
    alert = Alert.objects.get(kind="purchase_over_tolerance")
    assert alert.role == Role.MANAGER and alert.payload["skus"] == ["BOLT"]
    # a repeat of it changes nothing
    assert post(client, body) == (200, "success")
    assert on_hand("BOLT", "WH-SZ") == 15
    ledger_proves_balances()


def test_an_unknown_item_or_order_fails_the_stored_message_naming_the_field_and_it_is_replayable(
    wms, cloud_sz, buyer, client, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=4)

    wrong_item = confirm(po.number, {"BOLT-X": 4}, confirm_type="0", out_biz="IN-1")
    status, flag, text = callback(client, "entryorder.confirm", wrong_item, warehouse="WH-SZ")
    assert (status, flag) == (200, "failure")
    assert "orderLines.orderLine.itemCode" in text and "BOLT-X" in text
    unknown_po = confirm("PO-NOPE", {"BOLT": 4}, confirm_type="0", out_biz="IN-2")
    status, flag, text = callback(client, "entryorder.confirm", unknown_po, warehouse="WH-SZ")
    assert (status, flag) == (200, "failure") and "entryOrder.entryOrderCode" in text

    failed = InboundMessage.objects.filter(status=InboundStatus.FAILED).order_by("pk")
    assert failed.count() == 2 and failed[0].body == wrong_item
    assert on_hand("BOLT", "WH-SZ") == 0 and not GoodsReceipt.objects.exists()
    # once the item is corrected on our side, the stored message is replayed as it came
    SKU.objects.filter(code="BOLT").update(code="BOLT-X")
    assert inbound_message_replay(failed[0].pk).status == InboundStatus.PROCESSED
    po.refresh_from_db()
    assert po.state == S.RECEIVED and on_hand("BOLT-X", "WH-SZ") == 4


def test_a_transfer_confirmation_still_goes_to_the_transfers(
    wms, cloud_sz, buyer, client, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=4)
    # a DBRK confirmation naming the purchase order's number is not a purchase receipt
    status, flag, text = callback(
        client,
        "entryorder.confirm",
        confirm(po.number, {"BOLT": 4}, confirm_type="0", out_biz="X", kind="DBRK"),
        warehouse="WH-SZ",
    )
    assert (status, flag) == (200, "failure") and "no transfer" in text
    assert on_hand("BOLT", "WH-SZ") == 0


def test_cancelling_an_accepted_order_sends_order_cancel(
    wms, cloud_sz, buyer, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=4)

    with django_capture_on_commit_callbacks(execute=True):
        services.purchase_order_cancel(po=po, actor=buyer, reason="supplier out of business")

    assert wms.methods() == [protocol.ENTRYORDER_CREATE, protocol.ORDER_CANCEL]
    root = wms.requests[-1]["root"]
    assert (
        root.findtext("orderCode"),
        root.findtext("orderId"),
        root.findtext("orderType"),
        root.findtext("warehouseCode"),
        root.findtext("ownerCode"),
    ) == (po.number, "WMS-T1", "CGRK", "WH-SZ", OWNER)
    assert OutboxMessage.objects.get(idempotency_key=f"wms-purchase-cancel:{po.number}").state == (
        OutboxState.DELIVERED
    )
    po.refresh_from_db()
    assert selectors.cloud_warehouse_status(po).state == "cancelled"


def test_an_order_cancelled_before_its_announcement_left_is_never_sent(wms, cloud_sz, buyer):
    supplier = make_supplier("acme")
    make_item(supplier, "BOLT")
    po = services.purchase_order_create(
        supplier=supplier, warehouse=cloud_sz, lines=[LineInput(sku="BOLT", quantity=4)], actor=buyer
    )
    services.purchase_order_submit(po=po, actor=buyer)  # on_commit not run: the push waits
    services.purchase_order_cancel(po=po, actor=buyer)
    outbox_sweep()
    assert wms.methods() == []


def test_a_refused_announcement_shows_failed_and_is_sent_again(
    wms, cloud_sz, buyer, make_user, client, django_capture_on_commit_callbacks
):
    wms.answers.append(("failure", "item-not-exist", "商品BOLT不存在"))
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, BOLT=4)

    status = selectors.cloud_warehouse_status(po)
    assert status.state == "failed" and "item-not-exist" in status.error
    manager = make_user(Role.MANAGER)
    client.force_login(manager)
    page = client.get(reverse("purchasing:order", args=[po.number])).content.decode()
    assert 'data-state="failed"' in page and 'id="wms-retry"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("purchasing:order-action", args=[po.number, "wms-retry"]))
    assert response.status_code == 302
    po.refresh_from_db()
    assert po.wms_ref == "WMS-T1" and selectors.cloud_warehouse_status(po).state == "accepted"
    assert wms.methods() == [protocol.ENTRYORDER_CREATE, protocol.ENTRYORDER_CREATE]


def test_an_order_to_our_own_warehouse_is_not_announced(buyer, django_capture_on_commit_callbacks):
    po = approved_po(buyer, WarehouseFactory(), django_capture_on_commit_callbacks, BOLT=4)
    assert po.state == S.APPROVED and po.wms_outbox_key == ""
    assert not OutboxMessage.objects.filter(kind__startswith="wms.qimen.purchase").exists()
    assert selectors.cloud_warehouse_status(po) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_confirmations_arriving_at_once_are_each_booked_once(wms, cloud_sz, buyer):
    # given an approved order (on_commit runs for real here: the announcement is delivered)
    supplier = make_supplier("acme")
    make_item(supplier, "BOLT")
    po = services.purchase_order_create(
        supplier=supplier, warehouse=cloud_sz, lines=[LineInput(sku="BOLT", quantity=30)], actor=buyer
    )
    po = services.purchase_order_submit(po=po, actor=buyer)
    if po.state != S.APPROVED:
        services.purchase_order_approve(po=po, actor=None)
    bodies = [confirm(po.number, {"BOLT": 5}, confirm_type="1", out_biz="IN-1")] * 3 + [
        confirm(po.number, {"BOLT": n}, confirm_type="1", out_biz=f"IN-{n}") for n in (7, 9)
    ]
    answers = []

    # when five workers post them at the same moment (the first one three times)
    def send(index):
        answers.append(post(Client(), bodies[index]))

    assert run_parallel(len(bodies), send) == []

    # then each distinct confirmation is booked once: 5 + 7 + 9
    assert answers == [(200, "success")] * 5
    po.refresh_from_db()
    assert po.state == S.PARTIALLY_RECEIVED
    assert po.lines.get().received_quantity == 21
    assert (on_hand("BOLT", "WH-SZ"), ledger_sum("BOLT", "WH-SZ")) == (21, 21)
    assert GoodsReceipt.objects.filter(purchase_order=po).count() == 3
    assert InboundMessage.objects.filter(status=InboundStatus.IGNORED).count() == 2
    ledger_proves_balances()


def test_a_lot_tracked_item_is_received_into_the_batch_the_warehouse_names(
    wms, cloud_sz, buyer, client, django_capture_on_commit_callbacks
):
    po = approved_po(buyer, cloud_sz, django_capture_on_commit_callbacks, MILK=6)
    SKU.objects.filter(code="MILK").update(lot_tracked=True)
    without_batch = confirm(po.number, {"MILK": 6}, confirm_type="0", out_biz="IN-1")
    status, flag, text = callback(client, "entryorder.confirm", without_batch, warehouse="WH-SZ")
    assert (flag, "orderLines.orderLine.batchCode" in text) == ("failure", True)

    with_batch = without_batch.replace(
        "<actualQty>6</actualQty>",
        "<actualQty>6</actualQty><batchCode>L2612</batchCode><expireDate>2027-06-30</expireDate>",
    ).replace("IN-1", "IN-2")
    assert post(client, with_batch) == (200, "success")

    lot = Lot.objects.get(sku__code="MILK")
    assert (lot.code, lot.expires_on) == ("L2612", date(2027, 6, 30))
    movement = StockMovement.objects.get(kind=MovementKind.RECEIPT, note=po.number)
    assert (movement.on_hand_delta, movement.balance.lot_id) == (6, lot.pk)
