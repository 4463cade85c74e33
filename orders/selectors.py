"""Order reads for the desk and the API."""

from django.db.models import Prefetch, Q, QuerySet
from django_fsm import has_transition_perm

from inventory.models import SKU, Reservation
from orders.models import (
    TRANSITION_CONFIRM,
    TRANSITION_LABELS,
    TRANSITIONS_NEEDING_REASON,
    Order,
    OrderEvent,
    OrderLine,
)
from orders.services import TRANSITIONS


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("channel").order_by("-placed_at", "-pk")


def order_detail(number: str) -> Order:
    return (
        Order.objects.select_related("channel", "customer")
        .prefetch_related(*order_detail_prefetches())
        .get(number=number)
    )


def order_detail_prefetches() -> list[Prefetch]:
    """What the order's detail shows besides its row: lines, events and reservations (also for
    an order in hand, with prefetch_related_objects)."""
    return [
        Prefetch("lines", queryset=OrderLine.objects.select_related("sku", "parent_line")),
        Prefetch("events", queryset=OrderEvent.objects.select_related("actor")),
        Prefetch(
            "reservations",
            queryset=Reservation.objects.select_related(
                "sku", "order_line", "balance__warehouse", "balance__pool", "balance__lot"
            ).order_by("pk"),
        ),
    ]


def order_available_actions(order: Order, user) -> list[dict]:
    """Transitions this user may run on the order now (the desk's buttons)."""
    return [
        {
            "name": name,
            "label": TRANSITION_LABELS[name],
            "needs_reason": name in TRANSITIONS_NEEDING_REASON,
            "confirm": TRANSITION_CONFIRM.get(name, ""),
        }
        for name in TRANSITIONS
        if has_transition_perm(getattr(order, name), user)
    ]


def sku_choices(query: str, *, limit: int = 20) -> list[dict]:
    """Active SKUs whose code starts with, or whose name contains, `query` (the order edit form's
    SKU search), by code."""
    query = (query or "").strip()[:64]
    if not query:
        return []
    found = (
        SKU.objects.filter(is_active=True)
        .filter(Q(code__istartswith=query) | Q(name__icontains=query))
        .order_by("code")
        .values("code", "name")[:limit]
    )
    return list(found)
