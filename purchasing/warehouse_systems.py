"""The port cloud warehouses plug into for purchase orders (config/registry.py wires it).

Purchasing sits below integrations (config/layers.py): when a purchase order to a warehouse whose
`wms_protocol` has a ReceivingWarehouseSystem registered (Qimen) is approved, purchasing asks that
system to announce it (an inbound order, 采购入库) and, when it is cancelled, to withdraw it. The
system's confirmations come back through integrations and are posted by
purchasing.receiving.receipt_from_warehouse; the desk does not receive at such a warehouse.
"""

from typing import Protocol

from inventory.models import Warehouse
from purchasing.models import PurchaseOrder


class ReceivingWarehouseSystem(Protocol):
    """Both run in the caller's transaction and only enqueue outbox messages."""

    def announce(self, po: PurchaseOrder) -> str:
        """Tell the warehouse what is coming; returns the outbox message's idempotency key, so the
        purchase order page can say whether it was sent, accepted or failed."""

    def withdraw(self, po: PurchaseOrder) -> None:
        """The order was cancelled: ask the warehouse to cancel its inbound order, if it holds one."""


_systems: dict[str, ReceivingWarehouseSystem] = {}


def register_receiving_system(protocol: str, system: ReceivingWarehouseSystem) -> None:
    _systems[protocol] = system


def receiving_system(warehouse: Warehouse) -> ReceivingWarehouseSystem | None:
    return _systems.get(warehouse.wms_protocol)


def cloud_protocols() -> list[str]:
    """Warehouse protocols whose own system confirms what arrives (the desk does not receive there)."""
    return sorted(_systems)
