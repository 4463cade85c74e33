"""What a Qimen cloud warehouse tells us: verify the signature → keep the raw message
(integrations.InboundMessage, platform "qimen") → apply it to the shipment → answer with a Qimen
<response>. Processing is idempotent and never moves a shipment backwards, so repeated and late
callbacks are recorded and change nothing."""

import hashlib
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.refusals import audit_headers, refusal_allowed
from core.timezones import parse_beijing_time
from fulfilment.models import LEFT_WAREHOUSE, Carrier, Shipment, ShipmentStatus
from fulfilment.routing import reroute_rejected
from fulfilment.services import lock_shipment, run_shipment_transition
from integrations.models import InboundMessage, InboundStatus
from integrations.services import DROPPED_HEADERS, inbound_message_started
from integrations.wms.qimen import protocol
from inventory.models import Warehouse, WmsProtocol

PLATFORM = "qimen"
# Kept with the raw message so a replay knows which warehouse signed it and with what parameters.
WAREHOUSE_HEADER = "Conduit-Warehouse"
QUERY_HEADER = "Conduit-Query"

SS = ShipmentStatus
# How far along the warehouse is; a report never takes a shipment to a lower rank.
RANK = {SS.CREATED: 0, SS.SENT_TO_WAREHOUSE: 1, SS.PICKING: 2, SS.PACKED: 3}
NEXT_STEP = {SS.CREATED: "send_to_warehouse", SS.SENT_TO_WAREHOUSE: "start_picking", SS.PICKING: "pack"}
PROCESS_TARGETS = {
    "ACCEPT": SS.SENT_TO_WAREHOUSE,
    "PRINT": SS.PICKING,
    "PICK": SS.PICKING,
    "CHECK": SS.PACKED,
    "PACKAGE": SS.PACKED,
    "WEIGH": SS.PACKED,
    "READY": SS.PACKED,
}
REJECTED = {"REJECT", "EXCEPTION"}
HANDLED = {protocol.DELIVERY_ORDER_CONFIRM, protocol.ORDER_PROCESS_REPORT}


@dataclass(frozen=True)
class Answer:
    status: int  # HTTP status
    body: bytes  # the Qimen <response>
    message: InboundMessage | None = None


def qimen_callback_receive(
    *, warehouse_code: str, params: dict, headers: dict, raw_body: bytes, client_address: str = ""
) -> Answer:
    """Take one callback. A bad signature leaves only an audit row; a signed one is stored and
    applied at once, since the WMS waits for the outcome."""
    warehouse = Warehouse.objects.filter(
        code=warehouse_code, wms_protocol=WmsProtocol.QIMEN, is_active=True
    ).first()
    if warehouse is None:
        return Answer(
            404, protocol.response(success=False, code="invalid-warehouse", message="unknown warehouse")
        )
    method = str(params.get("method") or "").strip()[:100]
    headers = {key: value for key, value in headers.items() if key.lower() not in DROPPED_HEADERS}
    headers[WAREHOUSE_HEADER] = warehouse.code
    headers[QUERY_HEADER] = {key: str(value) for key, value in params.items()}
    row = {
        "platform": PLATFORM,
        "topic": method,
        "headers": headers,
        "body_sha256": hashlib.sha256(raw_body).hexdigest(),
    }
    if not protocol.verify(params, raw_body, warehouse.wms_secret):
        if not refusal_allowed(f"qimen:{warehouse.code}", client_address):
            return Answer(
                429,
                protocol.response(success=False, code="rate-limited", message="too many unsigned requests"),
            )
        # A capped audit line: no body, no query, a few headers.
        row["headers"] = audit_headers(headers, also=(WAREHOUSE_HEADER,), client_address=client_address)
        InboundMessage.objects.create(
            **row, status=InboundStatus.REJECTED, error=_("Bad or missing signature.")
        )
        return Answer(
            401,
            protocol.response(
                success=False, code="sign-check-failure", message="sign: bad or missing signature"
            ),
        )
    message = InboundMessage.objects.create(**row, body=raw_body.decode("utf-8", errors="replace"))
    message = qimen_callback_process(message.pk)
    if message.topic not in HANDLED:  # kept for the record; the WMS hears it was not taken
        body = protocol.response(success=False, code="invalid-method", message=message.error)
    elif message.status == InboundStatus.FAILED:
        body = protocol.response(success=False, code="invalid-parameter", message=message.error)
    else:
        body = protocol.response(success=True, message=message.error or "ok")
    return Answer(200, body, message)


def qimen_callback_process(message_id: int) -> InboundMessage:
    """Apply a stored callback (also the replay path). Only a message still "received" is worked
    on; the message row lock makes two runs at once harmless."""
    inbound_message_started(message_id)
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update(of=("self",)).get(pk=message_id)
        if message.status != InboundStatus.RECEIVED:
            return message
        try:
            with transaction.atomic():  # a refusal leaves nothing half-written
                message.status, message.error = _apply(message)
        except DomainError as exc:
            message.status, message.error = InboundStatus.FAILED, exc.message
        message.processed_at = timezone.now()
        message.save(update_fields=["order", "status", "error", "processed_at"])
    return message


# --- applying a callback ----------------------------------------------------------------------------


def _apply(message: InboundMessage) -> tuple[str, str]:
    """(status, note) for the message; DomainError naming the field when it cannot be applied."""
    handler = {
        protocol.DELIVERY_ORDER_CONFIRM: _delivery_confirmed,
        protocol.ORDER_PROCESS_REPORT: _process_reported,
    }.get(message.topic)
    if handler is None:  # HANDLED lists the same methods
        return InboundStatus.IGNORED, _("method: %(method)s is not supported.") % {
            "method": message.topic or "-"
        }
    try:
        root = protocol.parse(message.body.encode("utf-8"))
    except protocol.MalformedXml as exc:
        raise DomainError(_("body: %(error)s") % {"error": exc}, field="body") from exc
    if root.tag != "request":
        raise DomainError(_("body: the root element must be <request>."), field="body")
    headers = message.headers if isinstance(message.headers, dict) else {}
    warehouse = Warehouse.objects.filter(code=headers.get(WAREHOUSE_HEADER, "")).first()
    if warehouse is None:
        raise DomainError(_("The warehouse this message came for no longer exists."), field="warehouse")
    return handler(message, warehouse, root)


def _text(
    element: ET.Element | None, path: str, field: str, *, required: bool = True, max_length: int = 0
) -> str:
    value = (element.findtext(path) or "").strip() if element is not None else ""
    if required and not value:
        raise DomainError(_("%(field)s: required.") % {"field": field}, field=field)
    if max_length and len(value) > max_length:
        raise DomainError(
            _("%(field)s: at most %(max)s characters.") % {"field": field, "max": max_length}, field=field
        )
    return value


def _time(element: ET.Element | None, path: str, field: str):
    text = _text(element, path, field, required=False)
    if not text:
        return None
    try:
        return parse_beijing_time(text)
    except ValueError as exc:
        raise DomainError(
            _("%(field)s: expected YYYY-MM-DD HH:MM:SS (Beijing time), got %(value)s.")
            % {"field": field, "value": text},
            field=field,
        ) from exc


def _shipment_for(message: InboundMessage, warehouse: Warehouse, number: str, field: str) -> Shipment:
    shipment = Shipment.objects.filter(number=number, warehouse=warehouse).first()
    if shipment is None:
        raise DomainError(
            _("%(field)s: no shipment %(number)s at warehouse %(warehouse)s.")
            % {"field": field, "number": number, "warehouse": warehouse.code},
            field=field,
        )
    message.order_id = shipment.order_id  # the message shows on the order's log even when refused
    return shipment


def _advance(
    shipment: Shipment, orders, target: str, *, reason: str, payload: dict, external_ref: str = ""
) -> None:
    """Step the locked shipment forward to `target` through every state in between."""
    while RANK.get(shipment.status, len(RANK)) < RANK[target]:
        name = NEXT_STEP[shipment.status]
        args = {"external_ref": external_ref} if name == "send_to_warehouse" else None
        run_shipment_transition(shipment, orders, name, None, reason=reason, payload=payload, args=args)


def _delivery_confirmed(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """taobao.qimen.deliveryorder.confirm: the parcel left with a carrier and a waybill number."""
    delivery = root.find("deliveryOrder")
    number = _text(delivery, "deliveryOrderCode", "deliveryOrder.deliveryOrderCode")
    shipment = _shipment_for(message, warehouse, number, "deliveryOrder.deliveryOrderCode")
    packages = root.findall("packages/package")
    first = packages[0] if packages else None
    logistics_code = _text(first, "logisticsCode", "packages.package.logisticsCode", required=False) or _text(
        delivery, "logisticsCode", "packages.package.logisticsCode"
    )
    tracking_number = _text(
        first, "expressCode", "packages.package.expressCode", required=False, max_length=64
    ) or _text(delivery, "expressCode", "packages.package.expressCode", max_length=64)
    carrier = (
        Carrier.objects.filter(Q(code__iexact=logistics_code) | Q(tracking_code__iexact=logistics_code))
        .order_by("pk")
        .first()
    )
    if carrier is None:
        raise DomainError(
            _("packages.package.logisticsCode: no carrier has the code or tracking code %(code)s.")
            % {"code": logistics_code},
            field="packages.package.logisticsCode",
        )
    shipped_at = _time(delivery, "orderConfirmTime", "deliveryOrder.orderConfirmTime")
    delivery_order_id = _text(
        delivery, "deliveryOrderId", "deliveryOrder.deliveryOrderId", required=False, max_length=64
    )
    payload = {
        "wms": "qimen",
        "method": message.topic,
        "packages": [
            {
                "logisticsCode": (p.findtext("logisticsCode") or "").strip(),
                "expressCode": (p.findtext("expressCode") or "").strip(),
            }
            for p in packages
        ],
    }

    shipment, orders = lock_shipment(shipment)
    if shipment.status == SS.CANCELLED:
        raise DomainError(
            _("%(field)s: shipment %(number)s was cancelled, but the warehouse shipped it.")
            % {"field": "deliveryOrder.deliveryOrderCode", "number": number},
            field="deliveryOrder.deliveryOrderCode",
        )
    if shipment.status in LEFT_WAREHOUSE:
        if shipment.carrier_id == carrier.pk and shipment.tracking_number == tracking_number:
            return InboundStatus.IGNORED, _("Already shipped with this waybill; nothing changed.")
        return InboundStatus.IGNORED, _(
            "Already shipped with %(carrier)s %(tracking)s; this confirmation changed nothing."
        ) % {"carrier": shipment.carrier, "tracking": shipment.tracking_number}
    taken = (
        Shipment.objects.filter(carrier=carrier, tracking_number=tracking_number)
        .exclude(pk=shipment.pk)
        .first()
    )
    if taken is not None:
        raise DomainError(
            _("%(field)s: tracking number %(tracking)s is already used by shipment %(number)s.")
            % {"field": "packages.package.expressCode", "tracking": tracking_number, "number": taken.number},
            field="packages.package.expressCode",
        )
    reason = _("Shipped by the cloud warehouse.")
    _advance(shipment, orders, SS.PACKED, reason=reason, payload=payload, external_ref=delivery_order_id)
    try:
        with transaction.atomic():  # a savepoint: the unique waybill may be taken at the same moment
            run_shipment_transition(
                shipment,
                orders,
                "ship",
                None,
                reason=reason,
                payload=payload,
                args={"carrier": carrier, "tracking_number": tracking_number, "shipped_at": shipped_at},
            )
    except IntegrityError as exc:  # another confirmation shipped a parcel with this waybill meanwhile
        raise DomainError(
            _("%(field)s: tracking number %(tracking)s is already used by another shipment.")
            % {"field": "packages.package.expressCode", "tracking": tracking_number},
            field="packages.package.expressCode",
        ) from exc
    return InboundStatus.PROCESSED, ""


def _process_reported(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """taobao.qimen.orderprocess.report: how far the warehouse is with a shipment."""
    order = root.find("order")
    process = root.find("process")
    number = _text(order, "orderCode", "order.orderCode")
    status = _text(process, "processStatus", "process.processStatus").upper()
    shipment = _shipment_for(message, warehouse, number, "order.orderCode")
    external_ref = _text(order, "orderId", "order.orderId", required=False, max_length=64)
    detail = _text(process, "operateInfo", "process.operateInfo", required=False) or _text(
        process, "remark", "process.remark", required=False
    )
    payload = {"wms": "qimen", "method": message.topic, "processStatus": status}

    if status in REJECTED:
        if shipment.status not in RANK:
            return InboundStatus.IGNORED, _(
                "%(status)s reported for a shipment that is %(current)s; nothing changed."
            ) % {
                "status": status,
                "current": shipment.get_status_display(),
            }
        _reroute(shipment, reason=f"WMS {status}: {detail}".strip().rstrip(":")[:255])
        return InboundStatus.PROCESSED, ""

    target = PROCESS_TARGETS.get(status)
    if target is None:
        return InboundStatus.IGNORED, _("process.processStatus: %(status)s changes nothing here.") % {
            "status": status
        }
    shipment, orders = lock_shipment(shipment)
    if RANK.get(shipment.status, len(RANK)) >= RANK[target]:
        if external_ref and not shipment.external_ref and shipment.status != SS.CANCELLED:
            Shipment.objects.filter(pk=shipment.pk).update(external_ref=external_ref)
        return InboundStatus.IGNORED, _(
            "%(status)s reported late or again: the shipment is already %(current)s."
        ) % {
            "status": status,
            "current": shipment.get_status_display(),
        }
    reason = _("Cloud warehouse: %(status)s") % {"status": status}
    _advance(shipment, orders, target, reason=reason, payload=payload, external_ref=external_ref)
    return InboundStatus.PROCESSED, ""


def _reroute(shipment: Shipment, *, reason: str) -> None:
    reroute_rejected(shipment=shipment, reason=reason)
