from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from inventory import reconciliation, reservations, stock_push


def schedule_stock_push() -> None:
    """Called on commit after stock changes: one push per debounce window, however many changes."""
    if cache.add("inventory:stock-push-scheduled", 1, timeout=settings.STOCK_PUSH_DEBOUNCE_SECONDS):
        push_stock.apply_async(countdown=settings.STOCK_PUSH_DEBOUNCE_SECONDS)


@shared_task(acks_late=True)
def push_stock() -> int:
    return stock_push.push_pending_stock()


@shared_task(acks_late=True)
def expire_reservations() -> int:
    return reservations.reservations_expire_sweep()


@shared_task(acks_late=True)
def reconcile_stock() -> int:
    return len(reconciliation.stock_reconcile(repair=True))
