"""Expiry: unpaid reservations past their deadline give their units back, by the scheduled sweep
or on the way when reserving or routing needs the units. Expiries count towards the release
breaker; a SKU whose breaker is paused keeps its reservations until a manager resumes it.

On PostgreSQL one statement does it all (ledger.expire_due_in_one_statement): choosing the due
rows, the breaker's allowance per SKU and every write, with no round trip between them; the
portable path below (SQLite) takes the same steps one query at a time.

Lock order: this path starts from balances or from the clock, so it takes reservation rows with
SKIP LOCKED (a row another worker holds is left for the next sweep, never waited for), then
balance rows in ascending id (already held when the caller says locked=True).
"""

from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from inventory import ledger
from inventory.models import MovementKind, ReleaseBreaker, Reservation, ReservationState
from inventory.reservations.breaker import breaker_terms, release_allowance, trip_breakers


def expire_due(
    *, now=None, balance_ids=None, locked: bool = False, limit: int = 5000
) -> tuple[int, dict[int, int]]:
    """Expire up to `limit` unpaid reservations past their deadline (optionally only on some
    balances); rows another worker holds are skipped. Returns (count, {balance id: units freed})."""
    now = now or timezone.now()
    if balance_ids is not None and not balance_ids:
        return 0, {}
    if connection.vendor == "postgresql":  # selection, breaker and every write: one statement
        if balance_ids is not None and not any_due(balance_ids, now):
            return 0, {}  # reserving and routing ask on every order: seldom is anything due
        done = ledger.expire_due_in_one_statement(
            now=now,
            limit=limit,
            balance_ids=balance_ids,
            state=ReservationState.EXPIRED,
            kind=MovementKind.EXPIRE,
            breaker=breaker_terms(now),
        )
        if done.tripped:
            trip_breakers(done.tripped, now=now)
        return done.count, done.freed
    due = Reservation.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        state=ReservationState.ACTIVE, expires_at__lte=now
    )
    if balance_ids is not None:
        due = due.filter(balance_id__in=balance_ids)
    paused = ReleaseBreaker.objects.filter(is_open=True).values("sku_id")
    rows = list(
        due.exclude(sku_id__in=paused)
        .order_by("expires_at", "pk")
        .values_list("pk", "balance_id", "sku_id", "quantity", "order_id")[:limit]
    )
    if not rows:
        return 0, {}
    allowance = release_allowance({row[2] for row in rows}, now=now)
    expiring, tripped = [], set()
    for row in rows:
        if allowance[row[2]] > 0:
            allowance[row[2]] -= 1
            expiring.append(row)
        else:
            tripped.add(row[2])
    _expire_portably(expiring, locked=locked, now=now)
    if tripped:
        trip_breakers(tripped, now=now)
    freed: dict[int, int] = defaultdict(int)
    for _pk, balance_id, _sku, quantity, _order in expiring:
        freed[balance_id] += quantity
    return len(expiring), dict(freed)


def any_due(balance_ids, now) -> bool:
    """Whether any reservation on these balances is past its deadline: one index probe, cheaper
    than planning the expiry statement. One that falls due a moment later waits for the next
    caller or the sweep, as it would had it fallen due after the statement."""
    return Reservation.objects.filter(
        balance_id__any=balance_ids, state=ReservationState.ACTIVE, expires_at__lte=now
    ).exists()


def _expire_portably(expiring, *, locked: bool, now) -> None:
    Reservation.objects.filter(pk__in=[row[0] for row in expiring]).update(
        state=ReservationState.EXPIRED, quantity=0, updated_at=now
    )
    ledger.post(
        [
            ledger.Change(
                balance_id=balance_id,
                sku_id=sku_id,
                kind=MovementKind.EXPIRE,
                reserved=-quantity,
                reservation_id=pk,
                order_id=order_id,
            )
            for pk, balance_id, sku_id, quantity, order_id in expiring
        ],
        locked=locked,
        now=now,
        returning=False,
    )


def reservations_expire_sweep(*, now=None, batch_size: int = 1000) -> int:
    """The scheduled sweep: expire due reservations batch by batch, each in its own short
    transaction, until none is left (rows held by another sweep are skipped)."""
    total = 0
    while True:
        with transaction.atomic():
            count, _freed = expire_due(now=now, limit=batch_size)
        total += count
        if not count:
            return total
