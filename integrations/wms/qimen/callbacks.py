"""What a Qimen cloud warehouse tells us: verify the signature → keep the raw message
(integrations.InboundMessage, platform "qimen") → apply it to the shipment → answer with a Qimen
<response> (transfers' stockout.confirm and entryorder.confirm: integrations.wms.qimen.transfers;
entryorder.confirm of a purchase order, CGRK: integrations.wms.qimen.purchases).
Processing is idempotent and never moves a shipment backwards, so repeated and late callbacks
are recorded and change nothing. Methods come with or without the "taobao.qimen." prefix; a
version other than protocol.VERSIONS is kept and refused (invalid-version)."""

import hashlib
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.errors import DomainError
from core.refusals import audit_headers, refusal_allowed
from core.roles import Role
from fulfilment.models import IN_WAREHOUSE, LEFT_WAREHOUSE, Carrier, Shipment, ShipmentLine, ShipmentStatus
from fulfilment.routing import reroute_rejected
from fulfilment.services import lock_shipment, run_shipment_transition, shipment_orders
from fulfilment.splitting import shipment_split_off
from integrations.models import InboundMessage, InboundStatus
from integrations.services import DROPPED_HEADERS, inbound_message_started
from integrations.wms.qimen import protocol
from integrations.wms.qimen import purchases as purchase_confirms
from integrations.wms.qimen import transfers as transfer_confirms
from integrations.wms.qimen.reading import text as _text
from integrations.wms.qimen.reading import time as _time
from integrations.wms.qimen.reading import units as _units
from inventory.models import Warehouse, WarehouseCarrierCode, WmsProtocol
from orders.models import OrderEventKind
from orders.transitions import record_order_event

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
HANDLED = {protocol.DELIVERY_ORDER_CONFIRM, protocol.ORDER_PROCESS_REPORT, *transfer_confirms.HANDLED}
# Gateways forward the method with or without the "taobao.qimen." prefix
# (deliveryorder.confirm, as in the SOURCES.md notes); both are stored as the full name.
METHOD_NAMES = {name: name for name in HANDLED} | {protocol.short_method(name): name for name in HANDLED}


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
    method = METHOD_NAMES.get(method, method)
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
    elif not protocol.version_supported(params.get("v")):
        body = protocol.response(success=False, code="invalid-version", message=message.error)
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
        **transfer_confirms.CONFIRM_HANDLERS,  # stockout.confirm, entryorder.confirm of transfers
        protocol.ENTRYORDER_CONFIRM: _entry_confirmed,  # of a transfer (DBRK) or a purchase (CGRK)
    }.get(message.topic)
    if handler is None:  # HANDLED lists the same methods
        return InboundStatus.IGNORED, _("method: %(method)s is not supported.") % {
            "method": message.topic or "-"
        }
    headers = message.headers if isinstance(message.headers, dict) else {}
    query = headers.get(QUERY_HEADER) if isinstance(headers.get(QUERY_HEADER), dict) else {}
    if not protocol.version_supported(query.get("v")):
        return InboundStatus.IGNORED, _("v: version %(version)s is not supported (only %(supported)s).") % {
            "version": query.get("v") or "-",
            "supported": ", ".join(protocol.VERSIONS),
        }
    try:
        root = protocol.parse(message.body.encode("utf-8"))
    except protocol.MalformedXml as exc:
        raise DomainError(_("body: %(error)s") % {"error": exc}, field="body") from exc
    if root.tag != "request":
        raise DomainError(_("body: the root element must be <request>."), field="body")
    warehouse = Warehouse.objects.filter(code=headers.get(WAREHOUSE_HEADER, "")).first()
    if warehouse is None:
        raise DomainError(_("The warehouse this message came for no longer exists."), field="warehouse")
    return handler(message, warehouse, root)


def _entry_confirmed(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """entryorder.confirm: a purchase receipt (CGRK) or a transfer receipt (anything else, which
    the transfers refuse unless it is DBRK)."""
    if purchase_confirms.is_purchase_receipt(warehouse, root.find("entryOrder")):
        return purchase_confirms.entryorder_confirmed(message, warehouse, root)
    return transfer_confirms.entryorder_confirmed(message, warehouse, root)


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


# --- deliveryorder.confirm ------------------------------------------------------------------------
#
# Read as the Qimen standard defines the request (integrations/tests/payloads/SOURCES.md, "Qimen
# deliveryorder.confirm"): deliveryOrder (deliveryOrderCode, deliveryOrderId, status, outBizCode,
# confirmType, orderConfirmTime), packages/package (logisticsCode, expressCode, packageCode,
# items/item: itemCode, quantity) and orderLines/orderLine (itemCode, planQty, actualQty).
#
# Every package becomes a parcel (a Shipment): the package that takes everything still in the
# shipment ships the shipment itself, any other is split off it first (fulfilment.splitting), so
# each is tracked and written back like any parcel. A partial confirmation (confirmType=1) leaves
# the rest open at the warehouse; a final one (confirmType=0) that leaves units behind is a short
# shipment: the rest is routed again avoiding this warehouse (or the order waits for stock) and the
# managers are alerted. A waybill already on the shipment or one of its parcels is a repeat.

PARTIAL_STATUS = "PARTDELIVERED"  # deliveryOrder.status: 部分发货完成


@dataclass(frozen=True)
class Package:
    """One packages/package: a box with its own carrier and waybill."""

    number: int  # its place in the message, 1-based, for error messages
    logistics_code: str
    express_code: str
    package_code: str
    items: dict[str, int]  # itemCode → units; empty when the package lists none
    carrier: Carrier

    def described(self) -> dict:
        return {
            "logisticsCode": self.logistics_code,
            "expressCode": self.express_code,
            "packageCode": self.package_code,
        }


def _carrier_for(warehouse: Warehouse, code: str) -> Carrier | None:
    """The warehouse's own code for a carrier (its carrier code map) first, then a carrier's code
    or tracking company code; never a guess beyond those."""
    own = WarehouseCarrierCode.objects.filter(warehouse=warehouse, code__iexact=code).select_related(
        "carrier"
    )
    if own_row := own.first():
        return own_row.carrier
    return Carrier.objects.filter(Q(code__iexact=code) | Q(tracking_code__iexact=code)).order_by("pk").first()


def _package_items(element: ET.Element) -> dict[str, int]:
    items: dict[str, int] = {}
    for item in element.findall("items/item"):
        code = _text(item, "itemCode", "packages.package.items.item.itemCode", max_length=64)
        units = _units(item.findtext("quantity"), "packages.package.items.item.quantity")
        if units:
            items[code] = items.get(code, 0) + units
    return items


def _read_packages(warehouse: Warehouse, root: ET.Element, delivery: ET.Element | None) -> list[Package]:
    elements = root.findall("packages/package")
    if not elements and delivery is not None:
        # A sender without <packages> may name the one waybill on deliveryOrder (its
        # logisticsCode and expressCode are defined there too).
        elements = [delivery]
    packages: list[Package] = []
    unknown: list[str] = []
    for number, element in enumerate(elements, start=1):
        code = _text(element, "logisticsCode", "packages.package.logisticsCode", max_length=50)
        express = _text(element, "expressCode", "packages.package.expressCode", max_length=64)
        carrier = _carrier_for(warehouse, code)
        if carrier is None:
            unknown.append(code)
            continue
        if any(p.express_code == express and p.carrier == carrier for p in packages):
            raise DomainError(
                _("packages.package.expressCode: waybill %(tracking)s is listed twice.")
                % {"tracking": express},
                field="packages.package.expressCode",
            )
        package_code = _text(element, "packageCode", "packages.package.packageCode", required=False)
        packages.append(Package(number, code, express, package_code[:50], _package_items(element), carrier))
    if unknown:
        raise DomainError(
            _(
                "packages.package.logisticsCode: %(codes)s is neither in the carrier codes of warehouse "
                "%(warehouse)s nor any carrier's code or tracking code; add it to the warehouse's carrier "
                "codes and replay this message."
            )
            % {"codes": ", ".join(sorted(set(unknown))), "warehouse": warehouse.code},
            field="packages.package.logisticsCode",
        )
    if not packages:
        raise DomainError(_("packages.package: required."), field="packages.package")
    return packages


def _is_partial(delivery: ET.Element | None) -> bool:
    """confirmType 1 is an intermediate confirmation, 0 (the default) the final one. Without a
    confirmType, status PARTDELIVERED also says the order is not finished: keeping the rest open
    is the safer reading."""
    confirm_type = _text(delivery, "confirmType", "deliveryOrder.confirmType", required=False)
    if confirm_type not in ("", "0", "1"):
        raise DomainError(
            _("deliveryOrder.confirmType: expected 0 (final) or 1 (partial), got %(value)s.")
            % {"value": confirm_type},
            field="deliveryOrder.confirmType",
        )
    status = _text(delivery, "status", "deliveryOrder.status", required=False).upper()
    return confirm_type == "1" or (not confirm_type and status == PARTIAL_STATUS)


def _actual_quantities(root: ET.Element) -> dict[str, int] | None:
    """{itemCode: actualQty} from orderLines, or None when they do not say what left."""
    lines = root.findall("orderLines/orderLine")
    if not lines or any(not (line.findtext("actualQty") or "").strip() for line in lines):
        return None
    actual: dict[str, int] = {}
    for line in lines:
        code = _text(line, "itemCode", "orderLines.orderLine.itemCode", max_length=64)
        units = _units(line.findtext("actualQty"), "orderLines.orderLine.actualQty")
        if units:
            actual[code] = actual.get(code, 0) + units
    return actual


def _contents(
    packages: list[Package], root: ET.Element, left: dict[str, int], *, partial: bool, split_before: bool
) -> list[dict[str, int]]:
    """What each package carries, {itemCode: units}. Only what the message says: a package
    without items is read from orderLines (or as "everything left" on a final confirmation) only
    when it is the message's one package; anything else is refused rather than guessed."""
    if all(p.items for p in packages):
        return [p.items for p in packages]
    if len(packages) > 1:
        bare = next(p.number for p in packages if not p.items)
        raise DomainError(
            _(
                "packages.package.items: package %(number)s lists no items, so which goods each of the "
                "%(count)s packages carries is not known."
            )
            % {"number": bare, "count": len(packages)},
            field="packages.package.items",
        )
    actual = _actual_quantities(root)
    if actual is not None:
        if split_before:
            raise DomainError(
                _(
                    "orderLines.orderLine.actualQty: after an earlier partial confirmation it does not say "
                    "which units left now; the package must list its items."
                ),
                field="packages.package.items",
            )
        return [actual]
    if partial:
        raise DomainError(
            _("packages.package.items: a partial confirmation (confirmType=1) must say what left."),
            field="packages.package.items",
        )
    return [{code: units for code, units in left.items() if units}]


def _allocate(lines: list[ShipmentLine], contents: list[dict[str, int]], number: str):
    """Each package's units as {shipment line id: units} (a SKU's units fill its lines in
    order), and what stays on each line. More than the shipment holds is refused."""
    left = {line.pk: line.quantity for line in lines}
    allocations = []
    for items in contents:
        taken: dict[int, int] = {}
        for code, units in items.items():
            for line in lines:
                if line.sku.code != code or not units:
                    continue
                take = min(units, left[line.pk])
                if take:
                    taken[line.pk] = taken.get(line.pk, 0) + take
                    left[line.pk] -= take
                    units -= take
            if units:
                raise DomainError(
                    _(
                        "packages.package.items: %(units)s more of %(sku)s than shipment %(number)s "
                        "still holds."
                    )
                    % {"units": units, "sku": code, "number": number},
                    field="packages.package.items",
                )
        if not taken:  # e.g. every actualQty 0: a package carrying nothing is not a parcel
            raise DomainError(
                _("A package of shipment %(number)s carries no units (actualQty / items are all 0).")
                % {"number": number},
                field="packages.package.items",
            )
        allocations.append(taken)
    return allocations, left


def _delivery_confirmed(message: InboundMessage, warehouse: Warehouse, root: ET.Element) -> tuple[str, str]:
    """taobao.qimen.deliveryorder.confirm: packages left with their carriers and waybills."""
    delivery = root.find("deliveryOrder")
    number = _text(delivery, "deliveryOrderCode", "deliveryOrder.deliveryOrderCode")
    shipment = _shipment_for(message, warehouse, number, "deliveryOrder.deliveryOrderCode")
    partial = _is_partial(delivery)
    shipped_at = _time(delivery, "orderConfirmTime", "deliveryOrder.orderConfirmTime")
    delivery_order_id = _text(
        delivery, "deliveryOrderId", "deliveryOrder.deliveryOrderId", required=False, max_length=64
    )
    packages = _read_packages(warehouse, root, delivery)
    payload = {
        "wms": "qimen",
        "method": message.topic,
        "confirmType": "1" if partial else "0",
        "outBizCode": _text(delivery, "outBizCode", "deliveryOrder.outBizCode", required=False)[:50],
    }

    shipment, orders = lock_shipment(shipment)
    family = Shipment.objects.filter(Q(pk=shipment.pk) | Q(split_from=shipment))
    # Waybills that already left: a pre-issued waybill on a shipment still in the warehouse is not one.
    known = set(
        family.filter(status__in=LEFT_WAREHOUSE)
        .exclude(tracking_number="")
        .values_list("tracking_number", flat=True)
    )
    new = [p for p in packages if p.express_code not in known]
    if shipment.status not in IN_WAREHOUSE:
        if not new and shipment.status in LEFT_WAREHOUSE:
            return InboundStatus.IGNORED, _("Already shipped with this waybill; nothing changed.")
        if not new:
            return InboundStatus.IGNORED, _("These packages are already recorded; nothing changed.")
        if shipment.status == SS.CANCELLED:
            raise DomainError(
                _("%(field)s: shipment %(number)s was cancelled, but the warehouse shipped it.")
                % {"field": "deliveryOrder.deliveryOrderCode", "number": number},
                field="deliveryOrder.deliveryOrderCode",
            )
        return InboundStatus.IGNORED, _(
            "Already shipped with %(carrier)s %(tracking)s; this confirmation changed nothing."
        ) % {"carrier": shipment.carrier, "tracking": shipment.tracking_number}
    if partial and not new:
        return InboundStatus.IGNORED, _("These packages are already recorded; nothing changed.")
    for package in new:
        taken = (
            Shipment.objects.filter(carrier=package.carrier, tracking_number=package.express_code)
            .exclude(pk__in=family.values("pk"))
            .first()
        )
        if taken is not None:
            raise DomainError(
                _("%(field)s: tracking number %(tracking)s is already used by shipment %(number)s.")
                % {
                    "field": "packages.package.expressCode",
                    "tracking": package.express_code,
                    "number": taken.number,
                },
                field="packages.package.expressCode",
            )

    lines = list(
        ShipmentLine.objects.filter(shipment=shipment).select_related("sku", "order_line").order_by("pk")
    )
    left_by_code: dict[str, int] = {}
    for line in lines:
        left_by_code[line.sku.code] = left_by_code.get(line.sku.code, 0) + line.quantity
    split_before = shipment.split_parcels.exists()
    contents = _contents(packages, root, left_by_code, partial=partial, split_before=split_before)
    allocations, left = _allocate(lines, [contents[p.number - 1] for p in new], number)
    rest_ships = bool(new) and not any(left.values())  # the last new package takes all that is left

    reason = _("Shipped by the cloud warehouse.")
    _advance(
        shipment,
        orders,
        SS.PACKED if rest_ships else SS.PICKING,
        reason=reason,
        payload=payload,
        external_ref=delivery_order_id,
    )
    for package, units in zip(new, allocations, strict=True):
        parcel = shipment
        if not (rest_ships and package is new[-1]):
            parcel = shipment_split_off(
                shipment=shipment,
                orders=orders,
                quantities=units,
                reason=_("Package %(tracking)s left the cloud warehouse on its own.")
                % {"tracking": package.express_code},
                payload=payload,
            )
        _ship(parcel, orders, package, shipped_at=shipped_at, reason=reason, payload=payload)
    if rest_ships or partial:
        return InboundStatus.PROCESSED, ""
    _short_shipped(shipment, orders, [(line, left[line.pk]) for line in lines if left[line.pk]], payload)
    return InboundStatus.PROCESSED, ""


def _ship(parcel: Shipment, orders, package: Package, *, shipped_at, reason: str, payload: dict) -> None:
    carried = set(shipment_orders(parcel))
    try:
        with transaction.atomic():  # a savepoint: the unique waybill may be taken at the same moment
            run_shipment_transition(
                parcel,
                [order for order in orders if order.pk in carried],
                "ship",
                None,
                reason=reason,
                payload={**payload, "package": package.described()},
                args={
                    "carrier": package.carrier,
                    "tracking_number": package.express_code,
                    "shipped_at": shipped_at,
                },
            )
    except IntegrityError as exc:  # another confirmation shipped a parcel with this waybill meanwhile
        raise DomainError(
            _("%(field)s: tracking number %(tracking)s is already used by another shipment.")
            % {"field": "packages.package.expressCode", "tracking": package.express_code},
            field="packages.package.expressCode",
        ) from exc


def short_shipment_alert_key(shipment_id: int) -> str:
    return f"wms_short_shipment:{shipment_id}"


def _short_shipped(shipment: Shipment, orders, short: list[tuple[ShipmentLine, int]], payload: dict) -> None:
    """The final confirmation left units unshipped: say so on the timeline, route them again
    avoiding this warehouse (routing holds the order, or alerts, when nobody has them) and tell
    the managers."""
    missing = ", ".join(f"{line.sku.code} ×{units}" for line, units in short)
    reason = _("Short shipment: warehouse %(warehouse)s closed %(number)s without shipping %(missing)s.") % {
        "warehouse": shipment.warehouse.code,
        "number": shipment.number,
        "missing": missing,
    }
    for order in orders:
        record_order_event(
            order,
            OrderEventKind.SHIPMENT,
            None,
            reason=reason,
            payload={
                **payload,
                "transition": "short_shipped",
                "short_shipment": shipment.number,
                "lines": [
                    {"line": line.order_line.line_no, "sku": line.sku.code, "quantity": units}
                    for line, units in short
                    if line.order_line.order_id == order.pk
                ],
            },
        )
    routed = reroute_rejected(shipment=shipment, reason=reason[:255])
    if routed:
        outcome = _("The rest is routed again: %(shipments)s.") % {
            "shipments": ", ".join(s.number for s in routed)
        }
    else:
        outcome = _("No other warehouse could take the rest: see the order.")
    alert_raise(
        kind="wms_short_shipment",
        key=short_shipment_alert_key(shipment.pk),
        role=Role.MANAGER,
        message=f"{reason} {outcome}"[:500],
        payload={
            "shipment": shipment.number,
            "warehouse": shipment.warehouse.code,
            "order_numbers": [order.number for order in orders],
            "short": [{"sku": line.sku.code, "quantity": units} for line, units in short],
            "rerouted_to": [s.number for s in routed],
        },
    )


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
