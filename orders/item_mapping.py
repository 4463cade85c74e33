"""Mapping a platform item to a SKU, and what waited for it (issue #14, platform items ↔ SKUs).

An order line whose item is not mapped yet (sku empty) holds its order ("Unmapped item: platform
id …"): nothing is refused, nothing is lost. `item_map` stores the mapping and, in the same
transaction, gives the SKU to every line waiting for that item (one UPDATE), reserves the stock of
those orders and releases the ones that were held only for unmapped items. An order still short of
stock stays held with the stock reason; other reasons (review rules, no address, a paid amount that
differs) keep it held. Each order gets an "item mapped" event.

Concurrency: mappings of one channel take its mapping lock exclusively, the intake shared
(orders.unmapped), so an order arriving meanwhile is never left waiting for a mapping that exists;
two people mapping one item at once get one mapping. The orders are locked in ascending id, before
their reservations and balances (the project's lock order)."""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from catalog.models import Channel
from core.errors import DomainError
from core.transitions import Actor, lock_rows, require_perm
from inventory.ledger import queue_stock_push
from inventory.models import SKU, ItemMapping
from orders import bundles, review, services, stock
from orders.models import (
    EDITABLE,
    HOLDABLE,
    LineKind,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    OrderStatus,
)
from orders.transitions import record_order_event, run_order_transition
from orders.unmapped import lock_channels

# What a hold's payload may name for a mapping to judge it (orders.intake, orders.services): the
# unmapped items and the stock are checked again, the others kept (_kept_reasons). A hold naming
# anything else (a person's hold, routing's) is left as it is.
JUDGED = {"transition", "unmapped", "short", "missing_address", "paid_mismatch", "review", "lots"}


@dataclass
class MappingOutcome:
    mapping: ItemMapping
    created: bool
    lines: int = 0  # lines that got the SKU
    orders: list[str] = field(default_factory=list)  # numbers of the orders those lines belong to
    released: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # still held, for another reason or for stock


def item_map(
    *,
    channel: Channel,
    sku: SKU,
    platform_item_id: str = "",
    platform_sku_id: str = "",
    seller_code: str = "",
    title: str = "",
    actor: Actor = None,
    replace: bool = False,
) -> MappingOutcome:
    """Map the channel's item (its ids and/or the seller's code) to `sku`, then release what
    waited for it. Mapping an item again to the same SKU changes nothing and is not an error (two
    people mapping it at once); to another SKU it is refused unless `replace` (the admin's import
    and form), and a mapping to an inactive SKU is always re-pointed."""
    require_perm(actor, "inventory.add_itemmapping", _("You are not allowed to map platform items."))
    if replace:
        require_perm(actor, "inventory.change_itemmapping", _("You are not allowed to change item mappings."))
    platform_item_id, platform_sku_id = platform_item_id.strip(), platform_sku_id.strip()
    seller_code, title = seller_code.strip(), title.strip()[:255]
    if not (platform_item_id or platform_sku_id or seller_code):
        raise DomainError(_("Name the item: its platform ids or its seller code."), field="platform_item_id")
    if not sku.is_active:
        raise DomainError(_("SKU %(sku)s is inactive.") % {"sku": sku.code}, field="sku")
    with transaction.atomic():
        lock_channels([channel.pk], shared=False)
        mapping, created, previous_sku_id = _store(
            channel, sku, platform_item_id, platform_sku_id, seller_code, title, actor, replace
        )
        outcome = _apply(mapping, actor)
        outcome.created = created
        # The channel sells the SKU now (and no longer the one it replaced): push their numbers.
        if created or previous_sku_id:
            queue_stock_push({sku.pk, *([previous_sku_id] if previous_sku_id else [])})
    return outcome


def _store(channel, sku, item_id, sku_id, seller_code, title, actor, replace):
    """(mapping, created, id of the SKU it named before) — under the channel's lock. A mapping is
    found by the item's ids when they are given, else by the seller code. A seller code another
    mapping holds stays with it: the ids are the more precise name."""
    mappings = ItemMapping.objects.select_related("sku").filter(channel=channel)
    named_by_ids = bool(item_id or sku_id)
    by_ids = (
        mappings.filter(platform_item_id=item_id, platform_sku_id=sku_id).first() if named_by_ids else None
    )
    by_seller = mappings.filter(seller_code=seller_code).first() if seller_code else None
    mapping = by_ids if named_by_ids else by_seller
    seller_free = by_seller is None or by_seller == mapping
    if mapping is None:
        mapping = ItemMapping(
            channel=channel,
            platform_item_id=item_id,
            platform_sku_id=sku_id,
            seller_code=seller_code if seller_free else "",
            title=title,
            sku=sku,
            mapped_by=actor,
        )
        try:
            with transaction.atomic():
                mapping.save()
        except IntegrityError as exc:  # only a writer without the channel's lock (none in Conduit)
            raise DomainError(
                _("This item was mapped meanwhile: reload and try again."), field="sku"
            ) from exc
        return mapping, True, None
    changed, previous = set(), None
    if mapping.sku_id != sku.pk:
        if mapping.sku.is_active and not replace:
            raise DomainError(
                _("%(item)s is already mapped to %(sku)s on %(channel)s.")
                % {"item": mapping.platform_name, "sku": mapping.sku.code, "channel": channel.code},
                field="sku",
            )
        previous, mapping.sku = mapping.sku_id, sku
        changed.add("sku")
    if replace or previous:  # the names given now (an import's row, the admin's form)
        if title and title != mapping.title:
            mapping.title = title
            changed.add("title")
        if seller_code and seller_code != mapping.seller_code and seller_free:
            mapping.seller_code = seller_code
            changed.add("seller_code")
    if changed:
        mapping.mapped_by = actor
        mapping.save(update_fields=[*sorted(changed), "mapped_by", "updated_at"])
    return mapping, False, previous


def waiting_lines(mapping: ItemMapping) -> Q:
    """The unmapped lines of the channel's orders that this mapping names, as the intake would
    resolve them (inventory.item_mappings): by variant id; by item id for an item mapping without
    one; by the seller's code."""
    names = Q()
    if mapping.platform_sku_id:
        names |= Q(platform_sku_id=mapping.platform_sku_id)
    elif mapping.platform_item_id:
        names |= Q(platform_item_id=mapping.platform_item_id)
    if mapping.seller_code:
        names |= Q(seller_code=mapping.seller_code)
    return Q(sku__isnull=True, order__channel_id=mapping.channel_id) & names


def _apply(mapping: ItemMapping, actor: Actor) -> MappingOutcome:
    outcome = MappingOutcome(mapping=mapping, created=False)
    match = waiting_lines(mapping)
    order_ids = set(OrderLine.objects.filter(match).values_list("order_id", flat=True))
    if not order_ids:
        return outcome
    orders = lock_rows(Order.objects.select_related("channel"), order_ids)
    sku = mapping.sku
    waiting = OrderLine.objects.filter(match, order_id__in=order_ids)
    line_ids = list(waiting.values_list("pk", flat=True))
    values = {"sku": sku, **({"presale": True} if sku.presale else {})}  # pre-sale lines wait for stock
    outcome.lines = OrderLine.objects.filter(pk__in=line_ids, sku__isnull=True).update(**values)
    if bundles.sold_kind(sku) == LineKind.BUNDLE:
        OrderLine.objects.filter(pk__in=line_ids, kind=LineKind.GOODS).update(kind=LineKind.BUNDLE)
        _add_components(line_ids)
    for order in orders:
        outcome.orders.append(order.number)
        _after_mapping(order, mapping, actor, outcome)
    return outcome


def _add_components(line_ids: list[int]) -> None:
    """A line mapped to a bundle SKU gets its component lines, numbered after the order's lines."""
    lines = list(OrderLine.objects.filter(pk__in=line_ids, kind=LineKind.BUNDLE))
    order_ids = {line.order_id for line in lines}
    after: dict[int, int] = {}
    for order_id, line_no in OrderLine.objects.filter(order_id__in=order_ids).values_list(
        "order_id", "line_no"
    ):
        after[order_id] = max(after.get(order_id, 0), line_no + 1)
    OrderLine.objects.bulk_create(bundles.component_lines(lines, next_line_no=after))


def _after_mapping(order: Order, mapping: ItemMapping, actor: Actor, outcome: MappingOutcome) -> None:
    """Reserve what the order now lacks; release it when unmapped items were all that held it."""
    payload = {
        "sku": mapping.sku.code,
        "platform_item_id": mapping.platform_item_id,
        "platform_sku_id": mapping.platform_sku_id,
        "seller_code": mapping.seller_code,
    }
    if order.status not in EDITABLE:  # cancelled (or beyond): the line is named, nothing to reserve
        record_order_event(
            order, OrderEventKind.ITEM_MAPPED, actor, reason=_item_sentence(mapping), payload=payload
        )
        return
    short, near_expiry = stock.reserve_missing(order)
    lines = list(order.lines.all())
    hold = services.combined_hold_reason(
        services.unmapped_hold_reason(lines), services.stock_hold_reason(short, near_expiry)
    )
    if order.status != OrderStatus.ON_HOLD:
        # Not held (a line added by a platform update, say): it waits if it must.
        record_order_event(
            order, OrderEventKind.ITEM_MAPPED, actor, reason=_item_sentence(mapping), payload=payload
        )
        if hold and order.status in HOLDABLE:
            services.hold_for_stock(order, short, near_expiry)
            outcome.held.append(order.number)
        return
    held_for = _hold_payload(order)
    judged = "unmapped" in held_for and set(held_for) <= JUDGED
    if judged:
        hold = services.combined_hold_reason(hold, _kept_reasons(order, held_for))
    record_order_event(
        order,
        OrderEventKind.ITEM_MAPPED,
        actor,
        reason=_item_sentence(mapping),
        payload={**payload, "still_held": (hold[0] if hold else "") if judged else order.hold_reason},
    )
    if not judged:  # held by a person, or for a reason a mapping cannot judge: only stock reserved
        outcome.held.append(order.number)
        return
    if hold is None:
        run_order_transition(
            order, "release", None, reason=_("Released: every item of the order is mapped now.")
        )
        outcome.released.append(order.number)
        if order.status in (OrderStatus.PAID, OrderStatus.ALLOCATED):
            services.route_on_commit(order)
        return
    reason = hold[0][:255]
    if reason != order.hold_reason:
        Order.objects.filter(pk=order.pk).update(hold_reason=reason)
        order.hold_reason = reason
    outcome.held.append(order.number)


def _item_sentence(mapping: ItemMapping) -> str:
    return _("Item %(item)s mapped to %(sku)s.") % {"item": mapping.platform_name, "sku": mapping.sku.code}


def _hold_payload(order: Order) -> dict:
    """The payload of the transition that put the order on hold (what it is held for)."""
    event = (
        OrderEvent.objects.filter(
            order=order,
            kind=OrderEventKind.TRANSITION,
            to_status=OrderStatus.ON_HOLD,
            payload__transition="hold",
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    payload = dict(event.payload or {}) if event else {}
    # The platform changed the lines of this order, edited here, while it was held: that is a
    # reason of the hold too, and one only a person can judge (orders.services).
    later = OrderEvent.objects.filter(order=order, payload__has_key="platform_lines")
    if event is not None:
        later = later.filter(created_at__gte=event.created_at)
    if later.exists():
        payload["platform_lines"] = True
    # The platform's own hold (orders.services.platform_holding) is one a mapping never lifts, for
    # as long as the platform keeps it: whether it was the first reason or added later.
    payload.pop("platform_hold", None)
    if services.platform_holding(order):
        payload["platform_hold"] = True
    return payload


def _kept_reasons(order: Order, held_for: dict) -> tuple[str, dict] | None:
    """The reasons of the hold a mapping does not lift: a review rule's, a near-expiry lot's and a
    paid amount that differs are kept as they were; a missing address while it is still missing."""
    parts = []
    if "paid_mismatch" in held_for:
        parts.append(services.money_hold_reason(order) or _held_as_was(order, held_for["paid_mismatch"]))
    if "missing_address" in held_for:
        parts.append(services.address_hold_reason(order))
    if held_for.get("lots"):
        parts.append((stock.near_expiry_reason(held_for["lots"]), {"lots": held_for["lots"]}))
    if held_for.get("review"):
        hits = [review.ReviewHit(hit["rule"], hit["name"], hit["why"]) for hit in held_for["review"]]
        parts.append(review.hold_reason(None, hits))
    return services.combined_hold_reason(*parts)


def _held_as_was(order: Order, figures: dict) -> tuple[str, dict]:
    """The money reason as the hold stated it (the amounts have been edited since)."""
    text = _("Paid amount %(paid)s %(currency)s differs from the computed total %(total)s %(currency)s.")
    return text % {**figures, "currency": order.currency}, {"paid_mismatch": figures}
