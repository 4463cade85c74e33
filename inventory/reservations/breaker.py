"""The release breaker (R-I6): more automatic releases (and expiries) of one SKU within an hour
than its limit (INVENTORY_RELEASE_BREAKER_LIMIT, unless the SKU sets its own) pause them until a
manager resumes; releases asked for meanwhile wait as PendingRelease rows. Resuming applies them
and is a release, so breaker_resume lives in release.py, above this module.

Lock order: nothing is locked here; callers already hold their reservation and balance rows. A
breaker is tripped with a conditional UPDATE, so only the first tripper raises the alert.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
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
        PendingRelease.objects.filter(reservation_id__any=reservation_ids, applied_at__isnull=True)
        .values("reservation_id")
        .annotate(n=Sum("quantity"))
        .values_list("reservation_id", "n")
    )


def release_allowance(sku_ids, *, now) -> dict[int, int]:
    """How many more releases each SKU may have now before its breaker trips (0 when paused):
    its limit less the releases counted since the window start, or since a manager resumed it if
    that is later. One statement for all the SKUs (the expiry sweep asks for ~100 per batch)."""
    sku_ids = set(sku_ids)
    if not sku_ids:
        return {}
    since = now - BREAKER_WINDOW
    breaker = ReleaseBreaker.objects.filter(sku_id=OuterRef("pk"))
    released = (
        StockMovement.objects.filter(
            sku_id=OuterRef("pk"),
            kind__in=RELEASE_KINDS,
            created_at__gte=Greatest(Value(since), Coalesce(OuterRef("resumed_at"), Value(since))),
        )
        .exclude(payload__has_key=ROUTED_KEY)
        .order_by()
        .values("sku_id")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    rows = (
        SKU.objects.filter(pk__in=sku_ids)
        .annotate(
            paused=Exists(breaker.filter(is_open=True)), resumed_at=Subquery(breaker.values("resumed_at"))
        )
        .annotate(released=Coalesce(Subquery(released), 0))
        .values_list("pk", "release_breaker_limit", "paused", "released")
    )
    default = settings.INVENTORY_RELEASE_BREAKER_LIMIT
    return {
        sku_id: 0 if paused else max(0, (limit or default) - count) for sku_id, limit, paused, count in rows
    }


def breaker_terms(now) -> dict:
    """release_allowance's rule as values, for the expiry's one statement to apply in SQL."""
    return {
        "limit": settings.INVENTORY_RELEASE_BREAKER_LIMIT,
        "since": now - BREAKER_WINDOW,
        "release_kinds": RELEASE_KINDS,
        "routed_key": ROUTED_KEY,
    }


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
