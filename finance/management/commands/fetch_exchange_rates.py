from django.core.management.base import BaseCommand, CommandError

from finance.rates.ecb import EcbProvider
from finance.rates.providers import RateSourceError
from finance.rates.services import rates_fetch


class Command(BaseCommand):
    help = (
        "Fetch the ECB's euro reference rates as rates to BUSINESS_CURRENCY (new days only; stored rates "
        "are kept), then convert payments that were waiting for a rate."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--history",
            action="store_true",
            help="The last 90 days (eurofxref-hist-90d.xml), not the latest day.",
        )

    def handle(self, *args, history=False, **options):
        try:
            fetched = rates_fetch(provider=EcbProvider(), history=history or None)
        except RateSourceError as exc:
            raise CommandError(exc.message) from exc
        first, last = (fetched.days[0], fetched.days[-1]) if fetched.days else ("-", "-")
        self.stdout.write(
            f"{fetched.added} rate(s) added for {len(fetched.days)} day(s) ({first} … {last}); "
            f"{fetched.payments_filled} payment(s) converted"
        )
