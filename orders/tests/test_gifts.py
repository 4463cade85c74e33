"""Gift rules (赠品策略, issue #14 part 5) through the real intake: by SKU, by order amount, by
channel and within a time window; gifts at zero price reserved like any line, never in revenue,
and never added silently when the stock cannot cover them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q, Sum
from django.utils import timezone

from finance.revenue import order_revenue_amounts
from inventory.models import SKU, Reservation, StockBalance
from orders import intake, services
from orders.gifts import GIFT_OUT_OF_STOCK_TAG, rules_for
from orders.models import GiftBasis, GiftRule, LineKind, Order, OrderEventKind, OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    make_order,
    receive,
    validated,
)

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def gift_sku():
    ensure_master_data(stock=100)
    sku = SKUFactory(code="GIFT-1", name="Tote bag")
    receive(sku, 10)
    return sku


def rule(gift_sku, **fields) -> GiftRule:
    fields.setdefault("name", "Tote with two SKU-1")
    made = GiftRule(gift_sku=gift_sku, **fields)
    made.full_clean()
    made.save()
    return made


def gifts(order):
    return list(order.lines.filter(kind=LineKind.GIFT).select_related("sku", "gift_rule").order_by("line_no"))


def reserved(code: str) -> int:
    return StockBalance.objects.filter(sku__code=code).aggregate(n=Sum("reserved"))["n"] or 0


def one_line(sku="SKU-1", quantity=2, unit_price="59.90"):
    return [{"sku": sku, "quantity": quantity, "unit_price": unit_price}]


def test_a_gift_for_buying_a_sku_is_added_at_zero_price_and_reserved(gift_sku):
    given = rule(gift_sku, trigger_sku=SKU.objects.get(code="SKU-1"), trigger_quantity=2)

    order = make_order(paid=True)  # SKU-1 ×2 and SKU-2 ×1

    [gift] = gifts(order)
    assert (gift.line_no, gift.sku.code, gift.quantity, gift.gift_rule) == (3, "GIFT-1", 1, given)
    assert (gift.unit_price, gift.paid_amount, gift.net_amount) == (D("0.00"), D("0.00"), D("0.00"))
    assert gift.reservations.aggregate(n=Sum("quantity"))["n"] == 1
    assert reserved("GIFT-1") == 1
    event = order.events.get(kind=OrderEventKind.GIFT)
    assert event.reason == "Gift GIFT-1 ×1 added by the rule “Tote with two SKU-1”."
    assert order.status == OrderStatus.PAID


def test_too_few_units_of_the_trigger_sku_give_no_gift(gift_sku):
    rule(gift_sku, trigger_sku=SKU.objects.get(code="SKU-1"), trigger_quantity=3)

    order = make_order()

    assert gifts(order) == []
    assert not order.events.filter(kind=OrderEventKind.GIFT).exists()


def test_a_gift_per_multiple_of_the_trigger_is_capped_by_max_gifts(gift_sku):
    rule(
        gift_sku,
        trigger_sku=SKU.objects.get(code="SKU-1"),
        trigger_quantity=2,
        gift_quantity=1,
        per_multiple=True,
        max_gifts=2,
    )

    three = make_order(lines=one_line(quantity=6))  # 3 multiples, capped at 2
    one = make_order(lines=one_line(quantity=3))  # 1 multiple

    assert [g.quantity for g in gifts(three)] == [2]
    assert [g.quantity for g in gifts(one)] == [1]


def test_a_gift_above_an_order_amount_in_the_rules_currency(gift_sku):
    rule(gift_sku, name="Over 200", min_amount=D("200.00"), currency="CNY")

    above = make_order()  # 212.80 CNY
    below = make_order(lines=one_line(quantity=1))  # 59.90 + 8.00 − 10.00 = 57.90
    other_currency = make_order(currency="USD")  # 212.80 USD

    assert [g.sku.code for g in gifts(above)] == ["GIFT-1"]
    assert gifts(below) == []
    assert gifts(other_currency) == []


def test_the_amount_can_be_what_the_platform_says_was_paid(gift_sku):
    rule(gift_sku, name="Paid 200", min_amount=D("200.00"), currency="CNY", amount_basis=GiftBasis.PAID)

    # total 212.80 but the platform says 199.00 was paid: held for the difference, and no gift
    order = make_order(paid_amount="199.00")

    assert gifts(order) == []


def test_a_gift_per_multiple_of_the_amount(gift_sku):
    rule(gift_sku, name="Per 100", min_amount=D("100.00"), currency="CNY", per_multiple=True)

    order = make_order()  # 212.80: two hundreds

    assert [g.quantity for g in gifts(order)] == [2]


def test_a_channel_rule_gives_gifts_in_its_channel_only(gift_sku):
    ChannelFactory(code="shop-jd", name="JD shop")
    rule(gift_sku, name="JD only", channel=ChannelFactory(code="shop-jd"))

    ours = make_order(channel="shop-cn")
    theirs = make_order(channel="shop-jd")

    assert gifts(ours) == []
    assert [g.sku.code for g in gifts(theirs)] == ["GIFT-1"]


def test_rules_outside_their_window_do_not_apply(gift_sku):
    now = timezone.now()
    rule(gift_sku, name="Over", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1))
    rule(gift_sku, name="Not yet", starts_at=now + timedelta(hours=1))
    within = rule(gift_sku, name="Within", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))

    order = make_order(placed_at=(now - timedelta(hours=1)).isoformat())
    late = make_order(placed_at=(now - timedelta(days=2)).isoformat())  # placed within "Over"

    assert [g.gift_rule for g in gifts(order)] == [within]
    assert [g.gift_rule.name for g in gifts(late)] == ["Over"]


def test_the_written_out_rule_read_finds_what_the_queryset_finds_at_the_window_edges(gift_sku):
    """rules_for reads by hand-written SQL (no queryset to compile on every batch): the same
    rules, in the same order, as the filter it replaced, on both databases."""
    placed = timezone.now().replace(microsecond=0)  # a whole second: stored without fraction
    jd = ChannelFactory(code="shop-jd")
    shop = ChannelFactory(code="shop-cn")
    windows = [
        {"starts_at": placed},  # starts as the order is placed: applies
        {"ends_at": placed},  # ends as it is placed: does not
        {"starts_at": placed + timedelta(microseconds=1)},
        {"ends_at": placed + timedelta(microseconds=1)},
        {"starts_at": placed - timedelta(days=1), "ends_at": placed + timedelta(days=1)},
        {},
    ]
    for priority, window in enumerate(windows):
        rule(gift_sku, name=f"any {priority}", priority=10 - priority, **window)
        rule(gift_sku, name=f"jd {priority}", priority=10 - priority, channel=jd, **window)
    rule(gift_sku, name="off", is_active=False)
    orders = [Order(channel=shop, placed_at=placed), Order(channel=shop, placed_at=placed)]

    expected = list(
        GiftRule.objects.filter(is_active=True)
        .filter(Q(channel__isnull=True) | Q(channel_id__in={shop.pk}))
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=placed))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=placed))
        .order_by("priority", "pk")
    )
    found = rules_for(orders)
    assert found == expected
    assert [r.name for r in found] == ["any 5", "any 4", "any 3", "any 0"]
    assert found[0].gift_sku == gift_sku  # joined: no query on access
    assert {r.name for r in rules_for([Order(channel=jd, placed_at=placed)])} >= {"jd 0", "any 0"}


def test_an_inactive_rule_gives_nothing(gift_sku):
    rule(gift_sku, is_active=False)

    assert gifts(make_order()) == []


def test_rules_add_their_gifts_in_priority_order(gift_sku):
    second = SKUFactory(code="GIFT-2", name="Sticker")
    receive(second, 5)
    rule(second, name="Sticker", priority=20)
    rule(gift_sku, name="Tote", priority=10)

    order = make_order()

    assert [(g.line_no, g.sku.code) for g in gifts(order)] == [(3, "GIFT-1"), (4, "GIFT-2")]


def test_gifts_add_nothing_to_the_order_amounts_or_its_revenue(gift_sku):
    plain = make_order(paid=True)
    rule(gift_sku, name="Everyone", gift_quantity=3)

    gifted = make_order(paid=True)

    assert [g.quantity for g in gifts(gifted)] == [3]
    assert all(g.unit_price == 0 and g.paid_amount == 0 for g in gifts(gifted))
    assert gifted.total == plain.total == D("212.80")
    assert order_revenue_amounts(gifted) == order_revenue_amounts(plain)


def test_a_zero_priced_order_gets_no_gifts(gift_sku):
    rule(gift_sku, name="Everyone")

    order = make_order(lines=one_line(unit_price="0.00"), discount="0.00", shipping_fee="0.00")

    assert gifts(order) == []


def test_a_gift_out_of_stock_is_not_added_and_the_order_says_so(gift_sku):
    empty = SKUFactory(code="GIFT-0", name="Sold-out mug")
    rule(empty, name="Mug for everyone")

    order = make_order(paid=True)

    assert gifts(order) == []
    assert order.status == OrderStatus.PAID  # a free gift never holds a paid order
    assert GIFT_OUT_OF_STOCK_TAG in order.tags
    event = order.events.get(kind=OrderEventKind.GIFT)
    assert event.reason == "Gift GIFT-0 ×1 not added: out of stock (rule “Mug for everyone”)."
    assert event.payload["added"] is False
    assert reserved("GIFT-0") == 0


def test_the_order_page_shows_the_missing_gift(gift_sku, client, agent):
    rule(SKUFactory(code="GIFT-0", name="Sold-out mug"), name="Mug for everyone")
    order = make_order()
    client.force_login(agent)

    page = client.get(order.get_absolute_url()).content.decode()

    assert GIFT_OUT_OF_STOCK_TAG in page
    assert "Gift GIFT-0 ×1 not added: out of stock" in page


def test_a_gift_short_of_part_of_its_units_is_not_added_at_all(gift_sku):
    rule(gift_sku, name="Eleven totes", gift_quantity=11)  # 10 in stock

    order = make_order()

    assert gifts(order) == []
    assert reserved("GIFT-1") == 0
    assert GIFT_OUT_OF_STOCK_TAG in order.tags


def test_in_one_batch_the_goods_of_every_order_come_before_the_gifts(gift_sku):
    # the last cap: the first order would get it as a gift, the second buys it
    receive(SKUFactory(code="CAP", name="Cap"), 1)
    rule(SKU.objects.get(code="CAP"), name="Cap with SKU-2", trigger_sku=SKU.objects.get(code="SKU-2"))
    items = [
        validated(canonical_payload(external_id="G-gift", lines=one_line("SKU-2", 1, "100.00"))),
        validated(canonical_payload(external_id="G-buy", lines=one_line("CAP", 1, "15.00"))),
    ]

    (gifted, _c1), (bought, _c2) = intake.order_ingest_batch(items=items)

    assert gifts(gifted) == []
    assert GIFT_OUT_OF_STOCK_TAG in gifted.tags
    assert bought.status == OrderStatus.PENDING_PAYMENT  # not held: its cap was reserved first
    assert reserved("CAP") == 1


def test_a_rule_refuses_what_cannot_be_a_gift(gift_sku):
    bundle = SKU.objects.create(code="BOX-G", name="Box", is_bundle=True)
    with pytest.raises(ValidationError) as bad_gift:
        rule(bundle)
    assert "gift_sku" in bad_gift.value.message_dict

    with pytest.raises(ValidationError) as bad_amount:
        rule(gift_sku, min_amount=D("100.00"))
    assert "currency" in bad_amount.value.message_dict

    now = timezone.now()
    with pytest.raises(ValidationError) as bad_window:
        rule(gift_sku, starts_at=now, ends_at=now - timedelta(hours=1))
    assert "ends_at" in bad_window.value.message_dict


def test_a_gift_whose_unpaid_reservation_expired_is_dropped_not_held_for(gift_sku):
    receive(SKUFactory(code="CAP", name="Cap"), 1)
    rule(SKU.objects.get(code="CAP"), name="Cap with SKU-2", trigger_sku=SKU.objects.get(code="SKU-2"))
    order = make_order()  # unpaid: its cap is reserved until the payment deadline
    [cap] = gifts(order)
    Reservation.objects.filter(order=order).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = make_order(lines=one_line("CAP", 1, "15.00"))  # buys the cap the deadline freed
    assert other.status == OrderStatus.PENDING_PAYMENT

    order = services.order_transition(order=order, name="mark_paid")

    assert order.status == OrderStatus.PAID  # the goods were reserved again; the gift did not hold it
    cap.refresh_from_db()
    assert (cap.quantity, cap.live_quantity) == (1, 0)
    assert GIFT_OUT_OF_STOCK_TAG in order.tags
    assert order.events.filter(kind=OrderEventKind.GIFT, reason__contains="CAP ×1 dropped").exists()
    assert reserved("CAP") == 1  # the buyer's
