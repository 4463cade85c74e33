from celery import shared_task

from integrations import services


@shared_task(acks_late=True)
def process_inbound_message(message_id: int) -> str:
    """Map and ingest one stored webhook; safe to run twice (the service locks the message)."""
    return services.inbound_message_process(message_id).status
