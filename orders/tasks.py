from celery import shared_task

from orders import jobs, replenishment


@shared_task(acks_late=True)
def refresh_customer_stats(*customer_ids: int) -> None:
    jobs.customer_refresh_stats(customer_ids=list(customer_ids))


@shared_task(acks_late=True)
def refresh_stale_customer_stats() -> int:
    """Every 15 minutes: customer stats whose refresh task was lost (the broker was down)."""
    return jobs.customers_refresh_stale_stats()


@shared_task(acks_late=True)
def auto_complete_delivered_orders() -> int:
    return jobs.orders_auto_complete()


@shared_task(acks_late=True)
def suggest_replenishment() -> int:
    return replenishment.replenishment_refresh()
