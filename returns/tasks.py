"""Scheduled returns work (config/beat.py). Each task calls one idempotent service."""

from celery import shared_task

from returns import decisions, disposition


@shared_task(acks_late=True)
def alert_overdue_rechecks() -> int:
    return disposition.alert_overdue_rechecks()


@shared_task(acks_late=True)
def close_settled_returns() -> int:
    return decisions.rmas_close_settled()
