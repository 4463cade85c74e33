"""Carrier integration (R-F3, R-F4, R-X4, R-X5): waybills and tracking subscriptions go out
through the outbox; tracking pushes come in verified → stored raw → processed idempotently; a
poll catches what pushes missed. No database lock is held across an HTTP call."""

import hashlib
import logging
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.handoff import publish_on_commit
from core.http import PlatformError, RateLimited, outbox_outcome
from core.models import OutboxMessage, OutboxState
from core.outbox import PermanentFailure, is_last_attempt, outbox_enqueue, outbox_failure
from core.refusals import audit_headers, refusal_allowed
from fulfilment.models import IN_WAREHOUSE, Carrier, Shipment, ShipmentStatus, WaybillRequest, WaybillState
from fulfilment.tracking import record_tracking, shipment_record_problem, shipment_record_waybill
from integrations.carriers.base import CarrierRefused
from integrations.carriers.kuaidi100 import Kuaidi100Adapter
from integrations.models import InboundMessage, InboundStatus
from integrations.services import DROPPED_HEADERS, Receipt, inbound_message_started
from orders import phones

logger = logging.getLogger(__name__)

PLATFORM = "kuaidi100"  # InboundMessage.platform of tracking pushes (not a sales platform)
TOPIC = "tracking"
SUBSCRIBE = "carrier.kuaidi100.subscribe"
WAYBILL = "carrier.kuaidi100.waybill"
POLLED_STATES = (ShipmentStatus.SHIPPED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)


def get_adapter() -> Kuaidi100Adapter:
    """The tracking aggregator's adapter (settings are read on each call, so tests can change them)."""
    return Kuaidi100Adapter()


def _ship_phone(shipment: Shipment) -> str:
    return phones.domestic(shipment.order.ship_phone or shipment.order.customer_phone)


# --- subscription (called inside the "ship" transaction) --------------------------------------


def subscribe_tracking(shipment: Shipment) -> bool:
    """Enqueue the subscription of the shipment's tracking number; False (nothing enqueued) when
    the carrier has no aggregator code, there is no number, or pushes are not configured."""
    carrier = shipment.carrier
    if carrier is None or not carrier.tracking_code or not shipment.tracking_number:
        return False
    if not get_adapter().can_subscribe():
        return False
    outbox_enqueue(
        kind=SUBSCRIBE,
        payload={
            "shipment_id": shipment.pk,
            "company": carrier.tracking_code,
            "number": shipment.tracking_number,
        },
        idempotency_key=f"kuaidi100:subscribe:{shipment.pk}:{shipment.tracking_number}",
    )
    return True


def _retry_or_fail(exc: Exception) -> Exception:
    """The outbox outcome for a carrier call that failed: HTTP failures by the one rule
    (core.http.outbox_outcome: a 401 is final, a 503 is retried); the carrier's own "no" in its
    answer is final."""
    if isinstance(exc, RateLimited | PlatformError):
        return outbox_outcome(exc)
    return outbox_failure(str(exc), temporary=not isinstance(exc, CarrierRefused))


def subscription_deliver(message) -> None:
    adapter = get_adapter()
    if not adapter.can_subscribe():
        raise PermanentFailure("Kuaidi100 pushes are not configured (key, salt, callback URL)")
    payload = message.payload
    shipment = Shipment.objects.select_related("order").filter(pk=payload["shipment_id"]).first()
    try:
        adapter.subscribe(
            company=payload["company"],
            tracking_number=payload["number"],
            phone=_ship_phone(shipment) if shipment else "",
        )
    except (RateLimited, PlatformError, CarrierRefused) as exc:
        raise _retry_or_fail(exc) from exc


# --- electronic waybills ----------------------------------------------------------------------


def waybill_carrier(shipment: Shipment) -> Carrier | None:
    return shipment.carrier or shipment.warehouse.default_carrier


def request_waybill(shipment: Shipment | int) -> None:
    """Ask the aggregator for the shipment's electronic waybill, through the outbox. The result
    lands on the shipment (tracking number and label) or, when refused, in `shipment.problem`.
    A request already on its way is not repeated; one that died may be made again."""
    shipment_id = shipment.pk if isinstance(shipment, Shipment) else shipment
    shipment = Shipment.objects.select_related("carrier", "warehouse__default_carrier").get(pk=shipment_id)
    if not get_adapter().can_issue_waybills():
        raise DomainError(
            _("Electronic waybills are not configured (Kuaidi100 key and secret)."), field="carrier"
        )
    carrier = waybill_carrier(shipment)
    if carrier is None or not carrier.tracking_code:
        raise DomainError(
            _(
                "Shipment %(number)s has no carrier with a tracking company code; set the shipment's or the "
                "warehouse's default carrier."
            )
            % {"number": shipment.number},
            field="carrier",
        )
    if shipment.tracking_number:
        raise DomainError(
            _("Shipment %(number)s already has tracking number %(tracking)s.")
            % {"number": shipment.number, "tracking": shipment.tracking_number},
            field="tracking_number",
        )
    if shipment.status not in IN_WAREHOUSE:
        raise DomainError(
            _("Shipment %(number)s is %(status)s: no waybill is needed.")
            % {"number": shipment.number, "status": shipment.get_status_display()},
            field="status",
        )
    if WaybillRequest.objects.filter(shipment=shipment, state=WaybillState.PENDING).exists():
        return  # the waybill asked for at release (fulfilment.waybills) is on its way
    prefix = f"kuaidi100:waybill:{shipment.pk}:"
    with transaction.atomic():
        earlier = list(
            OutboxMessage.objects.filter(idempotency_key__startswith=prefix).values_list("state", flat=True)
        )
        if any(state != OutboxState.DEAD for state in earlier):
            return  # requested already: pending, being delivered, or delivered
        outbox_enqueue(
            kind=WAYBILL,
            payload={"shipment_id": shipment.pk, "carrier_id": carrier.pk},
            idempotency_key=f"{prefix}{len(earlier) + 1}",
        )


def waybill_deliver(message) -> None:
    payload = message.payload
    shipment = (
        Shipment.objects.select_related("order", "warehouse", "carrier")
        .filter(pk=payload["shipment_id"])
        .first()
    )
    carrier = Carrier.objects.filter(pk=payload.get("carrier_id")).first()
    if shipment is None or carrier is None:
        raise PermanentFailure(f"shipment #{payload['shipment_id']} or its carrier no longer exists")
    if shipment.tracking_number or shipment.status not in IN_WAREHOUSE:
        return  # issued by an earlier attempt, or shipped / cancelled meanwhile: nothing to print
    adapter = get_adapter()
    if not adapter.can_issue_waybills():
        raise PermanentFailure("Kuaidi100 electronic waybills are not configured (key and secret)")
    try:
        waybill = adapter.request_waybill(shipment, carrier)
    except (RateLimited, PlatformError, CarrierRefused) as exc:
        outcome = _retry_or_fail(exc)
        if isinstance(outcome, PermanentFailure) or is_last_attempt(message):
            shipment_record_problem(
                shipment=shipment.pk, problem=_("Waybill refused: %(error)s") % {"error": exc}
            )
        raise outcome from exc
    try:
        shipment_record_waybill(
            shipment=shipment.pk,
            carrier=carrier,
            tracking_number=waybill.tracking_number,
            label=waybill.label,
            details=waybill.details,
        )
    except DomainError as exc:
        shipment_record_problem(shipment=shipment.pk, problem=exc.message)
        raise PermanentFailure(exc.message) from exc


# --- tracking pushes: verify → store raw → process idempotently -------------------------------


class Outcome:
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # bad or missing signature: an audit row only
    THROTTLED = "throttled"  # refused, and too many refusals from this caller: nothing stored
    MALFORMED = "malformed"  # signed but unreadable: stored as failed
    UNCONFIGURED = "unconfigured"  # no Kuaidi100 salt: nothing can be verified, nothing stored


def tracking_push_receive(*, form: dict, raw_body: bytes, headers: dict, client_address: str = "") -> Receipt:
    adapter = get_adapter()
    if not adapter.salt:
        return Receipt(Outcome.UNCONFIGURED)
    row = {
        "platform": PLATFORM,
        "topic": TOPIC,
        "headers": {key: value for key, value in headers.items() if key.lower() not in DROPPED_HEADERS},
        "body_sha256": hashlib.sha256(raw_body).hexdigest(),
    }
    if not adapter.verify_push(form):
        if not refusal_allowed(PLATFORM, client_address):
            return Receipt(Outcome.THROTTLED)
        row["headers"] = audit_headers(headers, client_address=client_address)
        InboundMessage.objects.create(
            **row, status=InboundStatus.REJECTED, error=_("Bad or missing signature.")
        )
        return Receipt(Outcome.REJECTED)
    message = InboundMessage(**row, body=raw_body.decode("utf-8", errors="replace"))
    try:
        push = adapter.parse_push(form)
    except ValueError as exc:
        message.status, message.error = InboundStatus.FAILED, str(exc)
        message.save()
        return Receipt(Outcome.MALFORMED, message)
    message.dedupe_id = push.tracking_number[:255]  # searchable in the integration log
    with transaction.atomic():
        message.save()
        from integrations.carriers.tasks import process_tracking_push

        # Acknowledged once stored: if the broker is down, the inbound sweeper hands it over later.
        publish_on_commit(process_tracking_push, message.pk)
    return Receipt(Outcome.ACCEPTED, message)


def _form(body: str) -> dict:
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def find_shipment(tracking_number: str, companies: set[str]) -> Shipment | None:
    """The shipment with this tracking number; the carrier code decides between homonyms."""
    candidates = list(Shipment.objects.filter(tracking_number=tracking_number).select_related("carrier")[:10])
    if len(candidates) > 1:
        candidates = [s for s in candidates if s.carrier_id and s.carrier.tracking_code in companies]
    if len(candidates) > 1:
        raise DomainError(
            _("Several shipments have tracking number %(number)s.") % {"number": tracking_number},
            field="lastResult.nu",
        )
    return candidates[0] if candidates else None


def tracking_message_process(message_id: int) -> InboundMessage:
    """Apply a stored push. Safe to run twice at once: the message row is locked and only a
    message still "received" is worked on; the scans themselves deduplicate by fingerprint."""
    inbound_message_started(message_id)
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update(of=("self",)).get(pk=message_id, platform=PLATFORM)
        if message.status != InboundStatus.RECEIVED:
            return message
        message.error = ""
        try:
            push = get_adapter().parse_push(_form(message.body))
            shipment = find_shipment(push.tracking_number, {push.company, *push.other_companies})
            if shipment is None:  # failed, so it can be replayed once the number is corrected
                message.status = InboundStatus.FAILED
                message.error = _("No shipment has tracking number %(number)s (%(company)s).") % {
                    "number": push.tracking_number,
                    "company": push.company,
                }
            else:
                record_tracking(shipment=shipment.pk, events=push.events, source="push")
                message.order_id = shipment.order_id
                message.status = InboundStatus.PROCESSED
                if push.monitoring == "abort":  # Kuaidi100 stopped watching; the poll takes over
                    message.error = push.message[:500]
        except ValueError as exc:
            message.status, message.error = InboundStatus.FAILED, str(exc)
        except DomainError as exc:
            message.status, message.error = InboundStatus.FAILED, exc.message
        message.processed_at = timezone.now()
        message.save(update_fields=["order", "status", "error", "processed_at"])
    return message


# --- polling: the safety net for missed pushes ------------------------------------------------


def tracking_poll_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Query the aggregator for parcels on their way that we have not heard of for
    TRACKING_POLL_HOURS; returns how many were polled. Each parcel is claimed by moving its
    `last_tracking_at` with a conditional update, so two runs at once never poll one twice, and
    no lock is held while the aggregator answers."""
    adapter = get_adapter()
    if not adapter.can_poll():
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.TRACKING_POLL_HOURS)
    due = (
        Shipment.objects.filter(status__in=POLLED_STATES)
        .exclude(tracking_number="")
        .exclude(carrier__isnull=True)
        .exclude(carrier__tracking_code="")
        .annotate(heard=Coalesce("last_tracking_at", "shipped_at"))
        .filter(heard__lte=cutoff)
        .order_by("heard", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    polled = 0
    for shipment_id in list(due):
        stale = Q(last_tracking_at__isnull=True) | Q(last_tracking_at__lte=cutoff)
        if not Shipment.objects.filter(stale, pk=shipment_id).update(last_tracking_at=now):
            continue  # another run took it
        shipment = Shipment.objects.select_related("carrier", "order").get(pk=shipment_id)
        try:
            events = adapter.poll(
                company=shipment.carrier.tracking_code,
                tracking_number=shipment.tracking_number,
                phone=_ship_phone(shipment),
            )
        except RateLimited:
            logger.warning("Kuaidi100 rate limit: tracking poll stops after %s parcels", polled)
            break
        except (PlatformError, CarrierRefused) as exc:
            logger.warning("tracking poll of shipment %s failed: %s", shipment.number, exc)
            continue
        try:
            record_tracking(shipment=shipment_id, events=events, source="poll")
        except DomainError as exc:
            logger.warning("tracking poll of shipment %s not applied: %s", shipment.number, exc.message)
            continue
        polled += 1
    return polled
