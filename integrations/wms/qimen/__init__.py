"""Cloud warehouses speaking the Qimen (奇门) WMS standard API: protocol.py (signing, XML),
client.py (HTTP), outbound.py (push, cancel, stock query), callbacks.py (what the WMS tells us)."""

from django.db import transaction

from core.outbox import outbox_enqueue
from integrations.wms.base import WmsAdapter
from integrations.wms.qimen import outbound
from inventory.models import WmsProtocol


class QimenWarehouse(WmsAdapter):
    protocol = WmsProtocol.QIMEN
    has_stock_snapshot = True

    def push(self, shipment, *, orders=None) -> None:
        # The shipment becomes "sent to warehouse" when the WMS accepts it (outbound.record_accepted).
        with transaction.atomic():
            outbox_enqueue(
                kind=outbound.PUSH,
                payload={"shipment_id": shipment.pk},
                idempotency_key=outbound.push_key(shipment),
            )

    def cancel(self, shipment) -> None:
        with transaction.atomic():
            outbox_enqueue(
                kind=outbound.CANCEL,
                payload={"shipment_id": shipment.pk},
                idempotency_key=outbound.cancel_key(shipment),
            )

    def stock_snapshot(self, warehouse) -> dict[str, int]:
        return outbound.inventory_query(warehouse)
