"""Order reads for the desk and the API."""

from django.db.models import Prefetch, Q, QuerySet
from django_fsm import has_transition_perm

from inventory.models import Reservation
from orders.models import (
    TRANSITION_LABELS,
    TRANSITIONS_NEEDING_REASON,
    Order,
    OrderEvent,
    OrderLine,
    ShipmentLine,
)
from orders.services import TRANSITIONS
from returns.models import ReturnRequest


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("channel").order_by("-placed_at", "-pk")


def order_search(queryset: QuerySet[Order], term: str) -> QuerySet[Order]:
    """Exact matches on indexed columns only, so a search stays fast on millions of orders."""
    term = term.strip()
    if not term:
        return queryset
    digits = "".join(ch for ch in term if ch.isdigit() or ch == "+")
    query = Q(number=term.upper()) | Q(external_id=term) | Q(customer_email=term.lower())
    if len(digits) >= 5:
        query |= Q(customer_phone=digits) | Q(ship_phone=digits)
    # A tracking number finds every order its parcel carries (merged orders included); an RMA
    # number or a return parcel's tracking number finds the order it returns goods of. The ids are
    # looked up first: an IN (subquery) inside the OR would make PostgreSQL scan every order.
    linked = set(
        ShipmentLine.objects.filter(shipment__tracking_number=term).values_list(
            "order_line__order_id", flat=True
        )
    )
    linked.update(
        ReturnRequest.objects.filter(Q(number=term.upper()) | Q(return_tracking_number=term)).values_list(
            "order_id", flat=True
        )
    )
    if linked:
        query |= Q(pk__in=sorted(linked))
    return queryset.filter(query)


def order_detail(number: str) -> Order:
    return (
        Order.objects.select_related("channel", "customer")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("sku")),
            Prefetch("events", queryset=OrderEvent.objects.select_related("actor")),
            Prefetch(
                "reservations",
                queryset=Reservation.objects.select_related(
                    "sku", "order_line", "balance__warehouse", "balance__pool", "balance__lot"
                ).order_by("pk"),
            ),
        )
        .get(number=number)
    )


def order_available_actions(order: Order, user) -> list[dict]:
    """Transitions this user may run on the order now (the desk's buttons)."""
    return [
        {
            "name": name,
            "label": TRANSITION_LABELS[name],
            "needs_reason": name in TRANSITIONS_NEEDING_REASON,
        }
        for name in TRANSITIONS
        if has_transition_perm(getattr(order, name), user)
    ]
