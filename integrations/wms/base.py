"""What a warehouse system adapter offers (SPEC R-X4), and the registry by `Warehouse.wms_protocol`.

`push` and `cancel` run inside the caller's transaction: they change state or enqueue outbox
messages there, never call out directly. `stock_snapshot` is the one call made in the open (by
the snapshot job, with no transaction or lock held)."""

from abc import ABC, abstractmethod

_registry: dict[str, "WmsAdapter"] = {}


class WmsError(Exception):
    """The warehouse system could not answer (network, HTTP or protocol error, or a refusal)."""


class WmsAdapter(ABC):
    protocol: str = ""
    has_stock_snapshot: bool = False  # False: the warehouse has no system of its own to compare with

    @abstractmethod
    def push(self, shipment, *, orders=None) -> None:
        """Hand the new shipment to the warehouse; `orders`: its locked orders, if the caller holds them."""

    def released_on_creation(self) -> str | None:
        """The timeline's reason when this warehouse's new shipments can be written already
        released (pushing them tells nobody anything); None: they are pushed once written."""
        return None

    def push_new(self, shipments, *, orders) -> None:
        """Hand new shipments (written in the caller's transaction) to the warehouse; `orders`:
        id → the locked order each carries. One by one unless the adapter can do better."""
        for shipment in shipments:
            self.push(shipment, orders=[orders[shipment.order_id]])

    @abstractmethod
    def cancel(self, shipment) -> None:
        """Tell the warehouse the shipment is cancelled."""

    def stock_snapshot(self, warehouse) -> dict[str, int]:
        """On-hand quantity per SKU code as the warehouse system reports it; WmsError on failure."""
        raise WmsError(f"{self.protocol} warehouses have no stock snapshot")


def register(adapter_cls: type[WmsAdapter]) -> type[WmsAdapter]:
    _registry[adapter_cls.protocol] = adapter_cls()
    return adapter_cls


def get_adapter(protocol: str) -> WmsAdapter:
    """The adapter of a protocol; LookupError when none is registered."""
    try:
        return _registry[protocol]
    except KeyError:
        raise LookupError(f"no warehouse adapter for protocol {protocol!r}") from None
