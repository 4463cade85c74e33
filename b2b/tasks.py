from celery import shared_task

from b2b import schedule


@shared_task(name="b2b.tasks.release_due_deliveries", acks_late=True)
def release_due_deliveries() -> int:
    """Every 10 minutes: scheduled deliveries that are due go to fulfilment (b2b.schedule)."""
    return schedule.schedule_release_due()
