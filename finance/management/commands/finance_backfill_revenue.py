from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from core.timezones import business_zone
from finance.revenue import revenue_backfill


class Command(BaseCommand):
    help = "Write revenue lines for paid orders that have none (idempotent; safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only orders paid on or after this business date (YYYY-MM-DD).")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, since=None, batch_size=500, **options):
        moment = None
        if since:
            try:
                day = parse_date(since)
            except ValueError:
                day = None
            if day is None:
                raise CommandError(f"--since: expected YYYY-MM-DD, got {since!r}")
            moment = datetime.combine(day, time.min, tzinfo=business_zone())
        if batch_size < 1:
            raise CommandError("--batch-size: at least 1")
        done = revenue_backfill(since=moment, batch_size=batch_size)
        self.stdout.write(f"revenue lines written for {done} order(s)")
