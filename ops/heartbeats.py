"""Heartbeats: a periodic task records that it ran; the health check reads how long ago.

Beat's heartbeat is a task beat sends every 30 seconds and a worker runs, so a stale heartbeat
means beat stopped or no worker takes its tasks (the queue depths tell which)."""

from datetime import datetime, timedelta

from django.utils import timezone

from ops.models import Heartbeat

BEAT = "beat"


def heartbeat_record(name: str = BEAT, *, at: datetime | None = None) -> None:
    """One upsert (INSERT … ON CONFLICT DO UPDATE): safe however many workers run it at once."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=name, beat_at=at or timezone.now())],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["beat_at"],
    )


def heartbeat_age(name: str = BEAT, *, now: datetime | None = None) -> timedelta | None:
    """How long ago the heartbeat was recorded; None when it never was."""
    beat_at = Heartbeat.objects.filter(name=name).values_list("beat_at", flat=True).first()
    if beat_at is None:
        return None
    return max((now or timezone.now()) - beat_at, timedelta(0))
