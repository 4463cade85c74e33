"""Alerts: raised by jobs and services, worked by a role in the desk."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError
from core.models import Alert, AlertSeverity, AlertState


def alert_raise(
    *, kind: str, key: str, role: str, message: str, payload=None, severity=AlertSeverity.WARNING
) -> Alert:
    """Open an alert, or bump the unresolved one with the same key (idempotent, race-safe)."""
    with transaction.atomic():
        bumped = Alert.objects.filter(key=key).exclude(state=AlertState.RESOLVED)
        if bumped.update(occurrences=F("occurrences") + 1, last_raised_at=timezone.now(), message=message):
            return bumped.get()
        try:
            with transaction.atomic():
                return Alert.objects.create(
                    kind=kind, key=key, role=role, message=message, payload=payload or {}, severity=severity
                )
        except IntegrityError:  # raised concurrently by someone else: bump theirs
            bumped.update(occurrences=F("occurrences") + 1, last_raised_at=timezone.now())
            return bumped.get()


def alert_acknowledge(*, alert: Alert, actor) -> Alert:
    changed = Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=timezone.now()
    )
    if not changed:
        raise DomainError("This alert is not open.")
    alert.refresh_from_db()
    return alert


def alert_resolve(*, key: str | None = None, alert: Alert | None = None, actor=None) -> int:
    """Resolve by alert or by key (a job that sees the condition gone resolves its own alert)."""
    alerts = Alert.objects.exclude(state=AlertState.RESOLVED)
    alerts = alerts.filter(pk=alert.pk) if alert is not None else alerts.filter(key=key)
    return alerts.update(state=AlertState.RESOLVED, resolved_by=actor, resolved_at=timezone.now())
