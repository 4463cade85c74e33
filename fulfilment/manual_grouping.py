"""Merging and splitting parcels by hand (issue #19): an agent ships several orders of one customer
to one address as one parcel, or moves some units of a parcel into a parcel of their own (from
the same warehouse, or from another one that has the stock).

Orders stay exactly as sold; only their shipments change. The rules are the automatic ones
(fulfilment.routing.service): same customer, same address (normalised), allocated orders, parcels
not yet picked; reservations follow the units as routing moves them. A parcel already handed to a
cloud warehouse, picked, waved or with a printed waybill is refused: it is physically on its way.

Lock order, as everywhere: order rows → shipment rows → reservation rows → balance rows."""

from collections import defaultdict

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError, TransitionRefused
from core.transitions import lock_rows, require_perm, require_state
from fulfilment.models import Shipment, ShipmentLine, ShipmentStatus
from fulfilment.routing.facts import address_key
from fulfilment.routing.planner import MERGE_UNTIL
from fulfilment.routing.service import _merge_into
from fulfilment.services import lock_shipment, run_shipment_transition, shipment_orders
from fulfilment.splitting import shipment_split_off
from fulfilment.warehouse_port import warehouses
from fulfilment.wave_models import WaveShipment
from inventory import reservations
from inventory.models import Warehouse, WmsProtocol
from orders import stock as order_stock
from orders.models import Order, OrderEventKind, OrderStatus
from orders.transitions import record_order_event

SS = ShipmentStatus
# Regrouping parcels is a customer-service job (the shipment admin is read-only, so this
# permission gives nothing else); the parcels it cancels on the way are the system's doing.
PERM = "orders.change_shipment"
# Not picked yet: a parcel in an own warehouse's queue can still be regrouped; a cloud warehouse
# has it once sent (it must be cancelled there first).
REGROUPABLE = (SS.CREATED, SS.SENT_TO_WAREHOUSE)


def regroup_blocker(shipment: Shipment) -> str:
    """Why this parcel can no longer be merged or split by hand ("" when it can)."""
    if shipment.status not in REGROUPABLE:
        return _("Shipment %(number)s is already %(status)s: it can no longer be merged or split.") % {
            "number": shipment.number,
            "status": shipment.get_status_display(),
        }
    if shipment.status == SS.SENT_TO_WAREHOUSE and shipment.warehouse.wms_protocol != WmsProtocol.OWN:
        return _(
            "Shipment %(number)s was already sent to the cloud warehouse %(warehouse)s: "
            "cancel it there first."
        ) % {"number": shipment.number, "warehouse": shipment.warehouse.code}
    if shipment.label_prints:
        return _("The waybill of shipment %(number)s is already printed: it can no longer be regrouped.") % {
            "number": shipment.number
        }
    if shipment.presale:
        return _("Shipment %(number)s is a pre-sale parcel: it ships when its stock arrives.") % {
            "number": shipment.number
        }
    wave = WaveShipment.objects.filter(shipment=shipment, active=True).select_related("wave").first()
    if wave is not None:
        return _("Shipment %(number)s is in wave %(wave)s being picked.") % {
            "number": shipment.number,
            "wave": wave.wave.number,
        }
    return ""


def _require_regroupable(shipment: Shipment) -> None:
    blocker = regroup_blocker(shipment)
    if blocker:
        raise TransitionRefused(blocker)


def live_shipments(order_ids) -> list[Shipment]:
    return list(
        Shipment.objects.filter(lines__order_line__order_id__in=order_ids)
        .exclude(status=SS.CANCELLED)
        .distinct()
        .order_by("pk")
    )


# --- merge ------------------------------------------------------------------------------------


def merge_blocker(order: Order, other: Order) -> str:
    """Why `other` cannot ship with `order` (the order rules only; parcels are checked apart)."""
    if order.pk == other.pk:
        return _("An order cannot be merged with itself.")
    if other.status != OrderStatus.ALLOCATED:
        return _("Order %(number)s is %(status)s: only allocated orders are merged.") % {
            "number": other.number,
            "status": other.get_status_display(),
        }
    if not order.customer_id or other.customer_id != order.customer_id:
        return _("Order %(number)s belongs to another customer.") % {"number": other.number}
    if address_key(other) != address_key(order):
        return _("Order %(number)s ships to a different address.") % {"number": other.number}
    return ""


def shipments_merge_by_hand(
    *, order: Order | int, others: list[int], actor=None, expected_status: str | None = None
) -> Shipment:
    """Ship the order and `others` (same customer, same address, allocated) as one parcel: the
    other parcels' lines and reservations move into the order's parcel and they are cancelled.
    Every parcel must be in one warehouse and not yet picked; nothing is written otherwise."""
    order_id = order.pk if isinstance(order, Order) else order
    if not others:
        raise DomainError(_("Choose at least one order to merge with."), field="orders")
    with transaction.atomic():
        # The parcels may carry orders merged earlier: they are locked too (orders first).
        wanted = {order_id, *others}
        carried = {pk for s in live_shipments(wanted) for pk in shipment_orders(s)}
        locked = {o.pk: o for o in lock_rows(Order.objects.all(), wanted | carried)}
        require_perm(actor, PERM)
        if not wanted <= set(locked):
            raise DomainError(_("One of the chosen orders no longer exists."), field="orders")
        main = locked[order_id]
        require_state(main, expected_status)
        if main.status != OrderStatus.ALLOCATED:
            raise TransitionRefused(
                _("Order %(number)s is %(status)s: only allocated orders are merged.")
                % {"number": main.number, "status": main.get_status_display()}
            )
        for pk in sorted(locked):
            blocker = merge_blocker(main, locked[pk]) if pk != order_id else ""
            if blocker:
                raise TransitionRefused(blocker)
        shipments = lock_rows(
            Shipment.objects.select_related("warehouse"), [s.pk for s in live_shipments(wanted)]
        )
        return _merge(main, locked, shipments, actor)


def _merge(main: Order, orders: dict[int, Order], shipments: list[Shipment], actor) -> Shipment:
    for shipment in shipments:
        _require_regroupable(shipment)
        if not set(shipment_orders(shipment)) <= set(orders):
            raise TransitionRefused(
                _("Shipment %(number)s changed meanwhile: reload the page.") % {"number": shipment.number}
            )
    for pk, order in orders.items():
        if not any(pk in shipment_orders(s) for s in shipments):
            raise TransitionRefused(_("Order %(number)s has no parcel to merge.") % {"number": order.number})
    places = sorted({s.warehouse.code for s in shipments})
    if len(places) > 1:
        raise TransitionRefused(
            _(
                "The parcels ship from different warehouses (%(warehouses)s): "
                "split or re-route them into one first."
            )
            % {"warehouses": ", ".join(places)}
        )
    if len(shipments) < 2:
        raise TransitionRefused(_("These orders already ship as one parcel."))
    target = next((s for s in shipments if s.order_id == main.pk), shipments[0])
    absorbed = [s for s in shipments if s.pk != target.pk]
    numbers = sorted(o.number for o in orders.values())
    why = _("Merged by hand into shipment %(shipment)s: orders %(orders)s ship as one parcel.") % {
        "shipment": target.number,
        "orders": ", ".join(numbers),
    }
    moved: dict[int, list] = defaultdict(list)
    for shipment in absorbed:
        its_orders = [orders[pk] for pk in shipment_orders(shipment)]
        for line in ShipmentLine.objects.filter(shipment=shipment).select_related("order_line", "sku"):
            moved[line.order_line.order_id].append(
                {"line": line.order_line.line_no, "sku": line.sku.code, "quantity": line.quantity}
            )
            # The units stay reserved where they are (one warehouse): only their parcel changes.
            reservations.reservations_follow_split(
                from_shipment_id=shipment.pk,
                to_shipment_id=target.pk,
                order_line_id=line.order_line_id,
                quantity=line.quantity,
            )
        ShipmentLine.objects.filter(shipment=shipment).update(shipment=target)
        waiting_for_merges = MERGE_UNTIL in shipment.routing  # never sent: nobody to tell
        run_shipment_transition(
            shipment,
            its_orders,
            "cancel",
            None,
            reason=why,
            args={"problem": (_("Merged into %(shipment)s") % {"shipment": target.number})[:255]},
            payload={"merged_into": target.number},
        )
        if not waiting_for_merges:
            warehouses().cancel_shipment(shipment)
    for order in orders.values():
        if order.pk != target.order_id:
            _merge_into(target, order, {"why": why})
    for pk, order in sorted(orders.items()):
        record_order_event(
            order,
            OrderEventKind.SHIPMENT,
            actor,
            reason=why,
            payload={"shipment": target.number, "transition": "merge", "orders": numbers, "lines": moved[pk]},
        )
    return target


def merge_candidates(order: Order) -> list[tuple[Order, str]]:
    """The customer's other allocated orders to the same address, each with why it cannot be
    merged ("" when it can): what the "Merge with…" form lists."""
    if not order.customer_id or order.status != OrderStatus.ALLOCATED:
        return []
    mine = live_shipments([order.pk])
    if not mine:
        return []
    listed = []
    for other in (
        Order.objects.filter(customer_id=order.customer_id, status=OrderStatus.ALLOCATED)
        .exclude(pk=order.pk)
        .order_by("pk")
    ):
        if address_key(other) != address_key(order):
            continue
        theirs = live_shipments([other.pk])
        blocker = next((b for b in map(regroup_blocker, [*mine, *theirs]) if b), "")
        if not blocker and not theirs:
            blocker = _("Order %(number)s has no parcel to merge.") % {"number": other.number}
        if not blocker and {s.warehouse_id for s in [*mine, *theirs]} != {mine[0].warehouse_id}:
            blocker = _("Ships from another warehouse.")
        if not blocker and {s.pk for s in theirs} <= {s.pk for s in mine}:
            blocker = _("Already ships in the same parcel.")
        listed.append((other, blocker))
    return listed


# --- split ------------------------------------------------------------------------------------


def shipment_split_by_hand(
    *,
    shipment: Shipment | int,
    quantities: dict[int, int],
    actor=None,
    to_warehouse_id: int | None = None,
    expected_status: str | None = None,
) -> Shipment:
    """Move `quantities` ({shipment line id: units}) of a not-yet-picked parcel into a new parcel,
    from the same warehouse or from `to_warehouse_id` (its reservations then move there, as
    routing moves them). Returns the new parcel."""
    with transaction.atomic():
        shipment, orders = lock_shipment(shipment)
        require_perm(actor, PERM)
        require_state(shipment, expected_status)
        _require_regroupable(shipment)
        lines = {
            line.pk: line for line in ShipmentLine.objects.filter(shipment=shipment).select_related("sku")
        }
        taken = _checked_quantities(shipment, lines, quantities)
        warehouse = _checked_warehouse(shipment, to_warehouse_id)
        moving = warehouse is not None
        if moving:
            why = _("Split by hand: %(units)s units of shipment %(shipment)s now ship from %(warehouse)s.")
            params = {"warehouse": warehouse.code}
        else:
            why = _("Split by hand: %(units)s units of shipment %(shipment)s ship in a parcel of their own.")
            params = {}
        why %= {"units": sum(taken.values()), "shipment": shipment.number, **params}
        parcel = shipment_split_off(
            shipment=shipment,
            orders=orders,
            quantities=taken,
            reason=why,
            payload={"by_hand": True, **({"warehouse": warehouse.code} if moving else {})},
            actor=actor,
            to_warehouse=warehouse,
        )
        if moving:
            _reserve_in(parcel, orders, actor)
            warehouses().push_shipment(parcel, orders=orders)
        elif MERGE_UNTIL in shipment.routing:  # it waits for merges like the parcel it came from
            parcel.routing = {**parcel.routing, MERGE_UNTIL: shipment.routing[MERGE_UNTIL]}
            Shipment.objects.filter(pk=parcel.pk).update(routing=parcel.routing)
        elif parcel.status == SS.CREATED:
            warehouses().push_shipment(parcel, orders=orders)
        else:  # released with its parcel: it gets its carrier and e-waybill request too
            warehouses().shipment_released(parcel)
        return parcel


def _checked_quantities(shipment: Shipment, lines: dict[int, ShipmentLine], quantities) -> dict[int, int]:
    taken = {}
    for line_id, units in quantities.items():
        line = lines.get(line_id)
        if line is None:
            raise DomainError(_("That line is not in this shipment."), field=f"line-{line_id}")
        if units < 0 or units > line.quantity:
            raise DomainError(
                _("Line %(sku)s: move between 0 and %(max)s units.")
                % {"sku": line.sku.code, "max": line.quantity},
                field=f"line-{line_id}",
            )
        if units:
            taken[line_id] = units
    if not taken:
        raise DomainError(_("Enter how many units to move on at least one line."), field="lines")
    if sum(taken.values()) >= sum(line.quantity for line in lines.values()):
        raise DomainError(
            _("Leave at least one unit in shipment %(number)s: moving everything is not a split.")
            % {"number": shipment.number},
            field="lines",
        )
    return taken


def _checked_warehouse(shipment: Shipment, to_warehouse_id: int | None) -> Warehouse | None:
    if not to_warehouse_id or to_warehouse_id == shipment.warehouse_id:
        return None
    warehouse = Warehouse.objects.filter(pk=to_warehouse_id, is_active=True).first()
    if warehouse is None:
        raise DomainError(_("Choose an active warehouse."), field="warehouse")
    return warehouse


def _reserve_in(parcel: Shipment, orders: list[Order], actor) -> None:
    """The parcel's units, unlinked where they were held, are reserved in its warehouse the way
    routing moves them (released there, reserved here, one ledger post per order)."""
    placed: dict[int, dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
    for line in ShipmentLine.objects.filter(shipment=parcel).select_related("order_line"):
        placed[line.order_line.order_id][(line.order_line_id, line.sku_id)] += line.quantity
    for order in orders:
        units = placed.get(order.pk)
        if not units:
            continue
        stock = reservations.routable_stock(
            order_id=order.pk, channel_id=order.channel_id, sku_ids={sku for _line, sku in units}
        )
        there = stock.by_warehouse().get(parcel.warehouse_id, {})
        short = sorted(sku for (_line, sku), n in units.items() if there.get(sku, 0) < n)
        if short:
            raise DomainError(
                _("%(warehouse)s does not have the stock for: %(skus)s")
                % {"warehouse": parcel.warehouse.code, "skus": ", ".join(order_stock.sku_codes(short))},
                field="warehouse",
            )
        reservations.reservations_route(
            stock=stock,
            order_id=order.pk,
            channel_id=order.channel_id,
            placements=[
                reservations.Placement(line_id, sku, parcel.warehouse_id, n, parcel.pk)
                for (line_id, sku), n in sorted(units.items())
            ],
            warehouse_codes={parcel.warehouse_id: parcel.warehouse.code},
            reference=order.number,
            actor=actor,
        )
