"""Waves (波次), issue #17 part 4: a warehouse worker's day — a wave of shipments → its labels
printed in one PDF → picked bin by bin along the path → each parcel scanned, packed and weighed →
handed to the courier. The desk (fulfilment.wave_views) only calls these.

Locks: creating waves locks the candidate shipments (ascending id) and nothing else; every other
wave write locks the wave row alone, in its own transaction, never while it holds order or
shipment locks (shipment work goes through fulfilment.packing, which takes those).

Courier pickup: Kuaidi100's 商家寄件 API (poll.kuaidi100.com/order/borderapi.do, method bOrder)
books a courier per parcel and issues that parcel's waybill itself; it cannot book a pickup for
parcels that already carry e-waybills from the warehouse's own account, and no carrier API we
could find documented does. So the wave records a pickup booked by phone or in the carrier's
app, with its reference (wave_record_pickup)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from uuid import uuid4
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError, TransitionRefused
from core.transitions import Actor, lock_one, lock_rows, require_perm, transition
from fulfilment import packing
from fulfilment.models import (
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    Wave,
    WaveKind,
    WavePick,
    WaveRule,
    WaveShipment,
    WaveState,
)
from fulfilment.services import lock_shipment
from inventory.bins import bin_take, sku_bins
from inventory.models import SKU, BinLocation, Warehouse, WmsProtocol
from orders.models import OrderEventKind
from orders.transitions import record_order_event

SS = ShipmentStatus
WORK = packing.WORK_PERMISSION
# A courier parcel (快递) heavier than this is a misread scale or the wrong unit; the big
# carriers take 30–50 kg per parcel, so 70 kg refuses nothing real.
MAX_PARCEL_GRAMS = 70_000
URGENCY = {"expedite": 0, "vip": 1}


def business_zone() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


# --- grouping -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    rule: WaveRule | None
    name: str
    carrier_id: int | None
    kind: str
    cut_off: time | None
    max_shipments: int


def warehouse_rules(warehouse: Warehouse) -> list[RuleSpec]:
    """The warehouse's active rules in order; without any, single- and multi-item waves of up to
    100 parcels per carrier."""
    rules = [
        RuleSpec(rule, rule.name, rule.carrier_id, rule.kind, rule.cut_off, rule.max_shipments)
        for rule in WaveRule.objects.filter(warehouse=warehouse, is_active=True).order_by("sequence", "pk")
    ]
    return rules or [
        RuleSpec(None, _("Single-item orders"), None, WaveKind.SINGLE, None, 100),
        RuleSpec(None, _("Multi-item orders"), None, WaveKind.MULTI, None, 100),
    ]


def cut_off_at(cut_off: time, now: datetime) -> datetime:
    """Today's cut-off (business time zone) as an aware moment."""
    zone = business_zone()
    return datetime.combine(timezone.localtime(now, zone).date(), cut_off, tzinfo=zone)


def rule_takes(spec: RuleSpec, shipment: Shipment, units: int, now: datetime) -> bool:
    """Single-item: the parcel holds one unit. A cut-off passed today keeps shipments sent to the
    warehouse after it for tomorrow's wave."""
    if spec.carrier_id is not None and shipment.carrier_id != spec.carrier_id:
        return False
    if spec.kind == WaveKind.SINGLE and units != 1 or spec.kind == WaveKind.MULTI and units == 1:
        return False
    if spec.cut_off is not None:
        deadline = cut_off_at(spec.cut_off, now)
        if now > deadline and (shipment.sent_at or shipment.created_at) > deadline:
            return False
    return True


def _units(shipment_ids: list[int]) -> dict[int, int]:
    rows = (
        ShipmentLine.objects.filter(shipment_id__in=shipment_ids)
        .values("shipment_id")
        .annotate(units=Sum("quantity"))
        .values_list("shipment_id", "units")
    )
    return dict(rows)


def _require_own(warehouse: Warehouse) -> None:
    if warehouse.wms_protocol != WmsProtocol.OWN:
        raise DomainError(
            _("Warehouse %(warehouse)s is worked by its own system: it has no waves here.")
            % {"warehouse": warehouse.code},
            field="warehouse",
        )


def waves_create(*, warehouse: Warehouse, actor: Actor, now: datetime | None = None) -> list[Wave]:
    """Group the warehouse's shipments waiting to be picked (sent to the warehouse, in no wave)
    by its rules: urgent first, then oldest first, each to the first rule that takes it, a wave
    per rule and carrier of at most the rule's size. Each wave gets its pick list."""
    require_perm(actor, WORK)
    _require_own(warehouse)
    now = now or timezone.now()
    specs = warehouse_rules(warehouse)
    with transaction.atomic():
        # Waiting to be picked, or left out of a handed-over wave after its picking began (no
        # other pick list is working on those).
        waiting = Q(status=SS.SENT_TO_WAREHOUSE) | Q(status=SS.PICKING, wave_memberships__left_out__gt="")
        ids = (
            Shipment.objects.filter(waiting, warehouse=warehouse)
            .exclude(wave_memberships__active=True)
            .distinct()
        )
        locked = lock_rows(Shipment.objects.all(), ids.values_list("pk", flat=True))
        # A fresh look after the locks: another clerk's waves may have taken some meanwhile.
        taken = set(
            WaveShipment.objects.filter(shipment__in=locked, active=True).values_list(
                "shipment_id", flat=True
            )
        )
        shipments = [
            s for s in locked if s.status in (SS.SENT_TO_WAREHOUSE, SS.PICKING) and s.pk not in taken
        ]
        shipments.sort(key=lambda s: (URGENCY.get(s.priority, 2), s.sent_at or s.created_at, s.pk))
        units = _units([s.pk for s in shipments])
        groups: dict[tuple[int, int | None], list[Shipment]] = defaultdict(list)
        for shipment in shipments:
            for index, spec in enumerate(specs):
                if rule_takes(spec, shipment, units.get(shipment.pk, 0), now):
                    groups[(index, shipment.carrier_id)].append(shipment)
                    break
        waves = []
        for (index, carrier_id), members in groups.items():
            spec = specs[index]
            for start in range(0, len(members), spec.max_shipments):
                chunk = members[start : start + spec.max_shipments]
                waves.append(_wave_build(warehouse, spec, carrier_id, chunk, actor, now))
    return waves


def _wave_build(warehouse, spec: RuleSpec, carrier_id, shipments: list[Shipment], actor, now) -> Wave:
    wave = Wave.objects.create(
        number=f"new-{uuid4().hex[:24]}",
        warehouse=warehouse,
        rule=spec.rule,
        rule_name=spec.name,
        carrier_id=carrier_id,
        kind=spec.kind,
        cut_off=cut_off_at(spec.cut_off, now) if spec.cut_off else None,
        created_by=actor,
    )
    wave.number = f"WV{timezone.localtime(now, business_zone()):%Y%m%d}-{wave.pk:05d}"
    Wave.objects.filter(pk=wave.pk).update(number=wave.number)
    WaveShipment.objects.bulk_create([WaveShipment(wave=wave, shipment=shipment) for shipment in shipments])
    WavePick.objects.bulk_create(_picks(wave, shipments))
    return wave


def _picks(wave: Wave, shipments: list[Shipment]) -> list[WavePick]:
    """The pick list in walking order: each SKU's units taken from its bins along the path as far
    as the bins' records go; what the records lack is still asked of the SKU's first bin
    (marked short). A SKU with no bin comes last, to be looked for."""
    need = dict(
        ShipmentLine.objects.filter(shipment__in=shipments)
        .values("sku_id")
        .annotate(units=Sum("quantity"))
        .values_list("sku_id", "units")
    )
    skus = SKU.objects.in_bulk(list(need))
    places = sku_bins(warehouse=wave.warehouse, sku_ids=list(need))
    picks: list[WavePick] = []
    for sku_id, units in need.items():
        remaining, own = units, []
        for place in places[sku_id]:
            take = min(remaining, place.quantity)
            if take:
                own.append(WavePick(wave=wave, bin=place.bin, sku=skus[sku_id], quantity=take))
                remaining -= take
        if remaining and places[sku_id]:
            home = places[sku_id][0].bin
            row = next((pick for pick in own if pick.bin == home), None)
            if row is None:
                own.insert(0, row := WavePick(wave=wave, bin=home, sku=skus[sku_id], quantity=0))
            row.quantity += remaining
            row.short = True
        elif remaining:
            own.append(WavePick(wave=wave, bin=None, sku=skus[sku_id], quantity=remaining))
        picks.extend(own)
    return sorted(picks, key=pick_path_key)


def pick_path_key(pick: WavePick) -> tuple:
    if pick.bin is None:
        return (1, 0, "", pick.sku.code)
    return (0, pick.bin.pick_sequence, pick.bin.code.upper(), pick.sku.code)


# --- reads -----------------------------------------------------------------------------------------


@dataclass
class PickLine:
    pick: WavePick
    shipments: list[tuple[str, int]] = field(default_factory=list)  # (shipment number, units)

    @property
    def done(self) -> bool:
        return self.pick.picked >= self.pick.quantity


def wave_shipments(wave: Wave, *, active_only: bool = False) -> list[Shipment]:
    """The wave's shipments in the order they joined it (urgent, then oldest, first)."""
    members = WaveShipment.objects.filter(wave=wave)
    if active_only:
        members = members.filter(active=True)
    ids = list(members.order_by("pk").values_list("shipment_id", flat=True))
    found = Shipment.objects.select_related("carrier", "order").in_bulk(ids)
    return [found[pk] for pk in ids]


def wave_pick_list(wave: Wave) -> list[PickLine]:
    """The pick lines in bin-path order, each with the shipments its SKU goes to."""
    shipments = wave_shipments(wave)
    position = {shipment.pk: index for index, shipment in enumerate(shipments)}
    by_sku: dict[int, list[tuple[str, int]]] = defaultdict(list)
    lines = sorted(
        ShipmentLine.objects.filter(shipment__in=shipments).select_related("shipment"),
        key=lambda line: (position[line.shipment_id], line.pk),
    )
    for line in lines:
        by_sku[line.sku_id].append((line.shipment.number, line.quantity))
    picks = WavePick.objects.filter(wave=wave).select_related("bin", "sku").order_by("pk")
    return [PickLine(pick=pick, shipments=by_sku.get(pick.sku_id, [])) for pick in picks]


def wave_next_pick(wave: Wave) -> WavePick | None:
    return (
        WavePick.objects.filter(wave=wave, picked__lt=F("quantity"))
        .select_related("bin", "sku")
        .order_by("pk")
        .first()
    )


# --- the wave's own steps ------------------------------------------------------------------------------


def _wave_step(wave: Wave | int, name: str, actor: Actor, args: dict | None = None) -> Wave:
    with transaction.atomic():
        wave = lock_one(Wave.objects, wave.pk if isinstance(wave, Wave) else wave)
        transition(wave, name, actor, args=args)
    return wave


def wave_start_picking(*, wave: Wave, actor: Actor) -> tuple[Wave, list[str]]:
    """The wave and its shipments go to "picking". Returns the wave and the shipments that could
    not start (cancelled meanwhile…)."""
    require_perm(actor, WORK)
    wave = _wave_step(wave, "start_picking", actor)
    numbers = [s.number for s in wave_shipments(wave, active_only=True) if s.status == SS.SENT_TO_WAREHOUSE]
    _started, problems = packing.shipments_start_picking(numbers=numbers, actor=actor)
    return wave, problems


def _require_state(wave: Wave, *states: str) -> None:
    if wave.state not in states:
        raise TransitionRefused(
            _("Wave %(number)s is %(state)s.") % {"number": wave.number, "state": wave.get_state_display()}
        )


@dataclass(frozen=True)
class PickScan:
    bin: BinLocation | None  # the bin the picker stands at after this scan
    pick: WavePick | None  # the line counted (None: the scan was a bin)
    bin_record_short: bool = False  # the bin's record had no unit left to take
    wave_picked: bool = False  # every line of the wave is picked


def _find_sku(code: str) -> SKU | None:
    return (
        SKU.objects.filter(barcode=code).first()
        or SKU.objects.filter(code=code).first()
        or SKU.objects.filter(code__iexact=code).first()
    )


def _where(pick: WavePick | None) -> str:
    if pick is None:
        return _("nothing left to pick")
    place = pick.bin.code if pick.bin else _("no bin")
    return _("%(bin)s: %(left)s × %(sku)s") % {
        "bin": place,
        "left": pick.quantity - pick.picked,
        "sku": pick.sku.code,
    }


def wave_pick_scan(*, wave: Wave, code: str, at_bin: str = "", actor: Actor) -> PickScan:
    """One scan on the pick walk: a bin's code (the picker is there now) or one unit's barcode
    (counted on the line for that bin). Every wrong scan is refused, says what is wrong and
    where to go next, and changes nothing."""
    require_perm(actor, WORK)
    code = (code or "").strip()
    if not code:
        raise DomainError(_("Scan a bin or an item."), field="code")
    wave.refresh_from_db()
    _require_state(wave, WaveState.PICKING)
    picks = WavePick.objects.filter(wave=wave)
    bin = BinLocation.objects.filter(warehouse=wave.warehouse, code__iexact=code).first()
    if bin is not None:
        if not picks.filter(bin=bin).exists():
            raise DomainError(
                _("Wrong bin: nothing of this wave is picked from %(bin)s. Next: %(next)s.")
                % {"bin": bin.code, "next": _where(wave_next_pick(wave))},
                field="code",
            )
        if not picks.filter(bin=bin, picked__lt=F("quantity")).exists():
            raise DomainError(
                _("Bin %(bin)s is done. Next: %(next)s.")
                % {"bin": bin.code, "next": _where(wave_next_pick(wave))},
                field="code",
            )
        return PickScan(bin=bin, pick=None)
    sku = _find_sku(code)
    if sku is None:
        raise DomainError(
            _("Unknown code %(code)s: neither a bin of %(warehouse)s nor an item's barcode.")
            % {"code": code, "warehouse": wave.warehouse.code},
            field="code",
        )
    lines = picks.filter(sku=sku).select_related("bin")
    if not lines.exists():
        raise DomainError(
            _("Wrong item: %(sku)s is not in wave %(number)s.") % {"sku": sku.code, "number": wave.number},
            field="code",
        )
    current = BinLocation.objects.filter(warehouse=wave.warehouse, code__iexact=at_bin.strip()).first()
    line = lines.filter(bin=current).first() if current else lines.filter(bin__isnull=True).first()
    if line is None:
        bins = ", ".join(pick.bin.code for pick in lines if pick.bin)
        if current is None:
            message = _("Scan the bin first: %(sku)s is picked from %(bins)s.")
        else:
            message = _("Wrong item: %(sku)s is not picked from %(bin)s but from %(bins)s.")
        raise DomainError(
            message % {"sku": sku.code, "bin": current.code if current else "", "bins": bins}, field="code"
        )
    with transaction.atomic():
        # Under the wave's lock: a hand-over that just ended the picking wins, the scan is refused.
        _require_state(lock_one(Wave.objects, wave.pk), WaveState.PICKING)
        # The condition is the rule: a line takes a unit only while it still needs one.
        if not WavePick.objects.filter(pk=line.pk, picked__lt=F("quantity")).update(picked=F("picked") + 1):
            raise DomainError(
                _("Too many: all %(quantity)s × %(sku)s from %(bin)s are picked. Next: %(next)s.")
                % {
                    "quantity": line.quantity,
                    "sku": sku.code,
                    "bin": current.code if current else _("no bin"),
                    "next": _where(wave_next_pick(wave)),
                },
                field="code",
            )
        short = current is not None and not bin_take(bin=current, sku=sku)
    line.refresh_from_db()
    done = not picks.filter(picked__lt=F("quantity")).exists()
    return PickScan(bin=current, pick=line, bin_record_short=short, wave_picked=done)


# --- packing with weight ----------------------------------------------------------------------------------


def _member(wave: Wave, number: str) -> Shipment:
    shipment = Shipment.objects.filter(
        number=number, wave_memberships__wave=wave, wave_memberships__active=True
    ).first()
    if shipment is None:
        raise DomainError(
            _("Shipment %(shipment)s is not in wave %(number)s.")
            % {"shipment": number, "number": wave.number},
            field="shipment",
        )
    return shipment


def wave_pack_scan(*, wave: Wave, shipment_number: str, code: str, actor: Actor) -> packing.PackScan:
    """One unit into one of the wave's parcels (fulfilment.packing's scan-to-pack)."""
    wave.refresh_from_db()
    _require_state(wave, WaveState.PICKING)
    return packing.shipment_pack_scan(shipment=_member(wave, shipment_number), code=code, actor=actor)


def parse_weight(value: str, unit: str) -> int:
    """Grams from what the scale or the packer typed: "1.25" kg, "1250" g ("1,25" reads as 1.25)."""
    text = (value or "").strip().replace(",", ".")
    if unit not in ("g", "kg"):
        raise DomainError(_("Weigh in grams or kilograms."), field="unit")
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise DomainError(_("Enter the weight as a number, e.g. 1.25 kg or 1250 g."), field="weight")
    grams = (number * 1000 if unit == "kg" else number).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if grams <= 0:
        raise DomainError(_("The weight must be more than 0 g."), field="weight")
    if grams > MAX_PARCEL_GRAMS:
        raise DomainError(
            _("%(grams)s g is more than a parcel may weigh (%(max)s kg): check the scale and the unit.")
            % {"grams": grams, "max": MAX_PARCEL_GRAMS // 1000},
            field="weight",
        )
    return int(grams)


def shipment_record_weight(*, shipment: Shipment | int, weight: str, unit: str, actor: Actor) -> Shipment:
    """The packed parcel's weight, in grams, on the shipment and its orders' timeline."""
    require_perm(actor, WORK)
    grams = parse_weight(weight, unit)
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment)
        if shipment.status != SS.PACKED:
            raise TransitionRefused(
                _("Shipment %(number)s is %(status)s: weigh it once every item is packed.")
                % {"number": shipment.number, "status": shipment.get_status_display()}
            )
        Shipment.objects.filter(pk=shipment.pk).update(weight_grams=grams, updated_at=timezone.now())
        shipment.weight_grams = grams
        for order in orders:
            record_order_event(
                order,
                OrderEventKind.SHIPMENT,
                actor,
                reason=_("Shipment %(number)s weighed: %(grams)s g.")
                % {"number": shipment.number, "grams": grams},
                payload={"shipment": shipment.number, "weight_grams": grams},
            )
    return shipment


def wave_record_weight(*, wave: Wave, shipment_number: str, weight: str, unit: str, actor: Actor) -> Shipment:
    """Weigh one of the wave's packed parcels; the last one weighed makes the wave "packed"."""
    wave.refresh_from_db()
    _require_state(wave, WaveState.PICKING, WaveState.PACKED)
    shipment = shipment_record_weight(
        shipment=_member(wave, shipment_number), weight=weight, unit=unit, actor=actor
    )
    wave_refresh(wave=wave, actor=actor)
    return shipment


def wave_refresh(*, wave: Wave, actor: Actor) -> Wave:
    """A picking wave whose every parcel is packed and weighed (or cancelled) is "packed"."""
    with transaction.atomic():
        wave = lock_one(Wave.objects, wave.pk)
        if wave.state != WaveState.PICKING:
            return wave
        live = [s for s in wave_shipments(wave, active_only=True) if s.status != SS.CANCELLED]
        if live and all(s.status == SS.PACKED and s.weight_grams for s in live):
            transition(wave, "mark_packed", actor)
    return wave


# --- hand-over and pickup ---------------------------------------------------------------------------------


@dataclass
class HandOver:
    wave: Wave
    shipped: list[tuple[str, str]] = field(default_factory=list)  # (shipment, tracking number)
    problems: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def wave_hand_over(*, wave: Wave, actor: Actor) -> HandOver:
    """Ship every packed, weighed parcel of the wave with its waybill number, one transaction
    each (fulfilment.packing.shipment_ship). When none of them is stuck the wave is handed over:
    parcels not packed by then are left out of it, back in the shipment queue."""
    require_perm(actor, WORK)
    wave.refresh_from_db()
    _require_state(wave, WaveState.PICKING, WaveState.PACKED)
    outcome = HandOver(wave=wave)
    unpacked = []
    for shipment in wave_shipments(wave, active_only=True):
        if shipment.status in (SS.SENT_TO_WAREHOUSE, SS.PICKING):
            unpacked.append(shipment)
            continue
        if shipment.status != SS.PACKED:
            continue  # already left, or cancelled
        if not shipment.tracking_number or shipment.carrier is None:
            outcome.problems.append(_("%(number)s: no waybill yet.") % {"number": shipment.number})
            continue
        if not shipment.weight_grams:
            outcome.problems.append(_("%(number)s: weigh it first.") % {"number": shipment.number})
            continue
        try:
            packing.shipment_ship(
                shipment=shipment,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                actor=actor,
                expected_status=SS.PACKED,
            )
        except DomainError as exc:
            outcome.problems.append(exc.message)
        else:
            outcome.shipped.append((shipment.number, shipment.tracking_number))
    if outcome.problems:
        return outcome
    with transaction.atomic():
        wave = lock_one(Wave.objects, wave.pk)
        transition(wave, "hand_over", actor, args={"by": actor})
        reason = _("Not packed when the wave was handed over.")
        WaveShipment.objects.filter(wave=wave, shipment__in=unpacked).update(active=False, left_out=reason)
        WaveShipment.objects.filter(wave=wave, active=True).update(active=False)
    outcome.wave = wave
    outcome.left_out = [shipment.number for shipment in unpacked]
    return outcome


def wave_record_pickup(*, wave: Wave, reference: str, actor: Actor) -> Wave:
    """The courier pickup booked for the wave (by phone or the carrier's app) and its reference."""
    require_perm(actor, WORK)
    reference = (reference or "").strip()
    if not reference:
        raise DomainError(_("Enter the pickup booking reference."), field="reference")
    if len(reference) > 64:
        raise DomainError(_("At most 64 characters."), field="reference")
    with transaction.atomic():
        wave = lock_one(Wave.objects, wave.pk)
        Wave.objects.filter(pk=wave.pk).update(
            pickup_reference=reference, pickup_booked_at=timezone.now(), pickup_booked_by=actor
        )
    wave.refresh_from_db()
    return wave
