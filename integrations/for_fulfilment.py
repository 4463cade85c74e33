"""Warehouses, carriers and sales platforms as fulfilment sees them
(fulfilment.warehouse_port.WarehousePort), plugged in by config/registry.py."""

from collections.abc import Sequence

from fulfilment.models import Shipment
from integrations import carriers, wms, writeback
from integrations.carriers import waybills
from orders.models import Order


class WarehouseIntegrations:
    def push_shipment(self, shipment: Shipment, *, orders: Sequence[Order] | None = None) -> None:
        wms.push_shipment(shipment, orders=None if orders is None else list(orders))

    def push_shipments(self, shipments: Sequence[Shipment], *, orders: dict[int, Order]) -> None:
        wms.push_shipments(list(shipments), orders=orders)

    def released_on_creation(self, warehouse) -> str | None:
        return wms.get_adapter(warehouse.wms_protocol).released_on_creation()

    def cancel_shipment(self, shipment: Shipment) -> None:
        wms.cancel_shipment(shipment)

    def shipment_released(self, shipment: Shipment) -> None:
        waybills.waybill_on_release(shipment)

    def shipments_released(self, shipments: Sequence[Shipment]) -> None:
        waybills.waybills_on_release(list(shipments))

    def shipment_cancelled(self, shipment: Shipment) -> None:
        waybills.waybill_on_cancel(shipment)

    def subscribe_tracking(self, shipment: Shipment) -> None:
        carriers.subscribe_tracking(shipment)

    def shipment_shipped(self, shipment: Shipment) -> None:
        writeback.shipment_event(shipment, writeback.SHIPPED)

    def shipment_first_scan(self, shipment: Shipment) -> None:
        writeback.shipment_event(shipment, writeback.FIRST_SCAN)
