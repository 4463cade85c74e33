"""After stock changes, each channel's sellable quantity is recomputed, safety-stock alerts are
raised or resolved, and registered listeners (channel adapters) push the numbers out. The bundles
containing a changed SKU are recomputed and pushed with it (inventory.bundles)."""

from collections.abc import Callable

from django.db import connection, transaction
from django.utils.translation import gettext as _

from catalog.models import Channel
from core.alerts import alert_raise, alert_resolve
from core.roles import Role
from inventory.bundles import bundles_containing
from inventory.models import SKU, StockPushPending
from inventory.selectors import channel_sellable, safety_breaches

# A listener receives ({channel id: {sku code: sellable quantity}}) after the transaction commits.
StockListener = Callable[[dict[int, dict[str, int]]], None]
_listeners: list[StockListener] = []


def register_stock_listener(listener: StockListener) -> StockListener:
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def unregister_stock_listener(listener: StockListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def push_pending_stock(*, batch_size: int = 500) -> int:
    """Drain the pending SKUs (rows other workers hold are skipped), compute what every active
    channel may sell, keep safety alerts in step and hand the numbers to the listeners."""
    pushed = 0
    while True:
        with transaction.atomic():
            pending = StockPushPending.objects.select_for_update(skip_locked=True).order_by("sku_id")
            drained = list(pending.values_list("sku_id", flat=True)[:batch_size])
            if not drained:
                return pushed
            StockPushPending.objects.filter(sku_id__in=drained).delete()
            # A component's change changes what its bundles make up: they are pushed with it.
            sku_ids = drained + sorted(bundles_containing(drained) - set(drained))
            channels = dict(Channel.objects.filter(is_active=True).values_list("pk", "code"))
            sellable = channel_sellable(sku_ids, list(channels))
            codes = dict(SKU.objects.filter(pk__in=sku_ids).values_list("pk", "code"))
            _safety_alerts(sellable, sku_ids, channels, codes)
            by_code = {
                channel_id: {codes[sku_id]: qty for sku_id, qty in per_sku.items()}
                for channel_id, per_sku in sellable.items()
            }
            for listener in list(_listeners):
                transaction.on_commit(lambda listener=listener, by_code=by_code: listener(by_code))
        pushed += len(sku_ids)
        if connection.vendor != "postgresql" and len(drained) < batch_size:
            return pushed


def _safety_alerts(sellable, sku_ids, channels, codes) -> None:
    breached = safety_breaches(sellable, sku_ids, list(channels))
    for channel_id in channels:
        for sku_id in sku_ids:
            key = f"safety_stock:{channel_id}:{sku_id}"
            if (channel_id, sku_id) in breached:
                alert_raise(
                    kind="safety_stock",
                    key=key,
                    role=Role.MANAGER,
                    message=_(
                        "%(sku)s reached its safety stock on %(channel)s: the channel stops selling it."
                    )
                    % {"sku": codes[sku_id], "channel": channels[channel_id]},
                    payload={"sku": codes[sku_id], "channel": channels[channel_id]},
                )
            else:
                alert_resolve(key=key)
