from django.core.management.base import BaseCommand

from inventory.reconciliation import stock_reconcile


class Command(BaseCommand):
    help = "Recompute stock balances from the movement ledger, report drift and repair it."

    def add_arguments(self, parser):
        parser.add_argument("--report-only", action="store_true", help="report drift, change nothing")

    def handle(self, *args, report_only, **options):
        drifts = stock_reconcile(repair=not report_only)
        for drift in drifts:
            self.stdout.write(
                f"{drift.sku_code} balance {drift.balance_id}: cached {drift.cached} "
                f"ledger {drift.ledger} reservations hold {drift.reservations_held}"
                + ("" if report_only or not drift.repairable else " → repaired")
            )
        self.stdout.write(f"{len(drifts)} balance(s) drifted.")
