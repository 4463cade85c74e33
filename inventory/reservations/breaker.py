"""The release breaker (R-I6): more automatic releases (and expiries) of one SKU within an hour
than its limit (INVENTORY_RELEASE_BREAKER_LIMIT, unless the SKU sets its own) pause them until a
manager resumes; releases asked for meanwhile wait as PendingRelease rows. Resuming applies them
and is a release, so breaker_resume lives in release.py, above this module.

Lock order: nothing is locked here; callers already hold their reservation and balance rows. A
breaker is tripped with a conditional UPDATE, so only the first tripper raises the alert.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.roles import Role
from inventory.models import RELEASE_KINDS, SKU, PendingRelease, ReleaseBreaker, StockMovement

BREAKER_WINDOW = timedelta(hours=1)


# Movements written by routing carry this payload key: they move stock between warehouses, they
# are not cancellations, so the release breaker does not count them.
ROUTED_KEY = "routed_to"


def pending_release_quantities(reservation_ids) -> dict[int, int]:
    """{reservation id: units whose release waits behind the breaker}: still held, but they were
    cancelled, so they neither ship nor move."""
    return dict(
        PendingRelease.objects.filter(reservation_id__in=reservation_ids, applied_at__isnull=True)
        .values("reservation_id")
        .annotate(n=Sum("quantity"))
        .values_list("reservation_id", "n")
    )


def release_allowance(sku_ids, *, now) -> dict[int, int]:
    """How many more releases each SKU may have now before its breaker trips (0 when paused)."""
    sku_ids = set(sku_ids)
    if not sku_ids:
        return {}
    limits = dict(SKU.objects.filter(pk__in=sku_ids).values_list("pk", "release_breaker_limit"))
    breakers = {b.sku_id: b for b in ReleaseBreaker.objects.filter(sku_id__in=sku_ids)}
    since = now - BREAKER_WINDOW
    counts = dict(
        StockMovement.objects.filter(sku_id__in=sku_ids, kind__in=RELEASE_KINDS, created_at__gte=since)
        .exclude(payload__has_key=ROUTED_KEY)
        .values("sku_id")
        .annotate(n=Count("pk"))
        .values_list("sku_id", "n")
    )
    allowance = {}
    for sku_id in sku_ids:
        breaker = breakers.get(sku_id)
        if breaker and breaker.is_open:
            allowance[sku_id] = 0
            continue
        count = counts.get(sku_id, 0)
        if breaker and breaker.resumed_at and breaker.resumed_at > since:  # the window restarts
            count = (
                StockMovement.objects.filter(
                    sku_id=sku_id, kind__in=RELEASE_KINDS, created_at__gte=breaker.resumed_at
                )
                .exclude(payload__has_key=ROUTED_KEY)
                .count()
            )
        limit = limits.get(sku_id) or settings.INVENTORY_RELEASE_BREAKER_LIMIT
        allowance[sku_id] = max(0, limit - count)
    return allowance


def trip_breakers(sku_ids, *, now) -> None:
    for sku_id in sorted(sku_ids):
        breaker, _created = ReleaseBreaker.objects.get_or_create(sku_id=sku_id)
        if ReleaseBreaker.objects.filter(pk=breaker.pk, is_open=False).update(is_open=True, tripped_at=now):
            code = SKU.objects.values_list("code", flat=True).get(pk=sku_id)
            alert_raise(
                kind="release_breaker",
                key=f"release_breaker:{sku_id}",
                role=Role.MANAGER,
                message=_("Releases of %(sku)s paused: more than %(n)s in an hour. Review and resume.")
                % {"sku": code, "n": settings.INVENTORY_RELEASE_BREAKER_LIMIT},
                payload={"sku": code},
            )
