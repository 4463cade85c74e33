"""Scheduled and follow-up order work (Celery tasks in orders.tasks call these)."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Customer, Order, OrderStatus
from orders.transitions import run_order_transition

AUTO_COMPLETE_AFTER = timedelta(days=15)  # past the 7-day no-reason return window, with margin


def customer_refresh_stats(*, customer_ids: list[int]) -> None:
    """Recompute from the orders themselves, so running it twice or late is harmless."""
    stats = (
        Order.objects.filter(customer_id__in=customer_ids)
        .values("customer_id")
        .annotate(count=Count("pk", filter=~Q(status=OrderStatus.CANCELLED)), last=Max("placed_at"))
    )
    for row in stats:
        Customer.objects.filter(pk=row["customer_id"]).update(
            order_count=row["count"], last_order_at=row["last"]
        )


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
