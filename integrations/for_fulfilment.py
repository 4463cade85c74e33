"""Warehouses and carriers as fulfilment sees them (fulfilment.warehouse_port.WarehousePort),
plugged in by config/registry.py."""

from collections.abc import Sequence

from fulfilment.models import Shipment
from integrations import carriers, wms
from orders.models import Order


class WarehouseIntegrations:
    def push_shipment(self, shipment: Shipment, *, orders: Sequence[Order] | None = None) -> None:
        wms.push_shipment(shipment, orders=None if orders is None else list(orders))

    def cancel_shipment(self, shipment: Shipment) -> None:
        wms.cancel_shipment(shipment)

    def subscribe_tracking(self, shipment: Shipment) -> None:
        carriers.subscribe_tracking(shipment)
