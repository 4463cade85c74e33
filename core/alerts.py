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


RAISE_MANY_CHUNK = 500  # keys per round trip (well under SQLite's parameter limit)


def alerts_raise_many(alerts: list[dict]) -> int:
    """Raise many alerts in a constant number of queries per chunk: bump the unresolved ones that
    already have those keys (one SELECT, one UPDATE of occurrences and last_raised_at) and insert
    the missing ones (one bulk INSERT; the partial unique index on the unresolved key drops one
    raised concurrently by someone else). Each dict holds kind, key, role, message and optionally
    payload and severity; a key given twice counts once (the last one wins). Returns how many
    alerts were new. Unlike alert_raise, a bumped alert keeps its message."""
    by_key = {alert["key"]: alert for alert in alerts}
    keys = list(by_key)
    created = 0
    for start in range(0, len(keys), RAISE_MANY_CHUNK):
        chunk = keys[start : start + RAISE_MANY_CHUNK]
        with transaction.atomic():
            unresolved = Alert.objects.filter(key__in=chunk).exclude(state=AlertState.RESOLVED)
            existing = set(unresolved.values_list("key", flat=True))
            if existing:
                Alert.objects.filter(key__in=list(existing)).exclude(state=AlertState.RESOLVED).update(
                    occurrences=F("occurrences") + 1, last_raised_at=timezone.now()
                )
            new = [_new_alert(by_key[key]) for key in chunk if key not in existing]
            if new:
                Alert.objects.bulk_create(new, ignore_conflicts=True)
        created += len(new)
    return created


def _new_alert(alert: dict) -> Alert:
    return Alert(
        kind=alert["kind"],
        key=alert["key"],
        role=alert["role"],
        message=alert["message"][:500],
        payload=alert.get("payload") or {},
        severity=alert.get("severity") or AlertSeverity.WARNING,
    )


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
