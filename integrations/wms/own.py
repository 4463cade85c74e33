"""Own warehouses: our staff work shipments in the desk (fulfilment.warehouse_views), so
"pushing" a shipment only puts it in their queue and nothing leaves the building."""

from django.db import transaction
from django.utils.translation import gettext as _

from core.transitions import require_state
from fulfilment.models import ShipmentStatus
from fulfilment.services import lock_shipment, run_shipment_transition
from integrations.wms.base import WmsAdapter
from inventory.models import WmsProtocol


def _queued() -> str:
    return _("Queued for picking in our warehouse.")


class OwnWarehouse(WmsAdapter):
    protocol = WmsProtocol.OWN

    def push(self, shipment, *, orders=None) -> None:
        with transaction.atomic():
            if orders is None:
                # Takes the row locks (a no-op for rows the caller already holds) and checks the
                # caller's instance is current, so the caller can keep using it afterwards.
                locked, orders = lock_shipment(shipment)
                require_state(locked, shipment.status)
            if shipment.status != ShipmentStatus.CREATED:
                return  # already in the warehouse's hands
            run_shipment_transition(shipment, orders, "send_to_warehouse", None, reason=_queued())

    def released_on_creation(self) -> str:
        """A batch routing writes its new shipments here already in the desk queue."""
        return _queued()

    def cancel(self, shipment) -> None:
        """Nothing to tell anyone: the cancelled shipment simply leaves the desk queue."""
