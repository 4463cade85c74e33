from celery import shared_task

from core.handoff import RETRY_ON_INFRASTRUCTURE
from integrations import services


@shared_task(acks_late=True, **RETRY_ON_INFRASTRUCTURE)
def process_inbound_message(message_id: int) -> str:
    """Map and ingest one stored webhook; safe to run twice (the service locks the message).
    A database error is retried with backoff; the error is kept on the message meanwhile."""
    try:
        return services.inbound_message_process(message_id).status
    except Exception as exc:
        services.inbound_message_note_error(message_id, exc)
        raise


@shared_task(acks_late=True)
def sweep_inbound_messages() -> int:
    """Every minute: hand messages whose processing never ran or died to a worker again."""
    return len(services.inbound_messages_sweep().handed_over)


@shared_task
def sync_channels() -> int:
    """Poll every pollable channel, each in its own task so a slow platform delays only itself."""
    from integrations.sync import pollable_channel_ids

    channel_ids = pollable_channel_ids()
    for channel_id in channel_ids:
        sync_channel.delay(channel_id)
    return len(channel_ids)


@shared_task
def sync_channel(channel_id: int) -> str:
    """One polling run; safe to run twice at once (the second answers "busy")."""
    from integrations.sync import channel_sync

    return channel_sync(channel_id=channel_id).status


@shared_task(acks_late=True, **RETRY_ON_INFRASTRUCTURE)
def read_order_upload(upload_id: int) -> str:
    """Read an uploaded order file into its preview, or refuse it; a second delivery does nothing."""
    from integrations.uploads import order_upload_read

    return order_upload_read(upload_id=upload_id).state


@shared_task
def sweep_order_uploads() -> int:
    """Every minute: hand order files whose reading never ran or died to a worker again; drop
    uploads older than a day."""
    from integrations.uploads import order_uploads_sweep

    return len(order_uploads_sweep().handed_over)
