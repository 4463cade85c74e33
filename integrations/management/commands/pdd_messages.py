import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Channel, Platform
from core.http import PlatformError
from integrations.pdd.messages import PddMessageClient


class Command(BaseCommand):
    help = (
        "Listen to Pinduoduo's message service (a WebSocket) for a channel's app: every message is "
        "stored, then acknowledged, and its order read and ingested by a worker (queue of "
        "integrations.tasks.process_inbound_message). A long-lived process: run one per app under a "
        "process supervisor; it reconnects by itself and stops on SIGTERM or Ctrl-C. Polling stays "
        "the safety net."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="the code of a Pinduoduo channel")

    def handle(self, *args, **options):
        channel = Channel.objects.filter(code=options["channel"], platform=Platform.PDD).first()
        if channel is None:
            raise CommandError(f"No Pinduoduo channel {options['channel']!r}.")
        if not channel.is_active:
            raise CommandError(f"Channel {channel.code} is not active.")
        try:
            client = PddMessageClient(channel)
        except PlatformError as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_args: stop.set())
        self.stdout.write(f"Listening to Pinduoduo messages for {channel.code} (app {client.client_id}).")
        counts = client.run(stop=stop)
        self.stdout.write(
            f"Stopped: {counts.connections} connections, {counts.stored} messages stored, "
            f"{counts.duplicates} duplicates, {counts.acked} acknowledged, {counts.not_stored} not stored."
        )
