"""Bulk intake over the API (issue #18): up to BULK_MAX canonical orders in one request.

Each order is validated on its own, by one CanonicalOrderInput whose fields are built once and
whose SKUs, item mappings and channels were looked up for the whole request at once
(orders.canonical.item_resolver). The valid ones go through ONE call of
orders.intake.order_ingest_batch, in one transaction: the outcome is the same as posting them one
after the other, in the order given — a repeat of an order earlier in the request is applied to it
as a later version (`updated`, or `unchanged` when it is not newer). An invalid order never fails
the others, nor does a known order whose state refuses its newer version (`refused`: the batch is
then run again with each order in its own savepoint). A database failure stores nothing of the
request (the transaction rolls back as a whole) and raises BulkNotStored; a deadlock with another
writer or a serialization failure first runs the transaction again (core.transient)."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.settings import api_settings

from core.errors import DomainError, NotPermitted
from core.thread_serializers import per_thread_and_language
from core.transient import run_again_when_transient
from core.transitions import Actor
from orders import intake
from orders.canonical import CanonicalOrder, CanonicalOrderInput, item_resolver
from orders.models import Order

logger = logging.getLogger(__name__)

BULK_MAX = 1_000

CREATED, UPDATED, UNCHANGED, INVALID, REFUSED = "created", "updated", "unchanged", "invalid", "refused"
STATUSES = [CREATED, UPDATED, UNCHANGED, INVALID, REFUSED]
# What applying a newer version to a known order may raise when its state refuses it (the single
# POST answers these with 409); NotPermitted is not among them: it concerns the whole request.
REFUSALS = (DomainError, TransitionNotAllowed, ConcurrentTransition)


class BulkTooLarge(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(
            _("At most %(max)s orders per request; this one has %(count)s. Split it.")
            % {"max": f"{BULK_MAX:,}", "count": f"{count:,}"}
        )


class BulkNotStored(Exception):
    """The database failed the batch: nothing of the request was stored."""


@dataclass
class ItemResult:
    index: int
    external_id: str | None
    status: str
    number: str | None = None
    errors: dict | None = None

    def as_dict(self) -> dict:
        body = {"index": self.index, "external_id": self.external_id, "status": self.status}
        if self.number is not None:
            body["number"] = self.number
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def bulk_payloads(body) -> list:
    """The raw orders of a bulk request body `{"orders": [...]}`: a 400 when it is not that shape,
    BulkTooLarge beyond BULK_MAX orders (counted before anything is validated)."""
    if not isinstance(body, Mapping):
        raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [_('Send an object: {"orders": [...]}.')]})
    payloads = body.get("orders")
    if not isinstance(payloads, list):
        raise ValidationError({"orders": [_("A list of canonical orders is required.")]})
    if not payloads:
        raise ValidationError({"orders": [_("Send at least one order.")]})
    if len(payloads) > BULK_MAX:
        raise BulkTooLarge(len(payloads))
    return payloads


def orders_bulk_submit(*, payloads: list, actor: Actor) -> list[ItemResult]:
    """One result per payload, in input order (see the module's docstring)."""
    results: list[ItemResult | None] = [None] * len(payloads)
    valid: list[tuple[int, CanonicalOrder]] = []
    try:
        serializer = CanonicalOrderInput(context={"item_resolver": item_resolver(payloads)})
        for index, payload in enumerate(payloads):
            try:
                valid.append((index, serializer.run_validation(payload)))
            except ValidationError as exc:
                errors = field_errors(exc.detail)
                results[index] = ItemResult(index, _external_id(payload), INVALID, errors=errors)
        if valid:
            # Nothing of a transaction that deadlocked was stored: it runs again as a whole.
            for result in run_again_when_transient(lambda: _ingest(valid, actor)):
                results[result.index] = result
    except DatabaseError as exc:
        logger.exception("bulk order intake: nothing of %s orders was stored", len(payloads))
        raise BulkNotStored(str(exc)) from exc
    return results  # type: ignore[return-value]


def _ingest(valid: list[tuple[int, CanonicalOrder]], actor: Actor) -> list[ItemResult]:
    items = [data for _index, data in valid]
    with transaction.atomic():
        versions = _stored_versions(items)
        try:
            with transaction.atomic():
                outcomes = [(order, created, None) for order, created in _batch(items, actor)]
        except NotPermitted:
            raise
        except REFUSALS:
            # Some known order refused its newer version, and the batch rolled back to the
            # savepoint: again, each order on its own, so that only that one is refused.
            outcomes = [_one(data, actor) for data in items]
    return _results(valid, outcomes, versions)


def _batch(items: list[CanonicalOrder], actor: Actor) -> list[tuple[Order, bool]]:
    return intake.order_ingest_batch(items=items, actor=actor)


def _one(data: CanonicalOrder, actor: Actor) -> tuple[Order | None, bool, str | None]:
    try:
        with transaction.atomic():
            order, created = _batch([data], actor)[0]
    except NotPermitted:
        raise
    except REFUSALS as exc:
        return None, False, getattr(exc, "message", None) or str(exc)
    return order, created, None


def _stored_versions(items: list[CanonicalOrder]) -> dict[tuple[int, str], object]:
    """The stored platform version (updated_at) of every order of the batch known already, in one
    query: what tells `updated` from `unchanged` (a version is applied only when newer)."""
    by_channel: dict[int, set[str]] = {}
    for data in items:
        by_channel.setdefault(data["channel"].pk, set()).add(data["external_id"])
    condition = Q()
    for channel_id, external_ids in by_channel.items():
        condition |= Q(channel_id=channel_id, external_id__in=external_ids)
    rows = Order.objects.filter(condition).values_list("channel_id", "external_id", "platform_updated_at")
    return {(channel_id, external_id): stamp for channel_id, external_id, stamp in rows}


def _results(valid, outcomes, versions: dict) -> list[ItemResult]:
    known = dict(versions)  # the version each order is at, as the items are applied in order
    results = []
    for (index, data), (order, created, refusal) in zip(valid, outcomes, strict=True):
        key = (data["channel"].pk, data["external_id"])
        if refusal is not None:
            results.append(ItemResult(index, data["external_id"], REFUSED, errors={"detail": [refusal]}))
            continue
        incoming = data.get("updated_at")
        if created:
            status = CREATED
        elif key not in known:  # stored meanwhile by someone else: it holds this version or a newer one
            status = UPDATED if incoming is not None and order.platform_updated_at == incoming else UNCHANGED
        else:
            stored = known[key]
            status = UPDATED if incoming is not None and (stored is None or incoming > stored) else UNCHANGED
        known[key] = order.platform_updated_at
        results.append(ItemResult(index, data["external_id"], status, number=order.number))
    return results


def _external_id(payload) -> str | None:
    value = payload.get("external_id") if isinstance(payload, Mapping) else None
    return value if isinstance(value, str) else None


def field_errors(detail) -> dict:
    """A validation error as the single POST answers it (Serializer.errors): always an object."""
    if isinstance(detail, Mapping):
        return dict(detail)
    if len(detail) == 1 and getattr(detail[0], "code", None) == "null":
        return {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail(_("No data provided"), code="null")]}
    return {api_settings.NON_FIELD_ERRORS_KEY: list(detail)}


# --- the single POST ----------------------------------------------------------------------------

order_input = per_thread_and_language(CanonicalOrderInput)


def validated_order(payload) -> CanonicalOrder:
    """One canonical order validated by this thread's CanonicalOrderInput for the request's
    language: its fields are built once, not per request (DRF's ListSerializer reuses its child
    the same way). Raises ValidationError with the body Serializer.is_valid(raise_exception=True)
    would give."""
    serializer = order_input()
    try:
        return serializer.run_validation(payload)
    except ValidationError as exc:
        raise ValidationError(field_errors(exc.detail)) from exc
