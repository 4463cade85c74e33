"""Stock snapshot comparison (R-X4): what a cloud warehouse's system says it holds against our
on-hand stock there. Differences are listed and alerted for a person to decide; our balances are
never changed here."""

import logging

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.roles import Role
from integrations.models import WmsStockDifference, WmsStockSnapshot
from integrations.wms.base import WmsError, get_adapter
from inventory.models import SKU, PoolKind, StockBalance

logger = logging.getLogger(__name__)


def difference_alert_key(warehouse) -> str:
    return f"wms-stock:{warehouse.code}"


def failure_alert_key(warehouse) -> str:
    return f"wms-snapshot-failed:{warehouse.code}"


def our_on_hand(warehouse) -> dict[str, int]:
    """On hand per SKU code at the warehouse, over every pool and lot but units of transfers still
    on their way (the in-transit pool: not on its shelves)."""
    rows = (
        StockBalance.objects.filter(warehouse=warehouse)
        .exclude(pool__kind=PoolKind.IN_TRANSIT)
        .values("sku__code")
        .annotate(total=Sum("on_hand"))
        .order_by()
    )
    return {row["sku__code"]: row["total"] or 0 for row in rows}


def wms_snapshot_compare(warehouse) -> WmsStockSnapshot | None:
    """Ask the warehouse system for its stock (no transaction or lock held across the call),
    then record the differences with ours. None for warehouses without a system of their own."""
    adapter = get_adapter(warehouse.wms_protocol)
    if not adapter.has_stock_snapshot:
        return None
    taken_at = timezone.now()
    try:
        theirs = adapter.stock_snapshot(warehouse)
    except WmsError as exc:
        logger.warning("WMS stock snapshot of %s failed: %s", warehouse.code, exc)
        with transaction.atomic():
            snapshot = WmsStockSnapshot.objects.create(
                warehouse=warehouse, taken_at=taken_at, error=str(exc)[:2000]
            )
            alert_raise(
                kind="wms_snapshot_failed",
                key=failure_alert_key(warehouse),
                role=Role.WAREHOUSE,
                message=_("The stock snapshot of cloud warehouse %(warehouse)s failed: %(error)s")
                % {"warehouse": warehouse.code, "error": exc},
                payload={"warehouse": warehouse.code, "snapshot_id": snapshot.pk},
            )
        return snapshot

    ours = our_on_hand(warehouse)
    differing = sorted(code for code in set(ours) | set(theirs) if ours.get(code, 0) != theirs.get(code, 0))
    skus = dict(SKU.objects.filter(code__in=differing).values_list("code", "pk"))
    with transaction.atomic():
        snapshot = WmsStockSnapshot.objects.create(
            warehouse=warehouse, taken_at=taken_at, sku_count=len(theirs), difference_count=len(differing)
        )
        WmsStockDifference.objects.bulk_create(
            WmsStockDifference(
                snapshot=snapshot,
                sku_id=skus.get(code),
                sku_code=code,
                ours=ours.get(code, 0),
                theirs=theirs.get(code, 0),
            )
            for code in differing
        )
        alert_resolve(key=failure_alert_key(warehouse))
        if differing:
            alert_raise(
                kind="wms_stock_difference",
                key=difference_alert_key(warehouse),
                role=Role.WAREHOUSE,
                message=_("Cloud warehouse %(warehouse)s: %(count)s SKU(s) differ from our stock (#%(id)s).")
                % {"warehouse": warehouse.code, "count": len(differing), "id": snapshot.pk},
                payload={
                    "warehouse": warehouse.code,
                    "snapshot_id": snapshot.pk,
                    "differences": len(differing),
                },
            )
        else:
            alert_resolve(key=difference_alert_key(warehouse))
    return snapshot
