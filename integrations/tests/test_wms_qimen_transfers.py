"""Transfers with Qimen cloud warehouses, end to end against the fake WMS of test_wms_qimen (a real
local HTTP server checking the MD5 signature): stockout.create (DBCK) and its stockout.confirm at a
cloud source, entryorder.create (DBRK) and its entryorder.confirm (partial, repeated, final) at a
cloud destination. Confirmations are signed, posted to our endpoint, stored raw and replayable."""

import threading
from http.server import ThreadingHTTPServer
from xml.etree import ElementTree as ET

import pytest

from core.errors import DomainError, TransitionRefused
from core.models import Alert, OutboxMessage, OutboxState
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_replay
from integrations.tests.test_wms_qimen import (
    APP_KEY,
    CUSTOMER_ID,
    OWNER,
    SECRET,
    FakeQimenWms,
    Handler,
    _answer,
    callback,
)
from integrations.wms.qimen import protocol
from inventory import transfers
from inventory.models import SKU, StockBalance, StockTransfer, TransferStatus
from inventory.tests.test_transfers import ledger_proves_balances
from orders.tests.factories import WarehouseFactory, ensure_master_data

pytestmark = pytest.mark.django_db
TS = TransferStatus


class FakeTransferWms(FakeQimenWms):
    """The fake WMS, also taking stock-out and entry orders (idempotent by their codes)."""

    def __init__(self):
        super().__init__()
        self.transfer_orders: dict[tuple[str, str], str] = {}

    def respond(self, params, body, headers):
        method = params.get("method")
        paths = {
            protocol.STOCKOUT_CREATE: ("deliveryOrder/deliveryOrderCode", "deliveryOrderId"),
            protocol.ENTRYORDER_CREATE: ("entryOrder/entryOrderCode", "entryOrderId"),
        }
        if method not in paths:
            return super().respond(params, body, headers)
        with self.lock:
            root = ET.fromstring(body)
            self.requests.append({"method": method, "params": params, "root": root, "headers": headers})
            if not protocol.verify(params, body, SECRET):
                return 200, protocol.response(
                    success=False, code="sign-check-failure", message="Illegal request"
                )
            path, answer = paths[method]
            key = (method, root.findtext(path))
            reference = self.transfer_orders.setdefault(key, f"WMS-T{len(self.transfer_orders) + 1}")
            return 200, _answer({answer: reference})


@pytest.fixture
def wms():
    fake = FakeTransferWms()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.wms = fake
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def cloud(wms, code: str, name: str):
    warehouse = WarehouseFactory(code=code, name=name)
    for field, value in {
        "wms_protocol": "qimen",
        "wms_endpoint": wms.endpoint,
        "wms_app_key": APP_KEY,
        "wms_customer_id": CUSTOMER_ID,
        "wms_owner_code": OWNER,
        "wms_secret": SECRET,
        "kind": "3pl",
        "province": "广东省",
        "city": "深圳市",
        "address_line": "宝安区 1 号",
    }.items():
        setattr(warehouse, field, value)
    warehouse.save()
    return warehouse


def on_hand(warehouse: str, sku: str = "SKU-1", kind: str = "regular") -> int:
    return sum(
        StockBalance.objects.filter(warehouse__code=warehouse, sku__code=sku, pool__kind=kind).values_list(
            "on_hand", flat=True
        )
    )


def make_transfer(source, target, **units) -> StockTransfer:
    return transfers.transfer_create(
        from_warehouse=source,
        to_warehouse=target,
        lines=[transfers.LineInput(sku=SKU.objects.get(code=code), quantity=n) for code, n in units.items()],
        reference="补货 深圳",
        actor=None,
    )


def stockout_confirm(number: str, lines: dict[str, int], *, confirm_type: str = "0") -> str:
    rows = "".join(
        f"<orderLine><itemCode>{code}</itemCode><planQty>{n}</planQty><actualQty>{n}</actualQty></orderLine>"
        for code, n in lines.items()
    )
    return (
        f"<request><deliveryOrder><deliveryOrderCode>{number}</deliveryOrderCode>"
        f"<deliveryOrderId>WMS-T1</deliveryOrderId><warehouseCode>WH-HZ</warehouseCode><orderType>DBCK</orderType>"
        f"<status>DELIVERED</status><confirmType>{confirm_type}</confirmType>"
        f"<orderConfirmTime>2026-12-06 10:00:00</orderConfirmTime></deliveryOrder>"
        f"<orderLines>{rows}</orderLines></request>"
    )


def entryorder_confirm(number: str, lines: dict[str, int], *, confirm_type: str, out_biz: str) -> str:
    rows = "".join(
        f"<orderLine><itemCode>{code}</itemCode><inventoryType>ZP</inventoryType><actualQty>{n}</actualQty></orderLine>"
        for code, n in lines.items()
    )
    status = "FULFILLED" if confirm_type == "0" else "PARTFULFILLED"
    return (
        f"<request><entryOrder><entryOrderCode>{number}</entryOrderCode><entryOrderId>WMS-T1</entryOrderId>"
        f"<warehouseCode>WH-SZ</warehouseCode><entryOrderType>DBRK</entryOrderType><outBizCode>{out_biz}</outBizCode>"
        f"<confirmType>{confirm_type}</confirmType><status>{status}</status>"
        f"<operateTime>2026-12-07 09:00:00</operateTime></entryOrder><orderLines>{rows}</orderLines></request>"
    )


def test_a_transfer_out_of_a_cloud_warehouse_ships_when_it_confirms_the_stock_out(
    wms, client, django_capture_on_commit_callbacks
):
    ensure_master_data()  # 1000 of SKU-1..3 at WH-HZ
    source = cloud(wms, "WH-HZ", "Hangzhou cloud")
    target = WarehouseFactory(code="WH-SH", name="Shanghai")
    transfer = make_transfer(source, target, **{"SKU-1": 10, "SKU-2": 4})

    # when the desk ships it: it goes to the warehouse (set aside there, sellable nowhere)
    with django_capture_on_commit_callbacks(execute=True):
        transfers.transfer_ship(transfer=transfer, actor=None)
    transfer.refresh_from_db()
    assert transfer.status == TS.SENT_TO_WAREHOUSE and transfer.wms_out_ref == "WMS-T1"
    assert (on_hand("WH-HZ"), on_hand("WH-HZ", kind="in_transit")) == (990, 10)
    request = wms.requests[-1]
    assert request["method"] == protocol.STOCKOUT_CREATE and request["params"]["v"] == "2.0"
    root = request["root"]
    assert root.findtext("deliveryOrder/deliveryOrderCode") == transfer.number
    assert root.findtext("deliveryOrder/orderType") == "DBCK"
    assert (
        root.findtext("deliveryOrder/warehouseCode"),
        root.findtext("deliveryOrder/targetWarehouseCode"),
    ) == (
        "WH-HZ",
        "WH-SH",
    )
    assert root.findtext("deliveryOrder/receiverInfo/name") == "Shanghai"
    assert [
        (line.findtext("itemCode"), line.findtext("planQty"), line.findtext("ownerCode"))
        for line in root.iterfind("orderLines/orderLine")
    ] == [("SKU-1", "10", OWNER), ("SKU-2", "4", OWNER)]
    with pytest.raises(TransitionRefused):  # not cancellable once the warehouse has it
        transfers.transfer_cancel(transfer=transfer, actor=None)

    # when the warehouse confirms the stock-out with one SKU-2 short (a forged copy is refused)
    assert (
        callback(client, "stockout.confirm", stockout_confirm(transfer.number, {"SKU-1": 10}), secret="x")[0]
        == 401
    )
    body = stockout_confirm(transfer.number, {"SKU-1": 10, "SKU-2": 3})
    assert callback(client, "stockout.confirm", body)[:2] == (200, "success")

    # then what left is in transit to Shanghai, the unshipped unit is back on sale at Hangzhou
    transfer.refresh_from_db()
    assert transfer.status == TS.IN_TRANSIT
    assert [line.shipped_quantity for line in transfer.lines.order_by("pk")] == [10, 3]
    assert (on_hand("WH-HZ", "SKU-2"), on_hand("WH-HZ", "SKU-2", "in_transit")) == (997, 0)
    assert (on_hand("WH-SH", kind="in_transit"), on_hand("WH-SH", "SKU-2", "in_transit")) == (10, 3)
    message = InboundMessage.objects.filter(platform="qimen", status=InboundStatus.PROCESSED).get()
    assert message.topic == protocol.STOCKOUT_CONFIRM and transfer.number in message.body
    ledger_proves_balances()

    # and the same confirmation again changes nothing
    assert callback(client, "stockout.confirm", body)[:2] == (200, "success")
    assert on_hand("WH-SH", kind="in_transit") == 10
    assert InboundMessage.objects.filter(status=InboundStatus.IGNORED).count() == 1


def test_a_partial_stock_out_confirmation_is_refused_and_kept(
    wms, client, django_capture_on_commit_callbacks
):
    ensure_master_data()
    transfer = make_transfer(
        cloud(wms, "WH-HZ", "Hangzhou cloud"), WarehouseFactory(code="WH-SH"), **{"SKU-1": 5}
    )
    with django_capture_on_commit_callbacks(execute=True):
        transfers.transfer_ship(transfer=transfer, actor=None)
    status, flag, text = callback(
        client, "stockout.confirm", stockout_confirm(transfer.number, {"SKU-1": 2}, confirm_type="1")
    )
    assert (status, flag) == (200, "failure") and "confirmType" in text
    assert InboundMessage.objects.get(topic=protocol.STOCKOUT_CONFIRM).status == InboundStatus.FAILED
    transfer.refresh_from_db()
    assert transfer.status == TS.SENT_TO_WAREHOUSE and on_hand("WH-HZ", kind="in_transit") == 5


def test_a_transfer_into_a_cloud_warehouse_is_received_from_its_confirmations(
    wms, client, manager, warehouse_user, django_capture_on_commit_callbacks
):
    ensure_master_data()
    source = WarehouseFactory(code="WH-HZ")
    target = cloud(wms, "WH-SZ", "Shenzhen cloud")
    transfer = make_transfer(source, target, **{"SKU-1": 10})

    # when it ships from our own warehouse, the cloud destination is told what is coming
    with django_capture_on_commit_callbacks(execute=True):
        transfers.transfer_ship(transfer=transfer, actor=None)
    transfer.refresh_from_db()
    assert transfer.status == TS.IN_TRANSIT and transfer.wms_in_ref == "WMS-T1"
    root = wms.requests[-1]["root"]
    assert wms.requests[-1]["method"] == protocol.ENTRYORDER_CREATE
    assert root.findtext("entryOrder/entryOrderCode") == transfer.number
    assert (root.findtext("entryOrder/orderType"), root.findtext("entryOrder/entryOrderType")) == (
        "DBRK",
        "DBRK",
    )
    assert (root.findtext("entryOrder/warehouseCode"), root.findtext("entryOrder/sourceWarehouseCode")) == (
        "WH-SZ",
        "WH-HZ",
    )
    assert [
        (x.findtext("itemCode"), x.findtext("planQty")) for x in root.iterfind("orderLines/orderLine")
    ] == [("SKU-1", "10")]
    assert OutboxMessage.objects.get(idempotency_key=f"wms-transfer-in:{transfer.number}").state == (
        OutboxState.DELIVERED
    )
    line = transfer.lines.get()
    with pytest.raises(DomainError, match="cloud warehouse"):  # the desk does not receive there
        transfers.transfer_receive(
            transfer=transfer, quantities={line.pk: 1}, idempotency_key="desk", actor=warehouse_user
        )

    # when the warehouse confirms 6 (partial), again by mistake, then 3 as final
    partial = entryorder_confirm(transfer.number, {"SKU-1": 6}, confirm_type="1", out_biz="IN-1")
    assert callback(client, "entryorder.confirm", partial, warehouse="WH-SZ")[:2] == (200, "success")
    assert callback(client, "entryorder.confirm", partial, warehouse="WH-SZ")[:2] == (200, "success")
    transfer.refresh_from_db()
    assert transfer.status == TS.PARTIALLY_RECEIVED
    assert (on_hand("WH-SZ"), on_hand("WH-SZ", kind="in_transit")) == (6, 4)
    final = entryorder_confirm(transfer.number, {"SKU-1": 3}, confirm_type="0", out_biz="IN-2")
    assert callback(client, "entryorder.confirm", final, warehouse="WH-SZ")[:2] == (200, "success")

    # then 9 arrived, the missing one waits for a manager, who is alerted
    transfer.refresh_from_db()
    assert transfer.status == TS.PARTIALLY_RECEIVED
    assert (on_hand("WH-SZ"), on_hand("WH-SZ", kind="in_transit"), on_hand("WH-HZ")) == (9, 1, 990)
    assert Alert.objects.get(kind="transfer_short").payload["missing"] == [{"sku": "SKU-1", "units": 1}]
    transfers.transfer_close_short(transfer=transfer, reason="lost", actor=manager)
    assert on_hand("WH-SZ", kind="in_transit") == 0
    ledger_proves_balances()


def test_a_confirmation_naming_an_item_not_on_the_transfer_is_kept_failed_and_replayable(
    wms, client, django_capture_on_commit_callbacks
):
    ensure_master_data()
    transfer = make_transfer(
        WarehouseFactory(code="WH-HZ"), cloud(wms, "WH-SZ", "Shenzhen cloud"), **{"SKU-1": 4}
    )
    with django_capture_on_commit_callbacks(execute=True):
        transfers.transfer_ship(transfer=transfer, actor=None)
    body = entryorder_confirm(transfer.number, {"SKU-9": 4}, confirm_type="0", out_biz="IN-9")

    status, flag, text = callback(client, "entryorder.confirm", body, warehouse="WH-SZ")

    assert (status, flag) == (200, "failure") and "SKU-9" in text
    message = InboundMessage.objects.get(topic=protocol.ENTRYORDER_CONFIRM)
    assert message.status == InboundStatus.FAILED and message.body == body
    assert on_hand("WH-SZ") == 0
    # once the warehouse's item is corrected on our side the same stored message can be replayed
    sku = SKU.objects.get(code="SKU-1")
    sku.code = "SKU-9"
    sku.save()
    assert inbound_message_replay(message.pk).status == InboundStatus.PROCESSED
    assert on_hand("WH-SZ", "SKU-9") == 4
