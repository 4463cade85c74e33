from celery import shared_task

from orders import services
from orders.dashboard.rollups import rollup_refresh


@shared_task(acks_late=True)
def refresh_customer_stats(*customer_ids: int) -> None:
    services.customer_refresh_stats(customer_ids=list(customer_ids))


@shared_task(acks_late=True)
def auto_complete_delivered_orders() -> int:
    return services.orders_auto_complete()


@shared_task(acks_late=True)
def refresh_dashboard_rollups() -> int:
    return rollup_refresh()
