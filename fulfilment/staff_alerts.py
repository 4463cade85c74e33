"""Alerts that reach people (R-F5): besides the desk's queue, an alert goes to the alert routes
of its role (core.AlertRoute) — an SMS to whoever is on duty, a WeCom group robot — so a parcel
with no first scan or an SLA breach is seen by the warehouse lead away from the screen.

A periodic dispatcher (every minute) takes the alerts not yet routed, oldest first, claims them
with SKIP LOCKED, queues one outbox message per alert and matching route (idempotency key
alert-route:<alert>:<route>) and marks them routed in the same transaction — so each alert is
sent once per route however often it is raised again (a raise of an open alert only bumps it)
and whichever worker runs the dispatcher. An escalated SLA alert is a new alert of the
escalation role and goes to that role's routes. Delivery goes through the outbox (retries,
failures visible); an alert resolved before its turn is not sent."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.models import Alert, AlertMedium, AlertRoute, AlertState
from core.outbox import PermanentFailure, outbox_enqueue_many
from fulfilment.notifications import sms_post, wecom_markdown, wecom_post

KIND = "alert.route"
BATCH = 500
# An alert older than this when first seen (routes added later, a long outage) is not sent: the
# desk's queue has it, and a flood of stale messages would bury the fresh ones.
MAX_AGE = timedelta(hours=6)


def staff_alerts_dispatch(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Queue the unrouted alerts to their routes; returns how many messages were queued."""
    now = now or timezone.now()
    routes = list(AlertRoute.objects.filter(is_active=True))
    with transaction.atomic():
        claimed = list(
            Alert.objects.filter(routed_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)[:limit]
        )
        messages = [
            {
                "kind": KIND,
                "payload": {"alert_id": alert.pk, "route_id": route.pk},
                "idempotency_key": f"alert-route:{alert.pk}:{route.pk}",
            }
            for alert in claimed
            if alert.state != AlertState.RESOLVED and alert.created_at >= now - MAX_AGE
            for route in routes
            if route.takes(alert)
        ]
        outbox_enqueue_many(messages)
        Alert.objects.filter(pk__in=[alert.pk for alert in claimed]).update(routed_at=now)
    return len(messages)


def alert_text(alert: Alert) -> tuple[str, str]:
    """(subject, body) in the staff's language (STAFF_ALERT_LANGUAGE): a text message has no
    reader's preference to follow."""
    with translation.override(settings.STAFF_ALERT_LANGUAGE):
        subject = _("Conduit alert (%(severity)s)") % {"severity": alert.get_severity_display()}
        body = alert.message
        if alert.occurrences > 1:
            body += " " + _("(%(count)s times)") % {"count": alert.occurrences}
        if settings.DESK_BASE_URL:
            body += "\n" + settings.DESK_BASE_URL.rstrip("/") + "/alerts/"
    return subject, body


def staff_alert_deliver(message) -> None:
    """Outbox handler: send one alert to one route."""
    alert = Alert.objects.filter(pk=message.payload.get("alert_id")).first()
    route = AlertRoute.objects.filter(pk=message.payload.get("route_id")).first()
    if alert is None or route is None:
        raise PermanentFailure("the alert or its route no longer exists")
    if alert.state == AlertState.RESOLVED or not route.is_active:
        return  # nothing to tell any more
    subject, body = alert_text(alert)
    if route.medium == AlertMedium.SMS:
        sms_post(to=route.target, text=f"{subject}: {body}", key=message.idempotency_key)
    elif route.medium == AlertMedium.WECOM:
        wecom_post(url=route.target, content=wecom_markdown(subject, body))
    else:
        raise PermanentFailure(f"unknown alert route medium {route.medium!r}")
