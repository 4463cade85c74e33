from django.db import models
from django.utils.translation import gettext_lazy as _


class Heartbeat(models.Model):
    """When a periodic process last showed it was alive: beat's heartbeat task writes "beat"
    every 30 seconds (ops.heartbeats)."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    beat_at = models.DateTimeField(_("last beat at"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
        permissions = [("view_operations", _("Can view operational health"))]

    def __str__(self):
        return f"{self.name} @ {self.beat_at.isoformat()}"


class TaskOutcomeMinute(models.Model):
    """How many runs of one Celery task succeeded, were retried or failed within one minute (UTC),
    counted by set-based upserts from Celery's signals (ops.task_outcomes)."""

    minute = models.DateTimeField(_("minute"), db_index=True)
    task = models.CharField(_("task"), max_length=200)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    retried = models.PositiveIntegerField(_("retried"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)

    class Meta:
        verbose_name = _("task outcomes in a minute")
        verbose_name_plural = _("task outcomes per minute")
        constraints = [
            models.UniqueConstraint(fields=["minute", "task"], name="ops_task_outcome_minute_task")
        ]

    def __str__(self):
        return f"{self.task} @ {self.minute:%Y-%m-%d %H:%M}: {self.succeeded}/{self.retried}/{self.failed}"
