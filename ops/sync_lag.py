"""How far behind its platform each polled channel is (integrations.models.SyncCursor)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.models import SyncCursor


@dataclass(frozen=True)
class ChannelLag:
    channel_id: int
    code: str
    is_active: bool
    lag: timedelta | None  # None before the first successful run
    last_success_at: datetime | None
    failing: bool  # the last run ended in an error


def channel_sync_lags(*, now: datetime | None = None) -> list[ChannelLag]:
    now = now or timezone.now()
    cursors = SyncCursor.objects.select_related("channel").order_by("channel__code")
    return [
        ChannelLag(
            channel_id=cursor.channel_id,
            code=cursor.channel.code,
            is_active=cursor.channel.is_active,
            lag=max(now - cursor.cursor, timedelta(0)) if cursor.cursor else None,
            last_success_at=cursor.last_success_at,
            failing=bool(cursor.last_error),
        )
        for cursor in cursors
    ]
