"""A process that ingests every web process's single order POSTs in batches
(orders.api.intake_writer). Run two beside the web servers when ORDER_INTAKE_WRITER_URL is set:
each takes what is waiting whenever it is free, so one stores its batch while the other waits on
PostgreSQL — a writer alone spent about half of each batch waiting on round trips (measured on 2
cores, single POSTs from 16 clients to gunicorn 4×8 as bench/http_ingest.py sends them, the
shapes alternated: 198–217 orders/s with one writer, 226–240 with two, 171–209 with three, which
only split the batches further and competed for the CPU). Any number is safe: intake is
idempotent, and concurrent batches take their rows in one order. While none runs, each POST waits
ORDER_INTAKE_WRITER_TIMEOUT_SECONDS and is then ingested by its web process. SIGTERM or Ctrl-C
finishes the batch in hand, answers it, and stops."""

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
