from celery import shared_task

from core.handoff import RETRY_ON_INFRASTRUCTURE


@shared_task(acks_late=True, **RETRY_ON_INFRASTRUCTURE)
def process_tracking_push(message_id: int) -> str:
    """Apply one stored tracking push; safe to run twice (the service locks the message).
    A database error is retried with backoff; the inbound sweeper is the net behind it."""
    from integrations.carriers.services import tracking_message_process
    from integrations.services import inbound_message_note_error

    try:
        return tracking_message_process(message_id).status
    except Exception as exc:
        inbound_message_note_error(message_id, exc)
        raise


@shared_task
def poll_tracking() -> int:
    """Poll parcels on their way that no push has told us about for a while."""
    from integrations.carriers.services import tracking_poll_due

    return tracking_poll_due()
