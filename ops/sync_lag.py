"""How far behind its platform each polled channel is (integrations.models.SyncCursor). A channel
the sync no longer polls (switched off, its credentials removed) keeps its cursor, and is listed
as not polled: it is not behind, it is not read."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.models import SyncCursor
from integrations.sync import pollable_channel_ids


@dataclass(frozen=True)
class ChannelLag:
    channel_id: int
    code: str
    is_active: bool
    lag: timedelta | None  # None before the first successful run
    last_success_at: datetime | None
    failing: bool  # the last run ended in an error
    polled: bool = True  # the sync polls it (integrations.sync.pollable_channel_ids)
    last_error: str = ""


def channel_sync_lags(*, now: datetime | None = None) -> list[ChannelLag]:
    now = now or timezone.now()
    polled = set(pollable_channel_ids())
    cursors = SyncCursor.objects.select_related("channel").order_by("channel__code")
    return [
        ChannelLag(
            channel_id=cursor.channel_id,
            code=cursor.channel.code,
            is_active=cursor.channel.is_active,
            lag=max(now - cursor.cursor, timedelta(0)) if cursor.cursor else None,
            last_success_at=cursor.last_success_at,
            failing=bool(cursor.last_error),
            polled=cursor.channel_id in polled,
            last_error=cursor.last_error,
        )
        for cursor in cursors
    ]
