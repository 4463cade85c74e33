"""Returns work in the background: scheduled jobs (config/beat.py) and the OCR of attached images.
Each task calls one idempotent service."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils.translation import gettext as _

from returns import decisions, disposition, evidence

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def alert_overdue_rechecks() -> int:
    return disposition.alert_overdue_rechecks()


@shared_task(acks_late=True)
def close_settled_returns() -> int:
    return decisions.rmas_close_settled()


@shared_task(
    bind=True,
    acks_late=True,
    max_retries=1,
    default_retry_delay=30,
    # returns.ocr.time_limit stops the read at RETURN_OCR_TIME_LIMIT; these are the worker's
    # backstop (soft: an exception in the task; hard: the child process is killed).
    soft_time_limit=settings.RETURN_OCR_TIME_LIMIT + 5,
    time_limit=settings.RETURN_OCR_TIME_LIMIT + 15,
)
def read_attachment(self, attachment_id: int):
    """OCR of an image attached to an RMA (settings.CELERY_TASK_ROUTES: the imports queue)."""
    try:
        return evidence.attachment_read(attachment_id=attachment_id)
    except SoftTimeLimitExceeded:
        return evidence.attachment_read_failed(
            attachment_id=attachment_id,
            error=_("Reading took longer than %(s)s seconds.") % {"s": settings.RETURN_OCR_TIME_LIMIT},
        )
    except Exception as exc:
        if self.request.retries < self.max_retries:
            # Not raised: a worker publishes the retry and this run ends; run eagerly (tests,
            # CELERY_TASK_ALWAYS_EAGER) the returned Retry makes apply() run it at once, where a
            # raised one would propagate to the caller under CELERY_TASK_EAGER_PROPAGATES.
            return self.retry(exc=exc, throw=False)
        logger.exception("Reading attachment %s failed", attachment_id)
        return evidence.attachment_read_failed(
            attachment_id=attachment_id,
            error=_("The reader failed: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"[:200]},
        )
