"""Receiving against a purchase order at the dock (收货): a goods receipt is a counting session —
scans add units, counts can be corrected — and posting it writes the stock ledger once.

Posting: lock the purchase order → the receipt (already posted: nothing more happens, so a
double click or a retry posts once) → the order lines in ascending id, each raised by one
conditional UPDATE whose condition is the over-delivery tolerance → one `receipt` movement per
line through inventory.services.stock_change with a key per receipt line → the notice and its
lines → the order's and the notice's state, with an event.

A cloud warehouse's confirmation (purchasing.warehouse_systems) takes the same posting path through
receipt_from_warehouse: one receipt per confirmation, found again by its key (a repeat changes
nothing); what the warehouse counted is booked, beyond the tolerance too (flagged, managers
alerted), and a final confirmation that leaves units open alerts the buyers.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.errors import DomainError, TransitionRefused
from core.roles import Role
from core.transitions import Actor, lock_one, lock_rows, require_perm, transition
from inventory.models import SKU, MovementKind
from inventory.services import stock_change
from purchasing import numbers
from purchasing.events import record_event
from purchasing.models import (
    OPEN_FOR_RECEIPT,
    GoodsReceipt,
    GoodsReceiptLine,
    PurchaseEventKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeLine,
    ShipmentNoticeState,
)
from purchasing.services import lock_purchase_order
from purchasing.warehouse_systems import receiving_system

RECEIVE = "purchasing.receive_purchaseorder"
ACCEPT_OVER = "purchasing.approve_purchaseorder"  # a manager accepts beyond the tolerance


def over_limit(ordered: int) -> int:
    """The most a line may receive in all without a manager: ordered + the tolerance, rounded down."""
    extra = (Decimal(ordered) * settings.PURCHASE_OVER_RECEIPT_TOLERANCE_PERCENT / 100).to_integral_value(
        ROUND_FLOOR
    )
    return ordered + int(extra)


def _require_open(po: PurchaseOrder) -> None:
    if po.state not in OPEN_FOR_RECEIPT:
        raise TransitionRefused(
            _("Purchase order %(number)s is %(state)s: nothing can be received against it.")
            % {"number": po.number, "state": po.get_state_display()}
        )


# --- the counting session ----------------------------------------------------------------------


@transaction.atomic
def receipt_start(
    *, po: PurchaseOrder | int, actor: Actor, notice: ShipmentNotice | None = None
) -> GoodsReceipt:
    """Open (or resume) this worker's unposted receipt against the order (and notice)."""
    require_perm(actor, RECEIVE, _("You are not allowed to receive purchase orders."))
    po = lock_purchase_order(po)
    _require_open(po)
    if receiving_system(po.warehouse) is not None:
        raise DomainError(
            _("%(warehouse)s is a cloud warehouse: what arrives there is confirmed by its system.")
            % {"warehouse": po.warehouse.code},
            field="code",
        )
    if notice is not None:
        if notice.purchase_order_id != po.pk:
            raise DomainError(_("Notice %(n)s is not for this order.") % {"n": notice.number}, field="notice")
        if notice.state not in (ShipmentNoticeState.ANNOUNCED, ShipmentNoticeState.PARTIALLY_RECEIVED):
            raise DomainError(
                _("Notice %(n)s is %(state)s.") % {"n": notice.number, "state": notice.get_state_display()},
                field="notice",
            )
    existing = (
        GoodsReceipt.objects.filter(
            purchase_order=po, notice=notice, posted_at__isnull=True, received_by=actor
        )
        .order_by("-id")
        .first()
    )
    if existing is not None:
        return existing
    receipt = GoodsReceipt.objects.create(
        number=numbers.next_number(numbers.GOODS_RECEIPT), purchase_order=po, notice=notice, received_by=actor
    )
    GoodsReceiptLine.objects.bulk_create(
        GoodsReceiptLine(receipt=receipt, purchase_order_line=line, quantity=0)
        for line in po.lines.order_by("pk")
    )
    return receipt


def _find_sku(code: str) -> SKU | None:
    return (
        SKU.objects.filter(barcode=code).first()
        or SKU.objects.filter(code=code).first()
        or SKU.objects.filter(code__iexact=code).first()
    )


def _open_receipt(receipt: GoodsReceipt | int) -> GoodsReceipt:
    """The receipt, locked: a count never lands on a receipt being posted at the same moment."""
    pk = receipt.pk if isinstance(receipt, GoodsReceipt) else receipt
    found = lock_rows(GoodsReceipt.objects.select_related("purchase_order"), [pk])
    if not found:
        raise DomainError(_("No such goods receipt."), field="receipt")
    receipt = found[0]
    if receipt.posted_at is not None:
        raise TransitionRefused(_("Receipt %(number)s is already posted.") % {"number": receipt.number})
    return receipt


@dataclass(frozen=True)
class Scan:
    sku: SKU
    counted: int  # units of the SKU counted on this receipt after the scan
    expected: int  # still open on the order line before this receipt


def receipt_scan(*, receipt: GoodsReceipt | int, code: str, actor: Actor) -> Scan:
    """One scanned unit (barcode or SKU code): +1 on its line. An item not on the order is refused
    and changes nothing; more than expected is counted and shown as over."""
    require_perm(actor, RECEIVE, _("You are not allowed to receive purchase orders."))
    code = (code or "").strip()
    if not code:
        raise DomainError(_("Scan a barcode or type a SKU code."), field="code")
    sku = _find_sku(code)
    if sku is None:
        raise DomainError(_("No SKU has the barcode or code %(code)s.") % {"code": code}, field="code")
    with transaction.atomic():
        receipt = _open_receipt(receipt)
        po_line = PurchaseOrderLine.objects.filter(
            purchase_order_id=receipt.purchase_order_id, sku=sku
        ).first()
        if po_line is None:
            raise DomainError(
                _("Wrong item: %(sku)s is not on purchase order %(number)s.")
                % {"sku": sku.code, "number": receipt.purchase_order.number},
                field="code",
            )
        # The receipt row is locked: scans of one receipt queue there, so no count is lost.
        if not GoodsReceiptLine.objects.filter(receipt=receipt, purchase_order_line=po_line).update(
            quantity=F("quantity") + 1
        ):
            GoodsReceiptLine.objects.create(receipt=receipt, purchase_order_line=po_line, quantity=1)
        counted = GoodsReceiptLine.objects.get(receipt=receipt, purchase_order_line=po_line).quantity
    return Scan(sku=sku, counted=counted, expected=po_line.open_quantity)


@dataclass(frozen=True)
class CountInput:
    line_id: int
    quantity: int
    lot_code: str = ""
    expires_on: date | None = None


@transaction.atomic
def receipt_set_counts(
    *, receipt: GoodsReceipt | int, counts: list[CountInput], actor: Actor
) -> GoodsReceipt:
    """Correct the counted quantities (and lot, expiry) of the receipt's lines."""
    require_perm(actor, RECEIVE, _("You are not allowed to receive purchase orders."))
    receipt = _open_receipt(receipt)
    lines = {
        line.pk: line
        for line in lock_rows(
            GoodsReceiptLine.objects.filter(receipt=receipt).select_related("purchase_order_line__sku"),
            [count.line_id for count in counts],
        )
    }
    for count in counts:
        line = lines.get(count.line_id)
        if line is None:
            raise DomainError(_("That line is not on receipt %(n)s.") % {"n": receipt.number}, field="lines")
        sku = line.purchase_order_line.sku
        if count.quantity < 0:
            raise DomainError(
                _("%(sku)s: the quantity cannot be negative.") % {"sku": sku.code}, field="lines"
            )
        lot_code = (count.lot_code or "").strip()[:100]
        if lot_code and not sku.lot_tracked:
            raise DomainError(_("%(sku)s is not lot-tracked.") % {"sku": sku.code}, field="lines")
        line.quantity, line.lot_code, line.expires_on = count.quantity, lot_code, count.expires_on
        line.save(update_fields=["quantity", "lot_code", "expires_on"])
    return receipt


# --- posting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    receipt: GoodsReceipt
    units: int
    over: list[dict]  # [{"sku", "quantity", "open"}] beyond what was open
    already: bool = False  # posted before (a double click or a retry): nothing changed now


_RAISE_SQL = """
UPDATE purchasing_purchaseorderline
   SET received_quantity = received_quantity + %s
 WHERE id = %s AND (%s OR received_quantity + %s <= %s)
RETURNING received_quantity
"""


def receipt_post(*, receipt: GoodsReceipt | int, actor: Actor, accept_over: bool = False) -> Posted:
    """Post the counted units to the ledger and the order, once."""
    require_perm(actor, RECEIVE, _("You are not allowed to receive purchase orders."))
    if accept_over:
        require_perm(actor, ACCEPT_OVER, _("Only a manager may accept more than the tolerance."))
    return _post(receipt.pk if isinstance(receipt, GoodsReceipt) else receipt, actor, accept_over)


def _post(pk: int, actor: Actor, accept_over: bool, *, warehouse: str = "") -> Posted:
    """receipt_post's work; `warehouse`: posted from that cloud warehouse's confirmation."""
    po_id = GoodsReceipt.objects.filter(pk=pk).values_list("purchase_order_id", flat=True).first()
    if po_id is None:
        raise DomainError(_("No such goods receipt."), field="receipt")
    with transaction.atomic():
        po = lock_purchase_order(po_id)
        receipt = lock_one(GoodsReceipt.objects, pk)
        if receipt.posted_at is not None:
            return Posted(
                receipt=receipt,
                units=sum(receipt.lines.values_list("quantity", flat=True)),
                over=[],
                already=True,
            )
        _require_open(po)
        counted = list(
            receipt.lines.filter(quantity__gt=0)
            .select_related("purchase_order_line__sku")
            .order_by("purchase_order_line_id")
        )
        if not counted:
            raise DomainError(_("Nothing counted yet: scan the items first."), field="code")
        po_lines = {
            line.pk: line
            for line in lock_rows(PurchaseOrderLine.objects, [c.purchase_order_line_id for c in counted])
        }
        over = []
        for line in counted:
            over.extend(_raise_received(line, po_lines[line.purchase_order_line_id], receipt, accept_over))
        for line in counted:
            po_line = line.purchase_order_line
            line.movement = stock_change(
                kind=MovementKind.RECEIPT,
                sku=po_line.sku,
                warehouse=po.warehouse,
                quantity=line.quantity,
                lot_code=line.lot_code,
                expires_on=line.expires_on,
                reference=receipt.number,
                note=po.number,
                idempotency_key=f"purchasing:receipt-line:{line.pk}",
                actor=actor,
            )
            line.save(update_fields=["movement", "over_quantity"])
        receipt.posted_at = timezone.now()
        receipt.received_by = receipt.received_by or actor
        receipt.save(update_fields=["posted_at", "received_by", "updated_at"])
        notice = _receive_on_notice(receipt, counted) if receipt.notice_id else None
        units = sum(line.quantity for line in counted)
        record_event(
            po,
            PurchaseEventKind.RECEIVED,
            {
                "receipt": receipt.number,
                **({"notice": notice.number} if notice else {}),
                "units": units,
                "lines": [{"sku": c.purchase_order_line.sku.code, "quantity": c.quantity} for c in counted],
                "over": [{"sku": o["sku"], "quantity": o["quantity"]} for o in over],
                **({"warehouse": warehouse} if warehouse else {}),
            },
            actor,
        )
        if over:
            from_warehouse = (
                {"warehouse": warehouse, "beyond_tolerance": _beyond_tolerance(counted)}
                if warehouse
                else {"accepted_by_manager": accept_over}
            )
            record_event(
                po,
                PurchaseEventKind.OVER_RECEIVED,
                {"receipt": receipt.number, "lines": over, **from_warehouse},
                actor,
            )
        _move_order(po, actor)
    return Posted(receipt=receipt, units=units, over=over)


def _raise_received(
    line: GoodsReceiptLine, po_line: PurchaseOrderLine, receipt, accept_over: bool
) -> list[dict]:
    """Raise the order line's received quantity in one conditional UPDATE: refused beyond the
    tolerance unless a manager accepts. Returns the over-delivery of this receipt line, if any."""
    limit = over_limit(po_line.quantity)
    with connection.cursor() as cursor:
        cursor.execute(_RAISE_SQL, [line.quantity, po_line.pk, accept_over, line.quantity, limit])
        row = cursor.fetchone()
    sku = line.purchase_order_line.sku.code
    if row is None:
        raise DomainError(
            _(
                "%(sku)s: %(counted)s counted, but only %(open)s of %(ordered)s are still open and the "
                "tolerance allows %(limit)s in all. Count again, or ask a manager to accept the extra."
            )
            % {
                "sku": sku,
                "counted": line.quantity,
                "open": po_line.open_quantity,
                "ordered": po_line.quantity,
                "limit": limit,
            },
            field="lines",
        )
    received_after = row[0]
    received_before = received_after - line.quantity
    line.over_quantity = max(0, received_after - po_line.quantity) - max(
        0, received_before - po_line.quantity
    )
    if not line.over_quantity:
        return []
    return [{"sku": sku, "quantity": line.over_quantity, "open": max(0, po_line.quantity - received_before)}]


def _beyond_tolerance(counted: list[GoodsReceiptLine]) -> list[str]:
    """SKU codes of the posted lines now received beyond ordered + tolerance."""
    rows = PurchaseOrderLine.objects.filter(pk__in=[c.purchase_order_line_id for c in counted]).order_by("pk")
    return [
        code
        for code, quantity, received in rows.values_list("sku__code", "quantity", "received_quantity")
        if received > over_limit(quantity)
    ]


def _receive_on_notice(receipt: GoodsReceipt, counted: list[GoodsReceiptLine]) -> ShipmentNotice:
    notice = lock_one(ShipmentNotice.objects, receipt.notice_id)
    by_po_line = {c.purchase_order_line_id: c.quantity for c in counted}
    notice_lines = lock_rows(
        ShipmentNoticeLine.objects.filter(notice=notice),
        notice.lines.values_list("pk", flat=True),
    )
    for notice_line in notice_lines:
        quantity = by_po_line.get(notice_line.purchase_order_line_id)
        if quantity:
            ShipmentNoticeLine.objects.filter(pk=notice_line.pk).update(
                received_quantity=F("received_quantity") + quantity
            )
    complete = not ShipmentNoticeLine.objects.filter(
        notice=notice, received_quantity__lt=F("quantity")
    ).exists()
    if complete and notice.state in (ShipmentNoticeState.ANNOUNCED, ShipmentNoticeState.PARTIALLY_RECEIVED):
        transition(notice, "receive_all", None)
    elif not complete and notice.state == ShipmentNoticeState.ANNOUNCED:
        transition(notice, "receive_part", None)
    return notice


def _move_order(po: PurchaseOrder, actor: Actor) -> None:
    """Received in full when every line is; otherwise partially received. The receiving worker's
    permission was checked at the start; the state follows the goods (system actor)."""
    complete = not po.lines.filter(received_quantity__lt=F("quantity")).exists()
    if complete:
        transition(po, "receive_all", None)
    elif po.state != PurchaseOrderState.PARTIALLY_RECEIVED:
        transition(po, "receive_part", None)


# --- from a cloud warehouse's confirmation ----------------------------------------------------------


@dataclass(frozen=True)
class WarehouseReceipt:
    receipt: GoodsReceipt
    posted: Posted | None  # None: the confirmation carried no units
    repeated: bool = False  # this confirmation was recorded before: nothing changed now
    short: list[dict] | None = None  # a final confirmation: [{"sku", "quantity"}] still open


def receipt_from_warehouse(
    *, po: PurchaseOrder | int, counts: list[CountInput], key: str, final: bool, warehouse: str
) -> WarehouseReceipt:
    """Post what a cloud warehouse confirmed (per order line: units, each confirmation the
    increment, and the lot of a lot-tracked SKU) as a goods receipt through the desk's posting
    path, as the system. `key` identifies the confirmation: the same key again returns its
    receipt and changes nothing. Beyond the tolerance is booked (the goods are in that
    warehouse) and flagged to the managers; `final` with units still open leaves them open and
    alerts the buyers, who close the order short."""
    key = (key or "").strip()[:120]
    if not key:
        raise DomainError(_("A confirmation needs its key."), field="key")
    if any(not isinstance(count.quantity, int) or count.quantity < 0 for count in counts):
        raise DomainError(_("Quantities are whole numbers of units, 0 or more."), field="quantity")
    with transaction.atomic():
        po = lock_purchase_order(po)
        seen = GoodsReceipt.objects.filter(external_key=key).first()
        if seen is not None:
            if seen.purchase_order_id != po.pk:
                raise DomainError(_("This confirmation was recorded on another purchase order."), field="key")
            return WarehouseReceipt(receipt=seen, posted=None, repeated=True)
        _require_open(po)
        lines = {line.pk: line for line in po.lines.select_related("sku")}
        if any(count.line_id not in lines for count in counts):
            raise DomainError(
                _("That line is not on purchase order %(number)s.") % {"number": po.number}, field="line"
            )
        counted = sorted((count for count in counts if count.quantity), key=lambda count: count.line_id)
        if not counted and not final:
            raise DomainError(_("Receive at least one unit."), field="quantity")
        receipt = GoodsReceipt.objects.create(
            number=numbers.next_number(numbers.GOODS_RECEIPT), purchase_order=po, external_key=key
        )
        posted = None
        if counted:
            GoodsReceiptLine.objects.bulk_create(
                GoodsReceiptLine(
                    receipt=receipt,
                    purchase_order_line_id=count.line_id,
                    quantity=count.quantity,
                    lot_code=count.lot_code[:100],
                    expires_on=count.expires_on,
                )
                for count in counted
            )
            posted = _post(receipt.pk, None, True, warehouse=warehouse)
            receipt = posted.receipt
            _alert_beyond_tolerance(po, receipt, warehouse)
        else:  # a final confirmation with nothing more: kept, so its repeat is recognised
            receipt.posted_at = timezone.now()
            receipt.save(update_fields=["posted_at", "updated_at"])
        short = _finished_short(po, warehouse) if final else None
    return WarehouseReceipt(receipt=receipt, posted=posted, short=short)


def _alert_beyond_tolerance(po: PurchaseOrder, receipt: GoodsReceipt, warehouse: str) -> None:
    codes = _beyond_tolerance(list(receipt.lines.filter(over_quantity__gt=0)))
    if not codes:
        return
    alert_raise(
        kind="purchase_over_tolerance",
        key=f"purchase_over_tolerance:{po.pk}",
        role=Role.MANAGER,
        message=_(
            "Purchase order %(number)s: cloud warehouse %(warehouse)s received more than ordered plus "
            "the tolerance (%(skus)s); booked as counted there."
        )
        % {"number": po.number, "warehouse": warehouse, "skus": ", ".join(codes)},
        payload={"purchase_order": po.number, "receipt": receipt.number, "skus": codes},
    )


def _finished_short(po: PurchaseOrder, warehouse: str) -> list[dict]:
    """The warehouse says it is done: what is still open stays open (the buyer closes short)."""
    short = [
        {"sku": code, "quantity": quantity - received}
        for code, quantity, received in po.lines.filter(received_quantity__lt=F("quantity"))
        .order_by("pk")
        .values_list("sku__code", "quantity", "received_quantity")
    ]
    if not short:
        return []
    record_event(po, PurchaseEventKind.WMS_SHORT, {"warehouse": warehouse, "short": short}, None)
    alert_raise(
        kind="purchase_short",
        key=f"purchase_short:{po.pk}",
        role=Role.BUYER,
        message=_(
            "Purchase order %(number)s: cloud warehouse %(warehouse)s finished receiving with %(lines)s "
            "still open; close it short or chase the supplier."
        )
        % {
            "number": po.number,
            "warehouse": warehouse,
            "lines": ", ".join(f"{row['sku']} ×{row['quantity']}" for row in short),
        },
        payload={"purchase_order": po.number, "short": short},
    )
    return short
