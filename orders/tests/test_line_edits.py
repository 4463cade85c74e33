"""Order edits during review (issue #14, part 6): orders.edits.order_edit_lines — swapping a SKU,
changing quantities and prices, adding and removing gifts, with reservations, amounts and the
audit row checked exactly, and every refused edit leaving everything as it was."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from core.errors import DomainError, NotPermitted, TransitionRefused
from inventory.models import HOLDING, SKU, BundleComponent, Reservation, StockBalance
from orders import edits, services
from orders.edits import GiftAdd, LineChange
from orders.models import LineKind, OrderEvent, OrderEventKind, OrderLine, OrderStatus
from orders.tests.factories import SKUFactory, ensure_master_data, make_order, order_in_state, receive

pytestmark = pytest.mark.django_db

D = Decimal


def held(line) -> int:
    return sum(r.quantity for r in Reservation.objects.filter(order_line=line, state__in=HOLDING))


def held_by_sku(order) -> dict[str, int]:
    totals: dict[str, int] = {}
    for r in Reservation.objects.filter(order=order, state__in=HOLDING).select_related("sku"):
        totals[r.sku.code] = totals.get(r.sku.code, 0) + r.quantity
    return totals


def reserved_total(code: str) -> int:
    return sum(StockBalance.objects.filter(sku__code=code).values_list("reserved", flat=True))


def line(order, no):
    return order.lines.select_related("sku").get(line_no=no)


def snapshot(order):
    """Everything an edit may touch, to show that a refused one touched nothing."""
    order.refresh_from_db()
    return (
        order.status,
        order.total,
        order.goods_amount,
        order.discount,
        list(
            order.lines.order_by("line_no").values_list(
                "sku_id", "quantity", "cancelled_quantity", "unit_price", "paid_amount", "kind"
            )
        ),
        sorted(Reservation.objects.filter(order=order).values_list("pk", "quantity", "state")),
        sorted(StockBalance.objects.values_list("pk", "reserved")),
        order.events.count(),
    )


def test_more_units_reserve_exactly_the_extra_and_move_the_totals(agent):
    # default lines: SKU-1 2 × 59.90 less 5.00, SKU-2 1 × 100.00; order discount 10.00, shipping 8.00
    order = order_in_state("paid")
    first = line(order, 1)
    assert (first.order_discount_share, first.paid_amount) == (D("5.34"), D("109.46"))  # 10 by 114.80:100
    before = reserved_total("SKU-1")

    outcome = edits.order_edit_lines(
        order=order, changes=[LineChange(first.pk, quantity=3, seen={"quantity": 2})], actor=agent
    )

    first.refresh_from_db()
    order.refresh_from_db()
    assert held(first) == 3 and reserved_total("SKU-1") == before + 1
    # per unit: discount 2.50, order discount share 2.67
    assert (first.quantity, first.discount, first.order_discount_share) == (3, D("7.50"), D("8.01"))
    assert first.paid_amount == D("164.19")  # 179.70 − 7.50 − 8.01
    assert (order.goods_amount, order.line_discount_amount, order.discount) == (
        D("279.70"),
        D("7.50"),
        D("12.67"),
    )
    assert order.total == D("267.53")  # 164.19 + 95.34 + 8.00 shipping
    assert order.total == sum(each.paid_amount for each in order.lines.all()) + order.shipping_fee
    assert order.status == OrderStatus.PAID
    assert outcome.total_before == D("212.80") and outcome.reserved == 1
    assert outcome.described == ["line 1 (SKU-1): quantity 2 → 3"]

    event = order.events.get(kind=OrderEventKind.EDITED)
    assert event.actor == agent
    assert event.payload["edits"] == [
        {
            "line": 1,
            "sku": "SKU-1",
            "changes": {
                "quantity": [2, 3],
                "discount": ["5.00", "7.50"],
                "order_discount_share": ["5.34", "8.01"],
                "paid_amount": ["109.46", "164.19"],
            },
        }
    ]
    assert event.payload["amounts"]["total"] == ["212.80", "267.53"]
    assert event.payload["reserved"] == 1 and event.payload["released"] == 0


def test_fewer_units_release_exactly_what_the_line_no_longer_needs(agent):
    order = order_in_state("on_hold")
    first = line(order, 1)
    before = reserved_total("SKU-1")

    outcome = edits.order_edit_lines(order=order, changes=[LineChange(first.pk, quantity=1)], actor=agent)

    assert held(line(order, 1)) == 1 and reserved_total("SKU-1") == before - 1
    assert outcome.released == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD  # an edit never releases the hold
    assert order.events.get(kind=OrderEventKind.EDITED).payload["released"] == 1


def test_a_swap_gives_the_old_sku_back_and_reserves_the_new_one_keeping_the_money(agent):
    order = order_in_state("paid")
    second = line(order, 2)
    paid_before, total_before = second.paid_amount, order.total
    sku2, sku3 = reserved_total("SKU-2"), reserved_total("SKU-3")

    edits.order_edit_lines(
        order=order,
        changes=[LineChange(second.pk, sku="SKU-3", seen={"sku": "SKU-2"})],
        actor=agent,
        reason="colour",
    )

    second = line(order, 2)
    order.refresh_from_db()
    assert second.sku.code == "SKU-3" and second.paid_amount == paid_before and order.total == total_before
    assert held_by_sku(order) == {"SKU-1": 2, "SKU-3": 1}
    assert (reserved_total("SKU-2"), reserved_total("SKU-3")) == (sku2 - 1, sku3 + 1)
    event = order.events.get(kind=OrderEventKind.EDITED)
    assert event.reason == "colour"
    assert event.payload["edits"] == [{"line": 2, "sku": "SKU-3", "changes": {"sku": ["SKU-2", "SKU-3"]}}]
    assert event.payload["amounts"] == {}


def test_a_swap_to_a_sku_short_of_stock_is_refused_and_changes_nothing(agent):
    order = order_in_state("on_hold")
    short = SKUFactory(code="SKU-FEW")
    receive(short, 1)
    before = snapshot(order)

    with pytest.raises(DomainError) as refused:
        edits.order_edit_lines(
            order=order,
            changes=[LineChange(line(order, 1).pk, sku="SKU-FEW")],  # the line needs 2
            actor=agent,
        )

    assert "Not enough stock of SKU-FEW" in refused.value.message
    assert refused.value.field == f"line_{line(order, 1).pk}_sku"
    assert snapshot(order) == before


def test_more_units_than_in_stock_are_refused_and_change_nothing(agent):
    order = order_in_state("paid")
    first = line(order, 1)
    available = sum(b.on_hand - b.reserved for b in StockBalance.objects.filter(sku=first.sku))
    before = snapshot(order)

    with pytest.raises(DomainError, match="Not enough stock of SKU-1"):
        edits.order_edit_lines(
            order=order, changes=[LineChange(first.pk, quantity=2 + available + 1)], actor=agent
        )

    assert snapshot(order) == before


def test_a_price_needs_its_own_permission_and_a_reason(agent, manager):
    order = make_order(
        paid=True,
        lines=[
            {"sku": "SKU-1", "quantity": 2, "unit_price": "50.00", "tax_amount": "8.00", "tax_rate": "0.08"}
        ],
        discount="0.00",
        shipping_fee="0.00",
        paid_amount="108.00",
    )
    first = line(order, 1)
    before = snapshot(order)

    with pytest.raises(NotPermitted, match="prices"):
        edits.order_edit_lines(
            order=order, changes=[LineChange(first.pk, unit_price=D("40.00"))], actor=agent, reason="promised"
        )
    with pytest.raises(DomainError) as no_reason:
        edits.order_edit_lines(
            order=order, changes=[LineChange(first.pk, unit_price=D("40.00"))], actor=manager
        )
    assert no_reason.value.field == "reason"
    assert snapshot(order) == before

    outcome = edits.order_edit_lines(
        order=order,
        changes=[LineChange(first.pk, unit_price=D("40.00"))],
        actor=manager,
        reason="price promised by phone",
    )

    first.refresh_from_db()
    order.refresh_from_db()
    assert (first.unit_price, first.tax_amount, first.paid_amount) == (D("40.00"), D("6.40"), D("86.40"))
    assert (order.goods_amount, order.tax_amount, order.total) == (D("80.00"), D("6.40"), D("86.40"))
    assert order.paid_amount == D("108.00")  # as the platform stated it
    assert outcome.paid_difference == D("21.60")  # the buyer paid more: refund it
    event = order.events.get(kind=OrderEventKind.EDITED)
    assert event.payload["edits"][0]["changes"]["unit_price"] == ["50.00", "40.00"]
    assert event.payload["edits"][0]["changes"]["tax_amount"] == ["8.00", "6.40"]
    assert (event.payload["paid_amount"], event.payload["paid_difference"]) == ("108.00", "21.60")
    assert held(first) == 2  # the stock did not move


def test_tax_included_prices_keep_the_tax_inside_the_new_price(manager):
    order = make_order(
        lines=[
            {"sku": "SKU-2", "quantity": 1, "unit_price": "113.00", "tax_amount": "13.00", "tax_rate": "0.13"}
        ],
        discount="0.00",
        shipping_fee="0.00",
        tax_included=True,
    )
    first = line(order, 1)

    edits.order_edit_lines(
        order=order,
        changes=[LineChange(first.pk, unit_price=D("226.00"))],
        actor=manager,
        reason="wrong price",
    )

    first.refresh_from_db()
    order.refresh_from_db()
    assert (first.tax_amount, first.paid_amount) == (D("26.00"), D("226.00"))
    assert (order.tax_amount, order.total) == (D("26.00"), D("226.00"))


def test_a_gift_is_added_reserved_and_removed_at_no_price(agent):
    order = order_in_state("on_hold")
    total, sku3 = order.total, reserved_total("SKU-3")

    outcome = edits.order_edit_lines(order=order, gifts=[GiftAdd("SKU-3", 2)], actor=agent, reason="VIP gift")

    gift = line(order, 3)
    assert (gift.kind, gift.quantity, gift.unit_price, gift.paid_amount) == (
        LineKind.GIFT,
        2,
        D("0.00"),
        D("0.00"),
    )
    assert held(gift) == 2 and reserved_total("SKU-3") == sku3 + 2
    assert outcome.described == ["gift SKU-3 ×2 added as line 3"]
    order.refresh_from_db()
    assert order.total == total
    assert order.events.get(kind=OrderEventKind.EDITED).payload["gifts_added"] == [
        {"line": 3, "sku": "SKU-3", "quantity": 2}
    ]

    edits.order_edit_lines(order=order, changes=[LineChange(gift.pk, remove=True)], actor=agent)

    gift.refresh_from_db()
    assert (gift.quantity, gift.cancelled_quantity) == (2, 2) and held(gift) == 0
    assert reserved_total("SKU-3") == sku3
    last = order.events.filter(kind=OrderEventKind.EDITED).last()
    assert last.payload["gifts_removed"] == [{"line": 3, "sku": "SKU-3", "quantity": 2}]
    assert last.payload["released"] == 2
    order.refresh_from_db()
    assert order.total == total and order.status == OrderStatus.ON_HOLD


def test_goods_lines_are_not_removed_and_gifts_have_no_price(manager):
    order = order_in_state("paid")
    gift_order = order_in_state("on_hold")
    edits.order_edit_lines(order=gift_order, gifts=[GiftAdd("SKU-3")], actor=manager)

    with pytest.raises(DomainError, match="only gift lines can be removed") as removing:
        edits.order_edit_lines(
            order=order, changes=[LineChange(line(order, 1).pk, remove=True)], actor=manager
        )
    assert removing.value.field == f"line_{line(order, 1).pk}_remove"
    with pytest.raises(DomainError, match="a gift line has no price"):
        edits.order_edit_lines(
            order=gift_order,
            changes=[LineChange(line(gift_order, 3).pk, unit_price=D("1.00"))],
            actor=manager,
            reason="x",
        )


@pytest.mark.parametrize("state", ["allocated", "shipped", "cancelled", "delivered"])
def test_routed_or_finished_orders_are_not_edited(agent, state):
    with transaction.atomic():
        order = order_in_state(state)
    before = snapshot(order)

    with pytest.raises(TransitionRefused) as refused:
        edits.order_edit_lines(order=order, changes=[LineChange(line(order, 1).pk, quantity=1)], actor=agent)

    assert order.number in refused.value.message
    assert snapshot(order) == before


def test_an_order_held_after_routing_is_not_edited(agent, manager):
    with transaction.atomic():
        order = order_in_state("allocated")
    order = services.order_transition(order=order, name="hold", actor=agent, reason="customer called")
    assert order.held_from == OrderStatus.ALLOCATED
    before = snapshot(order)

    with pytest.raises(TransitionRefused, match="was routed to a warehouse"):
        edits.order_edit_lines(order=order, gifts=[GiftAdd("SKU-3")], actor=manager)

    assert snapshot(order) == before


def test_a_stale_form_is_refused_and_names_the_line_as_it_is_now(agent):
    order = order_in_state("on_hold")
    first = line(order, 1)
    edits.order_edit_lines(
        order=order, changes=[LineChange(first.pk, quantity=3, seen={"quantity": 2})], actor=agent
    )
    before = snapshot(order)

    with pytest.raises(TransitionRefused, match=r"Line 1 \(SKU-1\) changed meanwhile: its quantity is now 3"):
        edits.order_edit_lines(
            order=order, changes=[LineChange(first.pk, quantity=4, seen={"quantity": 2})], actor=agent
        )
    with pytest.raises(TransitionRefused, match="changed meanwhile"):
        edits.order_edit_lines(
            order=order, gifts=[GiftAdd("SKU-3")], actor=agent, expected_status=OrderStatus.PAID
        )

    assert snapshot(order) == before


def test_bad_input_is_refused_naming_the_field(agent, warehouse_user):
    order = order_in_state("paid")
    first = line(order, 1)
    cases = [
        (LineChange(first.pk, quantity=0), f"line_{first.pk}_quantity", "between 1 and"),
        (LineChange(first.pk, sku="NOPE"), f"line_{first.pk}_sku", "no SKU with the code"),
        (LineChange(999_999, quantity=1), "line_999999", "not a line of this order"),
    ]
    before = snapshot(order)
    for change, field, words in cases:
        with pytest.raises(DomainError, match=words) as refused:
            edits.order_edit_lines(order=order, changes=[change], actor=agent)
        assert refused.value.field == field
    with pytest.raises(DomainError) as gift:
        edits.order_edit_lines(order=order, gifts=[GiftAdd("SKU-1", 0)], actor=agent)
    assert gift.value.field == "gift_quantity"
    with pytest.raises(DomainError, match="Nothing to change"):
        edits.order_edit_lines(order=order, changes=[LineChange(first.pk, quantity=2)], actor=agent)
    with pytest.raises(NotPermitted):
        edits.order_edit_lines(order=order, changes=[LineChange(first.pk, quantity=3)], actor=warehouse_user)
    assert snapshot(order) == before


def test_a_discount_larger_than_the_new_amount_is_refused(manager):
    order = order_in_state("paid")
    first = line(order, 1)  # 2 × 59.90 less 5.00 and 5.34 of the order discount

    with pytest.raises(DomainError, match="come to more than its new amount") as refused:
        edits.order_edit_lines(
            order=order, changes=[LineChange(first.pk, unit_price=D("5.00"))], actor=manager, reason="free"
        )
    assert refused.value.field == f"line_{first.pk}_unit_price"


def make_bundle(code="BOX") -> SKU:
    """A box of 2 × SKU-1 (worth 30.00 each inside it) and 1 × SKU-2 (worth 40.00)."""
    ensure_master_data()
    bundle = SKU.objects.create(code=code, name=f"Bundle {code}", is_bundle=True)
    for component, quantity, price in (("SKU-1", 2, "30.00"), ("SKU-2", 1, "40.00")):
        BundleComponent.objects.create(
            bundle=bundle,
            component=SKU.objects.get(code=component),
            quantity=quantity,
            reference_price=D(price),
        )
    return bundle


def bundle_order():
    make_bundle()
    order = make_order(
        lines=[
            {"sku": "BOX", "quantity": 2, "unit_price": "150.00", "discount": "10.00"},
            {"sku": "SKU-3", "quantity": 1, "unit_price": "20.00"},
        ],
        discount="0.00",
    )
    return services.order_transition(order=order, name="hold", reason="review")


def components_of(bundle_line) -> list[tuple[str, int, int, Decimal]]:
    return [
        (c.sku.code, c.quantity, held(c), c.paid_amount)
        for c in bundle_line.components.select_related("sku").order_by("line_no")
    ]


def test_a_bundle_line_s_new_quantity_carries_its_components(agent):
    order = bundle_order()
    box = line(order, 1)
    assert components_of(box) == [("SKU-1", 4, 4, D("174.00")), ("SKU-2", 2, 2, D("116.00"))]  # 290 by 60:40

    edits.order_edit_lines(order=order, changes=[LineChange(box.pk, quantity=3)], actor=agent)

    box.refresh_from_db()
    order.refresh_from_db()
    assert (box.quantity, box.discount, box.paid_amount) == (3, D("15.00"), D("435.00"))
    assert components_of(box) == [("SKU-1", 6, 6, D("261.00")), ("SKU-2", 3, 3, D("174.00"))]
    assert order.total == D("463.00")  # 435 + 20 + 8 shipping: components add nothing
    edit = order.events.get(kind=OrderEventKind.EDITED).payload["edits"][0]
    assert edit["components"] == [
        {"line": 3, "sku": "SKU-1", "quantity": [4, 6]},
        {"line": 4, "sku": "SKU-2", "quantity": [2, 3]},
    ]


def test_a_line_swapped_to_a_bundle_is_expanded_and_back_its_components_retire(agent):
    order = bundle_order()
    goods = line(order, 2)

    edits.order_edit_lines(order=order, changes=[LineChange(goods.pk, sku="BOX")], actor=agent)

    goods = line(order, 2)
    assert goods.kind == LineKind.BUNDLE and held(goods) == 0
    assert components_of(goods) == [("SKU-1", 2, 2, D("12.00")), ("SKU-2", 1, 1, D("8.00"))]  # 20.00 by 60:40
    assert held_by_sku(order) == {"SKU-1": 6, "SKU-2": 3}  # SKU-3 given back
    added = order.events.get(kind=OrderEventKind.EDITED).payload["edits"][0]["components"]
    assert added == [{"line": 5, "sku": "SKU-1", "added": 2}, {"line": 6, "sku": "SKU-2", "added": 1}]

    box = line(order, 1)
    old_components = list(box.components.values_list("pk", flat=True))
    edits.order_edit_lines(order=order, changes=[LineChange(box.pk, sku="SKU-3")], actor=agent)

    box = line(order, 1)
    assert (box.kind, box.sku.code, held(box)) == (LineKind.GOODS, "SKU-3", 2)
    retired = OrderLine.objects.filter(pk__in=old_components)
    assert all(c.parent_line_id is None and c.live_quantity == 0 and held(c) == 0 for c in retired)
    assert held_by_sku(order) == {"SKU-1": 2, "SKU-2": 1, "SKU-3": 2}
    # cancelling the new goods line later never reaches the retired components
    services.order_cancel_lines(order=order, quantities={box.pk: 1}, actor=agent, reason="one less")
    assert held_by_sku(order) == {"SKU-1": 2, "SKU-2": 1, "SKU-3": 1}


def test_components_short_refuse_the_bundle_edit_naming_the_bundle_line(agent):
    order = bundle_order()
    box = line(order, 1)
    spare = sum(b.on_hand - b.reserved for b in StockBalance.objects.filter(sku__code="SKU-2"))
    before = snapshot(order)

    with pytest.raises(DomainError, match="Not enough stock of SKU-1, SKU-2 for this edit") as refused:
        edits.order_edit_lines(order=order, changes=[LineChange(box.pk, quantity=2 + spare + 1)], actor=agent)

    assert refused.value.field == f"line_{box.pk}_quantity"
    assert snapshot(order) == before


def test_components_are_not_edited_alone_and_a_gift_is_never_a_bundle(agent):
    order = bundle_order()
    component = line(order, 3)

    with pytest.raises(DomainError, match="part of a bundle: edit the bundle line instead"):
        edits.order_edit_lines(order=order, changes=[LineChange(component.pk, quantity=1)], actor=agent)
    with pytest.raises(DomainError, match="a gift is one item, and BOX is a bundle") as gift:
        edits.order_edit_lines(order=order, gifts=[GiftAdd("BOX")], actor=agent)
    assert gift.value.field == "gift_sku"


def test_an_unmapped_line_changes_quantity_but_is_mapped_not_swapped(agent):
    order = make_order(
        lines=[
            {"sku": "SKU-1", "quantity": 1, "unit_price": "20.00"},
            {"platform_sku_id": "P-77", "title": "Mystery item", "quantity": 1, "unit_price": "10.00"},
        ],
        discount="0.00",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    unmapped = line(order, 2)

    with pytest.raises(DomainError, match="map the platform item") as refused:
        edits.order_edit_lines(order=order, changes=[LineChange(unmapped.pk, sku="SKU-2")], actor=agent)
    assert "not mapped: platform id P-77" in refused.value.message

    edits.order_edit_lines(order=order, changes=[LineChange(unmapped.pk, quantity=2)], actor=agent)
    unmapped.refresh_from_db()
    order.refresh_from_db()
    assert (unmapped.quantity, unmapped.paid_amount, held(unmapped)) == (2, D("20.00"), 0)
    assert order.total == D("48.00")  # 20 + 20 + 8 shipping


def test_a_line_with_cancelled_units_keeps_at_least_one_live(agent):
    order = order_in_state("paid")
    first = line(order, 1)
    services.order_cancel_lines(order=order, quantities={first.pk: 1}, actor=agent, reason="less")

    with pytest.raises(DomainError, match="between 2 and"):
        edits.order_edit_lines(order=order, changes=[LineChange(first.pk, quantity=1)], actor=agent)

    edits.order_edit_lines(order=order, changes=[LineChange(first.pk, quantity=4)], actor=agent)
    assert held(line(order, 1)) == 3  # 4 units, 1 of them cancelled


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_agents_editing_at_once_one_wins_the_other_sees_the_new_state(make_user):
    from core.roles import Role

    first_agent, second_agent = make_user(Role.CUSTOMER_SERVICE), make_user(Role.CUSTOMER_SERVICE)
    order = order_in_state("on_hold")
    first = line(order, 1)
    before = reserved_total("SKU-1")
    barrier = threading.Barrier(2)
    outcomes, refusals, errors = [], [], []

    def edit(actor, quantity):
        try:
            barrier.wait()
            outcomes.append(
                edits.order_edit_lines(
                    order=order.pk,
                    changes=[LineChange(first.pk, quantity=quantity, seen={"quantity": 2})],
                    actor=actor,
                )
            )
        except TransitionRefused as exc:
            refusals.append(exc.message)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=edit, args=(first_agent, 5)),
        threading.Thread(target=edit, args=(second_agent, 7)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(outcomes) == 1 and len(refusals) == 1
    won = outcomes[0].order.lines.get(pk=first.pk).quantity
    assert f"its quantity is now {won}" in refusals[0]
    assert held(first) == won and reserved_total("SKU-1") == before + won - 2
    assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.EDITED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_agents_editing_different_lines_at_once_both_apply_with_exact_stock(make_user):
    from core.roles import Role

    order = order_in_state("on_hold")
    first, second = line(order, 1), line(order, 2)
    totals = {code: reserved_total(code) for code in ("SKU-1", "SKU-2", "SKU-3")}
    agents = [make_user(Role.CUSTOMER_SERVICE), make_user(Role.CUSTOMER_SERVICE)]
    barrier = threading.Barrier(2)
    errors = []

    def edit(change, actor):
        try:
            barrier.wait()
            edits.order_edit_lines(order=order.pk, changes=[change], actor=actor)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=edit, args=(LineChange(first.pk, quantity=4, seen={"quantity": 2}), agents[0])
        ),
        threading.Thread(
            target=edit, args=(LineChange(second.pk, sku="SKU-3", seen={"sku": "SKU-2"}), agents[1])
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert held_by_sku(order) == {"SKU-1": 4, "SKU-3": 1}
    assert reserved_total("SKU-1") == totals["SKU-1"] + 2
    assert (reserved_total("SKU-2"), reserved_total("SKU-3")) == (totals["SKU-2"] - 1, totals["SKU-3"] + 1)
    assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.EDITED).count() == 2


def test_the_order_api_shows_the_lines_money_and_the_paid_difference(manager):
    from rest_framework.test import APIClient

    order = make_order(
        paid=True,
        lines=[
            {
                "sku": "SKU-1",
                "quantity": 2,
                "unit_price": "50.00",
                "discount_allocations": [{"amount": "6.00", "funded_by": "platform", "title": "Sale"}],
                "tax_amount": "7.52",
                "tax_rate": "0.08",
            },
            {"platform_sku_id": "P-5", "quantity": 1, "unit_price": "10.00"},
        ],
        discount="0.00",
        shipping_fee="0.00",
        paid_amount="111.52",
    )
    edits.order_edit_lines(
        order=order, changes=[LineChange(line(order, 1).pk, quantity=1)], actor=manager, reason="one only"
    )
    client = APIClient()
    client.force_authenticate(manager)

    body = client.get(f"/api/v1/orders/{order.number}/").json()

    first, unmapped = body["lines"]
    assert first["kind"] == "goods" and first["parent_line_no"] is None
    assert first["discount_allocations"] == [{"amount": "3.00", "funded_by": "platform", "title": "Sale"}]
    assert (first["platform_discount"], first["tax_amount"], first["tax_rate"]) == ("3.00", "3.76", "0.0800")
    assert (first["net_amount"], first["paid_amount"]) == ("47.00", "50.76")
    assert (unmapped["sku"], unmapped["platform_sku_id"], unmapped["paid_amount"]) == (None, "P-5", "10.00")
    assert (body["total"], body["paid_amount"], body["paid_difference"]) == ("60.76", "111.52", "50.76")
    assert (body["tax_amount"], body["platform_discount_amount"], body["tax_included"]) == (
        "3.76",
        "3.00",
        False,
    )


def test_a_platform_update_after_an_edit_holds_the_order_instead_of_undoing_the_edit(agent):
    from datetime import timedelta

    from django.utils import timezone

    from orders import intake
    from orders.tests.factories import canonical_payload, default_lines, validated

    order = order_in_state("paid")
    first = line(order, 1)
    edits.order_edit_lines(
        order=order, changes=[LineChange(first.pk, quantity=3, seen={"quantity": 2})], actor=agent
    )
    # The platform sends its own lines again (still 2 × SKU-1), as a newer version.
    newer = canonical_payload(
        external_id=order.external_id,
        updated_at=(timezone.now() + timedelta(minutes=1)).isoformat(),
        lines=default_lines(),
        discount="10.00",
        paid=True,
    )
    intake.order_ingest(data=validated(newer))

    order.refresh_from_db()
    first.refresh_from_db()
    assert (first.quantity, first.cancelled_quantity, held(first)) == (3, 0, 3)  # the edit stands
    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_reason.startswith(
        "The platform changed this order's lines or amounts after it was edited"
    )
    hold = order.events.filter(kind=OrderEventKind.TRANSITION, to_status=OrderStatus.ON_HOLD).last()
    assert {"item": "SKU-1", "quantity": 2} in hold.payload["platform_lines"]


def test_a_platform_money_change_after_an_edit_holds_and_an_already_held_order_says_so(agent):
    from datetime import timedelta

    from django.utils import timezone

    from orders import intake
    from orders.tests.factories import canonical_payload, default_lines, validated

    order = order_in_state("paid")
    first = line(order, 1)
    edits.order_edit_lines(
        order=order, changes=[LineChange(first.pk, quantity=3, seen={"quantity": 2})], actor=agent
    )
    order.refresh_from_db()
    total = order.total

    def platform_version(minutes, **changes):
        fields = {
            "external_id": order.external_id,
            "updated_at": (timezone.now() + timedelta(minutes=minutes)).isoformat(),
            "lines": [{**default_lines()[0], "quantity": 3}, default_lines()[1]],
            "discount": "10.00",
            "paid": True,
            **changes,
        }
        newer = canonical_payload(**fields)
        intake.order_ingest(data=validated(newer))
        order.refresh_from_db()

    platform_version(1, paid_amount="280.00")  # same units as edited, other money
    assert order.status == OrderStatus.ON_HOLD and order.total == total  # the edit's amounts stand
    assert "lines or amounts" in order.hold_reason

    services.order_transition(order=order, name="release", actor=agent)
    services.order_transition(order=order, name="hold", actor=agent, reason="buyer asked to wait")
    platform_version(2, lines=default_lines())  # the platform takes a unit back while it is held
    assert order.hold_reason.startswith("buyer asked to wait; The platform changed")
    assert line(order, 1).quantity == 3
