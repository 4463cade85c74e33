"""Stock held for orders, and the release breaker that pauses automatic releases of a SKU."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from core.models import ConcurrentTransitions
from inventory.models.ledger import MovementKind
from inventory.models.stock import SKU, StockBalance


class ReservationState(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMMITTED = "committed", _("Committed")
    CONSUMED = "consumed", _("Consumed")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


R = ReservationState
HOLDING = (R.ACTIVE, R.COMMITTED)  # states whose quantity counts in StockBalance.reserved


def new_fingerprint() -> str:
    return secrets.token_hex(16)


def new_fingerprints(count: int) -> list[str]:
    """`count` fingerprints as new_fingerprint makes them, from one read of the system's random
    source (a batch of 1,000 orders reserves ~3,000 rows: one read each cost 1 % of its intake)."""
    pool = secrets.token_hex(16 * count)
    return [pool[i : i + 32] for i in range(0, 32 * count, 32)]


class Reservation(ConcurrentTransitions, models.Model):
    """Stock held for one order line in one balance row (R-I2). `fingerprint` is the lock id a
    caller must present to release it. `quantity` is what it still holds; partial releases and
    shipments lower it, and it leaves the holding states when it reaches zero."""

    fingerprint = models.CharField(_("lock fingerprint"), max_length=32, unique=True, default=new_fingerprint)
    # A checkout lock has no order yet: the order that lands later with its fingerprint binds it.
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="reservations"
    )
    # Looked up by order (indexed) or through the partial indexes below; no index of their own.
    order_line = models.ForeignKey(
        "orders.OrderLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reservations",
        db_index=False,
    )
    channel = models.ForeignKey(
        "integrations.Channel", on_delete=models.PROTECT, null=True, related_name="+", db_index=False
    )
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    balance = models.ForeignKey(
        StockBalance, on_delete=models.PROTECT, related_name="reservations", db_index=False
    )
    # The shipment that will take these units off the shelf (set by routing).
    shipment = models.ForeignKey(
        "orders.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="reservations"
    )
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+", db_index=False)
    quantity = models.PositiveIntegerField(_("quantity held"))
    original_quantity = models.PositiveIntegerField(_("quantity reserved"))
    state = FSMField(_("state"), default=R.ACTIVE, choices=R.choices, protected=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        indexes = [
            models.Index(
                fields=["expires_at"], condition=models.Q(state="active"), name="reservation_due_idx"
            ),
            models.Index(
                fields=["balance"],
                condition=models.Q(state__in=["active", "committed"]),
                name="reservation_holding_idx",
            ),
        ]

    def __str__(self):
        return f"{self.fingerprint[:8]} {self.quantity}×{self.sku_id} ({self.state})"

    # Transitions for single rows; bulk paths in inventory.reservations filter on the same sources.
    @transition(field=state, source=R.ACTIVE, target=R.COMMITTED)
    def commit(self):
        self.expires_at = None

    @transition(field=state, source=HOLDING, target=R.CONSUMED)
    def consume(self):
        self.quantity = 0

    @transition(field=state, source=HOLDING, target=R.RELEASED)
    def release(self):
        self.quantity = 0

    @transition(field=state, source=R.ACTIVE, target=R.EXPIRED)
    def expire(self):
        self.quantity = 0


class ReleaseBreaker(models.Model):
    """R-I6: too many releases of one SKU within an hour pause its automatic releases until a
    manager resumes them. Releases asked for while paused wait as PendingRelease rows."""

    sku = models.OneToOneField(SKU, on_delete=models.CASCADE, related_name="release_breaker")
    is_open = models.BooleanField(_("paused"), default=False)
    tripped_at = models.DateTimeField(_("tripped at"), null=True, blank=True)
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    resumed_by = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("release circuit breaker")
        verbose_name_plural = _("release circuit breakers")

    def __str__(self):
        return f"{self.sku_id}: {'paused' if self.is_open else 'closed'}"


class PendingRelease(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="pending_releases")
    sku = models.ForeignKey(SKU, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("quantity"))
    kind = models.CharField(_("kind"), max_length=12, choices=MovementKind.choices)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("pending release")
        verbose_name_plural = _("pending releases")
        indexes = [
            models.Index(
                fields=["sku"], condition=models.Q(applied_at__isnull=True), name="pending_release_idx"
            )
        ]

    def __str__(self):
        return f"{self.quantity} of {self.reservation_id}"
