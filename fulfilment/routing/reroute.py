"""Routing again: after a warehouse refused a parcel, or when the desk asks for it."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import TransitionRefused
from core.transitions import require_perm, require_state
from fulfilment.models import (
    Shipment,
)
from fulfilment.routing.explain import fallback_sentence
from fulfilment.routing.facts import unrouted_needs
from fulfilment.routing.planner import REJECTED, ROUTABLE, SS
from fulfilment.routing.service import route_order, shipments_cancel
from fulfilment.services import lock_shipment, run_shipment_transition
from inventory import reservations
from orders.models import Order, OrderStatus
from orders.transitions import lock_order

logger = logging.getLogger(__name__)


def reroute_rejected(*, shipment: Shipment | int, reason: str) -> list[Shipment]:
    """The warehouse refused the shipment: cancel it with the reason and route its units again,
    avoiding that warehouse; the order is held when no other warehouse has the stock."""
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment)
        if shipment.status == SS.CANCELLED:
            return []  # a repeated callback: handled already
        fallback = {
            "shipment": shipment.number,
            "warehouse": shipment.warehouse.code,
            "reason": reason[:255],
            "at": timezone.now().isoformat(),
        }
        shipment.routing = {**shipment.routing, REJECTED: fallback}
        run_shipment_transition(
            shipment, orders, "cancel", None, reason=reason, args={"problem": reason[:255]}, payload=fallback
        )
        reservations.reservations_unlink_shipment(shipment_id=shipment.pk)
        routed: list[Shipment] = []
        for order in orders:
            if order.status in ROUTABLE and unrouted_needs(order):
                routed.extend(
                    route_order(
                        order=order,
                        reason=fallback_sentence(fallback),
                        exclude_warehouse_ids={shipment.warehouse_id},
                        fallback=fallback,
                    )
                )
        return routed


def reroute_order(
    *, order: Order | int, actor=None, reason: str = "", expected_status: str | None = None
) -> list[Shipment]:
    """Route the order again from scratch (a warehouse closed, the policy changed): its shipments
    still in the warehouse are cancelled and everything they carried is routed anew."""
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.route_order")
        require_state(order, expected_status)
        if order.status not in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED):
            raise TransitionRefused(
                _("Order %(number)s cannot be re-routed while %(status)s.")
                % {"number": order.number, "status": order.get_status_display()}
            )
        shipments_cancel(order=order, reason=reason or _("Re-routed"))
        return route_order(order=order, actor=actor, reason=reason)
