"""Routing an order (R-F1, R-F2): lock it, read the facts, plan, then write in one transaction —
shipments and their lines, the reservations moved to where they ship from (one ledger post), the
order's transition and a timeline row that explains the choice.

Cancelling shipments (with their order, some of its lines, or a hold) lives here too: it
re-routes what stays live, and routing cancels parcels when it holds an order.

Lock order, as everywhere: order rows → shipment rows → reservation rows → balance rows."""

import logging
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.alerts import alert_raise
from core.errors import TransitionRefused
from core.handoff import publish_on_commit
from core.roles import Role
from core.transitions import require_perm, require_state
from fulfilment.models import (
    IN_WAREHOUSE,
    RoutingPolicy,
    Shipment,
    ShipmentLine,
)
from fulfilment.routing.explain import explain_choice, fallback_sentence
from fulfilment.routing.facts import (
    address_key,
    build_candidates,
    policy_for,
    rejected_warehouses,
    unrouted_needs,
)
from fulfilment.routing.planner import MERGE_UNTIL, ROUTABLE, SS, Need, Plan, plan, plan_presale, without
from fulfilment.services import run_shipment_transition, shipment_orders
from fulfilment.warehouse_port import warehouses
from inventory import reservations
from inventory.models import Warehouse
from orders import stock as order_stock
from orders.models import HOLDABLE, Order, OrderEventKind, OrderStatus
from orders.transitions import lock_order, record_order_event, run_order_transition

logger = logging.getLogger(__name__)


def route_order(
    *,
    order: Order | int,
    actor=None,
    reason: str = "",
    exclude_warehouse_ids=(),
    fallback: dict | None = None,
    expected_status: str | None = None,
) -> list[Shipment]:
    """Route the order's live units that no shipment carries yet; returns the shipments that now
    carry them (new or merged into). Short of stock (or of one warehouse, when splitting is off),
    the order is held with the reason and nothing else is written. Pre-sale lines without stock
    wait (a beat job tries again). `fallback` describes a rejected shipment being replaced."""
    with transaction.atomic():
        order = lock_order(order)
        require_perm(actor, "orders.route_order")
        require_state(order, expected_status)
        needs = unrouted_needs(order)
        _require_routable(order, needs)
        policy = policy_for(order.channel_id)
        merge_targets = _lock_merge_targets(order, policy)
        stock = reservations.routable_stock(
            order_id=order.pk, channel_id=order.channel_id, sku_ids={n.sku_id for n in needs}
        )
        excluded = set(exclude_warehouse_ids) | rejected_warehouses(order)
        candidates, exclusions = build_candidates(order, policy, stock.by_warehouse(), excluded)
        regular = plan(
            candidates, policy.strategies, [n for n in needs if not n.presale], allow_split=policy.allow_split
        )
        if regular.short:
            _hold_unroutable(order, regular, policy, fallback)
            return []
        presale, waiting = plan_presale(
            without(candidates, regular),
            policy.strategies,
            [n for n in needs if n.presale],
            allow_split=policy.allow_split,
        )
        if not regular.parts and not presale.parts:
            if fallback:  # the rejected units were pre-sale ones with nowhere else to go: they wait
                record_order_event(
                    order,
                    OrderEventKind.ROUTED,
                    actor,
                    reason=fallback_sentence(fallback),
                    payload={"routing": {"fallback": fallback}},
                )
            return []
        explanation = explain_choice(order, policy, regular, presale, waiting, exclusions, fallback)
        return _write(order, actor, reason, policy, stock, regular, presale, merge_targets, explanation)


def _require_routable(order: Order, needs: list[Need]) -> None:
    if not order.requires_shipping:
        raise TransitionRefused(
            _("Order %(number)s has nothing to ship (pickup or digital goods): it is not routed.")
            % {"number": order.number}
        )
    if order.status not in ROUTABLE:
        raise TransitionRefused(
            _("Order %(number)s cannot be routed while %(status)s.")
            % {"number": order.number, "status": order.get_status_display()}
        )
    if not needs:
        raise TransitionRefused(
            _("Order %(number)s has nothing left to route: its shipments carry every live unit.")
            % {"number": order.number}
        )


def _lock_merge_targets(order: Order, policy: RoutingPolicy) -> dict[int, Shipment]:
    """{warehouse id: shipment} the customer's other open orders to the same address have waiting
    for merges (created, not yet sent), locked before any reservation row."""
    if not (policy.merge_open_orders and order.customer_id):
        return {}
    open_shipments = (
        Shipment.objects.filter(
            status=SS.CREATED,
            presale=False,
            routing__has_key=MERGE_UNTIL,
            order__customer_id=order.customer_id,
            order__status__in=[OrderStatus.ALLOCATED],
        )
        .exclude(order=order)
        .select_related("order")
    )
    key = address_key(order)
    ids = [s.pk for s in open_shipments if address_key(s.order) == key]
    targets: dict[int, Shipment] = {}
    for shipment in Shipment.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"):
        if shipment.status == SS.CREATED and MERGE_UNTIL in shipment.routing:
            targets.setdefault(shipment.warehouse_id, shipment)
    return targets


def _write(
    order, actor, reason, policy, stock, regular, presale, merge_targets, explanation
) -> list[Shipment]:
    now = timezone.now()
    codes = dict(Warehouse.objects.filter(pk__in=[*regular.parts, *presale.parts]).values_list("pk", "code"))
    window = policy.merge_window_minutes if policy.merge_open_orders else 0
    merging = {w: merge_targets[w] for w in regular.parts if w in merge_targets}
    explanation["why"] = " ".join(
        [
            explanation["why"],
            *merge_sentences(merging.values(), window if len(merging) < len(regular.parts) else 0),
        ]
    )
    placements, created, merged = [], [], []
    for part_plan, is_presale in ((regular, False), (presale, True)):
        for warehouse_id, part in part_plan.parts.items():
            target = None if is_presale else merging.get(warehouse_id)
            if target is None:
                shipment = _new_shipment(order, warehouse_id, is_presale, explanation, window, now)
                created.append(shipment)
            else:
                shipment = _merge_into(target, order, explanation)
                merged.append(shipment)
            units: dict[Need, int] = defaultdict(int)
            for need, quantity in part:
                units[need] += quantity
            ShipmentLine.objects.bulk_create(
                ShipmentLine(shipment=shipment, order_line_id=n.line_id, sku_id=n.sku_id, quantity=q)
                for n, q in units.items()
            )
            placements.extend(
                reservations.Placement(n.line_id, n.sku_id, warehouse_id, q, shipment.pk)
                for n, q in units.items()
            )
    reservations.reservations_route(
        stock=stock,
        order_id=order.pk,
        channel_id=order.channel_id,
        placements=placements,
        warehouse_codes=codes,
        reference=order.number,
        actor=actor,
        now=now,
    )
    sentence = explanation["why"]
    numbers = [s.number for s in (*created, *merged)]
    if order.status == OrderStatus.PAID:
        default = _("Routed: %(shipments)s") % {"shipments": ", ".join(numbers)}
        run_order_transition(
            order, "allocate", actor, reason=reason or default, payload={"routing": {"shipments": numbers}}
        )
    record_order_event(
        order,
        OrderEventKind.ROUTED,
        actor,
        reason=sentence,
        payload={"routing": {**explanation, "shipments": numbers}},
    )
    _push(order, created)
    return [*created, *merged]


def merge_sentences(targets, window: int) -> list[str]:
    sentences = [
        _("Merged into shipment %(shipment)s with the customer's order %(order)s to the same address.")
        % {"shipment": target.number, "order": target.order.number}
        for target in targets
    ]
    if window:
        sentences.append(
            _("The new parcel waits %(minutes)s minutes for the customer's next order before it goes out.")
            % {"minutes": window}
        )
    return sentences


def _new_shipment(order, warehouse_id, is_presale, explanation, window, now) -> Shipment:
    routing = {**explanation, "part": "presale" if is_presale else "regular"}
    if window and not is_presale:  # pre-sale parcels have nothing to wait for
        routing[MERGE_UNTIL] = (now + timedelta(minutes=window)).isoformat()
    return Shipment.objects.create(
        number=f"{order.number}-{Shipment.objects.filter(order=order).count() + 1}",
        order=order,
        warehouse_id=warehouse_id,
        presale=is_presale,
        priority=order.priority,
        routing=routing,
    )


def _merge_into(shipment: Shipment, order: Order, explanation: dict) -> Shipment:
    merged = [*shipment.routing.get("merged", []), {"order": order.number, "why": explanation["why"]}]
    shipment.routing = {**shipment.routing, "merged": merged}
    Shipment.objects.filter(pk=shipment.pk).update(routing=shipment.routing, updated_at=timezone.now())
    return shipment


def _push(order: Order, shipments: list[Shipment]) -> None:
    """Hand new shipments to their warehouses, except those waiting for merges."""
    for shipment in shipments:
        if MERGE_UNTIL not in shipment.routing:
            warehouses().push_shipment(shipment, orders=[order])


def _hold_unroutable(order: Order, regular: Plan, policy: RoutingPolicy, fallback: dict | None) -> None:
    """No allowed warehouse (or set of them) has the stock: hold the order with the reason, or,
    when it can no longer be held (part of it left already), tell the managers."""
    codes = order_stock.sku_codes(sorted(regular.short))
    if policy.allow_split:
        why = order_stock.shortage_reason(codes)
    else:
        why = _("Out of stock in any single warehouse, and this channel does not split orders: %(skus)s") % {
            "skus": ", ".join(codes)
        }
    if fallback:
        why = f"{fallback_sentence(fallback)} {why}"
    # Nested: the timeline reads top-level two-item lists as "old → new" changes.
    payload = {
        "routing": {"short": codes, "strategies": policy.strategies, "allow_split": policy.allow_split}
    }
    if fallback:
        payload["routing"]["fallback"] = fallback
    if order.status in HOLDABLE:
        run_order_transition(order, "hold", None, reason=why, args={"reason": why[:255]}, payload=payload)
        shipments_cancel(order=order, reason=why)
        return
    record_order_event(order, OrderEventKind.ROUTED, None, reason=why, payload=payload)
    alert_raise(
        kind="routing_short",
        key=f"routing_short:{order.pk}",
        role=Role.MANAGER,
        message=_("Order %(number)s: %(why)s") % {"number": order.number, "why": why},
        payload={"order": order.number, **payload},
    )


# Orders per routing task: an intake batch's paid orders (at most 1,000) in one task, which
# routes them in one transaction (batch.BATCH_ROUTE_CHUNK). Smaller tasks could run on several
# workers at once, but the orders of one batch share SKUs, whose rows every task locks in turn;
# and each task reads and locks those rows again and commits on its own.
ROUTE_TASK_CHUNK = 1_000


def route_on_commit(*order_ids: int) -> None:
    """Route these orders once the current transaction commits (as the system), ROUTE_TASK_CHUNK
    to a task: a 1,000-order batch publishes one message, not 500 (issue #18)."""
    from fulfilment.tasks import route_orders_task

    ordered = sorted(set(order_ids))
    for start in range(0, len(ordered), ROUTE_TASK_CHUNK):
        # the beat re-routes what a dead broker missed
        publish_on_commit(route_orders_task, ordered[start : start + ROUTE_TASK_CHUNK])


def shipments_cancel(*, order: Order, reason: str, line_ids=None, reroute: bool = False) -> list[Shipment]:
    """Cancel the (locked) order's shipments still in the warehouse (those carrying `line_ids`
    only, when given): the warehouse is told, their held units stay with their orders, unlinked.
    The order's remaining live units are routed again when `reroute`; other orders the shipments
    carried (merged parcels) are routed again after commit."""
    affected = Shipment.objects.filter(lines__order_line__order=order, status__in=IN_WAREHOUSE)
    if line_ids is not None:
        affected = affected.filter(lines__order_line_id__in=line_ids)
    cancelled, others = [], set()
    for shipment_id in sorted(set(affected.values_list("pk", flat=True))):
        shipment = _cancel_one(order, shipment_id, reason)
        if shipment is not None:
            cancelled.append(shipment)
            others.update(pk for pk in shipment_orders(shipment) if pk != order.pk)
    if others:
        route_on_commit(*others)
    if cancelled and reroute and order.status in ROUTABLE and unrouted_needs(order):
        route_order(order=order, reason=reason)
    return cancelled


def _cancel_one(order: Order, shipment_id: int, reason: str) -> Shipment | None:
    unlocked = Shipment.objects.get(pk=shipment_id)
    # The caller holds `order`. Only a merged parcel has other orders; they are locked after it
    # (ascending among themselves): the one departure from the global order, for a rare case.
    others = list(
        Order.objects.select_for_update(of=("self",))
        .filter(pk__in=shipment_orders(unlocked))
        .exclude(pk=order.pk)
        .order_by("pk")
    )
    shipment = Shipment.objects.select_for_update(of=("self",)).get(pk=shipment_id)
    if shipment.status not in IN_WAREHOUSE:
        return None
    waiting_for_merges = MERGE_UNTIL in shipment.routing  # never sent: nobody to tell
    run_shipment_transition(
        shipment,
        sorted([order, *others], key=lambda o: o.pk),
        "cancel",
        None,
        reason=reason,
        args={"problem": reason[:255]},
    )
    reservations.reservations_unlink_shipment(shipment_id=shipment.pk)
    if not waiting_for_merges:
        warehouses().cancel_shipment(shipment)
    return shipment
