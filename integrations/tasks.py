from celery import shared_task

from integrations import services


@shared_task(acks_late=True)
def process_inbound_message(message_id: int) -> str:
    """Map and ingest one stored webhook; safe to run twice (the service locks the message)."""
    return services.inbound_message_process(message_id).status


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
