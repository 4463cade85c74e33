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


@shared_task
def sync_after_sales() -> int:
    """Poll the after-sales requests of every channel whose platform has them, one task each."""
    from integrations.after_sales import after_sale_channel_ids

    channel_ids = after_sale_channel_ids()
    for channel_id in channel_ids:
        sync_channel_after_sales.delay(channel_id)
    return len(channel_ids)


@shared_task
def sync_channel_after_sales(channel_id: int) -> str:
    """One after-sales polling run; safe to run twice at once (the second answers "busy")."""
    from integrations.after_sales import after_sales_sync

    return after_sales_sync(channel_id=channel_id).status


@shared_task
def sync_taobao_messages() -> int:
    """Every 30 s: consume the Taobao message service (TMC) of each channel that has it switched
    on, each channel in its own task (integrations.taobao.tmc)."""
    from integrations.taobao.tmc import tmc_channel_ids

    channel_ids = tmc_channel_ids()
    for channel_id in channel_ids:
        sync_taobao_channel_messages.delay(channel_id)
    return len(channel_ids)


@shared_task
def sync_taobao_channel_messages(channel_id: int) -> str:
    """One TMC run of a channel: messages stored, confirmed, their trades read and ingested."""
    from integrations.taobao.tmc import channel_messages_consume

    return channel_messages_consume(channel_id=channel_id).status


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


@shared_task(acks_late=True, **RETRY_ON_INFRASTRUCTURE)
def sync_repull(run_id: int) -> str:
    """Run a re-pull queued from the desk (queue "sync"). A channel busy with its sync leaves the
    run queued: the sweeper hands it over again once the channel's lease is free."""
    from integrations.repull import channel_repull_run

    return channel_repull_run(run_id=run_id).state


@shared_task(acks_late=True)
def sweep_repulls() -> int:
    """Every minute: hand re-pulls left waiting (a busy channel, a lost task, a dead worker) to a
    worker again."""
    from integrations.repull import channel_repulls_sweep

    return len(channel_repulls_sweep().handed_over)
