"""Warehouse systems (SPEC R-X4, R-F3): how a routed shipment reaches the warehouse that ships it.

Own warehouses are worked in the desk; cloud warehouses (3PL) speak the Qimen WMS API. Callers
(routing, cancellation) use these inside their transaction:

    push_shipment(shipment)     # own: straight to the desk queue; qimen: outbox → deliveryorder.create
    push_shipments(shipments, orders=…)  # a batch routing's new shipments (own: written released)
    cancel_shipment(shipment)   # own: nothing to tell; qimen: outbox → order.cancel
    wms_snapshot_compare(warehouse)  # the 30-minute stock comparison job (outside any transaction)
"""

from collections import defaultdict

from integrations.wms.base import WmsAdapter, WmsError, get_adapter
from integrations.wms.snapshots import wms_snapshot_compare

__all__ = [
    "WmsAdapter",
    "WmsError",
    "cancel_shipment",
    "get_adapter",
    "push_shipment",
    "push_shipments",
    "wms_snapshot_compare",
]


def push_shipment(shipment, *, orders=None) -> None:
    """Hand a new shipment to its warehouse. `orders`: its orders, when the caller holds their
    locks (as from fulfilment.services.lock_shipment); otherwise they are locked here."""
    get_adapter(shipment.warehouse.wms_protocol).push(shipment, orders=orders)


def push_shipments(shipments, *, orders) -> None:
    """push_shipment for new shipments of one batch routing (`orders`: id → the locked order each
    carries): each protocol's adapter takes its own at once."""
    by_protocol = defaultdict(list)
    for shipment in shipments:
        by_protocol[shipment.warehouse.wms_protocol].append(shipment)
    for protocol, group in by_protocol.items():
        get_adapter(protocol).push_new(group, orders=orders)


def cancel_shipment(shipment) -> None:
    """Tell the shipment's warehouse it is cancelled (after the cancel transition, same transaction)."""
    get_adapter(shipment.warehouse.wms_protocol).cancel(shipment)
