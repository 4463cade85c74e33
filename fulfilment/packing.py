"""Own-warehouse work (R-F3, R-D2): pick lists, scan-to-pack and handing parcels to a carrier.
The desk (fulfilment.warehouse_views) only calls these."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils.translation import gettext as _

from core.errors import DomainError, NotPermitted, TransitionRefused
from fulfilment.models import Carrier, Shipment, ShipmentLine, ShipmentStatus
from fulfilment.services import lock_shipment, run_shipment_transition, shipment_transition
from inventory.models import SKU, Reservation, WmsProtocol

SS = ShipmentStatus
WORK_PERMISSION = "orders.work_shipment"
QUEUE_STATUSES = [SS.SENT_TO_WAREHOUSE, SS.PICKING, SS.PACKED]
PACKABLE = (SS.SENT_TO_WAREHOUSE, SS.PICKING)
SHIPPABLE = (SS.SENT_TO_WAREHOUSE, SS.PICKING, SS.PACKED)


def _require_worker(actor) -> None:
    if actor is not None and not actor.has_perm(WORK_PERMISSION):
        raise NotPermitted(_("You are not allowed to do this."))


def _require_own_warehouse(shipment: Shipment) -> None:
    """A cloud warehouse's system picks, packs and ships its parcels and reports it back."""
    if shipment.warehouse.wms_protocol != WmsProtocol.OWN:
        raise DomainError(
            _("Shipment %(number)s is worked by the system of warehouse %(warehouse)s, not in the desk.")
            % {"number": shipment.number, "warehouse": shipment.warehouse.code},
            field="shipment",
        )


# --- reads ------------------------------------------------------------------------------------------


def shipment_queue(*, warehouse=None, statuses=None):
    """The warehouse's work: expedited and VIP parcels first, then oldest first."""
    rows = Shipment.objects.select_related("warehouse", "order", "carrier").filter(
        status__in=statuses or QUEUE_STATUSES
    )
    if warehouse is not None:
        rows = rows.filter(warehouse=warehouse)
    urgency = Case(
        When(priority="expedite", then=Value(0)),
        When(priority="vip", then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return rows.annotate(urgency=urgency).order_by("urgency", "created_at", "pk")


@dataclass
class PickRow:
    sku: SKU
    quantity: int = 0
    lots: dict[str, int] = field(default_factory=dict)  # "LOT (expiry)" → units reserved from it
    shipments: list[tuple[str, int]] = field(default_factory=list)  # (shipment number, units)


def pick_list(shipments: list[Shipment]) -> list[PickRow]:
    """What to take off the shelves for these shipments, one row per SKU (by code), with the
    lots their reservations hold stock in and how many units each shipment needs."""
    rows: dict[int, PickRow] = {}
    lines = (
        ShipmentLine.objects.filter(shipment__in=shipments)
        .select_related("sku", "shipment")
        .order_by("sku__code", "shipment__created_at", "pk")
    )
    for line in lines:
        row = rows.setdefault(line.sku_id, PickRow(sku=line.sku))
        row.quantity += line.quantity
        row.shipments.append((line.shipment.number, line.quantity))
    lots: dict[int, dict[str, int]] = defaultdict(dict)
    held = (
        Reservation.objects.filter(shipment__in=shipments, balance__lot__isnull=False)
        .exclude(quantity=0)
        .values_list("sku_id", "balance__lot__code", "balance__lot__expires_on", "quantity")
        .order_by("balance__lot__expires_on", "balance__lot__code")
    )
    for sku_id, code, expires_on, quantity in held:
        label = f"{code} ({expires_on:%Y-%m-%d})" if expires_on else code
        lots[sku_id][label] = lots[sku_id].get(label, 0) + quantity
    for sku_id, row in rows.items():
        row.lots = lots.get(sku_id, {})
    return sorted(rows.values(), key=lambda row: row.sku.code)


# --- writes -----------------------------------------------------------------------------------------


def shipments_start_picking(*, numbers: list[str], actor) -> tuple[list[str], list[str]]:
    """Move each listed shipment waiting in the warehouse to "picking", one transaction each (so
    each locks its own orders in order). Returns (started, problems)."""
    _require_worker(actor)
    started, problems = [], []
    for shipment in Shipment.objects.filter(number__in=numbers).select_related("warehouse").order_by("pk"):
        try:
            _require_own_warehouse(shipment)
            shipment_transition(
                shipment=shipment, name="start_picking", actor=actor, expected_status=SS.SENT_TO_WAREHOUSE
            )
        except DomainError as exc:
            problems.append(exc.message)
        else:
            started.append(shipment.number)
    unknown = sorted(
        set(numbers) - set(Shipment.objects.filter(number__in=numbers).values_list("number", flat=True))
    )
    problems.extend(_("No shipment %(number)s.") % {"number": number} for number in unknown)
    return started, problems


@dataclass(frozen=True)
class PackScan:
    sku: SKU
    packed: int  # units of the SKU packed in the shipment after this scan
    quantity: int  # units of the SKU the shipment carries
    shipment_packed: bool  # the scan completed the shipment: it is now "packed"


def _find_sku(code: str) -> SKU | None:
    return (
        SKU.objects.filter(barcode=code).first()
        or SKU.objects.filter(code=code).first()
        or SKU.objects.filter(code__iexact=code).first()
    )


def shipment_pack_scan(*, shipment: Shipment | int, code: str, actor) -> PackScan:
    """One scanned unit (barcode or SKU code) into the parcel. A unit the shipment does not carry,
    or one more than it needs, is refused and changes nothing; the last unit packs the shipment."""
    _require_worker(actor)
    code = (code or "").strip()
    if not code:
        raise DomainError(_("Scan a barcode or type a SKU code."), field="code")
    sku = _find_sku(code)
    if sku is None:
        raise DomainError(_("No SKU has the barcode or code %(code)s.") % {"code": code}, field="code")
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment)
        _require_own_warehouse(shipment)
        if shipment.status not in PACKABLE:
            raise TransitionRefused(
                _("Shipment %(number)s is %(status)s: there is nothing to pack.")
                % {"number": shipment.number, "status": shipment.get_status_display()}
            )
        lines = ShipmentLine.objects.filter(shipment=shipment, sku=sku)
        line_ids = list(lines.order_by("pk").values_list("pk", flat=True))
        if not line_ids:
            raise DomainError(
                _("Wrong item: %(sku)s is not in shipment %(number)s.")
                % {"sku": sku.code, "number": shipment.number},
                field="code",
            )
        # The condition is the rule: a line takes a unit only while it still needs one.
        if not any(
            ShipmentLine.objects.filter(pk=pk, packed_quantity__lt=F("quantity")).update(
                packed_quantity=F("packed_quantity") + 1
            )
            for pk in line_ids
        ):
            quantity = sum(lines.values_list("quantity", flat=True))
            raise DomainError(
                _("Too many: all %(quantity)s × %(sku)s of shipment %(number)s are already packed.")
                % {"quantity": quantity, "sku": sku.code, "number": shipment.number},
                field="code",
            )
        totals = lines.values_list("packed_quantity", "quantity")
        packed, quantity = sum(p for p, _q in totals), sum(q for _p, q in totals)
        if shipment.status == SS.SENT_TO_WAREHOUSE:  # scanning without a pick list: it is being worked
            run_shipment_transition(shipment, orders, "start_picking", actor)
        complete = not ShipmentLine.objects.filter(
            shipment=shipment, packed_quantity__lt=F("quantity")
        ).exists()
        if complete:
            run_shipment_transition(shipment, orders, "pack", actor, reason=_("Every unit scanned."))
    return PackScan(sku=sku, packed=packed, quantity=quantity, shipment_packed=complete)


def shipment_ship(
    *,
    shipment: Shipment | int,
    carrier: Carrier,
    tracking_number: str,
    actor,
    expected_status: str | None = None,
) -> Shipment:
    """Hand the parcel to the carrier with its waybill number (R-F3). A number already on
    another of the carrier's shipments is refused."""
    _require_worker(actor)
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise DomainError(_("Enter the tracking number."), field="tracking_number")
    shipment_id = shipment.pk if isinstance(shipment, Shipment) else shipment
    _require_own_warehouse(Shipment.objects.select_related("warehouse").get(pk=shipment_id))
    taken = (
        Shipment.objects.filter(carrier=carrier, tracking_number=tracking_number)
        .exclude(pk=shipment_id)
        .first()
    )
    if taken is not None:
        raise DomainError(_duplicate(tracking_number, carrier, taken.number), field="tracking_number")
    try:
        return shipment_transition(
            shipment=shipment_id,
            name="ship",
            actor=actor,
            expected_status=expected_status,
            args={"carrier": carrier, "tracking_number": tracking_number},
        )
    except IntegrityError as exc:  # the same number entered for another parcel at the same moment
        raise DomainError(_duplicate(tracking_number, carrier, ""), field="tracking_number") from exc


def _duplicate(tracking_number: str, carrier: Carrier, number: str) -> str:
    if number:
        return _("Tracking number %(tracking)s of %(carrier)s is already used by shipment %(number)s.") % {
            "tracking": tracking_number,
            "carrier": carrier,
            "number": number,
        }
    return _("Tracking number %(tracking)s of %(carrier)s is already used by another shipment.") % {
        "tracking": tracking_number,
        "carrier": carrier,
    }


def active_carriers():
    return Carrier.objects.filter(is_active=True).order_by("name")
