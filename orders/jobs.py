"""Scheduled and follow-up order work (Celery tasks in orders.tasks call these)."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Customer, Order, OrderEvent, OrderStatus
from orders.transitions import run_order_transition

AUTO_COMPLETE_AFTER = timedelta(days=15)  # past the 7-day no-reason return window, with margin
# The stale-stats job looks at orders placed or cancelled this recently: longer than any broker
# outage that could have lost their refresh task (after one, the job's next run covers it).
STATS_LOOKBACK = timedelta(days=1)


def _stats_from_orders() -> dict:
    """A customer's stats as expressions over their orders (for an UPDATE or a comparison)."""
    orders = Order.objects.filter(customer_id=OuterRef("pk")).order_by().values("customer_id")
    live = orders.annotate(n=Count("pk", filter=~Q(status=OrderStatus.CANCELLED))).values("n")
    last = orders.annotate(last=Max("placed_at")).values("last")
    return {"order_count": Coalesce(Subquery(live), Value(0)), "last_order_at": Subquery(last)}


def customer_refresh_stats(*, customer_ids: list[int]) -> None:
    """Recompute from the orders themselves, in one UPDATE, so running it twice or late is
    harmless."""
    Customer.objects.filter(pk__in=customer_ids).update(**_stats_from_orders())


def customers_refresh_stale_stats(*, now=None, limit: int = 2000) -> int:
    """The safety net for refresh tasks that were never published (the broker was down): of the
    customers with an order placed or cancelled within STATS_LOOKBACK, refresh up to `limit`
    whose stored stats differ from their orders (the rest on the next run); how many."""
    since = (now or timezone.now()) - STATS_LOOKBACK
    placed = Order.objects.filter(created_at__gte=since).values("customer_id")
    cancelled = OrderEvent.objects.filter(created_at__gte=since, to_status=OrderStatus.CANCELLED).values(
        "order__customer_id"
    )
    actual = _stats_from_orders()
    stale = (
        Customer.objects.filter(Q(pk__in=placed) | Q(pk__in=cancelled))
        .alias(actual_count=actual["order_count"], actual_last=actual["last_order_at"])
        .exclude(order_count=F("actual_count"), last_order_at=F("actual_last"))
    )
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:limit])
    return Customer.objects.filter(pk__in=ids).update(**_stats_from_orders()) if ids else 0


def orders_auto_complete(*, now=None, batch_size: int = 500) -> int:
    """Complete orders delivered longer ago than the return window. Rows other workers hold are
    skipped (SKIP LOCKED), so two runs at once never fight over or double-complete an order."""
    cutoff = (now or timezone.now()) - AUTO_COMPLETE_AFTER
    completed = 0
    while True:
        with transaction.atomic():
            batch = list(
                Order.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=OrderStatus.DELIVERED, delivered_at__lt=cutoff)
                .order_by("pk")[:batch_size]
            )
            for order in batch:
                run_order_transition(
                    order, "complete", None, reason=_("Return window over: completed automatically")
                )
        completed += len(batch)
        if len(batch) < batch_size:
            return completed
