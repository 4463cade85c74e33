"""Shipment write-back (发货回传, issue #15): each sales platform is told, for every parcel of its
orders, the carrier and tracking number and exactly the lines the parcel carries.

When. Fulfilment tells integrations that a parcel left the warehouse or that its carrier first
scanned it (fulfilment.warehouse_port → integrations.for_fulfilment → `shipment_event`), inside the
transaction that moved the parcel. Each order the parcel carries gets a ShipmentWriteBack row (a
merged parcel carries several orders; each platform order is told on its own). When the order's
channel writes back at this moment (Channel.writeback_on: as the parcel ships, or at the carrier's
first scan) the row gets an outbox message in that same transaction; a channel set to "never", an
inactive one, or a platform with no write-back (generic API / Excel channels) gets a row "not
sent" saying why.

Delivery (`writeback_deliver`, the outbox handler, config/registry.py). The ShipmentNotice
(integrations.writeback_contract) is built from the parcel as it is then and handed to the
platform client's `write_back_shipment`:

- lines: the order lines in the parcel that the platform sold (those with its line id). A
  bundle's components are reported as units of the bundle line the platform sold, in the parcel
  that completes them (a bundle whose components travel in two parcels is reported with the
  second); a gift our rules added (no platform line) is not reported.
- parcel_index: the parcel's place among all the order's parcels ever made (stable when one is
  cancelled); parcel_count: the order's live parcels; all_lines_shipped:
  with this parcel (and those that left before it) every live unit of the order has left.
- carrier: the carrier code map (CarrierCode: the channel's row, else its platform's). A carrier
  with no row goes as its name with the tracking URL (the map's, else WRITEBACK_TRACKING_URL) to
  platforms that take free text; a client that only takes its platform's codes
  (`writeback_requires_carrier_code`) is refused with an error naming the carrier.

Failures follow the one HTTP rule (core.http): no answer, 408/425/429/5xx and a platform's "busy"
are retried with backoff; a refusal, or the last attempt, dead-letters the message, marks the row
failed with the platform's error and raises an alert (kind `writeback_failed`, keyed like the
outbox's own so replaying resolves it). A manager sends it again from the order page or the failed
queue (`writeback_retry`) once the cause is fixed; the notice is rebuilt then, so a corrected
carrier map is used. Delivery is at least once: the clients check the platform before creating a
fulfilment, so a repeat never makes a second one."""

import logging
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Channel, WriteBackMoment
from core.alerts import alert_raise
from core.errors import DomainError, NotPermitted, TransitionRefused
from core.http import PlatformError, RateLimited, outbox_outcome
from core.models import OutboxMessage, OutboxState
from core.outbox import PermanentFailure, is_last_attempt, outbox_enqueue_many, outbox_replay
from core.roles import Role
from fulfilment.models import LEFT_WAREHOUSE, Carrier, Shipment, ShipmentLine, ShipmentStatus
from fulfilment.services import shipment_orders, unshipped_quantity
from integrations.adapters import get_adapter
from integrations.models import CarrierCode, ShipmentWriteBack, WriteBackState
from integrations.writeback_contract import NoticeLine, ShipmentNotice, WriteBackResult
from orders.models import LineKind, Order, OrderLine

logger = logging.getLogger(__name__)

KIND = "writeback.shipment"
ALERT_KIND = "writeback_failed"
RETRY_PERMISSION = "integrations.retry_shipmentwriteback"
SHIPPED, FIRST_SCAN = "shipped", "first_scan"
WS = WriteBackState


# --- which platforms take a write-back -----------------------------------------------------------


def writeback_client_class(platform: str):
    """The platform's client class when it implements `write_back_shipment`, else None."""
    try:
        client_class = get_adapter(platform).client_class
    except LookupError:
        return None
    if client_class is None or not hasattr(client_class, "write_back_shipment"):
        return None
    return client_class


def _skip_reason(channel: Channel) -> str:
    if channel.writeback_on == WriteBackMoment.OFF:
        return _("The channel is set never to tell its platform.")
    if not channel.is_active:
        return _("The channel is not active.")
    if writeback_client_class(channel.platform) is None:
        return _("%(platform)s takes no shipment write-back.") % {"platform": channel.get_platform_display()}
    return ""


# --- the trigger (inside the transaction that moved the parcel) ------------------------------------


def shipment_event(shipment: Shipment, event: str) -> None:
    """The parcel shipped (`shipped`) or its carrier first scanned it (`first_scan`): record a
    write-back per order it carries and enqueue those whose channel writes back now. Called with
    the parcel and its orders locked (fulfilment.services); repeating it changes nothing."""
    if event not in (SHIPPED, FIRST_SCAN):
        raise ValueError(f"unknown shipment event {event!r}")
    if shipment.status not in LEFT_WAREHOUSE:
        return  # a scan before the handover: "ship" comes later and writes back then
    existing = {wb.order_id: wb for wb in ShipmentWriteBack.objects.filter(shipment=shipment)}
    orders = Order.objects.filter(pk__in=shipment_orders(shipment)).select_related("channel").order_by("pk")
    for order in orders:
        write_back = existing.get(order.pk)
        if write_back is not None and (write_back.outbox_message_id or write_back.state != WS.PENDING):
            continue  # on its way, sent, failed or not sent: a repeated event changes nothing
        channel = order.channel
        reason = _skip_reason(channel)
        if reason:
            if write_back is None:
                ShipmentWriteBack.objects.create(
                    shipment=shipment, order=order, channel=channel, state=WS.SKIPPED, last_error=reason
                )
            else:  # it waited for the first scan, and the channel changed meanwhile
                write_back.state, write_back.last_error = WS.SKIPPED, reason
                write_back.save(update_fields=["state", "last_error", "updated_at"])
            continue
        if write_back is None:
            write_back = ShipmentWriteBack.objects.create(shipment=shipment, order=order, channel=channel)
        due = (
            channel.writeback_on == WriteBackMoment.SHIPPED
            or event == FIRST_SCAN
            or shipment.first_scan_at is not None
        )
        if due:
            _enqueue(write_back, shipment, order, trigger=event)


def _enqueue(write_back: ShipmentWriteBack, shipment: Shipment, order: Order, *, trigger: str) -> None:
    [message_id] = outbox_enqueue_many(
        [
            {
                "kind": KIND,
                "payload": {"write_back_id": write_back.pk},
                # Readable in the outbox and its alert: which parcel of which order.
                "idempotency_key": f"writeback:{shipment.number}:{order.number}",
                "channel_id": write_back.channel_id,
            }
        ]
    )
    write_back.outbox_message_id = message_id
    write_back.trigger = trigger
    write_back.save(update_fields=["outbox_message", "trigger", "updated_at"])


# --- the notice ---------------------------------------------------------------------------------


def carrier_for(channel: Channel, carrier: Carrier, tracking_number: str) -> tuple[str, str, str]:
    """(platform code, name, tracking URL) of the carrier on this channel: the channel's row of
    the carrier code map, else its platform's; without a row, no code and the carrier's name."""
    rows = CarrierCode.objects.filter(platform=channel.platform, carrier=carrier).filter(
        Q(channel=channel) | Q(channel__isnull=True)
    )
    row = min(rows, key=lambda r: r.channel_id is None, default=None)  # the channel's own row first
    code = row.code.strip() if row else ""
    name = (row.name.strip() if row and row.name.strip() else "") or carrier.name
    template = row.tracking_url.strip() if row and row.tracking_url.strip() else ""
    if not template and settings.WRITEBACK_TRACKING_URL and carrier.tracking_code:
        template = settings.WRITEBACK_TRACKING_URL.replace("{carrier}", quote(carrier.tracking_code, safe=""))
    url = template.replace("{number}", quote(tracking_number, safe="")) if template else ""
    return code, name, url


def _order_parcels(order: Order) -> list[Shipment]:
    """The order's live parcels (not cancelled), oldest first."""
    return list(
        Shipment.objects.filter(Q(order=order) | Q(lines__order_line__order=order))
        .exclude(status=ShipmentStatus.CANCELLED)
        .distinct()
        .order_by("pk")
    )


def _carried(order: Order, shipments: list[Shipment]) -> dict[int, int]:
    """Units of each of the order's lines that these parcels carry."""
    carried: dict[int, int] = {}
    for line_id, quantity in ShipmentLine.objects.filter(
        shipment__in=shipments, order_line__order=order
    ).values_list("order_line_id", "quantity"):
        carried[line_id] = carried.get(line_id, 0) + quantity
    return carried


def _bundle_units(bundle: OrderLine, components: list[OrderLine], carried: dict[int, int]) -> int:
    """Whole bundles the carried component units make up."""
    units = bundle.quantity
    for component in components:
        per_bundle = max(component.quantity // bundle.quantity, 1)
        units = min(units, carried.get(component.pk, 0) // per_bundle)
    return units


def notice_lines(order: Order, shipment: Shipment, before: list[Shipment]) -> list[NoticeLine]:
    """The platform's lines in this parcel (see the module docstring), given the parcels that
    left before it."""
    lines = {line.pk: line for line in OrderLine.objects.filter(order=order).order_by("line_no")}
    in_parcel = _carried(order, [shipment])
    earlier = _carried(order, before)
    through = {pk: earlier.get(pk, 0) + in_parcel.get(pk, 0) for pk in set(earlier) | set(in_parcel)}
    units: dict[int, int] = {}
    for line_id, quantity in in_parcel.items():
        line = lines[line_id]
        if line.kind == LineKind.COMPONENT and line.parent_line_id in lines:
            bundle = lines[line.parent_line_id]
            if bundle.pk in units:
                continue
            components = [c for c in lines.values() if c.parent_line_id == bundle.pk]
            made = _bundle_units(bundle, components, through) - _bundle_units(bundle, components, earlier)
            if made > 0:
                units[bundle.pk] = made
        elif line.kind != LineKind.COMPONENT:
            units[line_id] = units.get(line_id, 0) + quantity
    return [
        NoticeLine(
            platform_line_id=lines[pk].platform_line_id,
            platform_item_id=lines[pk].platform_item_id,
            platform_sku_id=lines[pk].platform_sku_id,
            seller_code=lines[pk].seller_code,
            quantity=quantity,
            line_quantity=lines[pk].quantity,
        )
        for pk, quantity in sorted(units.items(), key=lambda item: lines[item[0]].line_no)
        if lines[pk].platform_line_id  # a line the platform never sold (our gift) is not reported
    ]


def build_notice(write_back: ShipmentWriteBack) -> ShipmentNotice | str:
    """The notice for this write-back, or why there is nothing to tell (a string). Raises
    PermanentFailure when the parcel cannot be told as it is (no carrier, an unmapped carrier on
    a platform that only takes its own codes)."""
    shipment, order, channel = write_back.shipment, write_back.order, write_back.channel
    if shipment.status not in LEFT_WAREHOUSE:
        return _("The parcel has not left the warehouse.")
    if shipment.carrier_id is None or not shipment.tracking_number:
        raise PermanentFailure(
            _("Parcel %(number)s has no carrier or tracking number to tell %(platform)s.")
            % {"number": shipment.number, "platform": channel.get_platform_display()}
        )
    parcels = _order_parcels(order)

    def left_at(parcel: Shipment) -> tuple:
        return (parcel.shipped_at or parcel.created_at, parcel.pk)

    # The parcels that left before this one (by when they shipped): with them, a bundle is whole
    # or the order complete.
    before = [
        s
        for s in parcels
        if s.status in LEFT_WAREHOUSE and s.pk != shipment.pk and left_at(s) < left_at(shipment)
    ]
    lines = notice_lines(order, shipment, before)
    if not lines:
        return _(
            "Nothing in this parcel is a line the platform sold, whole (only part of a bundle, or our gifts)."
        )
    carrier = shipment.carrier
    code, name, url = carrier_for(channel, carrier, shipment.tracking_number)
    client_class = writeback_client_class(channel.platform)
    if not code and getattr(client_class, "writeback_requires_carrier_code", False):
        raise PermanentFailure(
            _(
                "Carrier “%(carrier)s” has no %(platform)s code: add it to the carrier code map "
                "(channel %(channel)s), then send the write-back again."
            )
            % {"carrier": carrier.name, "platform": channel.get_platform_display(), "channel": channel.code}
        )
    # Counted over every parcel the order ever had, cancelled ones too: a parcel keeps its number
    # when an earlier one is cancelled (Amazon edits the package a repeated number names).
    index = (
        Shipment.objects.filter(Q(order=order) | Q(lines__order_line__order=order), pk__lt=shipment.pk)
        .distinct()
        .count()
        + 1
    )
    return ShipmentNotice(
        order_external_id=order.external_id,
        shipment_number=shipment.number,
        parcel_index=index,
        parcel_count=len(parcels),
        carrier_code=code,
        carrier_name=name,
        tracking_number=shipment.tracking_number,
        tracking_url=url,
        lines=lines,
        all_lines_shipped=unshipped_quantity(order, [*before, shipment]) == 0,
        # A channel whose customers hear from us (Channel.notify_customers) is not also told
        # by its platform.
        notify_customer=not channel.notify_customers,
        shipped_at=shipment.shipped_at,
    )


# --- delivery (the outbox handler) -----------------------------------------------------------------


def writeback_deliver(message: OutboxMessage) -> None:
    """Tell the platform about one parcel of one order (see the module docstring)."""
    write_back = (
        ShipmentWriteBack.objects.select_related("shipment__carrier", "order", "channel")
        .filter(pk=message.payload.get("write_back_id"))
        .first()
    )
    if write_back is None:
        raise PermanentFailure(f"shipment write-back #{message.payload.get('write_back_id')} does not exist")
    if write_back.state in (WS.SENT, WS.SKIPPED):
        return  # delivered again after it went through: the platform already has it
    try:
        notice = build_notice(write_back)
        if isinstance(notice, str):
            _finish(write_back, message, state=WS.SKIPPED, error=notice)
            return
        client = writeback_client_class(write_back.channel.platform)(write_back.channel)
        result: WriteBackResult = client.write_back_shipment(notice)
    except (PlatformError, RateLimited) as exc:
        failure = outbox_outcome(exc)
        _failed_attempt(write_back, message, failure)
        raise failure from exc
    except Exception as exc:  # noqa: BLE001 - recorded on the row, then retried or dead-lettered by the outbox
        _failed_attempt(write_back, message, exc)
        raise
    _finish(write_back, message, state=WS.SENT, result=result)


def _finish(
    write_back: ShipmentWriteBack,
    message: OutboxMessage,
    *,
    state: str,
    result: WriteBackResult | None = None,
    error: str = "",
) -> None:
    ShipmentWriteBack.objects.filter(pk=write_back.pk).update(
        state=state,
        attempts=message.attempts,
        last_error=error,
        platform_reference=(result.reference if result else "")[:255],
        already_done=bool(result and result.already_done),
        sent_at=timezone.now() if state == WS.SENT else None,
        updated_at=timezone.now(),
    )


def _failed_attempt(write_back: ShipmentWriteBack, message: OutboxMessage, error: Exception) -> None:
    """Record the platform's error; on the last attempt (or a refusal) the row fails and an alert
    is raised under the outbox message's key, so replaying the message resolves it."""
    final = isinstance(error, PermanentFailure) or is_last_attempt(message)
    detail = str(error) or error.__class__.__name__
    ShipmentWriteBack.objects.filter(pk=write_back.pk).update(
        state=WS.FAILED if final else WS.PENDING,
        attempts=message.attempts,
        last_error=detail[:2000],
        updated_at=timezone.now(),
    )
    if not final:
        return
    shipment, order, channel = write_back.shipment, write_back.order, write_back.channel
    alert_raise(
        kind=ALERT_KIND,
        key=f"outbox:{message.pk}",
        role=Role.MANAGER,
        message=(
            _("%(platform)s was not told that parcel %(parcel)s of order %(order)s shipped: %(error)s")
            % {
                "platform": channel.get_platform_display(),
                "parcel": shipment.number,
                "order": order.number,
                "error": detail,
            }
        )[:500],
        payload={
            "outbox_message_id": message.pk,
            "kind": KIND,
            "write_back_id": write_back.pk,
            "order": order.number,
            "shipment": shipment.number,
            "channel": channel.code,
        },
    )


# --- sending a failed write-back again ------------------------------------------------------------


def writeback_retry(*, write_back: ShipmentWriteBack | int, actor=None) -> ShipmentWriteBack:
    """Send a failed write-back again (its dead outbox message is replayed; the notice is
    rebuilt, so a corrected carrier map counts). Managers only."""
    if actor is not None and not actor.has_perm(RETRY_PERMISSION):
        raise NotPermitted(_("You may not send shipment write-backs again."))
    write_back_id = write_back.pk if isinstance(write_back, ShipmentWriteBack) else write_back
    with transaction.atomic():
        row = (
            ShipmentWriteBack.objects.select_for_update()
            .select_related("shipment", "order")
            .filter(pk=write_back_id)
            .first()
        )
        if row is None:
            raise DomainError(_("No such shipment write-back."))
        if row.state != WS.FAILED:
            raise TransitionRefused(
                _("The write-back of parcel %(parcel)s is %(state)s: only a failed one is sent again.")
                % {"parcel": row.shipment.number, "state": row.get_state_display().lower()}
            )
        message = row.outbox_message_id and OutboxMessage.objects.filter(pk=row.outbox_message_id).first()
        if message and message.state == OutboxState.DEAD:
            outbox_replay(message.pk, actor=actor)
        elif message:
            raise TransitionRefused(_("The write-back is still being delivered."))
        else:
            _enqueue(row, row.shipment, row.order, trigger=row.trigger or SHIPPED)
        row.state = WS.PENDING
        row.save(update_fields=["state", "updated_at"])
    return row


# --- reads (order page, failed queue) ---------------------------------------------------------------


def order_writebacks(order: Order) -> dict[int, ShipmentWriteBack]:
    """The write-backs of the order's parcels, by shipment id."""
    rows = ShipmentWriteBack.objects.filter(order=order).select_related("channel")
    return {row.shipment_id: row for row in rows}


def failed_writebacks():
    """Failed write-backs, newest first, for the failed queue."""
    return (
        ShipmentWriteBack.objects.filter(state=WS.FAILED)
        .select_related("shipment", "order", "channel", "outbox_message")
        .order_by("-updated_at", "-pk")
    )
