"""Celery tasks of the warehouse adapters (imported at startup by integrations.apps)."""

from celery import shared_task

from inventory.models import Warehouse, WmsProtocol


@shared_task
def compare_wms_stock() -> int:
    """Every 30 minutes: one snapshot task per active cloud warehouse; returns how many."""
    ids = list(
        Warehouse.objects.filter(is_active=True, wms_protocol=WmsProtocol.QIMEN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for warehouse_id in ids:
        compare_warehouse_stock.delay(warehouse_id)
    return len(ids)


@shared_task
def compare_warehouse_stock(warehouse_id: int) -> int | None:
    """Snapshot one warehouse; the number of differences (None: no snapshot was taken).
    Two runs at once only write two snapshots; the alert is one per warehouse."""
    from integrations.wms import wms_snapshot_compare

    warehouse = Warehouse.objects.filter(pk=warehouse_id, is_active=True).first()
    if warehouse is None:
        return None
    snapshot = wms_snapshot_compare(warehouse)
    return snapshot.difference_count if snapshot is not None and not snapshot.error else None
