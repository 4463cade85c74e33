"""Paying and shipping: payment commits an order's active reservations (they no longer expire),
shipping consumes the held units (on_hand and reserved both drop). Also what an order still holds.

Lock order: the order's reservation rows in ascending id (the caller holds the order row), then
its balance rows in ascending id inside ledger.post.
"""

from collections import defaultdict

from django.db.models import F
from django.utils import timezone

from inventory import ledger
from inventory.models import HOLDING, MovementKind, Reservation, ReservationState
from inventory.reservations.breaker import pending_release_quantities


def reservations_commit(*, order_id: int, now=None) -> int:
    """Payment turns the order's active reservations into commitments (no expiry any more)."""
    now = now or timezone.now()
    held = list(
        Reservation.objects.select_for_update()
        .filter(order_id=order_id, state=ReservationState.ACTIVE)
        .order_by("pk")
        .values_list("pk", "balance_id", "sku_id", "quantity")
    )
    if not held:
        return 0
    Reservation.objects.filter(pk__in=[pk for pk, *_ in held], state=ReservationState.ACTIVE).update(
        state=ReservationState.COMMITTED, expires_at=None, updated_at=now
    )
    ledger.post(
        [
            ledger.Change(
                balance_id=balance_id,
                sku_id=sku_id,
                kind=MovementKind.COMMIT,
                reservation_id=pk,
                order_id=order_id,
                payload={"quantity": quantity},
            )
            for pk, balance_id, sku_id, quantity in held
        ],
        now=now,
    )
    return len(held)


def reservations_consume(
    *, order_id: int, shipment_id: int | None = None, reference: str = "", now=None
) -> int:
    """Shipping takes the held units off the shelf: on_hand and reserved both drop (only the
    shipment's units when one is given). Units whose release waits behind the breaker stay held
    (they were cancelled, they do not ship)."""
    now = now or timezone.now()
    held = Reservation.objects.select_for_update().filter(order_id=order_id, state__in=HOLDING)
    if shipment_id is not None:
        held = held.filter(shipment_id=shipment_id)
    held = list(held.order_by("pk").values_list("pk", "balance_id", "sku_id", "quantity"))
    waiting = pending_release_quantities([pk for pk, *_ in held])
    changes = []
    for pk, balance_id, sku_id, quantity in held:
        keep = waiting.get(pk, 0)
        take = quantity - keep
        if take <= 0:
            continue
        Reservation.objects.filter(pk=pk).update(
            state=ReservationState.CONSUMED if not keep else F("state"),
            quantity=keep,
            expires_at=None,
            updated_at=now,
        )
        changes.append(
            ledger.Change(
                balance_id=balance_id,
                sku_id=sku_id,
                kind=MovementKind.SHIP,
                on_hand=-take,
                reserved=-take,
                reservation_id=pk,
                order_id=order_id,
                reference=reference,
            )
        )
    ledger.post(changes, now=now, returning=False)
    return sum(-change.on_hand for change in changes)


def held_quantities(order_id: int) -> dict[int, int]:
    """{order line id: units held for it}, not counting units whose release is waiting."""
    rows = list(
        Reservation.objects.filter(order_id=order_id, state__in=HOLDING).values_list(
            "pk", "order_line_id", "quantity"
        )
    )
    waiting = pending_release_quantities([pk for pk, *_ in rows])
    held: dict[int, int] = defaultdict(int)
    for pk, line_id, quantity in rows:
        held[line_id] += quantity - waiting.get(pk, 0)
    return held
