"""Where each channel's polling stands (a selector for the sync status screen): its cursor and
lag, the last run and error, who holds the channel's lease (its sync or a re-pull), and its
latest re-pull."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from catalog.models import Channel
from integrations.models import REPULL_ACTIVE_STATES, ChannelRepull, RepullState, SyncCursor
from integrations.repull import repull_refusal


@dataclass(frozen=True)
class ChannelSync:
    channel: Channel
    pollable: bool  # active, with a platform client and credentials: the sync polls it
    cursor: datetime | None  # every order updated before it has been read
    lag: timedelta | None  # how far behind the platform (None before the first complete run)
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    next_run_at: datetime | None  # set while backing off a rate limit
    lease_until: datetime | None  # set while a run holds the channel
    lease_repull: ChannelRepull | None  # the re-pull holding it (None: its sync, when leased)
    latest_repull: ChannelRepull | None
    active_repull: ChannelRepull | None  # queued or running

    @property
    def leased(self) -> bool:
        return self.lease_until is not None


def channel_sync_states(*, now: datetime | None = None) -> list[ChannelSync]:
    """Every channel with its polling state, by code (a handful of queries, whatever the count)."""
    now = now or timezone.now()
    channels = list(Channel.objects.order_by("code"))
    cursors = {cursor.channel_id: cursor for cursor in SyncCursor.objects.all()}
    newest = (
        ChannelRepull.objects.values("channel_id").annotate(newest=Max("id")).values_list("newest", flat=True)
    )
    latest = {
        run.channel_id: run
        for run in ChannelRepull.objects.filter(pk__in=list(newest)).select_related("requested_by")
    }
    active = {
        run.channel_id: run
        for run in ChannelRepull.objects.filter(state__in=REPULL_ACTIVE_STATES).select_related("requested_by")
    }
    rows = []
    for channel in channels:
        cursor = cursors.get(channel.pk)
        leased = cursor is not None and cursor.lease_until is not None and cursor.lease_until > now
        holder = active.get(channel.pk)
        holder = (
            holder
            if leased
            and holder
            and holder.state == RepullState.RUNNING
            and holder.lease_token == cursor.lease_token
            else None
        )
        position = cursor.cursor if cursor else None
        rows.append(
            ChannelSync(
                channel=channel,
                pollable=not repull_refusal(channel),
                cursor=position,
                lag=max(now - position, timedelta(0)) if position else None,
                last_run_at=cursor.last_run_at if cursor else None,
                last_success_at=cursor.last_success_at if cursor else None,
                last_error=cursor.last_error if cursor else "",
                next_run_at=cursor.next_run_at
                if cursor and cursor.next_run_at and cursor.next_run_at > now
                else None,
                lease_until=cursor.lease_until if leased else None,
                lease_repull=holder,
                latest_repull=latest.get(channel.pk),
                active_repull=active.get(channel.pk),
            )
        )
    return rows


def channel_repulls(*, channel: Channel | None = None, limit: int = 20) -> list[ChannelRepull]:
    """The latest re-pulls, newest first (of one channel, or of all)."""
    runs = ChannelRepull.objects.select_related("channel", "requested_by").order_by("-requested_at", "-id")
    if channel is not None:
        runs = runs.filter(channel=channel)
    return list(runs[:limit])
