"""What fulfilment asks of the warehouses and carriers, without importing integrations.

Integrations sit above fulfilment (their callbacks drive shipments through fulfilment's
services), yet routing must hand a new parcel to its warehouse, a cancellation must tell the
warehouse, a shipped parcel must be subscribed for tracking and its sales platforms told that
it shipped, all inside the transaction that moves it (each call only enqueues outbox messages).
The integrations app plugs its implementation in at start-up (see config/registry.py)."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from fulfilment.models import Shipment
    from orders.models import Order


class WarehousePort(Protocol):
    def push_shipment(self, shipment: "Shipment", *, orders: Sequence["Order"] | None = None) -> None:
        """Hand a new shipment to its warehouse (`orders`: its orders when the caller holds their
        locks)."""

    def push_shipments(self, shipments: Sequence["Shipment"], *, orders: dict[int, "Order"]) -> None:
        """push_shipment for new shipments routing wrote in this transaction, each carrying one
        of `orders` (by id, locked by the caller): in one go where the warehouse allows it."""

    def released_on_creation(self, warehouse) -> str | None:
        """The timeline's reason when new shipments for this warehouse are written already
        released to it (send_to_warehouse applied before their insert), because releasing them
        tells nobody anything (own warehouses: the desk queue); None when they must be written
        first and pushed (push_shipments)."""

    def cancel_shipment(self, shipment: "Shipment") -> None:
        """Tell the shipment's warehouse it is cancelled."""

    def shipment_released(self, shipment: "Shipment") -> None:
        """The shipment was just released to its warehouse (send_to_warehouse, same transaction):
        an own warehouse's parcel gets its carrier and its e-waybill request (issue #17)."""

    def shipments_released(self, shipments: Sequence["Shipment"]) -> None:
        """shipment_released for shipments released together (a batch routing's new parcels),
        once they are written."""

    def shipment_cancelled(self, shipment: "Shipment") -> None:
        """The shipment was just cancelled before it left the warehouse (same transaction): an
        e-waybill number it holds is given back to its source through the outbox (issue #17)."""

    def subscribe_tracking(self, shipment: "Shipment") -> None:
        """Ask the carrier integration to report this parcel's tracking events."""

    def shipment_shipped(self, shipment: "Shipment") -> None:
        """The parcel left the warehouse with its carrier and tracking number: the sales
        platforms of its orders may be told (shipment write-back, by each channel's setting)."""

    def shipment_first_scan(self, shipment: "Shipment") -> None:
        """The carrier scanned the parcel for the first time (channels that write back then)."""


_plugged: WarehousePort | None = None


def plug(port: WarehousePort) -> None:
    global _plugged
    _plugged = port


def warehouses() -> WarehousePort:
    if _plugged is None:
        raise ImproperlyConfigured("No warehouse integration plugged in: is 'integrations' installed?")
    return _plugged
