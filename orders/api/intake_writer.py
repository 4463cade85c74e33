"""Single order POSTs through writer processes (issue #18: single POST ≥ 200 orders/s at 16
clients). With ORDER_INTAKE_WRITER_URL set (a Redis URL), `POST /api/v1/orders/` hands the order
as posted to the `manage.py order_intake_writer` processes (core.batch_writer; the README runs
two). A free writer takes every order waiting, from every web process, validates them with one
look-up of their channels and SKUs, ingests them through one `orders.intake` batch (one
transaction; when it fails as a whole, each order again on its own, exactly as the in-process
group commit does), reads the created orders' details with one round trip and answers each caller
with the status and body the in-process path gives, worded in the caller's language.

Why: an order ingested alone costs ~6.5 ms of Python and ~3 ms of database time; in a batch of
16, ~0.75 ms and ~0.5 ms. Inside one gunicorn process concurrent POSTs rarely overlap enough to
batch (they arrive staggered by their own authentication and parsing), so batches stayed near one.

Nothing acknowledged is lost: the caller is answered only after the writer committed. When the
writer does not answer within ORDER_INTAKE_WRITER_TIMEOUT_SECONDS (it is down, or Redis is), or
fails in a way that is not the order's fault, the web process ingests the order itself. That is
safe because intake is idempotent on (channel, external_id): an order the writer stored meanwhile
comes back as the known order (200). Unset, each web process ingests its own callers' orders
(orders.intake.order_submit)."""

import logging
from functools import cache

from django.conf import settings
from django.utils import translation
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer

from core.api.authentication import users_with_permissions_version
from core.api.exceptions import exception_handler
from core.batch_writer import BatchWriterQueue, WriterUnavailable
from orders import intake
from orders.api.bulk import field_errors, order_input
from orders.api.created_bodies import created_order_bodies
from orders.canonical import item_resolver

logger = logging.getLogger(__name__)
QUEUE = "order-intake"
RETRY = b"retry"  # not the order's fault: the web process ingests it itself
_renderer = JSONRenderer()


@cache
def _queue(url: str, name: str) -> BatchWriterQueue:
    return BatchWriterQueue(
        url,
        name,
        # only logged: the caller never sees them (its web process ingests the order instead)
        unavailable="the writer is unavailable",
        late="the writer did not answer in time",
    )


def writer_queue() -> BatchWriterQueue:
    return _queue(settings.ORDER_INTAKE_WRITER_URL, QUEUE)


def remote_order_submit(payload: dict, actor) -> tuple[int, bytes] | None:
    """The web side: (HTTP status, JSON body) as the writer answered this POSTed order — the bytes
    the API's JSON renderer gives —, or None when the caller must ingest it itself (see the module)."""
    item = {"payload": payload, "actor": actor.pk, "language": translation.get_language()}
    try:
        answer = writer_queue().call(item, timeout=settings.ORDER_INTAKE_WRITER_TIMEOUT_SECONDS, raw=True)
    except WriterUnavailable as exc:
        logger.warning("order intake writer: %s; ingesting in this process", exc.message)
        return None
    if answer == RETRY:
        return None
    status, _newline, body = answer.partition(b"\n")
    return int(status), body


def _encoded(status: int, body) -> bytes:
    """The writer's answer: the status on a line of its own, then the body as the API renders it."""
    return b"%d\n" % status + _renderer.render(body)


def settle_order_items(items: list[dict]) -> list[bytes]:
    """The writer side: an answer for each item taken."""
    return _stored_and_answered(_validated_by_language(items))


def _validated_by_language(items: list[dict]) -> list[tuple[str, list]]:
    """Per language, each item's answer already (invalid, or not the writer's to store) or what
    to ingest. Items are taken per language, so that everything worded for a caller (field
    errors, refusals, labels) is in its language."""
    by_language: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_language.setdefault(item.get("language") or settings.LANGUAGE_CODE, []).append(index)
    groups = []
    for language, indexes in by_language.items():
        with translation.override(language):
            outcomes = _validated([items[i] for i in indexes])
        groups.append((language, list(zip(indexes, outcomes, strict=True))))
    return groups


def _stored_and_answered(groups: list[tuple[str, list]]) -> list[bytes]:
    """The valid orders of each language ingested as one batch, and every answer."""
    answers: dict[int, bytes] = {}
    for language, outcomes in groups:
        with translation.override(language):
            submitted = [(index, outcome) for index, outcome in outcomes if not isinstance(outcome, bytes)]
            answers.update((index, outcome) for index, outcome in outcomes if isinstance(outcome, bytes))
            if not submitted:
                continue
            settled = intake.order_submit_many([submission for _index, submission in submitted])
            bodies = created_order_bodies(
                [result[0] for result, error in settled if error is None and result[1]]
            )
            for (index, _submission), (result, error) in zip(submitted, settled, strict=True):
                answers[index] = _answer(result, error, bodies)
    return [answers[index] for index in range(len(answers))]


def _validated(items: list[dict]) -> list:
    """Per item: (canonical order, actor) to ingest, or its answer already."""
    actors = users_with_permissions_version({item["actor"] for item in items})
    serializer = order_input()  # this thread's, for the batch's language
    # The batch's look-ups, for this batch only: the instance is shared with this thread's other
    # validations (bulk.validated_order), which must not see another batch's look-ups.
    serializer._context = {"item_resolver": item_resolver([item["payload"] for item in items])}
    try:
        return [_validated_one(serializer, item, actors.get(item["actor"])) for item in items]
    finally:
        serializer._context = {}


def _validated_one(serializer, item: dict, actor):
    if actor is None or not actor.is_active:  # gone since the web process authenticated it
        return RETRY  # the web process answers as it would have
    try:
        return serializer.run_validation(item["payload"]), actor
    except ValidationError as exc:
        return _encoded(400, field_errors(exc.detail))
    except Exception:  # a payload the validation itself fails on must not stop the writer
        logger.exception("order intake writer: validating an order failed; its web process takes it")
        return RETRY


def _answer(result, error, created_bodies: dict[int, dict]) -> bytes:
    from orders.api.views import known_order_body  # the views use this module

    if error is not None:
        response = exception_handler(error, {})
        if response is None:  # not the order's fault (the database went away…): nothing was stored
            logger.error("order intake writer: an order failed", exc_info=error)
            return RETRY
        return _encoded(response.status_code, response.data)
    order, created = result
    if created:
        return _encoded(201, created_bodies[order.pk])
    return _encoded(200, known_order_body(order))
