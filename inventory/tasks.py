import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from core.handoff import RETRY_ON_INFRASTRUCTURE, publish
from inventory import reconciliation, reservations, stock_push

logger = logging.getLogger(__name__)

PUSH_SCHEDULED = "inventory:stock-push-scheduled"


def schedule_stock_push() -> bool:
    """Called on commit after stock changes: one push per debounce window, however many changes.
    It runs after the change committed, so it never raises: with the broker down the failure is
    logged and the window released for the next change to try again; the SKUs stay pending and
    the periodic push_stock job sends them meanwhile. True when a push is scheduled for this
    window (by this call or an earlier one)."""
    try:
        first_in_window = cache.add(PUSH_SCHEDULED, 1, timeout=settings.STOCK_PUSH_DEBOUNCE_SECONDS)
    except Exception as exc:  # noqa: BLE001 — a cache outage must not fail a committed change either
        logger.warning(
            "stock push not scheduled, the cache is unavailable (%r): the periodic push sends it", exc
        )
        return False
    if first_in_window and not publish(push_stock, countdown=settings.STOCK_PUSH_DEBOUNCE_SECONDS):
        cache.delete(PUSH_SCHEDULED)
        return False
    return True


@shared_task(acks_late=True)
def push_stock() -> int:
    return stock_push.push_pending_stock()


@shared_task(acks_late=True)
def expire_reservations() -> int:
    return reservations.reservations_expire_sweep()


@shared_task(acks_late=True)
def reconcile_stock() -> int:
    return len(reconciliation.stock_reconcile(repair=True))


@shared_task(acks_late=True, **RETRY_ON_INFRASTRUCTURE)
def read_cycle_count_upload(upload_id: int) -> str:
    """Read an uploaded count sheet into a draft count, or refuse it; a second delivery does nothing."""
    from inventory.cycle_counts.uploads import cycle_count_upload_read

    return cycle_count_upload_read(upload_id=upload_id).state


@shared_task
def sweep_cycle_count_uploads() -> int:
    """Every minute: hand count sheets whose reading never ran or died to a worker again."""
    from inventory.cycle_counts.uploads import cycle_count_uploads_sweep

    return len(cycle_count_uploads_sweep().handed_over)
