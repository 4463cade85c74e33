"""Reads for the purchasing screens: suppliers, purchase orders, what is expected at a
warehouse, a receipt with its counts against what is expected, and the open order per SKU."""

from dataclasses import dataclass

from django.db.models import F, Q, QuerySet, Sum

from core.models import OutboxMessage, OutboxState
from inventory.models import ReplenishmentSuggestion
from purchasing.events import RenderedEvent, render_events
from purchasing.models import (
    OPEN_FOR_RECEIPT,
    GoodsReceipt,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeState,
    Supplier,
)
from purchasing.receiving import over_limit
from purchasing.services import OPEN_STATES
from purchasing.warehouse_systems import cloud_protocols


def is_supplier_user(user) -> bool:
    """A supplier's portal login: it never sees the buyer's screens."""
    return bool(user.is_authenticated and getattr(user, "supplier_membership", None) is not None)


def supplier_list(*, search: str = "") -> QuerySet[Supplier]:
    rows = Supplier.objects.all()
    if search:
        rows = rows.filter(Q(code__icontains=search) | Q(name__icontains=search))
    return rows.order_by("code")


def supplier_items(supplier: Supplier):
    return supplier.items.select_related("sku").order_by("sku__code")


def purchase_order_list(*, state: str = "", supplier: str = "", search: str = "") -> QuerySet[PurchaseOrder]:
    rows = PurchaseOrder.objects.select_related("supplier", "warehouse")
    if state:
        rows = rows.filter(state=state)
    if supplier:
        rows = rows.filter(supplier__code=supplier)
    if search:
        rows = rows.filter(Q(number__icontains=search) | Q(lines__sku__code=search)).distinct()
    return rows.order_by("-created_at", "-id")


def purchase_order_detail(number: str) -> PurchaseOrder | None:
    return (
        PurchaseOrder.objects.select_related("supplier", "warehouse", "created_by", "approved_by")
        .filter(number=number)
        .first()
    )


def purchase_order_lines(po: PurchaseOrder) -> list[PurchaseOrderLine]:
    return list(po.lines.select_related("sku", "suggestion").order_by("pk"))


def purchase_order_events(po: PurchaseOrder) -> list[RenderedEvent]:
    return render_events(po.events.select_related("actor").order_by("created_at", "id"))


def expected_receipts(*, warehouse=None):
    """What the dock expects: open purchase orders and their announced notices, soonest first."""
    orders = PurchaseOrder.objects.filter(state__in=OPEN_FOR_RECEIPT).select_related("supplier", "warehouse")
    notices = ShipmentNotice.objects.filter(
        state__in=[ShipmentNoticeState.ANNOUNCED, ShipmentNoticeState.PARTIALLY_RECEIVED],
        purchase_order__state__in=OPEN_FOR_RECEIPT,
    ).select_related("purchase_order__supplier", "purchase_order__warehouse")
    # A cloud warehouse's own system confirms what arrives there: nothing to scan at our dock.
    orders = orders.exclude(warehouse__wms_protocol__in=cloud_protocols())
    notices = notices.exclude(purchase_order__warehouse__wms_protocol__in=cloud_protocols())
    if warehouse is not None:
        orders = orders.filter(warehouse=warehouse)
        notices = notices.filter(purchase_order__warehouse=warehouse)
    orders = orders.annotate(open_units=Sum(F("lines__quantity") - F("lines__received_quantity")))
    return (
        list(orders.order_by(F("expected_on").asc(nulls_last=True), "number")[:100]),
        list(notices.order_by("expected_on", "number")[:100]),
    )


@dataclass(frozen=True)
class CloudWarehouseStatus:
    """Where the announcement of a purchase order to its cloud warehouse stands."""

    state: str  # "sent" (waiting or retrying), "accepted", "failed", "cancelled"
    reference: str  # the warehouse's own number, once accepted
    error: str  # the last error: why it failed, or why it is being retried

    @property
    def can_retry(self) -> bool:
        return self.state == "failed"


def cloud_warehouse_status(po: PurchaseOrder) -> CloudWarehouseStatus | None:
    """None when the order was never announced to a cloud warehouse."""
    if not po.wms_outbox_key:
        return None
    message = OutboxMessage.objects.filter(idempotency_key=po.wms_outbox_key).first()
    if po.state == PurchaseOrderState.CANCELLED:
        state = "cancelled"  # withdrawn from the warehouse if it had accepted it
    elif po.wms_ref:
        state = "accepted"
    elif message is not None and message.state == OutboxState.DEAD:
        state = "failed"
    else:
        state = "sent"
    return CloudWarehouseStatus(
        state=state, reference=po.wms_ref, error=message.last_error[:500] if message is not None else ""
    )


def find_receivable(code: str) -> tuple[PurchaseOrder | None, ShipmentNotice | None]:
    """A purchase order or shipment notice by its (scanned) number."""
    code = (code or "").strip()
    notice = ShipmentNotice.objects.select_related("purchase_order").filter(number__iexact=code).first()
    if notice is not None:
        return notice.purchase_order, notice
    return PurchaseOrder.objects.filter(number__iexact=code).first(), None


@dataclass(frozen=True)
class CountRow:
    line_id: int
    sku_code: str
    sku_name: str
    barcode: str
    lot_tracked: bool
    counted: int
    expected: int  # open on the order (or announced and not yet received on the notice)
    ordered: int
    limit: int  # the most the order line may receive in all without a manager
    received_before: int
    lot_code: str
    expires_on: object

    @property
    def over(self) -> int:
        return max(0, self.counted - self.expected)

    @property
    def short(self) -> int:
        return max(0, self.expected - self.counted)

    @property
    def beyond_tolerance(self) -> bool:
        return self.received_before + self.counted > self.limit


def receipt_rows(receipt: GoodsReceipt) -> list[CountRow]:
    announced = {}
    if receipt.notice_id:
        announced = {
            line.purchase_order_line_id: max(0, line.quantity - line.received_quantity)
            for line in receipt.notice.lines.all()
        }
    rows = []
    for line in receipt.lines.select_related("purchase_order_line__sku").order_by("purchase_order_line_id"):
        po_line = line.purchase_order_line
        expected = announced.get(po_line.pk, 0) if receipt.notice_id else po_line.open_quantity
        rows.append(
            CountRow(
                line_id=line.pk,
                sku_code=po_line.sku.code,
                sku_name=po_line.sku.name,
                barcode=po_line.sku.barcode or "",
                lot_tracked=po_line.sku.lot_tracked,
                counted=line.quantity,
                expected=expected,
                ordered=po_line.quantity,
                limit=over_limit(po_line.quantity),
                received_before=po_line.received_quantity,
                lot_code=line.lot_code,
                expires_on=line.expires_on,
            )
        )
    return rows


def on_order_for_suggestions(suggestions) -> dict[int, str]:
    """suggestion id → the open purchase order its SKU is already on (for the replenishment page)."""
    suggestions = list(suggestions)
    by_sku = dict(
        PurchaseOrderLine.objects.filter(
            purchase_order__state__in=OPEN_STATES, sku_id__in=[s.sku_id for s in suggestions]
        )
        .order_by("purchase_order__created_at")
        .values_list("sku_id", "purchase_order__number")
    )
    return {s.pk: by_sku[s.sku_id] for s in suggestions if s.sku_id in by_sku}


def latest_suggestions() -> QuerySet[ReplenishmentSuggestion]:
    latest = (
        ReplenishmentSuggestion.objects.order_by("-computed_on").values_list("computed_on", flat=True).first()
    )
    return ReplenishmentSuggestion.objects.filter(computed_on=latest).select_related("sku")
