"""The one process that ingests every web process's single order POSTs in batches
(orders.api.intake_writer). Run one beside the web servers when ORDER_INTAKE_WRITER_URL is set (a
second one is safe — intake is idempotent — but halves the batches; while none runs, each POST
waits ORDER_INTAKE_WRITER_TIMEOUT_SECONDS and is then ingested by its web process). SIGTERM or
Ctrl-C finishes the batch in hand, answers it, and stops."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.batch_writer import add_linger_argument, serve_until_stopped
from orders.api import intake_writer


class Command(BaseCommand):
    help = "Ingest every web process's single order POSTs in batches (when ORDER_INTAKE_WRITER_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--max-batch", type=int, default=128)
        add_linger_argument(parser, default_ms=0.0)

    def handle(self, *args, max_batch, linger_ms, **options):
        if not settings.ORDER_INTAKE_WRITER_URL:
            raise CommandError("ORDER_INTAKE_WRITER_URL is not set: each web process ingests its own orders.")
        queue = intake_writer.writer_queue()
        self.stdout.write(f"Ingesting orders from {queue.queue} (batches of up to {max_batch}).")
        linger = linger_ms / 1000
        serve_until_stopped(queue, intake_writer.settle_order_items, max_batch=max_batch, linger=linger)
