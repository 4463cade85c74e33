from celery import shared_task

from dashboard.rollups import rollup_refresh


@shared_task(acks_late=True)
def refresh_dashboard_rollups() -> int:
    return rollup_refresh()
