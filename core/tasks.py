from celery import shared_task

from core.outbox import outbox_deliver, outbox_sweep


@shared_task(acks_late=True)
def deliver_outbox_message(message_id: int) -> str:
    return outbox_deliver(message_id)


@shared_task(acks_late=True)
def sweep_outbox() -> int:
    return outbox_sweep()
