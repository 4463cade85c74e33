"""Inventory's models, one module per concern; import them from here (`from inventory.models
import SKU`). The migrations name `new_fingerprint` and `validate_region_list` through this package."""

from inventory.models.bins import BinLocation, BinStock
from inventory.models.bundles import BundleComponent
from inventory.models.channel_stock import SafetyStock, StockPushPending
from inventory.models.counts import (
    CycleCount,
    CycleCountLine,
    CycleCountState,
    CycleCountUpload,
    CycleCountUploadState,
)
from inventory.models.item_mapping import ItemMapping
from inventory.models.ledger import RELEASE_KINDS, ImmutableMovementError, MovementKind, StockMovement
from inventory.models.replenishment import ReplenishmentSuggestion
from inventory.models.reservations import (
    HOLDING,
    PendingRelease,
    ReleaseBreaker,
    Reservation,
    ReservationState,
    new_fingerprint,
)
from inventory.models.stock import (
    SKU,
    ChannelPool,
    Lot,
    PoolKind,
    StockBalance,
    StockPool,
    Warehouse,
    WarehouseCarrierCode,
    WarehouseKind,
    WmsProtocol,
    validate_region_list,
)
from inventory.models.transfers import (
    ShortageReason,
    StockTransfer,
    StockTransferEvent,
    StockTransferLine,
    StockTransferReceipt,
    TransferEventKind,
    TransferStatus,
)

__all__ = [
    "BinLocation",
    "BinStock",
    "HOLDING",
    "RELEASE_KINDS",
    "SKU",
    "BundleComponent",
    "ChannelPool",
    "CycleCount",
    "CycleCountLine",
    "CycleCountState",
    "CycleCountUpload",
    "CycleCountUploadState",
    "ImmutableMovementError",
    "ItemMapping",
    "Lot",
    "MovementKind",
    "PendingRelease",
    "PoolKind",
    "ReleaseBreaker",
    "ReplenishmentSuggestion",
    "Reservation",
    "ReservationState",
    "SafetyStock",
    "ShortageReason",
    "StockBalance",
    "StockMovement",
    "StockPool",
    "StockPushPending",
    "StockTransfer",
    "StockTransferEvent",
    "StockTransferLine",
    "StockTransferReceipt",
    "TransferEventKind",
    "TransferStatus",
    "Warehouse",
    "WarehouseCarrierCode",
    "WarehouseKind",
    "WmsProtocol",
    "new_fingerprint",
    "validate_region_list",
]
