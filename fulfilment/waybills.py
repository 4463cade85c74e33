"""The electronic waybill requested when a shipment is released to an own warehouse (issue #17
part 2): the domain side. The integrations layer decides the source (Kuaidi100 or the sales
platform's own e-waybill) and makes the call (integrations.carriers.waybills); here the request's
state moves: open → issued, or → the backup carrier once → the "waybill failed" queue (a desk page,
retried in bulk) with an alert.

Exactly one number per shipment: the request row is claimed (with a lease) before the source is
called, a message of an older attempt is ignored, and a shipment that has its number is done —
so a repeated outbox delivery never takes a second number.

A shipment cancelled before it leaves the warehouse gives its e-waybill number back: the cancel
is asked of the source through the outbox (kind CANCEL_KIND, integrations.carriers.waybills.
waybill_cancel_deliver) and its outcome kept on the shipment as `waybill["cancel"]` — {"state",
"at", "error"?}, states in WaybillCancel — with an alert when the number could not be given back.
A number the source issues after the shipment was cancelled (a call already on its way) is kept
there too and cancelled the same way. The shipment's cancel never waits for any of this."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise, alert_resolve
from core.errors import DomainError
from core.outbox import outbox_enqueue
from core.roles import Role
from fulfilment.carrier_rules import CarrierChoice
from fulfilment.models import IN_WAREHOUSE, Shipment, WaybillRequest, WaybillState
from fulfilment.services import lock_shipment
from fulfilment.tracking import shipment_record_waybill

KIND = "carrier.waybill"  # outbox kind: integrations.carriers.waybills.waybill_deliver
CANCEL_KIND = "carrier.waybill.cancel"  # integrations.carriers.waybills.waybill_cancel_deliver
ALERT_KIND = "waybill_failed"
CANCEL_ALERT_KIND = "waybill_cancel_failed"
LEASE = timedelta(minutes=5)  # as the outbox's: a call not answered by then is presumed lost
RETRY_PERMISSION = "orders.work_shipment"


class WaybillCancel:
    """States of `Shipment.waybill["cancel"]`."""

    REQUESTED = "requested"  # in the outbox
    CANCELLED = "cancelled"  # the source said it is cancelled
    SENT = "sent"  # the source took the call; what it answers is not published (JD)
    REFUSED = "refused"  # the source said no (e.g. the number is in use): alert
    FAILED = "failed"  # could not be asked (account settings, errors until the last attempt): alert
    NOT_CANCELLABLE = "not_cancellable"  # the source has no cancel call: alert

    DONE = (CANCELLED, SENT)
    ALERTING = (REFUSED, FAILED, NOT_CANCELLABLE)


def waybill_alert_key(shipment_id: int) -> str:
    return f"waybill_failed:{shipment_id}"


def waybill_cancel_alert_key(shipment_id: int) -> str:
    return f"waybill_cancel_failed:{shipment_id}"


def _history(request: WaybillRequest, event: str, **details) -> None:
    request.history = [
        *request.history,
        {"at": timezone.now().isoformat(), "event": event, "carrier": request.carrier.code, **details},
    ][-20:]


def _enqueue(request: WaybillRequest) -> None:
    outbox_enqueue(
        kind=KIND,
        payload={"request_id": request.pk, "attempt": request.attempt},
        idempotency_key=f"waybill:{request.shipment_id}:{request.attempt}",
    )


def shipment_carrier_chosen(*, shipment: Shipment, choice: CarrierChoice) -> None:
    """Keep the chosen carrier and why on the (locked) shipment, in the caller's transaction."""
    shipment.routing = {**(shipment.routing or {}), "carrier": choice.as_routing()}
    shipment.carrier = choice.carrier
    shipment.save(update_fields=["routing", "carrier", "updated_at"])


def waybill_request_open(*, shipment: Shipment, choice: CarrierChoice, source: str) -> WaybillRequest | None:
    """Ask for the shipment's waybill through the outbox, in the caller's transaction (the one
    releasing the shipment). None when it has its number or a request already."""
    if shipment.tracking_number or WaybillRequest.objects.filter(shipment=shipment).exists():
        return None
    request = WaybillRequest(
        shipment=shipment, source=source, carrier=choice.carrier, backup_carrier=choice.backup
    )
    _history(request, "requested", source=source)
    request.save()
    _enqueue(request)
    return request


def waybill_claim(*, request_id: int, attempt: int, now: datetime | None = None) -> WaybillRequest | str:
    """Take the request for one call to the source. Returns the request, or why not: "done" (issued,
    failed, or superseded by a later attempt: the message has nothing left to do) or "busy" (another
    delivery is calling the source now; come back later)."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            WaybillRequest.objects.select_for_update(of=("self",))
            .select_related("carrier", "backup_carrier", "shipment")
            .filter(pk=request_id)
            .first()
        )
        if request is None or request.state != WaybillState.PENDING or request.attempt != attempt:
            return "done"
        if request.shipment.tracking_number or request.shipment.status not in IN_WAREHOUSE:
            request.state = WaybillState.ISSUED if request.shipment.tracking_number else request.state
            request.claimed_until = None
            request.save(update_fields=["state", "claimed_until", "updated_at"])
            return "done"
        if request.claimed_until and request.claimed_until > now:
            return "busy"
        request.claimed_until = now + LEASE
        request.save(update_fields=["claimed_until", "updated_at"])
    return request


def waybill_issued(
    *, request: WaybillRequest, tracking_number: str, label: str = "", details: dict | None = None
) -> Shipment:
    """Keep the number the source issued on the shipment (printing reads `tracking_number`). A
    shipment cancelled while the source was being asked keeps the number only in `waybill`, to be
    cancelled (nobody may print it)."""
    try:
        with transaction.atomic():
            shipment, _orders = lock_shipment(request.shipment_id)
            if not shipment.tracking_number and shipment.status not in IN_WAREHOUSE:
                return _issued_after_cancel(
                    shipment=shipment, request=request, tracking_number=tracking_number, details=details
                )
            shipment = shipment_record_waybill(
                shipment=request.shipment_id,
                carrier=request.carrier,
                tracking_number=tracking_number,
                label=label,
                details={"source": request.source, **(details or {})},
            )
            locked = WaybillRequest.objects.select_for_update().get(pk=request.pk)
            locked.state, locked.error, locked.claimed_until = WaybillState.ISSUED, "", None
            locked.history = request.history
            _history(locked, "issued", tracking_number=shipment.tracking_number)
            locked.save(update_fields=["state", "error", "claimed_until", "history", "updated_at"])
            alert_resolve(key=waybill_alert_key(request.shipment_id))
    except DomainError as exc:  # e.g. the number is another shipment's: nobody should print it
        waybill_failed(request=request, error=exc.message, use_backup=False)
        raise
    return shipment


def _issued_after_cancel(
    *, shipment: Shipment, request: WaybillRequest, tracking_number: str, details: dict | None
) -> Shipment:
    """In waybill_issued's transaction, the shipment locked."""
    now = timezone.now().isoformat()
    shipment.waybill = {
        "carrier": request.carrier.code,
        "tracking_number": tracking_number,
        "issued_at": now,
        "source": request.source,
        **(details or {}),
        "issued_after_cancel": True,
    }
    shipment.save(update_fields=["waybill", "updated_at"])
    locked = WaybillRequest.objects.select_for_update().get(pk=request.pk)
    locked.state, locked.claimed_until = WaybillState.ISSUED, None
    locked.history = request.history
    _history(locked, "issued_after_cancel", tracking_number=tracking_number)
    locked.save(update_fields=["state", "claimed_until", "history", "updated_at"])
    waybill_cancel_open(shipment=shipment)
    return shipment


def waybill_cancel_open(*, shipment: Shipment) -> bool:
    """Ask, through the outbox, for the e-waybill number of the (locked, cancelled) shipment to be
    cancelled, in the caller's transaction. False when it holds none or it was asked already."""
    waybill = dict(shipment.waybill or {})
    number = str(waybill.get("tracking_number") or "")
    if not number or not waybill.get("source") or waybill.get("cancel"):
        return False
    waybill["cancel"] = {"state": WaybillCancel.REQUESTED, "at": timezone.now().isoformat()}
    shipment.waybill = waybill
    shipment.save(update_fields=["waybill", "updated_at"])
    request = WaybillRequest.objects.select_for_update().filter(shipment=shipment).first()
    if request is not None:
        _history(request, "cancel_requested", tracking_number=number)
        request.save(update_fields=["history", "updated_at"])
    outbox_enqueue(
        kind=CANCEL_KIND,
        payload={"shipment_id": shipment.pk, "tracking_number": number},
        idempotency_key=f"waybill-cancel:{shipment.pk}:{number}",
    )
    return True


def waybill_cancel_pending(*, shipment_id: int, tracking_number: str) -> Shipment | None:
    """The shipment whose number is still to be cancelled; None when the message has nothing left
    to do (cancelled, refused or given up already, or another number)."""
    shipment = Shipment.objects.select_related("order__channel", "carrier").filter(pk=shipment_id).first()
    waybill = (shipment.waybill or {}) if shipment else {}
    if waybill.get("tracking_number") != tracking_number:
        return None
    if (waybill.get("cancel") or {}).get("state") != WaybillCancel.REQUESTED:
        return None
    return shipment


def waybill_cancel_recorded(
    *, shipment_id: int, tracking_number: str, state: str, error: str = ""
) -> Shipment | None:
    """Keep what the source answered to the cancel. Only a cancel still requested moves (a late
    duplicate delivery cannot turn "cancelled" into "refused"); an outcome in ALERTING raises an
    alert for the warehouse, who gives the number back in the platform's own console."""
    error = error[:500]
    with transaction.atomic():
        shipment, _orders = lock_shipment(shipment_id)
        waybill = dict(shipment.waybill or {})
        cancel = waybill.get("cancel") or {}
        if (
            waybill.get("tracking_number") != tracking_number
            or cancel.get("state") != WaybillCancel.REQUESTED
        ):
            return None
        waybill["cancel"] = {
            "state": state,
            "at": timezone.now().isoformat(),
            **({"error": error} if error else {}),
        }
        shipment.waybill = waybill
        shipment.save(update_fields=["waybill", "updated_at"])
        request = WaybillRequest.objects.select_for_update().filter(shipment=shipment).first()
        if request is not None:
            _history(
                request,
                f"cancel_{state}",
                tracking_number=tracking_number,
                **({"error": error} if error else {}),
            )
            request.save(update_fields=["history", "updated_at"])
        if state in WaybillCancel.ALERTING:
            alert_raise(
                kind=CANCEL_ALERT_KIND,
                key=waybill_cancel_alert_key(shipment.pk),
                role=Role.WAREHOUSE,
                message=(
                    _(
                        "Waybill %(tracking)s of cancelled shipment %(number)s was not cancelled "
                        "(%(source)s): %(error)s"
                    )
                    % {
                        "tracking": tracking_number,
                        "number": shipment.number,
                        "source": waybill.get("source", ""),
                        "error": error or _("No reason given."),
                    }
                )[:500],
                payload={
                    "shipment_id": shipment.pk,
                    "shipment": shipment.number,
                    "tracking_number": tracking_number,
                },
            )
    return shipment


def waybill_cancel_attempt_failed(*, shipment_id: int, tracking_number: str, error: str) -> None:
    """A temporary failure of the cancel call (retried by the outbox): noted, nothing moves."""
    with transaction.atomic():
        request = WaybillRequest.objects.select_for_update().filter(shipment_id=shipment_id).first()
        if request is not None:
            _history(request, "cancel_retry", tracking_number=tracking_number, error=error[:200])
            request.save(update_fields=["history", "updated_at"])


def waybill_failed(*, request: WaybillRequest, error: str, use_backup: bool = True) -> WaybillRequest:
    """The source refused, or could not be reached for the last time. The rule's backup carrier is
    tried once (the reason written on the shipment); then the request joins the failed queue and
    an alert is raised for the warehouse."""
    error = (error or _("No reason given."))[:500]
    with transaction.atomic():
        shipment, _orders = lock_shipment(request.shipment_id)
        request = (
            WaybillRequest.objects.select_for_update(of=("self",))
            .select_related("carrier", "backup_carrier")
            .get(pk=request.pk)
        )
        if request.state != WaybillState.PENDING:
            return request
        failed_carrier = request.carrier
        _history(request, "failed", error=error)
        request.claimed_until = None
        if use_backup and request.backup_carrier is not None and shipment.status in IN_WAREHOUSE:
            backup = request.backup_carrier
            reason = _("%(carrier)s failed (%(error)s): backup carrier %(backup)s used") % {
                "carrier": failed_carrier.name,
                "error": error,
                "backup": backup.name,
            }
            routing = dict(shipment.routing or {})
            routing["carrier"] = {**routing.get("carrier", {}), "carrier": backup.code, "backup_used": reason}
            shipment.routing, shipment.carrier = routing, backup
            shipment.save(update_fields=["routing", "carrier", "updated_at"])
            request.carrier, request.backup_carrier = backup, None
            request.attempt += 1
            request.error = error
            _history(request, "backup", reason=reason)
            request.save()
            _enqueue(request)
            return request
        request.state, request.error = WaybillState.FAILED, error
        request.save()
        shipment.problem = (_("Waybill failed: %(error)s") % {"error": error})[:255]
        shipment.save(update_fields=["problem", "updated_at"])
        alert_raise(
            kind=ALERT_KIND,
            key=waybill_alert_key(shipment.pk),
            role=Role.WAREHOUSE,
            message=(
                _("No waybill for shipment %(number)s (%(carrier)s): %(error)s")
                % {"number": shipment.number, "carrier": failed_carrier.name, "error": error}
            )[:500],
            payload={"shipment_id": shipment.pk, "shipment": shipment.number, "carrier": failed_carrier.code},
        )
    return request


def waybill_release_claim(*, request: WaybillRequest, error: str = "") -> None:
    """A temporary failure: let the next delivery of the message call again. The failure is noted
    in the history: when the answer was lost after the source issued a number, the next call may
    take a second one (sources without an idempotent request, see integrations.carriers.waybills)."""
    with transaction.atomic():
        locked = (
            WaybillRequest.objects.select_for_update()
            .filter(pk=request.pk, state=WaybillState.PENDING)
            .first()
        )
        if locked is None:
            return
        locked.claimed_until = None
        _history(locked, "retry", error=(error or "")[:200])
        locked.save(update_fields=["claimed_until", "history", "updated_at"])


def waybills_retry(*, request_ids: list[int], actor=None) -> int:
    """Ask again, with the carrier that failed, for the failed requests given; returns how many.
    Rows are locked in id order (never a shipment: waybill_failed locks shipment → request); a
    request no longer failed is left alone. The shipment's problem clears when its number comes."""
    if actor is not None and not actor.has_perm(RETRY_PERMISSION):
        raise DomainError(_("You are not allowed to request waybills."), field="requests")
    retried = 0
    with transaction.atomic():
        requests = list(
            WaybillRequest.objects.select_for_update(of=("self",))
            .select_related("carrier", "shipment")
            .filter(pk__in=sorted(set(request_ids)), state=WaybillState.FAILED)
            .order_by("pk")
        )
        for request in requests:
            if request.shipment.tracking_number or request.shipment.status not in IN_WAREHOUSE:
                continue
            request.state = WaybillState.PENDING
            request.attempt += 1
            request.claimed_until = None
            _history(request, "retried", by=getattr(actor, "username", "") or "")
            request.save()
            alert_resolve(key=waybill_alert_key(request.shipment_id), actor=actor)
            _enqueue(request)
            retried += 1
    return retried


def failed_waybills():
    """The "waybill failed" queue, oldest failure first."""
    return (
        WaybillRequest.objects.filter(state=WaybillState.FAILED)
        .select_related("shipment", "shipment__order", "shipment__warehouse", "carrier")
        .order_by("updated_at", "pk")
    )
