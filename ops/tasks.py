from celery import shared_task

from ops import heartbeats, watch


# No late ack and a short expiry: a heartbeat that waited in the queue is news of nothing.
@shared_task(name="ops.beat_heartbeat", acks_late=False, expires=60)
def beat_heartbeat() -> None:
    heartbeats.heartbeat_record(heartbeats.BEAT)


@shared_task(name="ops.health_watch", acks_late=True, expires=120)
def health_watch() -> dict:
    result = watch.health_watch()
    return {"raised": result.raised, "resolved": result.resolved}
