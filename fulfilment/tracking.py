"""Carrier tracking write-back (R-F4) and electronic-waybill results (R-F3).

`record_tracking` stores a carrier's scans (from a push, a poll or the WMS) and moves the
shipment the way its scans say, through the lead's shipment service so the orders follow:

- the earliest scan is the first scan (`first_scan_at`) and takes a shipped parcel in transit;
- a signed-for scan delivers it (from shipped, in transit or exception) and it stays delivered;
- the newest scan being exception / returned / lost puts it in exception and alerts customer
  service; a newer ordinary scan after that recovers it (back in transit).

The decision is made from every stored scan, newest by `occurred_at`, so a scan that arrives late
(older than the newest) is stored but never moves the state backwards, and a repeated delivery
changes nothing. `last_tracking_at` is when we last heard from the carrier about the parcel (a
push or a poll, with or without new scans): the poll uses it to leave fresh parcels alone.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError
from core.models import AlertSeverity
from core.roles import Role
from fulfilment.models import (
    IN_WAREHOUSE,
    LEFT_WAREHOUSE,
    Carrier,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TrackingStatus,
)
from fulfilment.services import lock_shipment, run_shipment_transition
from fulfilment.warehouse_port import warehouses
from orders.models import OrderEventKind
from orders.transitions import record_order_event

SS = ShipmentStatus
TS = TrackingStatus
# Scans that put the parcel in exception, and how loud the customer-service alert is.
TROUBLE = {
    TS.EXCEPTION: AlertSeverity.WARNING,
    TS.RETURNED: AlertSeverity.CRITICAL,
    TS.LOST: AlertSeverity.CRITICAL,
}
SOURCES = {"push", "poll", "wms"}


@dataclass(frozen=True)
class TrackingUpdate:
    """One carrier scan, normalised by a carrier adapter (times aware)."""

    occurred_at: datetime
    status: str  # a TrackingStatus value
    carrier_status: str = ""  # the carrier's own code, e.g. Kuaidi100 "1002"
    description: str = ""
    location: str = ""

    def fingerprint(self) -> str:
        text = "|".join(
            [self.occurred_at.astimezone(UTC).isoformat(), self.status, self.description, self.location]
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class TrackingResult:
    new_events: int = 0
    transition: str | None = None


def first_scan_alert_key(shipment_id: int) -> str:
    return f"first_scan:{shipment_id}"


def exception_alert_key(shipment_id: int) -> str:
    return f"shipment_exception:{shipment_id}"


def _validate(events: list[TrackingUpdate]) -> None:
    for index, event in enumerate(events):
        if event.status not in TS.values:
            raise DomainError(
                _("Tracking event %(index)s: unknown status “%(status)s”.")
                % {"index": index, "status": event.status},
                field=f"events[{index}].status",
            )
        if not isinstance(event.occurred_at, datetime) or timezone.is_naive(event.occurred_at):
            raise DomainError(
                _("Tracking event %(index)s: the time must carry its time zone.") % {"index": index},
                field=f"events[{index}].occurred_at",
            )


def _rows(
    shipment: Shipment, events: list[TrackingUpdate], source: str, now: datetime
) -> list[TrackingEvent]:
    """Unsaved rows, oldest first (equal times keep the carrier's newest-first order reversed),
    one per fingerprint."""
    rows: dict[str, TrackingEvent] = {}
    ordered = list(reversed(events))  # carriers list newest first; a stable sort keeps ties in time order
    ordered.sort(key=lambda e: e.occurred_at)
    for event in ordered:
        fingerprint = event.fingerprint()
        rows.setdefault(
            fingerprint,
            TrackingEvent(
                shipment=shipment,
                occurred_at=event.occurred_at,
                status=event.status,
                carrier_status=event.carrier_status[:40],
                description=event.description[:500],
                location=event.location[:120],
                source=source,
                fingerprint=fingerprint,
                received_at=now,
            ),
        )
    return list(rows.values())


def _target(shipment: Shipment, events: list[TrackingEvent]) -> tuple[str | None, TrackingEvent | None]:
    """(transition, the scan that calls for it) given every stored scan; (None, None) to stay."""
    if shipment.status not in LEFT_WAREHOUSE or shipment.status == SS.DELIVERED or not events:
        return None, None
    signed = [e for e in events if e.status == TS.DELIVERED]
    if signed:
        return "deliver", signed[0]
    newest = events[-1]
    if newest.status in TROUBLE:
        return ("mark_exception", newest) if shipment.status != SS.EXCEPTION else (None, newest)
    return ("mark_in_transit", newest) if shipment.status != SS.IN_TRANSIT else (None, newest)


def record_tracking(*, shipment: Shipment | int, events: list[TrackingUpdate], source: str) -> TrackingResult:
    """Store new scans (the unique fingerprint deduplicates) and write the shipment back."""
    if source not in SOURCES:
        raise DomainError(_("Unknown tracking source “%(source)s”.") % {"source": source}, field="source")
    _validate(events)
    now = timezone.now()
    result = TrackingResult()
    with transaction.atomic():
        # Orders → shipment: concurrent pushes and polls of one parcel queue here.
        shipment, orders = lock_shipment(shipment)
        rows = _rows(shipment, events, source, now)
        known = set(
            TrackingEvent.objects.filter(
                shipment=shipment, fingerprint__in=[r.fingerprint for r in rows]
            ).values_list("fingerprint", flat=True)
        )
        fresh = [row for row in rows if row.fingerprint not in known]
        # Writers hold the shipment lock; the unique constraint still has the last word.
        TrackingEvent.objects.bulk_create(fresh, ignore_conflicts=True)
        result.new_events = len(fresh)

        stored = list(TrackingEvent.objects.filter(shipment=shipment).order_by("occurred_at", "pk"))
        had_first_scan = shipment.first_scan_at is not None
        if stored and (shipment.first_scan_at is None or stored[0].occurred_at < shipment.first_scan_at):
            shipment.first_scan_at = stored[0].occurred_at
        shipment.last_tracking_at = now
        shipment.save(update_fields=["first_scan_at", "last_tracking_at", "updated_at"])

        name, cause = _target(shipment, stored)
        if name:
            _apply(shipment, orders, name, cause, source)
            result.transition = name
        news = {row.fingerprint for row in fresh}
        troubled = cause is not None and cause.status in TROUBLE and shipment.status == SS.EXCEPTION
        # Raised when the parcel goes wrong, bumped by each new bad scan, not by repeats.
        if troubled and (name == "mark_exception" or cause.fingerprint in news):
            _raise_trouble(shipment, orders, cause)
        if name in ("mark_in_transit", "deliver"):
            alert_resolve(key=exception_alert_key(shipment.pk))
        if shipment.first_scan_at is not None and not had_first_scan:
            alert_resolve(key=first_scan_alert_key(shipment.pk))
            warehouses().shipment_first_scan(shipment)  # channels that write back at the first scan
    return result


def _apply(shipment: Shipment, orders: list, name: str, cause: TrackingEvent, source: str) -> None:
    from_status = shipment.status
    args = (
        {"at": cause.occurred_at} if name in ("mark_in_transit", "deliver") else {"problem": _problem(cause)}
    )
    scan = {
        "status": cause.status,
        "carrier_status": cause.carrier_status,
        "description": cause.description,
        "location": cause.location,
        "occurred_at": cause.occurred_at.isoformat(),
        "source": source,
    }
    run_shipment_transition(
        shipment, orders, name, None, reason=cause.description[:255], payload={"tracking": scan}, args=args
    )
    # The scan that changed the state goes on each order's timeline; ordinary scans do not.
    for order in orders:
        record_order_event(
            order,
            OrderEventKind.TRACKING,
            None,
            reason=cause.description,
            payload={"shipment": shipment.number, "from": from_status, "to": shipment.status, **scan},
        )


def _problem(event: TrackingEvent) -> str:
    label = TS(event.status).label
    return (f"{label}: {event.description}" if event.description else str(label))[:255]


def _raise_trouble(shipment: Shipment, orders: list, event: TrackingEvent) -> None:
    alert_raise(
        kind="shipment_exception",
        key=exception_alert_key(shipment.pk),
        role=Role.CUSTOMER_SERVICE,
        severity=TROUBLE[event.status],
        message=(
            _("Shipment %(number)s (order %(orders)s, %(carrier)s %(tracking)s): %(problem)s")
            % {
                "number": shipment.number,
                "orders": ", ".join(order.number for order in orders),
                "carrier": shipment.carrier.name if shipment.carrier_id else "-",
                "tracking": shipment.tracking_number or "-",
                "problem": _problem(event),
            }
        )[:500],
        payload={
            "shipment_id": shipment.pk,
            "shipment": shipment.number,
            "order_numbers": [order.number for order in orders],
            "tracking_status": event.status,
            "carrier_status": event.carrier_status,
        },
    )


# --- electronic waybills ----------------------------------------------------------------------


def shipment_record_waybill(
    *,
    shipment: Shipment | int,
    carrier: Carrier,
    tracking_number: str,
    label: str = "",
    details: dict | None = None,
) -> Shipment:
    """Keep the waybill the carrier issued so the warehouse can print it and ship. A shipment
    that already has a tracking number keeps it (a waybill is issued once)."""
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise DomainError(_("The carrier returned no tracking number."), field="tracking_number")
    with transaction.atomic():
        shipment, _orders = lock_shipment(shipment)
        if shipment.tracking_number:
            return shipment
        if shipment.status not in IN_WAREHOUSE:
            raise DomainError(
                _("Shipment %(number)s is %(status)s: no waybill is needed any more.")
                % {"number": shipment.number, "status": shipment.get_status_display()},
                field="status",
            )
        if (
            Shipment.objects.filter(carrier=carrier, tracking_number=tracking_number)
            .exclude(pk=shipment.pk)
            .exists()
        ):
            raise DomainError(
                _("Tracking number %(number)s is already used by another shipment.")
                % {"number": tracking_number},
                field="tracking_number",
            )
        shipment.carrier = carrier
        shipment.tracking_number = tracking_number
        shipment.waybill = {
            "carrier": carrier.code,
            "tracking_number": tracking_number,
            "label": label,
            "issued_at": timezone.now().isoformat(),
            **(details or {}),
        }
        shipment.problem = ""
        shipment.save(update_fields=["carrier", "tracking_number", "waybill", "problem", "updated_at"])
    return shipment


def shipment_record_problem(*, shipment: Shipment | int, problem: str) -> None:
    """Show why outbound work for the shipment failed (e.g. the carrier refused the waybill)."""
    with transaction.atomic():
        shipment, _orders = lock_shipment(shipment)
        shipment.problem = problem[:255]
        shipment.save(update_fields=["problem", "updated_at"])
