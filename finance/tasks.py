from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from core.handoff import RETRY_ON_INFRASTRUCTURE
from finance.providers.wechatpay_client import certificates_refresh, configured
from finance.revenue import revenue_backfill

BACKFILL_LOOKBACK = timedelta(days=3)


@shared_task
def backfill_revenue() -> int:
    """Revenue lines for orders paid recently without them (paid on the platform); idempotent."""
    return revenue_backfill(since=timezone.now() - BACKFILL_LOOKBACK)


@shared_task
def validate_import(batch_id: int) -> str:
    """Check an uploaded statement row by row (progress on the batch); idempotent."""
    from finance.imports.services import import_validate

    return import_validate(batch_id=batch_id).state


@shared_task(**RETRY_ON_INFRASTRUCTURE)
def commit_import(batch_id: int) -> str:
    """Insert a confirmed statement, all or nothing; a second delivery finds it done."""
    from finance.imports.services import import_commit

    return import_commit(batch_id=batch_id).state


@shared_task(**RETRY_ON_INFRASTRUCTURE)
def run_reconciliation(run_id: int) -> str:
    """Do a queued run; a database error puts it back in the queue and is retried."""
    from finance.reconciliation.services import reconciliation_execute

    return reconciliation_execute(run_id=run_id).state


@shared_task
def reconcile_nightly() -> str:
    """Reconcile yesterday's month (business time); joins a run already under way."""
    from finance.reconciliation.services import reconciliation_nightly

    return reconciliation_nightly().state


@shared_task
def sweep_finance_handoffs() -> int:
    """Every minute: hand imports and reconciliation runs whose task never ran or died to a
    worker again; returns how many were handed over."""
    from finance.imports.recovery import imports_sweep
    from finance.reconciliation.recovery import runs_sweep

    return len(imports_sweep().handed_over) + len(runs_sweep().handed_over)


@shared_task
def fetch_exchange_rates(history: bool | None = None) -> str:
    """Daily: the ECB's reference rates (the recent history when the last fetch is days old), then
    the rate of payments that were waiting for one. A failure is alerted to finance (nothing is
    stored) and the next run catches up."""
    from finance.rates.ecb import EcbProvider
    from finance.rates.providers import RateSourceError
    from finance.rates.services import rates_fetch

    try:
        fetched = rates_fetch(provider=EcbProvider(), history=history)
    except RateSourceError as exc:
        return f"failed: {exc.message}"
    days, filled = len(fetched.days), fetched.payments_filled
    return f"{fetched.added} rates added for {days} days; {filled} payments converted"


@shared_task
def fill_payment_rates() -> int:
    """Hourly (and after each rate import or fetch): fix the rate of payments recorded before
    their rate was known; returns how many were converted."""
    from finance.rates.services import payment_rates_fill

    return payment_rates_fill()


@shared_task
def refresh_wechatpay_certificates() -> int:
    """Download WeChat Pay's platform certificates (GET /v3/certificates) so a new one is known
    before it signs anything; idempotent. 0 when WeChat Pay is not configured."""
    return len(certificates_refresh()) if configured() else 0


@shared_task
def poll_invoices() -> int:
    """E-invoices issuing and red-letters sent: their results from the provider; idempotent."""
    from finance.invoices.services import invoices_poll

    return invoices_poll()
