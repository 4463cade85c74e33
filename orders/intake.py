"""Order intake in bulk: many canonical orders in one transaction with set-based inserts and one
reservation pass (inventory.reservations.reserve_orders), and a group commit (core.group_commit)
that lets concurrent API callers in one process share such a transaction.

Used by bulk imports, platform sync and the order API; `orders.services.order_ingest` stays the
one-order path and handles what the bulk path sends back to it (repeats, conflicts, updates)."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import NotPermitted
from core.group_commit import GroupCommit
from inventory import reservations
from inventory.models import SKU
from orders import review, services, stock
from orders.fulfilment_port import fulfilment
from orders.models import Customer, Order, OrderEvent, OrderEventKind, OrderLine, OrderStatus


def order_ingest_batch(*, items: list[dict[str, Any]], actor=None) -> list[tuple[Order, bool]]:
    """Ingest validated canonical orders; returns (order, created) per item, in order.
    New orders are inserted together; an order seen before (in this batch or in the database)
    or known only as cancelled takes the one-order path, so the outcome is the same as calling
    order_ingest for each item in turn."""
    if actor is not None and not actor.has_perm("orders.add_order"):
        raise NotPermitted(_("You are not allowed to create orders."))
    results: list[tuple[Order, bool] | None] = [None] * len(items)
    with transaction.atomic():
        first_seen: dict[tuple[int, str], int] = {}
        for index, data in enumerate(items):
            first_seen.setdefault((data["channel"].pk, data["external_id"]), index)
        fresh = [i for i in sorted(first_seen.values()) if not items[i].get("cancelled")]
        for index, order in _insert_new([items[i] for i in fresh], actor, fresh):
            results[index] = (order, True)
    _known_orders(items, results)
    for index, data in enumerate(items):
        if results[index] is None:  # a newer version of a known order, or a cancellation
            results[index] = services.order_ingest(data=data, actor=actor)
    return results  # type: ignore[return-value]


def _known_orders(items: list[dict], results: list) -> None:
    """Repeats that are not newer than the stored order change nothing (as in order_ingest):
    answer them from one query instead of one transaction each."""
    pending = [i for i, result in enumerate(results) if result is None]
    by_channel: dict[int, set[str]] = {}
    for index in pending:
        by_channel.setdefault(items[index]["channel"].pk, set()).add(items[index]["external_id"])
    known: dict[tuple[int, str], Order] = {}
    for channel_id, external_ids in by_channel.items():
        for order in Order.objects.filter(channel_id=channel_id, external_id__in=external_ids):
            known[(channel_id, order.external_id)] = order
    for index in pending:
        data = items[index]
        order = known.get((data["channel"].pk, data["external_id"]))
        incoming = data.get("updated_at")
        stale = incoming is None or (
            order and order.platform_updated_at and incoming <= order.platform_updated_at
        )
        if order is not None and stale:
            results[index] = (order, False)


def _insert_new(items: list[dict], actor, positions: list[int]) -> list[tuple[int, Order]]:
    if not items:
        return []
    customers = _customers(items)
    numbers = services.allocate_order_numbers(len(items))
    orders = []
    for data, number in zip(items, numbers, strict=True):
        identity = services.customer_identity(data)
        order = services.build_order(
            data, number=number, customer=customers[identity[0]] if identity else None
        )
        if data.get("paid"):
            order.mark_paid(paid_at=data.get("paid_at") or data["placed_at"])  # assigns fields only
        orders.append(order)
    # A conflict on (channel, external_id) inserts nothing for that row: the order exists already.
    Order.objects.bulk_create(orders, ignore_conflicts=True)
    ids = dict(Order.objects.filter(number__in=numbers).values_list("number", "pk"))
    inserted = []
    for position, data, order in zip(positions, items, orders, strict=True):
        if order.number in ids:
            order.pk = ids[order.number]
            order._state.adding = False
            order._update_initial_state()  # the row now holds this status
            inserted.append((position, data, order))

    lines = OrderLine.objects.bulk_create(
        [line for _p, data, order in inserted for line in services.build_lines(order, data)]
    )
    OrderEvent.objects.bulk_create(_creation_events(inserted, actor))
    lines_by_order: dict[int, list[OrderLine]] = {}
    for line in lines:
        lines_by_order.setdefault(line.order_id, []).append(line)
    bound = {
        order.pk: services.bind_checkout_locks(order, lines_by_order[order.pk], data)
        for _p, data, order in inserted
    }
    outcome = reservations.reserve_orders(
        [
            stock.demand_for_new(order, lines_by_order[order.pk], bound=bound[order.pk])
            for _p, _d, order in inserted
        ]
    )
    new_orders = [order for _p, _d, order in inserted]
    _hold_new(new_orders, outcome, review.review_orders(new_orders))
    services.route_on_commit(*(order for order in new_orders if order.status == OrderStatus.PAID))
    fulfilment().orders_placed(new_orders)
    services.refresh_customer_stats_on_commit(*(order.customer_id for _p, _d, order in inserted))
    return [(position, order) for position, _data, order in inserted]


def _hold_new(
    orders: list[Order], outcome: reservations.ReserveResult, hits: dict[int, list[review.ReviewHit]]
) -> None:
    """New orders that could not be reserved (or got a lot near expiry) or that a review rule caught
    wait on hold, keeping what was reserved: the hold transition runs on each instance and the rows
    are written together (nobody else sees them yet), as orders.services.hold_for_stock does one by one."""
    waiting = [
        order
        for order in orders
        if order.pk in outcome.short or order.pk in outcome.near_expiry or order.pk in hits
    ]
    if not waiting:
        return
    codes = dict(
        SKU.objects.filter(pk__in={s for ids in outcome.short.values() for s in ids}).values_list(
            "pk", "code"
        )
    )
    events = []
    for order in waiting:
        short = [codes[sku_id] for sku_id in outcome.short.get(order.pk, [])]
        stock_hold = services.stock_hold_reason(short, outcome.near_expiry.get(order.pk, []))
        reason, payload = review.hold_reason(stock_hold, hits.get(order.pk, []))
        from_status = order.status
        order.hold(reason=reason[:255])
        events.append(
            OrderEvent(
                order=order,
                kind=OrderEventKind.TRANSITION,
                from_status=from_status,
                to_status=order.status,
                reason=reason,
                payload={"transition": "hold", **payload},
            )
        )
    Order.objects.bulk_update(waiting, ["status", "held_from", "hold_reason"])
    OrderEvent.objects.bulk_create(events)


def _creation_events(inserted, actor) -> list[OrderEvent]:
    events = []
    for _position, data, order in inserted:
        events.append(services.created_event(order, actor, line_count=len(data["lines"])))
        if order.status == OrderStatus.PAID:
            events.append(
                OrderEvent(
                    order=order,
                    kind=OrderEventKind.TRANSITION,
                    from_status=OrderStatus.PENDING_PAYMENT,
                    to_status=OrderStatus.PAID,
                    reason=_("Paid on the platform"),
                    payload={"transition": "mark_paid"},
                )
            )
    return events


def _customers(items: list[dict]) -> dict[str, Customer]:
    """Get or create every customer of the batch in two statements (the unique key dedupes)."""
    wanted = {}
    for data in items:
        identity = services.customer_identity(data)
        if identity:
            wanted.setdefault(identity[0], identity[1])
    Customer.objects.bulk_create(
        [Customer(identity_key=key, **values) for key, values in wanted.items()], ignore_conflicts=True
    )
    return {c.identity_key: c for c in Customer.objects.filter(identity_key__in=wanted)}


# --- group commit -------------------------------------------------------------------------------


def _ingest_many(items: list[tuple[dict, Any]]) -> list[tuple[Order, bool]]:
    """One transaction per actor present in the batch (permissions are checked per actor)."""
    results: list[tuple[Order, bool] | None] = [None] * len(items)
    by_actor: dict[Any, list[int]] = {}
    for index, (_data, actor) in enumerate(items):
        by_actor.setdefault(actor, []).append(index)
    for actor, indexes in by_actor.items():
        for index, result in zip(
            indexes, order_ingest_batch(items=[items[i][0] for i in indexes], actor=actor), strict=True
        ):
            results[index] = result
    return results  # type: ignore[return-value]


_group_commit = GroupCommit(
    run_batch=_ingest_many,
    run_one=lambda item: services.order_ingest(data=item[0], actor=item[1]),
)


def order_submit(*, data: dict, actor=None) -> tuple[Order, bool]:
    """The API's entry point: concurrent posts share a transaction when group commit is on."""
    if settings.ORDER_INGEST_GROUP_COMMIT:
        return _group_commit.submit((data, actor))
    return services.order_ingest(data=data, actor=actor)
