"""Customer notifications (R-X6): order placed, shipped, delivered — by e-mail, SMS and a WeCom
group robot, each sent through the outbox (retries, dead letter, replay).

`notify_customer` writes one Notification per available medium, rendered now (so the desk shows
exactly what went out), and one outbox message per notification with the same idempotency key:
order + event + medium [+ shipment] [+ resend counter]. Calling it again for the same event does
nothing; `resend=True` (or `notification_resend`) makes a new one on purpose.

Media: e-mail when the order has a customer e-mail (Django's EMAIL_BACKEND); SMS when it has a
phone and SMS_GATEWAY_URL is set; WeCom when the channel's API credentials hold a
`wecom_robot_url` or WECOM_ROBOT_URL is set. None of them when the channel's `notify_customers`
is off (the platform tells the customers itself; the demo shops).

The SMS gateway contract (any provider behind a small adapter service):
    POST SMS_GATEWAY_URL  Authorization: Bearer SMS_GATEWAY_KEY  Idempotency-Key: <key>
    {"to": "+8613800000001", "text": "…", "reference": "<key>"}
    → 2xx accepted ({"ok": false, "error": "…"} in a 2xx body is a refusal); 408, 425, 429 and
      5xx retried; other 4xx refused (core.http.send_for_outbox).
"""

import json
import re
import smtplib
from collections.abc import Callable

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted
from core.http import TIMEOUT, send_for_outbox
from core.outbox import (
    PermanentFailure,
    is_last_attempt,
    outbox_enqueue,
    outbox_enqueue_many,
    outbox_failure,
)
from fulfilment.models import (
    Notification,
    NotificationEvent,
    NotificationMedium,
    NotificationState,
    Shipment,
)
from orders import phones
from orders.models import Order, OrderEventKind
from orders.transitions import record_order_event

KIND = "notification.send"
WECOM_MAX_BYTES = 4096  # the robot refuses longer markdown content
WECOM_RATE_LIMITED = 45009
M = NotificationMedium

# --- who can be told, and what -----------------------------------------------------------------


def _wecom_target(order: Order) -> str | None:
    credentials = order.channel.api_credentials or {}
    if credentials.get("wecom_robot_url"):
        return f"wecom-robot:{order.channel.code}"
    return "wecom-robot:default" if settings.WECOM_ROBOT_URL else None


def available_media(order: Order) -> dict[str, str]:
    """{medium: recipient} for the media this order's customer can be reached by; none when the
    order's channel does not notify its customers."""
    media = {}
    if not order.channel.notify_customers:
        return media
    if order.customer_email:
        media[M.EMAIL] = order.customer_email
    phone = order.customer_phone or order.ship_phone
    if phone and not phones.is_masked(phone) and settings.SMS_GATEWAY_URL:  # a mask reaches nobody
        media[M.SMS] = phones.domestic(phone)
    robot = _wecom_target(order)
    if robot:
        media[M.WECOM] = robot
    return media


def _subject(event: str, order: Order) -> str:
    subjects = {
        NotificationEvent.PLACED: _("Order %(number)s received"),
        NotificationEvent.SHIPPED: _("Order %(number)s has shipped"),
        NotificationEvent.DELIVERED: _("Order %(number)s was delivered"),
    }
    return subjects[event] % {"number": order.number}


def render(*, order: Order, event: str, shipment: Shipment | None = None) -> tuple[str, str]:
    """(subject, body) in the notification language (NOTIFY_LANGUAGE)."""
    with translation.override(settings.NOTIFY_LANGUAGE):
        context = {
            "order": order,
            "shipment": shipment,
            "carrier": shipment.carrier.name if shipment is not None and shipment.carrier_id else "",
            "tracking_number": shipment.tracking_number if shipment is not None else "",
            "shop": order.channel.name,
        }
        body = render_to_string(f"fulfilment/notifications/{event}.txt", context).strip()
        return _subject(event, order), body


def _key(order: Order, event: str, medium: str, shipment: Shipment | None) -> str:
    key = f"notify:{order.pk}:{event}:{medium}"
    return f"{key}:s{shipment.pk}" if shipment is not None else key


def _rows(
    order: Order, event: str, shipment: Shipment | None, media: dict[str, str], actor
) -> list[Notification]:
    subject, body = render(order=order, event=event, shipment=shipment)
    return [
        Notification(
            order=order,
            shipment=shipment,
            event=event,
            medium=medium,
            recipient=recipient[:255],
            subject=subject[:255],
            body=body,
            idempotency_key=_key(order, event, medium, shipment),
            requested_by=actor,
        )
        for medium, recipient in media.items()
    ]


def _insert(rows: list[Notification]) -> list[Notification]:
    """Insert the rows whose key is new; returns them saved. The unique key settles races."""
    keys = [row.idempotency_key for row in rows]
    existing = set(
        Notification.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    fresh = [row for row in rows if row.idempotency_key not in existing]
    if not fresh:
        return []
    Notification.objects.bulk_create(fresh, ignore_conflicts=True)
    return list(
        Notification.objects.filter(idempotency_key__in=[row.idempotency_key for row in fresh]).order_by("pk")
    )


# --- public API ---------------------------------------------------------------------------------


def notify_customer(
    *,
    order: Order,
    event: str,
    shipment: Shipment | None = None,
    medium: str | None = None,
    actor=None,
    resend: bool = False,
) -> list[Notification]:
    """Queue the event's notification on every available medium (or only `medium`); returns the
    notifications created (none when they exist already and `resend` is false)."""
    if event not in NotificationEvent.values:
        raise DomainError(_("Unknown notification event “%(event)s”.") % {"event": event}, field="event")
    if medium is not None and medium not in M.values:
        raise DomainError(_("Unknown medium “%(medium)s”.") % {"medium": medium}, field="medium")
    media = available_media(order)
    if medium is not None:
        if medium not in media:
            raise DomainError(
                _("Order %(number)s has no %(medium)s recipient.")
                % {"number": order.number, "medium": M(medium).label},
                field="medium",
            )
        media = {medium: media[medium]}
    if not media:
        return []
    with transaction.atomic():
        rows = _rows(order, event, shipment, media, actor)
        if resend:
            for row in rows:
                # Counting in the transaction; two resends at once collide on the key: one wins.
                earlier = Notification.objects.filter(
                    order=order, event=event, medium=row.medium, shipment=shipment
                ).count()
                row.idempotency_key = f"{row.idempotency_key}:resend{earlier}"
        created = _insert(rows)
        for notification in created:
            outbox_enqueue(
                kind=KIND,
                payload={"notification_id": notification.pk},
                idempotency_key=notification.idempotency_key,
                channel_id=order.channel_id,
            )
    return created


def notify_placed(orders: list[Order]) -> int:
    """The bulk intake's "placed" notifications, set-based: one insert of the notifications and one
    of their outbox messages (outbox_enqueue_many). Returns how many."""
    rows = [
        row
        for order in orders
        if (media := available_media(order))
        for row in _rows(order, NotificationEvent.PLACED, None, media, None)
    ]
    if not rows:
        return 0
    channels = {order.pk: order.channel_id for order in orders}
    # Both inserts or neither; inside the intake's transaction (its only caller, which rolls back
    # whole on any error) without a savepoint of its own: two round trips per intake batch.
    with transaction.atomic(savepoint=False):
        created = _insert(rows)
        outbox_enqueue_many(
            {
                "kind": KIND,
                "payload": {"notification_id": n.pk},
                "idempotency_key": n.idempotency_key,
                "channel_id": channels[n.order_id],
            }
            for n in created
        )
    return len(created)


def notification_resend(*, notification: Notification, actor) -> Notification:
    """Desk action: send the notification again (re-rendered, to the order's current contact)."""
    if actor is not None and not actor.has_perm("orders.add_notification"):
        raise NotPermitted(_("You are not allowed to do this."))
    with transaction.atomic():
        created = notify_customer(
            order=notification.order,
            event=notification.event,
            shipment=notification.shipment,
            medium=notification.medium,
            actor=actor,
            resend=True,
        )
        if not created:
            raise DomainError(_("The notification could not be queued again."), field="notification")
        record_order_event(
            notification.order,
            OrderEventKind.NOTIFICATION,
            actor,
            reason=_("Notification resent"),
            payload={
                "event": notification.event,
                "medium": notification.medium,
                "recipient": created[0].recipient,
                "resend_of": notification.pk,
            },
        )
    return created[0]


# --- senders --------------------------------------------------------------------------------------

Sender = Callable[[Notification, str], None]
_senders: dict[str, Sender] = {}


def register_sender(medium: str) -> Callable[[Sender], Sender]:
    """Plug in the sender of a medium. It raises RetryLater when the receiver may accept later,
    PermanentFailure when it refused; returning means sent."""

    def register(sender: Sender) -> Sender:
        _senders[medium] = sender
        return sender

    return register


def _mark(notification_id: int, state: str, error: str = "") -> None:
    Notification.objects.filter(pk=notification_id).exclude(state=NotificationState.SENT).update(
        state=state, error=error[:500], sent_at=timezone.now() if state == NotificationState.SENT else None
    )


def notification_deliver(message) -> None:
    notification = (
        Notification.objects.select_related("order__channel")
        .filter(pk=message.payload.get("notification_id"))
        .first()
    )
    if notification is None:
        raise PermanentFailure(f"notification #{message.payload.get('notification_id')} does not exist")
    if notification.state == NotificationState.SENT:
        return  # a repeated delivery
    sender = _senders.get(notification.medium)
    try:
        if sender is None:
            raise PermanentFailure(f"no sender for medium {notification.medium!r}")
        sender(notification, message.idempotency_key)
    except Exception as exc:  # noqa: BLE001 - recorded on the notification, then the outbox decides
        final = isinstance(exc, PermanentFailure) or is_last_attempt(message)
        _mark(notification.pk, NotificationState.FAILED if final else NotificationState.QUEUED, str(exc))
        raise
    _mark(notification.pk, NotificationState.SENT)


def _message_id(key: str) -> str:
    """A Message-ID from the idempotency key, so a repeated delivery is recognisably the same mail."""
    domain = settings.NOTIFY_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >") or "conduit.local"
    return f"<{re.sub(r'[^A-Za-z0-9.-]', '.', key)}@{domain}>"


def send_email(notification: Notification, key: str) -> None:
    email = EmailMessage(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.NOTIFY_FROM_EMAIL,
        to=[notification.recipient],
        headers={"Message-ID": _message_id(key)},
    )
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise outbox_failure(f"recipient refused: {exc.recipients}", temporary=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise outbox_failure(f"mail server: {exc}", temporary=True) from exc


def _post_json(service: str, url: str, body: dict, headers: dict | None = None) -> httpx.Response:
    """POST with the shared HTTP rule (core.http.send_for_outbox): network errors, 408, 425, 429
    and 5xx retry, other 4xx refuse."""
    with httpx.Client(timeout=TIMEOUT) as http:
        return send_for_outbox(service, lambda: http.post(url, json=body, headers=headers or {}), 60.0)


def _json(response: httpx.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def send_sms(notification: Notification, key: str) -> None:
    sms_post(to=notification.recipient, text=notification.body, key=key)


def sms_post(*, to: str, text: str, key: str) -> None:
    """One text through the SMS gateway (SMS_GATEWAY_URL), the key its idempotency reference."""
    if not settings.SMS_GATEWAY_URL:
        raise PermanentFailure("SMS_GATEWAY_URL is not set")
    headers = {"Idempotency-Key": key}
    if settings.SMS_GATEWAY_KEY:
        headers["Authorization"] = f"Bearer {settings.SMS_GATEWAY_KEY}"
    response = _post_json(
        "SMS gateway", settings.SMS_GATEWAY_URL, {"to": to, "text": text, "reference": key}, headers
    )
    answer = _json(response)
    if answer.get("ok") is False:  # a refusal in a 2xx body
        raise outbox_failure(f"SMS gateway refused: {answer.get('error', '')}"[:500], temporary=False)


def wecom_robot_url(notification: Notification) -> str:
    target = notification.recipient.removeprefix("wecom-robot:")
    if target != "default" and target == notification.order.channel.code:
        url = (notification.order.channel.api_credentials or {}).get("wecom_robot_url", "")
        if url:
            return url
    return settings.WECOM_ROBOT_URL


def wecom_markdown(subject: str, body: str) -> str:
    """The robot's markdown content, cut (at a character boundary) to what it accepts."""
    encoded = f"**{subject}**\n{body}".encode()[:WECOM_MAX_BYTES]
    return encoded.decode("utf-8", errors="ignore")


def send_wecom(notification: Notification, key: str) -> None:
    url = wecom_robot_url(notification)
    if not url:
        raise PermanentFailure("no WeCom robot URL for this channel")
    wecom_post(url=url, content=wecom_markdown(notification.subject, notification.body))


def wecom_post(*, url: str, content: str) -> None:
    """One markdown message to a WeCom group robot; its busy answers are retried."""
    response = _post_json("WeCom robot", url, {"msgtype": "markdown", "markdown": {"content": content}})
    answer = _json(response)
    errcode = answer.get("errcode")
    if errcode == 0:
        return
    detail = f"WeCom errcode {errcode}: {answer.get('errmsg', json.dumps(answer)[:200])}"
    busy = errcode in (WECOM_RATE_LIMITED, -1)  # 45009: too many messages a minute; -1: system busy
    raise outbox_failure(detail, temporary=busy, retry_after=60)
