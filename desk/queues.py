"""The desk's start page: the exception queues this user works, each with how many wait in it.
Every count is one indexed query (status or state columns), fast on millions of orders."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.models import AlertState
from core.roles import user_roles
from desk.alerts import visible_alerts
from fulfilment.models import Shipment, ShipmentStatus
from fulfilment.watches import shipments_without_first_scan
from integrations.models import InboundMessage, InboundStatus, ShipmentWriteBack, WriteBackState
from orders.models import Order, OrderStatus
from orders.unmapped import unmapped_item_count
from returns.models import ReturnRequest, ReturnStatus


@dataclass
class Queue:
    label: str
    count: int
    url: str
    hint: str = ""


def _alerts_open(user, **filters) -> int:
    return visible_alerts(user).filter(state=AlertState.OPEN, **filters).count()


def desk_queues(user) -> list[Queue]:
    queues = []
    if user.has_perm("orders.hold_order"):
        held = Order.objects.filter(status=OrderStatus.ON_HOLD).count()
        queues.append(
            Queue(
                _("Held orders"),
                held,
                f"{reverse('orders:list')}?status=on_hold",
                _("Review, release or cancel."),
            )
        )
    if user.has_perm("inventory.view_itemmapping"):
        queues.append(
            Queue(
                _("Unmapped platform items"),
                unmapped_item_count(),
                reverse("inventory:unmapped"),
                _("Map each to a SKU: its waiting orders are released."),
            )
        )
    if user.has_perm("integrations.view_inboundmessage"):
        failed = InboundMessage.objects.filter(status=InboundStatus.FAILED).count()
        queues.append(
            Queue(
                _("Failed integration messages"),
                failed,
                reverse("integrations_desk:failed"),
                _("Fix the cause, then replay."),
            )
        )
    if user.has_perm("integrations.view_shipmentwriteback"):
        unsent = ShipmentWriteBack.objects.filter(state=WriteBackState.FAILED).count()
        queues.append(
            Queue(
                _("Parcels the platform was not told of"),
                unsent,
                f"{reverse('integrations_desk:failed')}#write-backs",
                _("Fix the cause (e.g. the carrier code map), then send again."),
            )
        )
    if user.has_perm("orders.work_shipment"):
        to_work = Shipment.objects.filter(
            status__in=[ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING, ShipmentStatus.PACKED],
            warehouse__wms_protocol="own",
        ).count()
        queues.append(Queue(_("Shipments to pick, pack and ship"), to_work, reverse("fulfilment:shipments")))
    if user.has_perm("orders.view_shipment"):
        silent = shipments_without_first_scan().count()
        queues.append(
            Queue(_("Shipments without a first scan after 24 h"), silent, reverse("fulfilment:no-first-scan"))
        )
    if user.has_perm("returns.approve_returnrequest"):
        waiting = ReturnRequest.objects.filter(status=ReturnStatus.REQUESTED).count()
        queues.append(
            Queue(_("Returns waiting for approval"), waiting, f"{reverse('returns:list')}?status=requested")
        )
    if user.has_perm("returns.receive_returnrequest"):
        coming = ReturnRequest.objects.filter(
            status__in=[ReturnStatus.APPROVED, ReturnStatus.AWAITING_RETURN]
        ).count()
        queues.append(Queue(_("Returns to receive"), coming, reverse("returns:receiving")))
    if user_roles(user) or user.has_perm("core.view_alert"):  # alerts are raised to roles
        queues.append(
            Queue(_("SLA breaches"), _alerts_open(user, kind="sla"), f"{reverse('alerts:list')}?kind=sla")
        )
        queues.append(Queue(_("Open alerts"), _alerts_open(user), reverse("alerts:list")))
    return queues
