"""Order intake: the one path by which orders enter Conduit (API, platform webhooks and polling,
Excel upload, exchanges, demo data).

One order or many take the same steps, in one transaction:
  1. build every new order (orders.building) and insert them together; the unique constraint on
     (channel, external_id) is the deduplication (ON CONFLICT DO NOTHING);
  2. lines, "created" events and checkout-lock binding, set-based; bundle lines get their
     component lines (orders.bundles) and the gift rules add their gifts (orders.gifts);
  3. one reservation pass for all of them (inventory.reservations.reserve_orders), gifts last,
     each on its own: a gift the stock cannot cover is removed and the order says so;
  4. the review rules, then the hold transitions of orders short of stock or caught by a rule;
  5. "placed" notifications and routing of paid orders, after commit.
An order seen before (in this batch or in the database) is applied as a later platform version
(orders.services.order_apply_platform_version); one known only as cancelled is inserted and
cancelled. `order_submit` adds a group commit (core.group_commit) that lets concurrent API
callers in one process share such a transaction."""

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _

from core.array_insert import insert_all, insert_instances
from core.errors import NotPermitted
from core.group_commit import GroupCommit
from core.instances import build
from core.transitions import Actor, apply
from inventory import reservations
from inventory.models import SKU
from orders import building, bundles, gifts, review, services, stock
from orders.canonical import CanonicalOrder
from orders.fulfilment_port import fulfilment
from orders.models import Customer, Order, OrderEvent, OrderEventKind, OrderLine, OrderStatus
from orders.unmapped import channels_with_unmapped, lock_channels, map_late_lines

Result = tuple[Order, bool]  # (order, created)


def order_ingest(*, data: CanonicalOrder, actor: Actor = None) -> Result:
    """One order: create it, or apply a newer version of it. Returns (order, created)."""
    return order_ingest_batch(items=[data], actor=actor)[0]


def order_ingest_batch(
    *, items: list[CanonicalOrder], actor: Actor = None, follow_up: bool = True
) -> list[Result]:
    """Ingest validated canonical orders in one transaction; returns (order, created) per item,
    in order. The outcome is the same as ingesting the items one after the other: a repeat of an
    order earlier in the batch is applied to it as a later version.

    `follow_up=False` queues no task for the new orders after commit (no routing of the paid
    ones, no customer statistics): for a bulk load that does that work itself — seed_demo routes
    each order in its own transaction and refreshes the statistics once at the end."""
    _check_may_add(actor)
    with transaction.atomic():
        # Before anything is locked: items mapped meanwhile are looked up again under this lock.
        lock_channels(channels_with_unmapped(items), shared=True)
        return _ingest_in_transaction(items, actor, follow_up)


def _check_may_add(actor: Actor) -> None:
    if actor is not None and not actor.has_perm("orders.add_order"):
        raise NotPermitted(_("You are not allowed to create orders."))


def _ingest_in_transaction(items: list[CanonicalOrder], actor: Actor, follow_up: bool) -> list[Result]:
    """order_ingest_batch's work inside the caller's transaction, which any error rolls back
    whole and which holds the items' channel locks already: no savepoint of its own (two round
    trips per batch of the order intake writer)."""
    results: list[Result | None] = [None] * len(items)
    first_seen: dict[tuple[int, str], int] = {}
    for index, data in enumerate(items):
        first_seen.setdefault((data["channel"].pk, data["external_id"]), index)
    fresh = sorted(first_seen.values())
    for index, order in _insert_new([items[i] for i in fresh], actor, fresh, follow_up):
        results[index] = (order, True)
    _answer_stale_repeats(items, results)
    for index, data in enumerate(items):
        if results[index] is None:  # a known order: maybe a newer version of it
            results[index] = (_apply_to_existing(data, actor), False)
    return results  # type: ignore[return-value]


def _apply_to_existing(data: CanonicalOrder, actor: Actor) -> Order:
    existing = Order.objects.select_for_update(of=("self",)).get(
        channel=data["channel"], external_id=data["external_id"]
    )
    return services.order_apply_platform_version(existing, data, actor)


def _answer_stale_repeats(items: list[CanonicalOrder], results: list[Result | None]) -> None:
    """Repeats that are not newer than the stored order change nothing: answer them from one
    query instead of locking each order."""
    pending = [i for i, result in enumerate(results) if result is None]
    by_channel: dict[int, set[str]] = {}
    for index in pending:
        by_channel.setdefault(items[index]["channel"].pk, set()).add(items[index]["external_id"])
    known: dict[tuple[int, str], Order] = {}
    for channel_id, external_ids in by_channel.items():
        for order in Order.objects.filter(channel_id=channel_id, external_id__any=external_ids):
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


def _insert_new(
    items: list[CanonicalOrder], actor: Actor, positions: list[int], follow_up: bool
) -> list[tuple[int, Order]]:
    if not items:
        return []
    identities = [building.customer_identity(data) for data in items]
    customers = _customers(identities)
    numbers = building.allocate_order_numbers(len(items))
    orders = []
    for data, number, identity in zip(items, numbers, identities, strict=True):
        order = building.build_order(
            data, number=number, customer=customers[identity[0]] if identity else None
        )
        if data.get("paid") and not data.get("cancelled"):
            # Nobody sees the row yet: the transition is checked and applied here, written below.
            apply(order, "mark_paid", None, args={"paid_at": data.get("paid_at") or data["placed_at"]})
        orders.append(order)
    # A conflict on (channel, external_id) inserts nothing for that row: the order exists already.
    ids = _insert_orders(orders, numbers)
    inserted = []
    for position, data, order in zip(positions, items, orders, strict=True):
        if order.number in ids:
            order.pk = ids[order.number]
            order._state.adding = False
            order._update_initial_state()  # the row now holds this status
            inserted.append((position, data, order))

    lines = insert_all([line for _p, data, order in inserted for line in building.build_lines(order, data)])
    map_late_lines(lines, {order.pk: order.channel_id for _p, _data, order in inserted})
    insert_all(_creation_events(inserted, actor), returning=False)
    sold_by_order = _by_order(lines)
    bound = {
        order.pk: building.bind_checkout_locks(order, sold_by_order[order.pk], data)
        for _p, data, order in inserted
    }
    # Bundle lines get their component lines (what is reserved and shipped), set-based.
    lines_by_order = _by_order(lines + insert_all(bundles.component_lines(lines)))
    live = [order for _p, data, order in inserted if not data.get("cancelled")]
    gift_lines = insert_all(gifts.gift_lines(live, lines_by_order))
    demands = [stock.demand_for_new(order, lines_by_order[order.pk], bound=bound[order.pk]) for order in live]
    # Gifts are reserved in the same pass, each on its own and after every order's goods.
    outcome = reservations.reserve_orders(
        demands + gifts.gift_demands(live, gift_lines, demands), instances=False
    )
    for line in gifts.settle_gifts(live, gift_lines, outcome).added:
        lines_by_order[line.order_id].append(line)
    platform_holds = {order.pk: services.platform_hold_reason(data) for _p, data, order in inserted}
    _hold_new(live, outcome, review.review_orders(live), lines_by_order, platform_holds)
    for _p, data, order in inserted:
        if data.get("cancelled"):  # known only as cancelled: what checkout locks held goes back
            services.cancel_on_platform(order, refresh_stats=False)  # refreshed with the batch below
    fulfilment().orders_placed(live)
    if follow_up:
        services.route_on_commit(*(order for order in live if order.status == OrderStatus.PAID))
        services.refresh_customer_stats_on_commit(*(order.customer_id for _p, _d, order in inserted))
    return [(position, order) for position, _data, order in inserted]


def _insert_orders(orders: list[Order], numbers: list[str]) -> dict[str, int]:
    """{number: id} of the orders inserted; a conflict on (channel, external_id) skips that row."""
    if connection.vendor == "postgresql":
        # In (channel, external id) order, for the reason _customers inserts in key order: batches
        # sharing new orders (a platform delivering them twice at once) must not deadlock.
        ordered = sorted(orders, key=lambda order: (order.channel_id, order.external_id))
        return dict(insert_instances(ordered, conflict_nothing=True, returning=("number", "id")))
    Order.objects.bulk_create(orders, ignore_conflicts=True)
    return dict(Order.objects.filter(number__in=numbers).values_list("number", "pk"))


def _by_order(lines: list[OrderLine]) -> dict[int, list[OrderLine]]:
    grouped: dict[int, list[OrderLine]] = {}
    for line in lines:
        grouped.setdefault(line.order_id, []).append(line)
    return grouped


def _hold_new(
    orders: list[Order],
    outcome: reservations.ReserveResult,
    hits: dict[int, list[review.ReviewHit]],
    lines_by_order: dict[int, list[OrderLine]],
    platform_holds: dict[int, tuple[str, dict] | None],
) -> None:
    """New orders the platform says not to ship yet, that could not be reserved (or got a lot near
    expiry), that a review rule caught, that lack an address, whose paid amount differs from their
    total or that name an unmapped item wait on hold, keeping what was reserved. The hold
    transition is checked and applied on each instance (core.transitions.apply) and the rows are
    written together: nobody else sees them yet."""

    def order_holds(order):
        return services.combined_hold_reason(
            platform_holds.get(order.pk),
            services.unmapped_hold_reason(lines_by_order.get(order.pk, [])),
            bundles.empty_bundle_hold_reason(lines_by_order.get(order.pk, [])),
            services.money_hold_reason(order),
            services.address_hold_reason(order),
        )

    waiting = [
        order
        for order in orders
        if order.pk in outcome.short
        or order.pk in outcome.near_expiry
        or order.pk in hits
        or order_holds(order)
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
        stock_hold = services.combined_hold_reason(
            order_holds(order), services.stock_hold_reason(short, outcome.near_expiry.get(order.pk, []))
        )
        reason, payload = review.hold_reason(stock_hold, hits.get(order.pk, []))
        moved = apply(order, "hold", None, args={"reason": reason[:255]})
        events.append(
            build(
                OrderEvent,
                order=order,
                kind=OrderEventKind.TRANSITION,
                from_status=moved.from_state,
                to_status=moved.to_state,
                reason=reason,
                payload={"transition": "hold", **payload},
            )
        )
    Order.objects.bulk_update(waiting, ["status", "held_from", "hold_reason"])
    insert_all(events, returning=False)


def _creation_events(inserted, actor: Actor) -> list[OrderEvent]:
    events = []
    for _position, data, order in inserted:
        events.append(building.created_event(order, actor, line_count=len(data["lines"])))
        if order.status == OrderStatus.PAID:
            events.append(
                build(
                    OrderEvent,
                    order=order,
                    kind=OrderEventKind.TRANSITION,
                    from_status=OrderStatus.PENDING_PAYMENT,
                    to_status=OrderStatus.PAID,
                    reason=_("Paid on the platform"),
                    payload={"transition": "mark_paid"},
                )
            )
    return events


def _customers(identities: list[tuple[str, dict] | None]) -> dict[str, Customer]:
    """Get or create every customer of the batch (building.customer_identity of each order) in two
    statements (the unique key dedupes)."""
    wanted = {}
    for identity in identities:
        if identity:
            wanted.setdefault(identity[0], identity[1])
    # In key order: two batches sharing customers then take their unique-index entries in one
    # order, so neither can hold one the other waits for while waiting for one the other holds.
    new = [build(Customer, identity_key=key, **wanted[key]) for key in sorted(wanted)]
    if connection.vendor == "postgresql":
        insert_instances(new, conflict_nothing=True, returning=("id",))
    else:
        Customer.objects.bulk_create(new, ignore_conflicts=True)
    return {c.identity_key: c for c in Customer.objects.filter(identity_key__any=wanted)}


# --- group commit -------------------------------------------------------------------------------


def _ingest_many(items: list[tuple[CanonicalOrder, Actor]]) -> list[Result]:
    """One transaction for the whole batch, whatever its actors (permissions are checked per
    actor): it commits entirely or not at all, so when it fails the group commit can safely run
    each request again on its own — nothing of the batch was written."""
    results: list[Result | None] = [None] * len(items)
    by_actor: dict[Actor, list[int]] = {}
    for index, (_data, actor) in enumerate(items):
        by_actor.setdefault(actor, []).append(index)
    with transaction.atomic():
        # Every actor's channels at once, before anything is locked (as order_ingest_batch does).
        lock_channels(channels_with_unmapped([data for data, _actor in items]), shared=True)
        for actor, indexes in by_actor.items():
            _check_may_add(actor)
            batch = _ingest_in_transaction([items[i][0] for i in indexes], actor, follow_up=True)
            for index, result in zip(indexes, batch, strict=True):
                results[index] = result
    return results  # type: ignore[return-value]


_group_commit = GroupCommit(
    run_batch=_ingest_many,
    run_one=lambda item: order_ingest(data=item[0], actor=item[1]),
)


def order_submit_many(
    items: list[tuple[CanonicalOrder, Actor]],
) -> list[tuple[Result | None, BaseException | None]]:
    """(result, error) for each (order, actor): all in one transaction, or — when that fails as a
    whole, and so stored nothing — each on its own (the order intake writer's batches)."""
    return _group_commit.settle(items)


def order_submit(*, data: CanonicalOrder, actor: Actor = None) -> Result:
    """The API's entry point: concurrent posts share a transaction when group commit is on."""
    if settings.ORDER_INGEST_GROUP_COMMIT:
        return _group_commit.submit((data, actor))
    return order_ingest(data=data, actor=actor)
