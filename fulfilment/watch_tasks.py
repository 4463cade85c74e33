"""Beat jobs of the fulfilment watches; each is idempotent and safe to run twice at once."""

from celery import shared_task


@shared_task
def watch_first_scan() -> dict:
    from fulfilment.watches import first_scan_watch

    raised, resolved = first_scan_watch()
    return {"raised": raised, "resolved": resolved}


@shared_task
def evaluate_sla() -> dict:
    from fulfilment.sla import sla_evaluate

    return sla_evaluate()


@shared_task
def dispatch_staff_alerts() -> int:
    """Every minute: new alerts to their roles' SMS and WeCom routes (fulfilment.staff_alerts)."""
    from fulfilment.staff_alerts import staff_alerts_dispatch

    return staff_alerts_dispatch()
