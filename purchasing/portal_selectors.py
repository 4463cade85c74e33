"""What a supplier's portal login may read: its own purchase orders once they were sent to it,
their lines, notices and the part of their history meant for the supplier. Every query here
starts from the supplier's id, so a page cannot show another supplier's rows by forgetting a
filter; a number that is not the supplier's is simply not found (404, never 403)."""

from django.db.models import F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest

from purchasing.events import RenderedEvent, render_event
from purchasing.models import (
    OPEN_FOR_RECEIPT,
    PurchaseEventKind,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    ShipmentNotice,
    ShipmentNoticeLine,
    ShipmentNoticeState,
    Supplier,
)

# Notices the warehouse still expects goods from: what they announce is no longer open to announce.
OPEN_NOTICE_STATES = [ShipmentNoticeState.ANNOUNCED, ShipmentNoticeState.PARTIALLY_RECEIVED]

# Drafts and orders waiting for approval are the buyer's own business until they are sent.
NOT_SENT = [PurchaseOrderState.DRAFT, PurchaseOrderState.PENDING_APPROVAL]

# The history a supplier sees: what it did and what was decided about it, not the buyer's
# internal steps (creation, approval rules, rejections by the approver).
SUPPLIER_EVENT_KINDS = [
    PurchaseEventKind.APPROVED,
    PurchaseEventKind.CONFIRMED,
    PurchaseEventKind.PROPOSED,
    PurchaseEventKind.PROPOSAL_ACCEPTED,
    PurchaseEventKind.PROPOSAL_REJECTED,
    PurchaseEventKind.ANNOUNCED,
    PurchaseEventKind.RECEIVED,
    PurchaseEventKind.CLOSED,
    PurchaseEventKind.CANCELLED,
]
# Kinds whose details are the buyer's notes (approval rules, why it cancelled): title only.
TITLE_ONLY_KINDS = {PurchaseEventKind.APPROVED, PurchaseEventKind.CLOSED, PurchaseEventKind.CANCELLED}


def is_supplier_user(user) -> bool:
    """Whether this login is a supplier's (one indexed lookup, cached on the user object)."""
    return (
        bool(getattr(user, "is_authenticated", False))
        and getattr(user, "supplier_membership", None) is not None
    )


def portal_supplier(user) -> Supplier | None:
    """The supplier this login belongs to, or None for everyone else (desk users, anonymous)."""
    if not getattr(user, "is_authenticated", False):
        return None
    membership = getattr(user, "supplier_membership", None)  # None when the user has no membership
    return membership.supplier if membership is not None else None


def supplier_purchase_orders(supplier_id: int) -> QuerySet[PurchaseOrder]:
    """The supplier's purchase orders that were sent to it (a cancelled draft never was)."""
    return PurchaseOrder.objects.filter(supplier_id=supplier_id, approved_at__isnull=False).exclude(
        state__in=NOT_SENT
    )


def open_purchase_orders(supplier_id: int) -> QuerySet[PurchaseOrder]:
    """Still to deliver, the soonest expected first (orders without a date last)."""
    return (
        supplier_purchase_orders(supplier_id)
        .filter(state__in=OPEN_FOR_RECEIPT)
        .select_related("warehouse")
        .order_by(F("expected_on").asc(nulls_last=True), "id")
    )


def proposals_waiting(supplier_id: int) -> QuerySet[PurchaseOrder]:
    return open_purchase_orders(supplier_id).filter(has_open_proposal=True)


def purchase_order_for_supplier(supplier_id: int, number: str) -> PurchaseOrder:
    """One of the supplier's purchase orders by number; PurchaseOrder.DoesNotExist otherwise."""
    return supplier_purchase_orders(supplier_id).select_related("warehouse", "supplier").get(number=number)


def announced_open_subquery(line_ref: str = "pk") -> Subquery:
    """Units announced on open notices of a line and not received against them yet."""
    return Subquery(
        ShipmentNoticeLine.objects.filter(
            purchase_order_line=OuterRef(line_ref), notice__state__in=OPEN_NOTICE_STATES
        )
        .values("purchase_order_line")
        .annotate(total=Sum(Greatest(F("quantity") - F("received_quantity"), Value(0))))
        .values("total"),
        output_field=IntegerField(),
    )


def lines_with_announced(purchase_order: PurchaseOrder) -> list[PurchaseOrderLine]:
    """The order's lines, each with `announced_open` and `announceable` (what may still be
    announced: ordered − received − announced on open notices, never below 0)."""
    lines = list(
        purchase_order.lines.select_related("sku")
        .annotate(announced_open=Coalesce(announced_open_subquery(), Value(0)))
        .order_by("id")
    )
    for line in lines:
        line.announceable = max(0, line.quantity - line.received_quantity - line.announced_open)
        line.current_on = line.expected_on or purchase_order.expected_on
    return lines


def supplier_notices(supplier_id: int) -> QuerySet[ShipmentNotice]:
    return (
        ShipmentNotice.objects.filter(purchase_order__in=supplier_purchase_orders(supplier_id))
        .select_related("purchase_order", "purchase_order__warehouse")
        .order_by("-created_at", "-id")
    )


def open_notices(supplier_id: int) -> QuerySet[ShipmentNotice]:
    return supplier_notices(supplier_id).filter(state__in=OPEN_NOTICE_STATES).order_by("expected_on", "id")


def notice_for_supplier(supplier_id: int, number: str) -> ShipmentNotice:
    """One of the supplier's notices by number; ShipmentNotice.DoesNotExist otherwise."""
    return supplier_notices(supplier_id).get(number=number)


def notice_lines(notice: ShipmentNotice) -> QuerySet[ShipmentNoticeLine]:
    return notice.lines.select_related("purchase_order_line__sku").order_by("id")


def purchase_order_notices(purchase_order: PurchaseOrder) -> QuerySet[ShipmentNotice]:
    return purchase_order.notices.order_by("-created_at", "-id")


def supplier_timeline(purchase_order: PurchaseOrder, supplier_id: int) -> list[dict]:
    """The supplier's view of the order's history, newest first: who acted is "you" for its own
    people and "buyer" for ours (our staff's names are not the supplier's business)."""
    events = (
        purchase_order.events.filter(kind__in=SUPPLIER_EVENT_KINDS)
        .select_related("actor__supplier_membership")
        .order_by("-created_at", "-id")
    )
    timeline = []
    for event in events:
        rendered: RenderedEvent = render_event(event)
        membership = getattr(event.actor, "supplier_membership", None) if event.actor_id else None
        timeline.append(
            {
                "at": event.created_at,
                "title": rendered.title,
                "details": [] if event.kind in TITLE_ONLY_KINDS else rendered.details,
                "by_supplier": membership is not None and membership.supplier_id == supplier_id,
                "by_system": event.actor_id is None,
            }
        )
    return timeline


def start_page_counts(supplier_id: int) -> dict[str, int]:
    orders = open_purchase_orders(supplier_id)
    return {
        "to_confirm": orders.filter(state=PurchaseOrderState.APPROVED, has_open_proposal=False).count(),
        "proposals": orders.filter(has_open_proposal=True).count(),
        "notices": open_notices(supplier_id).count(),
    }


def needs_answer(purchase_order: PurchaseOrder) -> bool:
    """Sent but neither confirmed nor answered with a proposal yet."""
    return purchase_order.state == PurchaseOrderState.APPROVED and not purchase_order.has_open_proposal
