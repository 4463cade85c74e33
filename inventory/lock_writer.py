"""Checkout locks through one writer process (issue #18, hot SKU in the deployed shape). With
STOCK_LOCK_WRITER_URL set (a Redis URL), every web process hands its lock request to the single
`manage.py stock_lock_writer` process (core.batch_writer), which settles whatever is waiting as one
batch — the same `stock_lock_batch`, with the same one-by-one retry when a batch fails as a whole,
as the in-process group commit — and answers each caller after its lock committed. Unset, each
process batches its own callers (inventory.locks)."""

import logging
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.batch_writer import BatchWriterQueue, WriterUnavailable
from core.errors import DomainError
from inventory.reservations import HeldLock

logger = logging.getLogger(__name__)
QUEUE = "stock-locks"


@cache
def _queue(url: str, name: str) -> BatchWriterQueue:
    return BatchWriterQueue(
        url,
        name,
        unavailable=gettext_lazy("The stock service is unavailable; try again."),
        late=gettext_lazy("The stock service did not answer in time; try again."),
    )


def writer_queue() -> BatchWriterQueue:
    return _queue(settings.STOCK_LOCK_WRITER_URL, QUEUE)


def remote_stock_lock(request):
    """The web side: the writer's answer as the LockResult the in-process path returns."""
    from inventory.locks import LockResult

    answer = writer_queue().call(_item(request), timeout=settings.STOCK_LOCK_WRITER_TIMEOUT_SECONDS)
    if "error" in answer:
        error = answer["error"]
        if error.get("retry"):
            raise WriterUnavailable(error["message"])
        raise DomainError(error["message"], field=error["field"])
    locks = [
        HeldLock(
            pk=lock["id"],
            fingerprint=lock["fingerprint"],
            sku_id=lock["sku_id"],
            quantity=lock["quantity"],
            expires_at=parse_datetime(lock["expires_at"]),
            reference=lock["reference"],
            channel_id=request.channel_id,
        )
        for lock in answer["locks"]
    ]
    return LockResult(locks=locks, short=answer["short"])


def settle_lock_items(items: list[dict]) -> list[dict]:
    """The writer side: one batch for every request taken, an answer for each."""
    from inventory.locks import LockRequest, settle_locks

    requests = [
        LockRequest(
            channel_id=item["channel_id"],
            lines=[tuple(line) for line in item["lines"]],
            reference=item["reference"],
            ttl=timedelta(seconds=item["ttl_seconds"]),
        )
        for item in items
    ]
    return [_answer(result, error) for result, error in settle_locks(requests)]


def _item(request) -> dict:
    return {
        "channel_id": request.channel_id,
        "lines": [list(line) for line in request.lines],
        "reference": request.reference,
        "ttl_seconds": request.ttl.total_seconds(),
    }


def _answer(result, error) -> dict:
    if isinstance(error, DomainError):
        return {"error": {"message": error.message, "field": error.field}}
    if error is not None:  # not the caller's doing (the database went away…): nothing was stored
        logger.error("stock lock request failed in the writer", exc_info=error)
        return {"error": {"message": _("The stock service failed; try again."), "field": None, "retry": True}}
    return {
        "locks": [
            {
                "id": lock.pk,
                "fingerprint": lock.fingerprint,
                "sku_id": lock.sku_id,
                "quantity": lock.quantity,
                "expires_at": lock.expires_at.isoformat(),
                "reference": lock.reference,
            }
            for lock in result.locks
        ],
        "short": list(result.short),
    }
