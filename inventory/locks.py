"""Checkout locks: a channel asks the central stock for units before the order exists
("任何销售行为都需先向中心申请扣减额度"), e.g. at checkout in a flash sale. A lock is a
reservation without an order: it holds stock under the same no-oversell rules, expires after its
TTL like an unpaid order, is released only by whoever presents its fingerprint, and is bound to
the order line that lands later naming it. Concurrent lock requests share transactions through a
group commit, so a hot SKU takes one commit per batch instead of one per request — usually one
self-committing statement per batch (reservations.reserve_locks_at_once)."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.group_commit import GroupCommitThread
from inventory import lock_writer, reservations
from inventory.models import HOLDING, Reservation, ReservationState

R = ReservationState


@dataclass
class LockRequest:
    channel_id: int
    lines: list[tuple[int, int]]  # (sku id, quantity)
    reference: str = ""
    ttl: timedelta = field(default_factory=lambda: timedelta(seconds=settings.STOCK_LOCK_TTL_SECONDS))


@dataclass
class LockResult:
    locks: list  # reservations.HeldLock, or Reservations from the careful path; empty when refused
    short: list[int]  # SKU ids that were short


def stock_lock_batch(requests: list[LockRequest], *, now=None) -> list[LockResult | Exception]:
    """All lines of a request or none of them. Single-line locks on a SKU with one sellable
    balance are stored by one self-committing statement; the rest (and those near sell-out) in one
    transaction through reserve_orders. Each caller is answered only after its lock committed."""
    now = now or timezone.now()
    demands = [
        reservations.OrderDemand(
            order_id=None,
            channel_id=request.channel_id,
            lines=[reservations.LineDemand(None, sku_id, quantity) for sku_id, quantity in request.lines],
            expires_at=now + request.ttl,
            reference=request.reference,
            key=index,
        )
        for index, request in enumerate(requests)
    ]
    result, errors = reservations.ReserveResult(), {}
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        result, demands = reservations.reserve_locks_at_once(demands, now=now)
    committed_some = bool(result.reserved)
    try:
        _reserve_carefully(demands, result, now=now)
    except Exception:
        if not committed_some:
            raise  # nothing committed: the group commit retries each request on its own
        # Part of the batch is committed and answered below, so this must not raise (the group
        # commit would retry those requests too): the rest go one by one, each with its own error.
        for demand in demands:
            try:
                _reserve_carefully([demand], result, now=now)
            except Exception as exc:  # noqa: BLE001 - handed to the caller it belongs to
                errors[demand.key] = exc
    return [
        errors.get(i) or LockResult(result.reservations.get(i, []), result.short.get(i, []))
        for i in range(len(requests))
    ]


def _reserve_carefully(demands, result, *, now) -> None:
    if not demands:
        return
    with transaction.atomic():
        careful = reservations.reserve_orders(demands, now=now)
    result.reservations.update(careful.reservations)
    result.short.update(careful.short)


def _lock_one(request: LockRequest) -> LockResult:
    [result] = stock_lock_batch([request])
    if isinstance(result, BaseException):
        raise result
    return result


# Batches run on a thread of their own (one connection, no leader hand-off between batches).
_group_commit = GroupCommitThread(run_batch=stock_lock_batch, run_one=_lock_one, max_batch=256)


def stock_lock(request: LockRequest) -> LockResult:
    """One caller's lock, batched with whoever else asks at the same moment: in every web process
    through the one writer process when STOCK_LOCK_WRITER_URL is set, else in this process."""
    if settings.STOCK_LOCK_WRITER_URL:
        return lock_writer.remote_stock_lock(request)
    return _group_commit.submit(request)


def settle_locks(requests: list[LockRequest]) -> list[tuple[LockResult | None, BaseException | None]]:
    """(result, error) per request, all in one batch (or one by one if the batch fails as a whole):
    what the writer process runs for the requests it took."""
    return _group_commit.settle(requests)


def stock_lock_release(
    *, fingerprints: list[str], reason: str = "", actor=None
) -> reservations.ReleaseOutcome:
    """Give back unbound locks. Each must be named by its fingerprint; an unknown, expired or
    already bound one refuses the whole request."""
    now = timezone.now()
    with transaction.atomic():
        locks = list(
            Reservation.objects.select_for_update()
            .filter(fingerprint__in=set(fingerprints), order__isnull=True, state=R.ACTIVE)
            .order_by("pk")
        )
        if len(locks) != len(set(fingerprints)):
            raise DomainError(_("Unknown, expired or already used lock."), field="fingerprints")
        return reservations.release_planned(
            [(lock, lock.quantity) for lock in locks], reason=reason, actor=actor, automatic=True, now=now
        )


def bind_locks(*, order, lines_with_locks: list[tuple[object, str]], paid: bool, now=None) -> dict[int, int]:
    """Attach the locks an order's lines name to those lines (same channel and SKU, still live):
    they become the line's reservation, with the order's payment deadline or committed if paid.
    Units locked beyond the line's quantity go back. Returns {order line id: units bound}."""
    now = now or timezone.now()
    bound: dict[int, int] = {}
    expires_at = None if paid else now + timedelta(minutes=order.channel.reservation_ttl_minutes)
    named = {fingerprint for _line, fingerprint in lines_with_locks}
    locks = {  # all named locks in one statement, row locks in ascending id like every path
        lock.fingerprint: lock
        for lock in Reservation.objects.select_for_update()
        .filter(
            fingerprint__in=named,
            order__isnull=True,
            state__in=HOLDING,
            expires_at__gt=now,
            channel_id=order.channel_id,
        )
        .order_by("pk")
    }
    for line, fingerprint in lines_with_locks:
        lock = locks.pop(fingerprint, None)
        if lock is not None and lock.sku_id != line.sku_id:
            lock = None  # a lock for another SKU cannot hold this line
        if lock is None:
            continue  # unknown or lapsed: the line is reserved the ordinary way
        take = min(lock.quantity, line.quantity)
        if lock.quantity > take:
            reservations.release_planned(
                [(lock, lock.quantity - take)],
                reason=_("More locked than ordered"),
                actor=None,
                automatic=False,
                now=now,
            )
        Reservation.objects.filter(pk=lock.pk).update(
            order=order,
            order_line=line,
            state=R.COMMITTED if paid else R.ACTIVE,
            expires_at=expires_at,
            quantity=take,
            updated_at=now,
        )
        bound[line.pk] = bound.get(line.pk, 0) + take
    return bound
