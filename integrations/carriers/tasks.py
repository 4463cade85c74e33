from celery import shared_task


@shared_task(acks_late=True)
def process_tracking_push(message_id: int) -> str:
    """Apply one stored tracking push; safe to run twice (the service locks the message)."""
    from integrations.carriers.services import tracking_message_process

    return tracking_message_process(message_id).status


@shared_task
def poll_tracking() -> int:
    """Poll parcels on their way that no push has told us about for a while."""
    from integrations.carriers.services import tracking_poll_due

    return tracking_poll_due()
