"""Who handles what: every connection between Conduit's layers, in one module.

Lower layers never import higher ones. Where a lower layer must set work in motion above it, it
declares a port (a small Protocol) or names a message kind, and this module plugs the handler in
once all apps are loaded (config.apps.ConduitConfig.ready). Open this file to learn, for example,
that a Kuaidi100 push is processed by integrations.carriers, or that cancelling an order stops its
parcels through fulfilment.
"""

from fulfilment import warehouse_port
from fulfilment.for_orders import OrdersFulfilment
from integrations.for_fulfilment import WarehouseIntegrations
from orders import fulfilment_port


def install() -> None:
    # Ports: a lower layer's calls answered by the layer above it.
    fulfilment_port.plug(OrdersFulfilment())  # orders → fulfilment: route, stop parcels, "placed"
    warehouse_port.plug(WarehouseIntegrations())  # fulfilment → integrations: WMS push/cancel, tracking
