"""Purchase orders delivered to a Qimen cloud warehouse (采购入库), both directions.

An approved purchase order is announced as an entry order (taobao.qimen.entryorder.create,
entryOrderType / orderType CGRK 采购入库); each taobao.qimen.entryorder.confirm of type CGRK is a
goods receipt, posted by purchasing.receiving.receipt_from_warehouse (the desk's posting path). A
cancelled order is withdrawn with taobao.qimen.order.cancel (orderType CGRK) when the warehouse may
hold it. Pushes go through the outbox; confirmations arrive through
integrations.wms.qimen.callbacks (stored raw, replayable).

Field names as in transfers.py, from the Qimen standard mirrored by `bububa/opentaobao`
(commit 3a362f9b140f4ad541b1285764b7cee1515798e9), model/qimen/:
  - EntryOrder.go: entryOrderCode, ownerCode, purchaseOrderCode ("采购单号(当orderType=CGRK时使用)"),
    warehouseCode, orderType, entryOrderType (…CGRK=采购入库…), orderCreateTime, expectStartTime
    (预期到货时间), expectEndTime (最迟预期到货时间), supplierCode, supplierName, remark, entryOrderId,
    outBizCode, confirmType; TaobaoQimenEntryorderCreateResponse.go: entryOrderId.
  - OrderLine.go: orderLineNo, ownerCode, itemCode, itemName, inventoryType, planQty, actualQty,
    purchasePrice (采购价), batchCode, expireDate (YYYY-MM-DD).
  - order.cancel as outbound.cancel_request: warehouseCode, ownerCode, orderCode, orderId, orderType,
    cancelReason.
"""

from datetime import date, datetime, time
from xml.etree import ElementTree as ET

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.models import OutboxMessage, OutboxState
from core.outbox import PermanentFailure, RetryLater, outbox_enqueue
from core.timezones import BEIJING, format_beijing_time
from integrations.models import InboundMessage, InboundStatus
from integrations.wms.qimen import protocol
from integrations.wms.qimen.client import QimenClient
from integrations.wms.qimen.outbound import wms_outcome
from integrations.wms.qimen.reading import text, units
from inventory.models import Warehouse
from purchasing import receiving, services
from purchasing.models import OPEN_FOR_RECEIPT, PurchaseOrder, PurchaseOrderState

ENTRYORDER = "wms.qimen.purchase_entryorder"
CANCEL = "wms.qimen.purchase_cancel"


def entryorder_key(po) -> str:
    return f"wms-purchase-in:{po.number}"


def cancel_key(po) -> str:
    return f"wms-purchase-cancel:{po.number}"


class QimenPurchases:
    """purchasing.warehouse_systems.ReceivingWarehouseSystem for Qimen warehouses (wired in
    config/registry.py)."""

    def announce(self, po: PurchaseOrder) -> str:
        key = entryorder_key(po)
        with transaction.atomic():
            outbox_enqueue(kind=ENTRYORDER, payload={"purchase_order_id": po.pk}, idempotency_key=key)
        return key

    def withdraw(self, po: PurchaseOrder) -> None:
        with transaction.atomic():
            outbox_enqueue(kind=CANCEL, payload={"purchase_order_id": po.pk}, idempotency_key=cancel_key(po))


def _purchase_order(message) -> PurchaseOrder:
    po = (
        PurchaseOrder.objects.select_related("supplier", "warehouse")
        .filter(pk=message.payload.get("purchase_order_id"))
        .first()
    )
    if po is None:
        raise PermanentFailure(f"no purchase order #{message.payload.get('purchase_order_id')}")
    return po


def _day_start(day: date) -> str:
    return format_beijing_time(datetime.combine(day, time(9), tzinfo=BEIJING))


def _day_end(day: date) -> str:
    return format_beijing_time(datetime.combine(day, time(18), tzinfo=BEIJING))


# --- entryorder.create (采购入库) ------------------------------------------------------------------


def entryorder_request(po: PurchaseOrder) -> ET.Element:
    warehouse, supplier = po.warehouse, po.supplier
    lines = list(po.lines.select_related("sku").order_by("pk"))
    root = ET.Element("request")
    entry = protocol.add(root, "entryOrder")
    protocol.add(entry, "entryOrderCode", po.number)
    protocol.add(entry, "ownerCode", warehouse.wms_owner_code)
    protocol.add(entry, "purchaseOrderCode", po.number)
    protocol.add(entry, "warehouseCode", warehouse.code)
    protocol.add(entry, "orderType", protocol.PURCHASE_IN_TYPE)
    protocol.add(entry, "entryOrderType", protocol.PURCHASE_IN_TYPE)
    protocol.add(entry, "orderCreateTime", format_beijing_time(po.approved_at or po.created_at))
    days = [line.expected_on for line in lines if line.expected_on] or (
        [po.expected_on] if po.expected_on else []
    )
    if days:  # the earliest line may arrive first; the order's date is the last one
        protocol.add(entry, "expectStartTime", _day_start(min(days)))
        protocol.add(entry, "expectEndTime", _day_end(max(days)))
    protocol.add(entry, "supplierCode", supplier.code)
    protocol.add(entry, "supplierName", supplier.name[:200])
    if po.note:
        protocol.add(entry, "remark", po.note[:500])
    order_lines = protocol.add(root, "orderLines")
    for line in lines:
        item = protocol.add(order_lines, "orderLine")
        protocol.add(item, "orderLineNo", line.pk)
        protocol.add(item, "ownerCode", warehouse.wms_owner_code)
        protocol.add(item, "itemCode", line.sku.code)
        protocol.add(item, "itemName", line.sku.name)
        protocol.add(item, "inventoryType", protocol.SALEABLE)
        protocol.add(item, "planQty", line.quantity)
        protocol.add(item, "purchasePrice", line.unit_price)
    return root


def entryorder_create(message) -> None:
    po = _purchase_order(message)
    if po.state not in OPEN_FOR_RECEIPT:
        return  # cancelled (or closed) before it was sent: nothing to announce
    with wms_outcome():
        answer = QimenClient(po.warehouse).call(
            protocol.ENTRYORDER_CREATE, entryorder_request(po), idempotency_key=message.idempotency_key
        )
    services.purchase_order_record_wms_ref(
        po_id=po.pk,
        reference=(answer.findtext("entryOrderId") or "").strip() or po.number,
        warehouse_code=po.warehouse.code,
    )


# --- order.cancel ------------------------------------------------------------------------------------


def _wms_may_hold(po: PurchaseOrder) -> bool:
    """As outbound._wms_may_hold for shipments: it accepted the entry order, or an attempt ended
    without an answer we could read (a timeout may still have reached it)."""
    if po.wms_ref:
        return True
    push = OutboxMessage.objects.filter(idempotency_key=entryorder_key(po)).first()
    if push is None or push.attempts == 0:
        return False
    if push.state == OutboxState.DELIVERING:
        raise RetryLater(f"the entry order of {po.number} is still in flight", retry_after=60)
    return not (push.attempts == 1 and push.state in (OutboxState.DELIVERED, OutboxState.DEAD))


def cancel_request(po: PurchaseOrder) -> ET.Element:
    root = ET.Element("request")
    protocol.add(root, "warehouseCode", po.warehouse.code)
    protocol.add(root, "ownerCode", po.warehouse.wms_owner_code)
    protocol.add(root, "orderCode", po.number)
    if po.wms_ref:
        protocol.add(root, "orderId", po.wms_ref)
    protocol.add(root, "orderType", protocol.PURCHASE_IN_TYPE)
    protocol.add(root, "cancelReason", "cancelled")
    return root


def order_cancel(message) -> None:
    po = _purchase_order(message)
    if po.state != PurchaseOrderState.CANCELLED or not _wms_may_hold(po):
        return
    with wms_outcome():
        QimenClient(po.warehouse).call(
            protocol.ORDER_CANCEL, cancel_request(po), idempotency_key=message.idempotency_key
        )


# --- entryorder.confirm (CGRK) -----------------------------------------------------------------------


def is_purchase_receipt(warehouse: Warehouse, entry: ET.Element | None) -> bool:
    """A CGRK confirmation, or one without a type whose code is a purchase order for this warehouse."""
    kind = text(entry, "entryOrderType", "entryOrder.entryOrderType", required=False) or text(
        entry, "orderType", "entryOrder.orderType", required=False
    )
    if kind:
        return kind == protocol.PURCHASE_IN_TYPE
    code = text(entry, "entryOrderCode", "entryOrder.entryOrderCode", required=False)
    return bool(code) and PurchaseOrder.objects.filter(number=code, warehouse=warehouse).exists()


def _counts(po: PurchaseOrder, root: ET.Element) -> list[receiving.CountInput]:
    """What each order line received: orderLines summed per itemCode, with the batch (batchCode,
    expireDate) a lot-tracked SKU needs — one batch per item per confirmation, since a goods
    receipt holds one lot per order line."""
    lines = {line.sku.code: line for line in po.lines.select_related("sku")}
    counts: dict[int, receiving.CountInput] = {}
    elements = root.findall("orderLines/orderLine")
    if not elements:
        raise DomainError(
            _("%(field)s: required.") % {"field": "orderLines.orderLine"}, field="orderLines.orderLine"
        )
    for element in elements:
        code = text(element, "itemCode", "orderLines.orderLine.itemCode", max_length=64)
        line = lines.get(code)
        if line is None:
            raise DomainError(
                _("orderLines.orderLine.itemCode: %(code)s is not on purchase order %(number)s.")
                % {"code": code, "number": po.number},
                field="orderLines.orderLine.itemCode",
            )
        count = units(element.findtext("actualQty"), "orderLines.orderLine.actualQty")
        lot, expires = "", None
        if line.sku.lot_tracked:
            lot = text(element, "batchCode", "orderLines.orderLine.batchCode", max_length=100)
            expires = day(element, "expireDate", "orderLines.orderLine.expireDate")
        before = counts.get(line.pk)
        if before is not None and (before.lot_code, before.expires_on) != (lot, expires):
            raise DomainError(
                _(
                    "orderLines.orderLine.batchCode: %(code)s arrives in two batches in one confirmation; "
                    "send one confirmation per batch."
                )
                % {"code": code},
                field="orderLines.orderLine.batchCode",
            )
        counts[line.pk] = receiving.CountInput(
            line_id=line.pk,
            quantity=count + (before.quantity if before else 0),
            lot_code=lot,
            expires_on=expires,
        )
    return list(counts.values())


def day(element: ET.Element, path: str, field: str) -> date | None:
    value = text(element, path, field, required=False)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise DomainError(
            _("%(field)s: expected YYYY-MM-DD, got %(value)s.") % {"field": field, "value": value},
            field=field,
        ) from exc


def entryorder_confirmed(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """taobao.qimen.entryorder.confirm of a purchase: units arrived (each confirmation the increment;
    outBizCode, or the body itself, makes a repeat change nothing)."""
    entry = root.find("entryOrder")
    field = "entryOrder.entryOrderCode"
    number = text(entry, "entryOrderCode", field, max_length=50)
    po = PurchaseOrder.objects.filter(number=number, warehouse=warehouse).first()
    if po is None:
        raise DomainError(
            _("%(field)s: no purchase order %(number)s for this warehouse.")
            % {"field": field, "number": number},
            field=field,
        )
    confirm_type = text(entry, "confirmType", "entryOrder.confirmType", required=False) or "0"
    if confirm_type not in ("0", "1"):
        raise DomainError(
            _("%(field)s: expected 0 (final) or 1 (partial), got %(value)s.")
            % {"field": "entryOrder.confirmType", "value": confirm_type},
            field="entryOrder.confirmType",
        )
    dedupe = text(entry, "outBizCode", "entryOrder.outBizCode", required=False, max_length=50)
    outcome = receiving.receipt_from_warehouse(
        po=po,
        counts=_counts(po, root),
        key=f"qimen:{warehouse.code}:{po.number}:{dedupe or message.body_sha256}",
        final=confirm_type == "0",
        warehouse=warehouse.code,
    )
    if outcome.repeated:
        return InboundStatus.IGNORED, _("This confirmation was already recorded; nothing changed.")
    reference = text(entry, "entryOrderId", "entryOrder.entryOrderId", required=False, max_length=64)
    if reference and not po.wms_ref:
        services.purchase_order_record_wms_ref(
            po_id=po.pk, reference=reference, warehouse_code=warehouse.code
        )
    return InboundStatus.PROCESSED, ""
