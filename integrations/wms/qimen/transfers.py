"""Transfers (调拨) with Qimen cloud warehouses, both directions.

A transfer out of a Qimen warehouse is a stock-out order (taobao.qimen.stockout.create, orderType
DBCK 调拨出库); the warehouse's taobao.qimen.stockout.confirm ships it. A transfer into a Qimen
warehouse is announced, once shipped, as an entry order (taobao.qimen.entryorder.create, DBRK
调拨入库); each taobao.qimen.entryorder.confirm is a receipt. Pushes go through the outbox; the
confirmations arrive through integrations.wms.qimen.callbacks (stored raw, replayable) and are
applied by inventory.transfers.

Field names, as published in the Qimen standard and mirrored by the SDK request classes of
`bububa/opentaobao` (commit 3a362f9b140f4ad541b1285764b7cee1515798e9), model/qimen/:
  - StockOutCreateRequest.go: deliveryOrder + orderLines; DeliveryOrder.go: deliveryOrderCode,
    orderType, warehouseCode, createTime, targetWarehouseCode / targetWarehouseName (入库仓库),
    targetEntryOrderCode (关联的入库单号), remark, senderInfo, receiverInfo, confirmType (0 final,
    1 intermediate); TaobaoQimenStockoutCreateResponse.go: deliveryOrderId.
  - EntryOrderCreateRequest.go: entryOrder + orderLines; EntryOrder.go: entryOrderCode, ownerCode,
    warehouseCode, orderType, entryOrderType (SCRK…, DBRK=调拨入库…), orderCreateTime,
    expectStartTime, sourceWarehouseCode / sourceWarehouseName, remark, senderInfo, outBizCode
    (消息ID, 用于去重), status (…PARTFULFILLED, FULFILLED…), confirmType ("每次入库传入的数量为增量":
    each confirmation carries the increment); TaobaoQimenEntryorderCreateResponse.go: entryOrderId.
  - OrderLine.go: orderLineNo, ownerCode, itemCode, itemName, inventoryType (ZP…), batchCode,
    planQty (应发), actualQty (实发); Order.go's 单据类型 list: DBCK=调拨出库, DBRK=调拨入库.
  - TaobaoQimenStockoutConfirmStruct.go: deliveryOrder, orderLines, packages (package items
    itemCode / quantity, as in deliveryorder.confirm).
We send the type both as entryOrder.orderType and entryOrderType (both EntryOrder fields; the list
with DBRK is documented on entryOrderType) and read either back.
"""

from xml.etree import ElementTree as ET

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.outbox import PermanentFailure, outbox_enqueue
from core.timezones import format_beijing_time
from integrations.models import InboundMessage, InboundStatus
from integrations.wms.qimen import protocol
from integrations.wms.qimen.client import QimenClient
from integrations.wms.qimen.outbound import wms_outcome
from integrations.wms.qimen.reading import text, units
from inventory import transfers
from inventory.models import StockTransfer, TransferStatus, Warehouse

STOCKOUT = "wms.qimen.transfer_stockout"
ENTRYORDER = "wms.qimen.transfer_entryorder"
HANDLED = {protocol.STOCKOUT_CONFIRM, protocol.ENTRYORDER_CONFIRM}


def stockout_key(transfer) -> str:
    return f"wms-transfer-out:{transfer.number}"


def entryorder_key(transfer) -> str:
    return f"wms-transfer-in:{transfer.number}"


class QimenTransfers:
    """inventory.transfers.TransferWarehouseSystem for Qimen warehouses (wired in config/registry.py)."""

    def stock_out(self, transfer: StockTransfer) -> None:
        with transaction.atomic():
            outbox_enqueue(
                kind=STOCKOUT, payload={"transfer_id": transfer.pk}, idempotency_key=stockout_key(transfer)
            )

    def stock_in(self, transfer: StockTransfer) -> None:
        with transaction.atomic():
            outbox_enqueue(
                kind=ENTRYORDER,
                payload={"transfer_id": transfer.pk},
                idempotency_key=entryorder_key(transfer),
            )


def _transfer(message) -> StockTransfer:
    transfer = (
        StockTransfer.objects.select_related("from_warehouse", "to_warehouse")
        .filter(pk=message.payload.get("transfer_id"))
        .first()
    )
    if transfer is None:
        raise PermanentFailure(f"no transfer #{message.payload.get('transfer_id')}")
    return transfer


def _address(parent: ET.Element, tag: str, warehouse: Warehouse) -> None:
    info = protocol.add(parent, tag)
    protocol.add(info, "name", warehouse.name)
    protocol.add(info, "countryCode", warehouse.country)
    protocol.add(info, "province", warehouse.province)
    protocol.add(info, "city", warehouse.city)
    protocol.add(info, "area", warehouse.district)
    protocol.add(info, "detailAddress", warehouse.address_line)
    if warehouse.postcode:
        protocol.add(info, "zipCode", warehouse.postcode)


def _order_lines(root: ET.Element, transfer: StockTransfer, warehouse: Warehouse, *, shipped: bool) -> None:
    lines = protocol.add(root, "orderLines")
    for line in transfer.lines.select_related("sku", "lot").order_by("pk"):
        planned = line.shipped_quantity if shipped else line.quantity
        if not planned:
            continue
        item = protocol.add(lines, "orderLine")
        protocol.add(item, "orderLineNo", line.pk)
        protocol.add(item, "ownerCode", warehouse.wms_owner_code)
        protocol.add(item, "itemCode", line.sku.code)
        protocol.add(item, "itemName", line.sku.name)
        protocol.add(item, "inventoryType", protocol.SALEABLE)
        protocol.add(item, "planQty", planned)
        if line.lot_id:
            protocol.add(item, "batchCode", line.lot.code)


def _remark(transfer: StockTransfer) -> str:
    return " ".join(filter(None, [transfer.reference, transfer.note]))[:500]


# --- stockout.create (调拨出库) ---------------------------------------------------------------------


def stockout_request(transfer: StockTransfer) -> ET.Element:
    source, target = transfer.from_warehouse, transfer.to_warehouse
    root = ET.Element("request")
    delivery = protocol.add(root, "deliveryOrder")
    protocol.add(delivery, "deliveryOrderCode", transfer.number)
    protocol.add(delivery, "orderType", protocol.TRANSFER_OUT_TYPE)
    protocol.add(delivery, "warehouseCode", source.code)
    protocol.add(delivery, "createTime", format_beijing_time(transfer.created_at))
    protocol.add(delivery, "targetWarehouseCode", target.code)
    protocol.add(delivery, "targetWarehouseName", target.name)
    protocol.add(delivery, "targetEntryOrderCode", transfer.number)
    if remark := _remark(transfer):
        protocol.add(delivery, "remark", remark)
    _address(delivery, "senderInfo", source)
    _address(delivery, "receiverInfo", target)
    _order_lines(root, transfer, source, shipped=False)
    return root


def stockout_create(message) -> None:
    transfer = _transfer(message)
    if transfer.status != TransferStatus.SENT_TO_WAREHOUSE:
        return  # shipped already (its confirmation came first): nothing left to ask for
    with wms_outcome():
        answer = QimenClient(transfer.from_warehouse).call(
            protocol.STOCKOUT_CREATE, stockout_request(transfer), idempotency_key=message.idempotency_key
        )
    transfers.transfer_record_wms_ref(
        transfer_id=transfer.pk, side="out", reference=(answer.findtext("deliveryOrderId") or "").strip()
    )


# --- entryorder.create (调拨入库) ------------------------------------------------------------------


def entryorder_request(transfer: StockTransfer) -> ET.Element:
    source, target = transfer.from_warehouse, transfer.to_warehouse
    root = ET.Element("request")
    entry = protocol.add(root, "entryOrder")
    protocol.add(entry, "entryOrderCode", transfer.number)
    protocol.add(entry, "ownerCode", target.wms_owner_code)
    protocol.add(entry, "warehouseCode", target.code)
    protocol.add(entry, "orderType", protocol.TRANSFER_IN_TYPE)
    protocol.add(entry, "entryOrderType", protocol.TRANSFER_IN_TYPE)
    protocol.add(entry, "orderCreateTime", format_beijing_time(transfer.created_at))
    if transfer.shipped_at:
        protocol.add(entry, "expectStartTime", format_beijing_time(transfer.shipped_at))
    protocol.add(entry, "sourceWarehouseCode", source.code)
    protocol.add(entry, "sourceWarehouseName", source.name)
    if remark := _remark(transfer):
        protocol.add(entry, "remark", remark)
    _address(entry, "senderInfo", source)
    _order_lines(root, transfer, target, shipped=True)
    return root


def entryorder_create(message) -> None:
    transfer = _transfer(message)
    if transfer.status not in (TransferStatus.IN_TRANSIT, TransferStatus.PARTIALLY_RECEIVED):
        return  # received or closed meanwhile
    with wms_outcome():
        answer = QimenClient(transfer.to_warehouse).call(
            protocol.ENTRYORDER_CREATE, entryorder_request(transfer), idempotency_key=message.idempotency_key
        )
    transfers.transfer_record_wms_ref(
        transfer_id=transfer.pk, side="in", reference=(answer.findtext("entryOrderId") or "").strip()
    )


# --- confirmations ------------------------------------------------------------------------------------


def _confirm_type(element: ET.Element | None, field: str) -> str:
    value = text(element, "confirmType", field, required=False) or "0"
    if value not in ("0", "1"):
        raise DomainError(
            _("%(field)s: expected 0 (final) or 1 (partial), got %(value)s.")
            % {"field": field, "value": value},
            field=field,
        )
    return value


def _line_units(root: ET.Element) -> dict[str, int]:
    """{itemCode: actualQty} over orderLines; for a stock-out without them, its packages' items."""
    totals: dict[str, int] = {}
    lines = root.findall("orderLines/orderLine")
    if lines:
        for line in lines:
            code = text(line, "itemCode", "orderLines.orderLine.itemCode", max_length=64)
            count = units(line.findtext("actualQty"), "orderLines.orderLine.actualQty")
            totals[code] = totals.get(code, 0) + count
        return totals
    for item in root.findall("packages/package/items/item"):
        code = text(item, "itemCode", "packages.package.items.item.itemCode", max_length=64)
        count = units(item.findtext("quantity"), "packages.package.items.item.quantity")
        totals[code] = totals.get(code, 0) + count
    if not totals:
        raise DomainError(
            _("%(field)s: required.") % {"field": "orderLines.orderLine"}, field="orderLines.orderLine"
        )
    return totals


def _transfer_at(number: str, field: str, **warehouse) -> StockTransfer:
    transfer = StockTransfer.objects.filter(number=number, **warehouse).first()
    if transfer is None:
        raise DomainError(
            _("%(field)s: no transfer %(number)s for this warehouse.") % {"field": field, "number": number},
            field=field,
        )
    return transfer


def stockout_confirmed(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """taobao.qimen.stockout.confirm: the source shipped the transfer (one final confirmation)."""
    delivery = root.find("deliveryOrder")
    field = "deliveryOrder.deliveryOrderCode"
    transfer = _transfer_at(
        text(delivery, "deliveryOrderCode", field, max_length=50), field, from_warehouse=warehouse
    )
    if _confirm_type(delivery, "deliveryOrder.confirmType") == "1":
        raise DomainError(
            _(
                "deliveryOrder.confirmType: a transfer leaves in one final confirmation (confirmType 0); "
                "send it when the stock-out is complete."
            ),
            field="deliveryOrder.confirmType",
        )
    shipped = {code: count for code, count in _line_units(root).items() if count}
    reference = text(
        delivery, "deliveryOrderId", "deliveryOrder.deliveryOrderId", required=False, max_length=64
    )
    if not transfers.transfer_shipped_by_warehouse(transfer=transfer, shipped=shipped, wms_ref=reference):
        return InboundStatus.IGNORED, _("Transfer %(number)s already shipped; nothing changed.") % {
            "number": transfer.number
        }
    return InboundStatus.PROCESSED, ""


def entryorder_confirmed(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """taobao.qimen.entryorder.confirm: units arrived at the destination (each confirmation the
    increment; outBizCode, or the body itself, makes a repeat change nothing)."""
    entry = root.find("entryOrder")
    field = "entryOrder.entryOrderCode"
    transfer = _transfer_at(
        text(entry, "entryOrderCode", field, max_length=50), field, to_warehouse=warehouse
    )
    kind = text(entry, "entryOrderType", "entryOrder.entryOrderType", required=False) or text(
        entry, "orderType", "entryOrder.orderType", required=False
    )
    if kind and kind != protocol.TRANSFER_IN_TYPE:
        raise DomainError(
            _("entryOrder.entryOrderType: %(kind)s is not a transfer receipt (%(expected)s).")
            % {"kind": kind, "expected": protocol.TRANSFER_IN_TYPE},
            field="entryOrder.entryOrderType",
        )
    final = _confirm_type(entry, "entryOrder.confirmType") == "0"
    dedupe = text(entry, "outBizCode", "entryOrder.outBizCode", required=False, max_length=50)
    received = _line_units(root)
    lines = list(transfer.lines.select_related("sku").order_by("pk"))
    quantities: dict[int, int] = {}
    for code, count in received.items():
        matching = [line for line in lines if line.sku.code == code]
        if not matching:
            raise DomainError(
                _("orderLines.orderLine.itemCode: %(code)s is not on transfer %(number)s.")
                % {"code": code, "number": transfer.number},
                field="orderLines.orderLine.itemCode",
            )
        for line in matching:  # fill what is on the way, in order; any rest is an overage on the last
            take = count if line is matching[-1] else min(count, max(0, line.in_transit))
            quantities[line.pk] = quantities.get(line.pk, 0) + take
            count -= take
    outcome = transfers.transfer_receive(
        transfer=transfer,
        quantities=quantities,
        idempotency_key=f"qimen:{warehouse.code}:{transfer.number}:{dedupe or message.body_sha256}",
        actor=None,
        accept_overage=True,  # the warehouse counted it: booked, flagged and alerted
        final=final,
        wms=True,
        wms_ref=text(entry, "entryOrderId", "entryOrder.entryOrderId", required=False, max_length=64),
    )
    if outcome.repeated:
        return InboundStatus.IGNORED, _("This confirmation was already recorded; nothing changed.")
    return InboundStatus.PROCESSED, ""


CONFIRM_HANDLERS = {
    protocol.STOCKOUT_CONFIRM: stockout_confirmed,
    protocol.ENTRYORDER_CONFIRM: entryorder_confirmed,
}
