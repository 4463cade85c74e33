from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin
from timezone_field import TimeZoneField

from core.encrypted_fields import EncryptedTextField
from core.instances import loaded
from core.roles import Role


class AppendOnlyModel(models.Model):
    """A history row (an audit event): written once, never changed or deleted."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(f"{self._meta.verbose_name_plural} are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(f"{self._meta.verbose_name_plural} are append-only")


class ConcurrentTransitions(ConcurrentTransitionMixin):
    """django-fsm-2's ConcurrentTransitionMixin (a save lands only on the state the instance read),
    with the model's state fields found once per model. The mixin looks for them among all the
    model's fields on every instance it builds, reads or saves (51 for an order): ~5 % of the batch
    router's CPU, which reads an order and three held reservations for each order it routes."""

    @property
    def state_fields(self):
        model = type(self)
        found = model.__dict__.get("_state_fields")
        if found is None:
            found = tuple(field for field in self._meta.fields if isinstance(field, FSMFieldMixin))
            model._state_fields = found
        return found

    @classmethod
    def from_db(cls, db, field_names, values):
        # Django's path sets each of an order's 51 fields through its descriptor, then the mixin
        # looks for the state fields again: reading 2,700 orders took 130 ms that way, 108 here.
        return loaded(cls, db, field_names, values)


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


class PermissionsVersion(models.Model):
    """One row whose number goes up in the same transaction as any change to who holds which
    permission (core.permission_cache): permissions known under the number a request reads are
    still the ones in force."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return str(self.version)


class DailySequence(models.Model):
    """Per-day counters for databases without native sequences (SQLite); see core.sequences."""

    name = models.CharField(max_length=40)
    day = models.DateField()
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "day"], name="daily_sequence_unique_name_day")]

    def __str__(self):
        return f"{self.name}@{self.day}: {self.last_value}"


class AlertState(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class AlertSeverity(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class Alert(TimeStampedModel):
    """Something a role must look at. One unresolved alert per `key`: raising it again while it
    is open only bumps its counter (the partial unique index is the deduplication)."""

    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    key = models.CharField(_("key"), max_length=200)
    role = models.CharField(_("owner role"), max_length=30)
    severity = models.CharField(
        _("severity"), max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING
    )
    state = models.CharField(_("state"), max_length=15, choices=AlertState.choices, default=AlertState.OPEN)
    message = models.CharField(_("message"), max_length=500)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    last_raised_at = models.DateTimeField(_("last raised at"), auto_now_add=True)
    acknowledged_by = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    owner = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("Who is working on it; empty = anyone with the role."),
    )
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    # When the staff alert routes (SMS, WeCom) were given it; a raise that only bumps an open
    # alert sends nothing again.
    routed_at = models.DateTimeField(_("sent to staff at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=~models.Q(state="resolved"),
                name="alert_one_unresolved_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["state", "role", "-created_at"], name="alert_queue_idx"),
            # The staff-alert dispatcher's work: alerts not yet given to their routes.
            models.Index(
                fields=["id"], condition=models.Q(routed_at__isnull=True), name="alert_unrouted_idx"
            ),
        ]

    def __str__(self):
        return f"[{self.kind}] {self.message}"


class AlertMedium(models.TextChoices):
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom group robot")


SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class AlertRoute(TimeStampedModel):
    """Where a role's alerts also go besides the desk's queue (R-F5): an SMS to the person on
    duty or a WeCom group robot, for some alert kinds (or all) from a severity up. Sent by
    fulfilment.staff_alerts through the outbox once per alert and route."""

    name = models.CharField(_("name"), max_length=120)
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    kinds = models.JSONField(
        _("alert kinds"),
        default=list,
        blank=True,
        help_text=_("E.g. no_first_scan, sla; empty = every kind the role gets."),
    )
    min_severity = models.CharField(
        _("from severity"), max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING
    )
    medium = models.CharField(_("medium"), max_length=10, choices=AlertMedium.choices)
    # A phone number (SMS) or a robot address, which carries the robot's key: kept encrypted.
    target = EncryptedTextField(_("phone or robot address"), max_length=500)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["role", "name"]
        verbose_name = _("alert route")
        verbose_name_plural = _("alert routes")

    def __str__(self):
        return self.name

    def takes(self, alert: Alert) -> bool:
        return (
            self.is_active
            and alert.role == self.role
            and (not self.kinds or alert.kind in self.kinds)
            and SEVERITY_RANK.get(alert.severity, 1) >= SEVERITY_RANK.get(self.min_severity, 1)
        )


class OutboxState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERING = "delivering", _("Delivering")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Dead")


class OutboxMessage(models.Model):
    """One outbound call, written in the same transaction as the change that caused it and
    delivered by core.outbox (at least once; the idempotency key makes it exactly once for the
    receiver). `next_attempt_at` is when it is due, or — while delivering — when its lease ends."""

    kind = models.CharField(_("kind"), max_length=60, db_index=True)
    channel = models.ForeignKey(
        "integrations.Channel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    state = models.CharField(
        _("state"), max_length=12, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due_idx")]

    def __str__(self):
        return f"{self.kind} {self.idempotency_key} ({self.state})"


class SavedView(models.Model):
    """A user's named filter set for one desk list (its path and query string)."""

    user = models.ForeignKey("core.User", on_delete=models.CASCADE, related_name="saved_views")
    path = models.CharField(_("list"), max_length=200)
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [
            models.UniqueConstraint(fields=["user", "path", "name"], name="saved_view_unique_name")
        ]

    def __str__(self):
        return self.name

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class StoredFile(models.Model):
    """A file kept in the database by core.storage.DatabaseStorage (the default storage unless S3
    is configured), so an upload taken by one web machine can be read by a worker on another.
    Its bytes are split in chunks, written and read one at a time, never held whole in memory."""

    name = models.CharField(_("name"), max_length=1024, unique=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    chunk_size = models.PositiveIntegerField()  # every chunk but the last has this many bytes
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("stored file")
        verbose_name_plural = _("stored files")

    def __str__(self):
        return self.name


class StoredFileChunk(models.Model):
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()  # 0, 1, 2… in file order
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "number"], name="stored_file_chunk_unique_number")
        ]

    def __str__(self):
        return f"{self.file_id}#{self.number}"
