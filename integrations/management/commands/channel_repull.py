import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from catalog.models import Channel
from core.errors import DomainError
from integrations.models import ChannelRepull, RepullState
from integrations.repull import (
    ChannelBusy,
    channel_repull,
    channel_repull_request,
    repull_counts_text,
    repull_window,
)

BUSY_POLL_SECONDS = 2


class Command(BaseCommand):
    help = (
        "Re-fetch every order a channel's platform updated in a time window and take it again through "
        "the polling path (idempotent: an order seen before changes nothing unless the platform's "
        "version is newer). The channel's cursor is not moved. Times are ISO 8601; a time without a "
        "UTC offset is read in the channel's time zone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="the channel's code")
        parser.add_argument("--since", required=True, help="e.g. 2026-03-08T00:00 or 2026-03-08T00:00+08:00")
        parser.add_argument("--until", required=True, help="end of the window (not included)")
        parser.add_argument(
            "--async",
            dest="queue",
            action="store_true",
            help='queue the re-pull for a worker (queue "sync") instead of running it here',
        )
        parser.add_argument(
            "--user", help="the username the re-pull is recorded for (needs the re-pull permission)"
        )
        parser.add_argument(
            "--wait",
            type=int,
            default=60,
            help="seconds to wait for a channel busy with its sync before giving up (default 60)",
        )

    def handle(self, *args, **options):
        channel = Channel.objects.filter(code=options["channel"]).first()
        if channel is None:
            raise CommandError(f"--channel: no channel with code {options['channel']!r}.")
        actor = _user(options["user"])
        try:
            window = repull_window(channel, options["since"], options["until"])
        except DomainError as exc:
            raise _error(exc) from None
        self.stdout.write(
            f"Channel {channel.code} ({channel.get_platform_display()}): orders updated from "
            f"{_shown(window.since, channel)} to {_shown(window.until, channel)}."
        )
        if window.zone:
            self.stdout.write(window.notice())
        if options["queue"]:
            try:
                run = channel_repull_request(
                    channel=channel, since=window.since, until=window.until, actor=actor, via="command"
                )
            except DomainError as exc:
                raise _error(exc) from None
            url = reverse("integrations_desk:repull", args=[run.pk])
            self.stdout.write(f'Re-pull #{run.pk} queued for a worker (queue "sync"); follow it at {url}')
            return
        run = self._run(channel, window, actor, options["wait"])
        self.stdout.write(f"Re-pull #{run.pk} {run.get_state_display().lower()}: {repull_counts_text(run)}.")
        if run.pages_fetched:
            self.stdout.write(f"Pages fetched: {run.pages_fetched}.")
        for error in run.errors:
            self.stdout.write(f"  failed: message #{error['message']} {error['dedupe_id']}: {error['error']}")
        if run.failed > len(run.errors):
            self.stdout.write(f"  … and {run.failed - len(run.errors)} more in the failed queue.")
        if run.state != RepullState.DONE:
            raise CommandError(run.message or "The re-pull did not finish.")

    def _run(self, channel, window, actor, wait: int) -> ChannelRepull:
        deadline = time.monotonic() + max(wait, 0)
        said = False
        while True:
            try:
                return channel_repull(channel=channel, since=window.since, until=window.until, actor=actor)
            except ChannelBusy as exc:
                if time.monotonic() >= deadline:
                    raise _error(exc) from None
                if not said:
                    self.stdout.write(f"{exc.message} Waiting up to {wait} s…")
                    said = True
                time.sleep(BUSY_POLL_SECONDS)
            except DomainError as exc:
                raise _error(exc) from None


def _user(username: str | None):
    if not username:
        return None  # the system, like the polling sync
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"--user: no active user {username!r}.")
    return user


def _error(exc: DomainError) -> CommandError:
    return CommandError(f"--{exc.field}: {exc.message}" if exc.field else exc.message)


def _shown(moment, channel) -> str:
    local = timezone.localtime(moment, channel.time_zone)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({local:%Y-%m-%d %H:%M:%S} {channel.time_zone})"
