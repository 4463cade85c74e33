from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from timezone_field import TimeZoneField


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """Desk user; roles are auth groups (see core.roles)."""

    time_zone = TimeZoneField(
        _("time zone"),
        blank=True,
        null=True,
        help_text=_("Times are shown in this zone; empty means the business time zone."),
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")


class DailySequence(models.Model):
    """Per-day counters for databases without native sequences (SQLite); see core.sequences."""

    name = models.CharField(max_length=40)
    day = models.DateField()
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "day"], name="daily_sequence_unique_name_day")]

    def __str__(self):
        return f"{self.name}@{self.day}: {self.last_value}"
