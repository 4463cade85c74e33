"""Releasing: giving back held units of an order (a cancellation, a shortened line), exactly the
units asked for, each reservation named by its lock fingerprint. Automatic releases past the SKU's
breaker wait as PendingRelease rows; breaker_resume applies them once a manager has reviewed.

Lock order: the order's reservation rows in ascending id (the caller holds the order row), then
balance rows in ascending id inside ledger.post. breaker_resume locks the waiting PendingRelease
rows (ascending id), then releases order by order, in ascending order id.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_resolve
from core.errors import NotPermitted
from core.transitions import require_perm
from inventory import ledger
from inventory.models import (
    HOLDING,
    MovementKind,
    PendingRelease,
    ReleaseBreaker,
    Reservation,
    ReservationState,
)
from inventory.reservations.breaker import release_allowance, trip_breakers


@dataclass
class ReleaseOutcome:
    released: int = 0
    deferred: int = 0


def order_fingerprints(order_id: int) -> set[str]:
    """The lock ids the order's own services present when they release its stock."""
    return set(Reservation.objects.filter(order_id=order_id).values_list("fingerprint", flat=True))


def reservations_release(
    *,
    order_id: int,
    fingerprints: set[str],
    line_quantities: dict[int, int] | None = None,
    reason: str = "",
    actor=None,
    automatic: bool = True,
    now=None,
) -> ReleaseOutcome:
    """Release exactly `line_quantities` ({order line id: units}; None = everything held) of the
    order's reservations. Every reservation touched must be named by its lock fingerprint.
    Automatic releases respect the SKU's release breaker: past it they wait as PendingRelease."""
    now = now or timezone.now()
    held = list(
        Reservation.objects.select_for_update().filter(order_id=order_id, state__in=HOLDING).order_by("pk")
    )
    held.reverse()  # locked in ascending id like every path; the newest of a line gives back first
    plan: list[tuple[Reservation, int]] = []
    wanted = dict(line_quantities) if line_quantities is not None else None
    for reservation in held:
        if wanted is None:
            take = reservation.quantity
        else:
            take = min(wanted.get(reservation.order_line_id, 0), reservation.quantity)
            if take:
                wanted[reservation.order_line_id] -= take
        if take:
            if reservation.fingerprint not in fingerprints:
                raise NotPermitted(_("A release must present the reservation's lock fingerprint."))
            plan.append((reservation, take))
    plan.sort(key=lambda item: item[0].pk)

    return release_planned(plan, reason=reason, actor=actor, automatic=automatic, now=now)


def release_planned(
    plan: list[tuple[Reservation, int]], *, reason: str, actor, automatic: bool, now
) -> ReleaseOutcome:
    """Give back `take` units of each reservation; past the SKU's breaker they wait instead."""
    outcome = ReleaseOutcome()
    allowance = release_allowance({r.sku_id for r, _take in plan}, now=now) if automatic else None
    changes, tripped = [], set()
    for reservation, take in plan:
        if allowance is not None and allowance[reservation.sku_id] <= 0:
            PendingRelease.objects.create(
                reservation=reservation,
                sku_id=reservation.sku_id,
                quantity=take,
                kind=MovementKind.RELEASE,
                reason=reason,
                created_at=now,
            )
            tripped.add(reservation.sku_id)
            outcome.deferred += take
            continue
        if allowance is not None:
            allowance[reservation.sku_id] -= 1
        remaining = reservation.quantity - take
        Reservation.objects.filter(pk=reservation.pk).update(
            quantity=remaining,
            state=ReservationState.RELEASED if remaining == 0 else reservation.state,
            updated_at=now,
        )
        changes.append(
            ledger.Change(
                balance_id=reservation.balance_id,
                sku_id=reservation.sku_id,
                kind=MovementKind.RELEASE,
                reserved=-take,
                reservation_id=reservation.pk,
                order_id=reservation.order_id,
                reference=reservation.reference,
                note=reason[:255],
            )
        )
        outcome.released += take
    ledger.post(changes, actor=actor, now=now, returning=False)
    if tripped:
        trip_breakers(tripped, now=now)
    return outcome


def breaker_resume(*, sku_id: int, actor=None) -> int:
    """A manager reviewed the releases: close the breaker and apply what waited."""
    require_perm(actor, "inventory.change_releasebreaker", _("Only a stock manager can resume releases."))
    now = timezone.now()
    with transaction.atomic():
        ReleaseBreaker.objects.filter(sku_id=sku_id).update(is_open=False, resumed_at=now, resumed_by=actor)
        waiting = list(
            PendingRelease.objects.select_for_update()
            .filter(sku_id=sku_id, applied_at__isnull=True)
            .select_related("reservation")
            .order_by("pk")
        )
        applied = 0
        by_order: dict[int, list[PendingRelease]] = defaultdict(list)
        for pending in waiting:
            by_order[pending.reservation.order_id].append(pending)
        for order_id, pendings in sorted(by_order.items()):
            line_quantities: dict[int, int] = defaultdict(int)
            for pending in pendings:
                line_quantities[pending.reservation.order_line_id] += pending.quantity
            outcome = reservations_release(
                order_id=order_id,
                fingerprints={p.reservation.fingerprint for p in pendings},
                line_quantities=dict(line_quantities),
                reason=_("Released after review"),
                actor=actor,
                automatic=False,
                now=now,
            )
            applied += outcome.released
        PendingRelease.objects.filter(pk__in=[p.pk for p in waiting]).update(applied_at=now)
        alert_resolve(key=f"release_breaker:{sku_id}", actor=actor)
    return applied
