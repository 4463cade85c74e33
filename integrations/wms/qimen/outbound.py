"""Calls we make to a Qimen cloud warehouse. Pushes and cancellations go through the outbox
(enqueued in the caller's transaction, sent after commit with retries and dead letters); the
stock query is made by the snapshot job."""

from contextlib import contextmanager
from xml.etree import ElementTree as ET

from django.db import transaction
from django.utils.translation import gettext as _

from core.models import OutboxMessage, OutboxState
from core.outbox import PermanentFailure, RetryLater, outbox_failure
from core.timezones import format_beijing_time
from fulfilment.models import Shipment, ShipmentStatus
from fulfilment.services import lock_shipment, run_shipment_transition
from integrations.wms.qimen import protocol
from integrations.wms.qimen.client import QimenClient, WmsRefused, WmsUnavailable
from inventory.models import SKU, StockBalance
from orders import phones

PUSH = "wms.qimen.deliveryorder_create"
CANCEL = "wms.qimen.order_cancel"
CRITERIA_PER_QUERY = 100  # items per inventory.query call


def push_key(shipment) -> str:
    return f"wms-push:{shipment.number}"


def cancel_key(shipment) -> str:
    return f"wms-cancel:{shipment.number}"


@contextmanager
def wms_outcome():
    """A failed call as the outbox outcome (core.outbox.outbox_failure, the mapping every outbound
    call uses): a refusal (flag=failure, or an HTTP answer core.http's rule calls final) dead-letters
    with an alert and can be replayed; an unavailable WMS is retried later."""
    try:
        yield
    except (WmsRefused, WmsUnavailable) as exc:
        raise outbox_failure(str(exc), temporary=exc.temporary, retry_after=exc.retry_after) from exc


def _shipment(message) -> Shipment:
    shipment = (
        Shipment.objects.select_related("warehouse", "order", "order__channel", "warehouse__default_carrier")
        .filter(pk=message.payload.get("shipment_id"))
        .first()
    )
    if shipment is None:
        raise PermanentFailure(f"no shipment #{message.payload.get('shipment_id')}")
    return shipment


# --- deliveryorder.create -------------------------------------------------------------------------


def deliveryorder_request(shipment: Shipment) -> ET.Element:
    warehouse, order = shipment.warehouse, shipment.order
    root = ET.Element("request")
    delivery = protocol.add(root, "deliveryOrder")
    protocol.add(delivery, "deliveryOrderCode", shipment.number)
    protocol.add(delivery, "orderType", protocol.ORDER_TYPE)
    protocol.add(delivery, "warehouseCode", warehouse.code)
    protocol.add(delivery, "createTime", format_beijing_time(shipment.created_at))
    protocol.add(delivery, "placeOrderTime", format_beijing_time(order.placed_at))
    if order.paid_at:
        protocol.add(delivery, "payTime", format_beijing_time(order.paid_at))
    protocol.add(delivery, "sourcePlatformCode", "OTHER")
    protocol.add(delivery, "shopNick", order.channel.name)
    if warehouse.default_carrier:
        protocol.add(delivery, "logisticsCode", warehouse.default_carrier.code.upper())
    if order.buyer_note:
        protocol.add(delivery, "buyerMessage", order.buyer_note[:500])
    sender = protocol.add(delivery, "senderInfo")
    protocol.add(sender, "name", warehouse.name)
    protocol.add(sender, "province", warehouse.province)
    protocol.add(sender, "city", warehouse.city)
    protocol.add(sender, "area", warehouse.district)
    protocol.add(sender, "detailAddress", warehouse.address_line)
    receiver = protocol.add(delivery, "receiverInfo")
    protocol.add(receiver, "name", order.ship_name or order.customer_name)
    protocol.add(receiver, "mobile", phones.domestic(order.ship_phone or order.customer_phone))
    protocol.add(receiver, "countryCode", order.ship_country)
    protocol.add(receiver, "province", order.ship_province)
    protocol.add(receiver, "city", order.ship_city)
    protocol.add(receiver, "area", order.ship_district)
    protocol.add(receiver, "detailAddress", " ".join(filter(None, [order.ship_line1, order.ship_line2])))
    protocol.add(receiver, "zipCode", order.ship_postcode)
    lines = protocol.add(root, "orderLines")
    for line in shipment.lines.select_related("sku", "order_line__order").order_by("pk"):
        item = protocol.add(lines, "orderLine")
        protocol.add(item, "orderLineNo", line.pk)
        protocol.add(item, "sourceOrderCode", line.order_line.order.number)
        protocol.add(item, "ownerCode", warehouse.wms_owner_code)
        protocol.add(item, "itemCode", line.sku.code)
        protocol.add(item, "itemName", line.sku.name)
        protocol.add(item, "planQty", line.quantity)
    return root


def deliveryorder_create(message) -> None:
    shipment = _shipment(message)
    if shipment.status != ShipmentStatus.CREATED:
        return  # cancelled before it left, or the warehouse already acknowledged it
    with wms_outcome():
        answer = QimenClient(shipment.warehouse).call(
            protocol.DELIVERY_ORDER_CREATE,
            deliveryorder_request(shipment),
            idempotency_key=message.idempotency_key,
        )
    record_accepted(shipment.pk, (answer.findtext("deliveryOrderId") or "").strip())


def record_accepted(shipment_id: int, delivery_order_id: str) -> None:
    """The warehouse holds the shipment: it is now sent to the warehouse. The reference is kept
    even when the shipment was cancelled meanwhile, so the cancellation knows to tell the WMS."""
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment_id)
        reference = delivery_order_id or shipment.number
        if shipment.status == ShipmentStatus.CREATED:
            run_shipment_transition(
                shipment,
                orders,
                "send_to_warehouse",
                None,
                reason=_("Accepted by the cloud warehouse."),
                payload={"wms": "qimen", "deliveryOrderId": delivery_order_id},
                args={"external_ref": reference},
            )
        elif not shipment.external_ref:
            Shipment.objects.filter(pk=shipment.pk).update(external_ref=reference)


# --- order.cancel ------------------------------------------------------------------------------------


def _wms_may_hold(shipment: Shipment) -> bool:
    """Whether the warehouse may have the shipment: it acknowledged it, or a push attempt ended
    without an answer we could read (a timeout or crash may still have reached it)."""
    if shipment.external_ref:
        return True
    push = OutboxMessage.objects.filter(idempotency_key=push_key(shipment)).first()
    if push is None or push.attempts == 0:
        return False
    if push.state == OutboxState.DELIVERING:
        raise RetryLater(f"the push of {shipment.number} is still in flight", retry_after=60)
    # A single attempt that was delivered or refused outright: skipped as cancelled, or never accepted.
    return not (push.attempts == 1 and push.state in (OutboxState.DELIVERED, OutboxState.DEAD))


def cancel_request(shipment: Shipment) -> ET.Element:
    root = ET.Element("request")
    protocol.add(root, "warehouseCode", shipment.warehouse.code)
    protocol.add(root, "ownerCode", shipment.warehouse.wms_owner_code)
    protocol.add(root, "orderCode", shipment.number)
    if shipment.external_ref:
        protocol.add(root, "orderId", shipment.external_ref)
    protocol.add(root, "orderType", protocol.ORDER_TYPE)
    protocol.add(root, "cancelReason", shipment.problem or "cancelled")
    return root


def order_cancel(message) -> None:
    shipment = _shipment(message)
    if not _wms_may_hold(shipment):
        return
    with wms_outcome():
        QimenClient(shipment.warehouse).call(
            protocol.ORDER_CANCEL, cancel_request(shipment), idempotency_key=message.idempotency_key
        )


# --- inventory.query -----------------------------------------------------------------------------


def snapshot_sku_codes(warehouse) -> list[str]:
    """What to ask about: every SKU stocked here at some time, and every active SKU."""
    codes = set(StockBalance.objects.filter(warehouse=warehouse).values_list("sku__code", flat=True))
    codes.update(SKU.objects.filter(is_active=True).values_list("code", flat=True))
    return sorted(codes)


def inventory_request(warehouse, codes: list[str]) -> ET.Element:
    root = ET.Element("request")
    criteria_list = protocol.add(root, "criteriaList")
    for code in codes:
        criteria = protocol.add(criteria_list, "criteria")
        protocol.add(criteria, "warehouseCode", warehouse.code)
        protocol.add(criteria, "ownerCode", warehouse.wms_owner_code)
        protocol.add(criteria, "itemCode", code)
        protocol.add(criteria, "inventoryType", protocol.SALEABLE)
    return root


def inventory_query(warehouse, *, http=None) -> dict[str, int]:
    """Saleable on-hand per SKU code (summed over batches); SKUs it does not list hold none."""
    client = QimenClient(warehouse, http=http)
    codes = snapshot_sku_codes(warehouse)
    totals: dict[str, int] = {}
    for start in range(0, len(codes), CRITERIA_PER_QUERY):
        answer = client.call(
            protocol.INVENTORY_QUERY, inventory_request(warehouse, codes[start : start + CRITERIA_PER_QUERY])
        )
        for item in answer.iterfind("items/item"):
            if (item.findtext("inventoryType") or protocol.SALEABLE).strip() != protocol.SALEABLE:
                continue
            code = (item.findtext("itemCode") or "").strip()
            try:
                quantity = int((item.findtext("quantity") or "0").strip())
            except ValueError as exc:
                raise WmsUnavailable(
                    f"inventory.query: item {code!r} has a quantity that is not a whole number"
                ) from exc
            if code:
                totals[code] = totals.get(code, 0) + quantity
    return totals
