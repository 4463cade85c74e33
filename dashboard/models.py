"""Rollup tables behind the manager dashboard (R-D3). They are derived data: dashboard.rollups
recomputes the business days that changed since its last run, so panels read a few hundred rows
instead of scanning millions of orders."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.money import CurrencyField, MoneyField


class OrderDayRollup(models.Model):
    """Orders placed on one business day, per channel and currency, as they stand now."""

    day = models.DateField(_("day"))
    channel = models.ForeignKey("integrations.Channel", on_delete=models.CASCADE, related_name="+")
    currency = CurrencyField()
    orders = models.PositiveIntegerField(_("orders"), default=0)
    paid = models.PositiveIntegerField(_("paid"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    held = models.PositiveIntegerField(_("on hold"), default=0)
    shipped = models.PositiveIntegerField(_("shipped"), default=0)
    shipped_on_time = models.PositiveIntegerField(_("shipped on time"), default=0)
    late = models.PositiveIntegerField(_("late"), default=0)
    delivered = models.PositiveIntegerField(_("delivered"), default=0)
    exceptions = models.PositiveIntegerField(_("with a delivery exception"), default=0)
    refunded = models.PositiveIntegerField(_("refunded"), default=0)
    gross = MoneyField(_("gross (not cancelled)"))

    class Meta:
        app_label = "orders"  # see dashboard/apps.py
        verbose_name = _("order day rollup")
        verbose_name_plural = _("order day rollups")
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "currency"], name="order_rollup_unique_day")
        ]
        permissions = [("view_dashboard", _("Can view the manager dashboard"))]

    def __str__(self):
        return f"{self.day} {self.channel_id} {self.currency}: {self.orders}"


class CarrierDayRollup(models.Model):
    """Parcels handed to one carrier on one business day and how their tracking went."""

    day = models.DateField(_("day"))
    carrier = models.ForeignKey("orders.Carrier", on_delete=models.CASCADE, related_name="+")
    shipped = models.PositiveIntegerField(_("shipped"), default=0)
    units = models.PositiveIntegerField(_("units"), default=0)
    first_scanned = models.PositiveIntegerField(_("with a carrier event"), default=0)
    synced_in_window = models.PositiveIntegerField(_("first event within the window"), default=0)
    latency_total = models.DurationField(_("total ship → first event"), null=True, blank=True)
    delivered = models.PositiveIntegerField(_("delivered"), default=0)
    exceptions = models.PositiveIntegerField(_("exceptions"), default=0)

    class Meta:
        app_label = "orders"  # see dashboard/apps.py
        verbose_name = _("carrier day rollup")
        verbose_name_plural = _("carrier day rollups")
        constraints = [models.UniqueConstraint(fields=["day", "carrier"], name="carrier_rollup_unique_day")]

    def __str__(self):
        return f"{self.day} {self.carrier_id}: {self.shipped}"


class RollupWatermark(models.Model):
    """How far the rollups have read the order timeline; its row lock serialises refreshes."""

    name = models.CharField(max_length=40, unique=True)
    value = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "orders"  # see dashboard/apps.py

    def __str__(self):
        return f"{self.name}: {self.value}"


class HeldOrdersSnapshot(models.Model):
    """Orders on hold by reason code and the open orders, as of `computed_at`. Counting them reads
    every held order's newest hold event, too slow for each page view at a million orders: the
    rollup task (dashboard.tasks, every minute) takes the count, the page reads this one row."""

    name = models.CharField(max_length=40, unique=True)
    computed_at = models.DateTimeField(_("computed at"))
    open_orders = models.PositiveIntegerField(_("open orders"), default=0)
    held = models.PositiveIntegerField(_("on hold"), default=0)
    by_reason = models.JSONField(_("held by reason code"), default=dict, blank=True)  # {code: orders}

    class Meta:
        verbose_name = _("held orders snapshot")
        verbose_name_plural = _("held orders snapshots")

    def __str__(self):
        return f"{self.name} @ {self.computed_at}: {self.held} held"
