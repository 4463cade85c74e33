from celery import shared_task

from dashboard.health import held_snapshot_refresh
from dashboard.rollups import rollup_refresh


@shared_task(acks_late=True)
def refresh_dashboard_rollups() -> int:
    """The day rollups, then the held-orders snapshot of the order-health view (both idempotent)."""
    days = rollup_refresh()
    held_snapshot_refresh()
    return days
