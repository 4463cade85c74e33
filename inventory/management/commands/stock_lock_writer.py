"""The one process that writes every web process's checkout locks in batches (inventory.lock_writer).
Run exactly one beside the web servers when STOCK_LOCK_WRITER_URL is set (a second one is safe —
each batch holds the same no-oversell rules — but halves the batches). SIGTERM or Ctrl-C finishes
the batch in hand, answers it, and stops."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.batch_writer import add_linger_argument, serve_until_stopped
from inventory import lock_writer


class Command(BaseCommand):
    help = "Write every web process's checkout locks in batches (when STOCK_LOCK_WRITER_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--max-batch", type=int, default=256)
        add_linger_argument(parser, default_ms=2.0)

    def handle(self, *args, max_batch, linger_ms, **options):
        if not settings.STOCK_LOCK_WRITER_URL:
            raise CommandError("STOCK_LOCK_WRITER_URL is not set: each web process batches its own locks.")
        queue = lock_writer.writer_queue()
        self.stdout.write(f"Writing checkout locks from {queue.queue} (batches of up to {max_batch}).")
        linger = linger_ms / 1000
        serve_until_stopped(queue, lock_writer.settle_lock_items, max_batch=max_batch, linger=linger)
