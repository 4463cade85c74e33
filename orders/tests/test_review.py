import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Reservation, StockBalance
from inventory.reconciliation import find_drift
from orders import intake, services
from orders.intake import order_ingest_batch
from orders.models import Order, OrderEvent, ReviewRule, ReviewRuleKind
from orders.review import review_orders
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
K = ReviewRuleKind


def rule(kind, name=None, **params) -> ReviewRule:
    return ReviewRule.objects.create(name=name or f"{kind} rule", kind=kind, **params)


def item(**overrides) -> dict:
    return validated(canonical_payload(**overrides))


@pytest.fixture(params=["one_by_one", "batch"])
def ingest(request):
    """Ingest payloads through the one-order path or the bulk path; both must behave the same."""
    ensure_master_data()

    def run(*payloads: dict) -> list[Order]:
        items = [validated(canonical_payload(**payload)) for payload in payloads]
        if request.param == "batch":
            results = order_ingest_batch(items=items)
        else:
            results = [intake.order_ingest(data=data) for data in items]
        return [Order.objects.get(pk=order.pk) for order, _created in results]

    return run


def hold_event(order: Order) -> OrderEvent:
    return order.events.get(kind="transition", to_status="on_hold")


def address(**changes) -> dict:
    return {**canonical_payload()["shipping_address"], **changes}


# --- each kind of rule holds the order, with the rule named on the timeline -------------------


def test_an_address_keyword_holds_the_order_naming_the_rule(ingest):
    keywords = rule(K.ADDRESS_KEYWORD, name="Temporary address", keywords="代收\n临时, 待定")

    [held, ordinary] = ingest({"shipping_address": address(line2="临时住所 3 楼")}, {})

    assert (held.status, ordinary.status) == ("on_hold", "pending_payment")
    event = hold_event(held)
    why = "Address contains the keyword “临时”"
    assert event.reason == f"Held for review: Temporary address ({why})"
    assert event.payload == {
        "transition": "hold",
        "review": [{"rule": keywords.pk, "name": "Temporary address", "why": why}],
    }
    assert held.hold_reason == event.reason and held.held_from == "pending_payment"
    assert not ordinary.events.filter(to_status="on_hold").exists()


def test_address_keywords_match_any_address_field_ignoring_case(ingest):
    rule(K.ADDRESS_KEYWORD, keywords="Hotel\n西湖区")

    orders = ingest(
        {"shipping_address": address(line1="12 Main St, GRAND HOTEL", district="")},
        {"shipping_address": address(city="杭州市西湖区", district="")},
        {"shipping_address": address(district="")},
    )

    assert [order.status for order in orders] == ["on_hold", "on_hold", "pending_payment"]


def test_an_amount_above_the_threshold_holds_only_orders_in_its_currency(ingest):
    # the default order totals CNY 212.80
    over = rule(K.AMOUNT_OVER, name="Big CNY order", amount=Decimal("200.00"), currency="CNY")
    rule(K.AMOUNT_OVER, amount=Decimal("1.00"), currency="USD")
    rule(K.AMOUNT_OVER, amount=Decimal("212.80"), currency="CNY")  # not above: equal

    [order] = ingest({})

    assert order.status == "on_hold"
    assert hold_event(order).payload["review"] == [
        {"rule": over.pk, "name": "Big CNY order", "why": "Amount CNY 212.80 above CNY 200.00"}
    ]


@pytest.mark.parametrize(
    "listed, payload",
    [
        ("138-0000-0001", {}),
        ("FANG@example.com", {}),
        ("10.1.2.3", {"buyer_ip": "10.1.2.3"}),
        ("139 0000 0009", {"shipping_address": address(phone="13900000009")}),
    ],
)
def test_a_blacklisted_phone_email_or_ip_holds_the_order(ingest, listed, payload):
    blacklist = rule(K.BLACKLIST, name="Known fraud", blacklist=f"13711112222\n{listed}\n")

    [held] = ingest(payload)

    assert held.status == "on_hold"
    [hit] = hold_event(held).payload["review"]
    assert hit["rule"] == blacklist.pk and hit["why"].startswith("Blacklisted: ")


def test_orders_beyond_the_phone_threshold_within_the_window_are_held(ingest):
    # given an order from this phone already, one from another phone, and a limit of 5 an hour
    velocity = rule(K.PHONE_VELOCITY, name="Phone velocity", threshold_count=5, window_minutes=60)
    ingest({})

    orders = ingest(*[{} for _ in range(6)], {"customer": {"name": "李", "phone": "13900000002"}})

    # then the 6th and 7th order from the phone (counting the earlier one) are held, not the others
    assert [order.status for order in orders] == [*["pending_payment"] * 4, "on_hold", "on_hold"] + [
        "pending_payment"
    ]
    assert [hit["why"] for order in orders[4:6] for hit in hold_event(order).payload["review"]] == [
        "6 orders from +8613800000001 within 60 min",
        "7 orders from +8613800000001 within 60 min",
    ]
    assert hold_event(orders[5]).payload["review"][0]["rule"] == velocity.pk


def test_velocity_counts_the_batch_itself(ingest):
    """7 orders from one phone in one go with a threshold of 5: the count including the order
    exceeds the threshold for the 6th and the 7th."""
    rule(K.PHONE_VELOCITY, threshold_count=5)

    orders = ingest(*[{} for _ in range(7)])

    assert [order.status for order in orders] == [*["pending_payment"] * 5, "on_hold", "on_hold"]


def test_orders_before_the_window_do_not_count(ingest):
    rule(K.PHONE_VELOCITY, threshold_count=2, window_minutes=30)
    old = ingest({}, {})
    Order.objects.filter(pk__in=[o.pk for o in old]).update(
        created_at=timezone.now() - timezone.timedelta(minutes=31)
    )

    orders = ingest({}, {}, {})

    assert [order.status for order in orders] == ["pending_payment", "pending_payment", "on_hold"]


def test_orders_beyond_the_ip_threshold_are_held(ingest):
    rule(K.IP_VELOCITY, name="IP velocity", threshold_count=1)
    phones = [{"customer": {"phone": f"1390000000{n}"}, "buyer_ip": "203.0.113.9"} for n in range(3)]

    orders = ingest(*phones, {"buyer_ip": "203.0.113.10"})

    assert [order.status for order in orders] == ["pending_payment", "on_hold", "on_hold", "pending_payment"]
    assert hold_event(orders[2]).payload["review"][0]["why"] == "3 orders from 203.0.113.9 within 60 min"


def test_velocity_in_one_channel_counts_only_that_channels_orders(ingest):
    ensure_master_data()
    other = ChannelFactory(code="shop-other", name="Other shop")
    rule(K.PHONE_VELOCITY, threshold_count=1, channel=other)

    orders = ingest({}, {}, {"channel": "shop-other"}, {"channel": "shop-other"})

    assert [order.status for order in orders] == [
        "pending_payment",
        "pending_payment",
        "pending_payment",
        "on_hold",
    ]


# --- rules that do not apply --------------------------------------------------------------------


def test_inactive_and_other_channel_rules_do_not_apply(ingest):
    ensure_master_data()
    other = ChannelFactory(code="shop-other", name="Other shop")
    rule(K.ADDRESS_KEYWORD, keywords="文三路", is_active=False)
    rule(K.AMOUNT_OVER, amount=Decimal("1.00"), currency="CNY", channel=other)

    [ordinary, from_other] = ingest({}, {"channel": "shop-other"})

    assert ordinary.status == "pending_payment"
    assert from_other.status == "on_hold"


def test_ordinary_orders_are_untouched(ingest):
    rule(K.ADDRESS_KEYWORD, keywords="临时")
    rule(K.AMOUNT_OVER, amount=Decimal("10000.00"), currency="CNY")
    rule(K.BLACKLIST, blacklist="13711112222")
    rule(K.PHONE_VELOCITY, threshold_count=5)

    [order] = ingest({"paid": True})

    assert order.status == "paid" and order.hold_reason == ""
    assert list(order.events.values_list("kind", "to_status")) == [
        ("created", "pending_payment"),
        ("transition", "paid"),
    ]


def test_platform_updates_are_not_reviewed():
    order = make_order(external_id="U-1")
    rule(K.ADDRESS_KEYWORD, keywords="临时")

    newer = canonical_payload(
        external_id="U-1", updated_at=timezone.now().isoformat(), shipping_address=address(line1="临时")
    )
    intake.order_ingest(data=validated(newer))

    order.refresh_from_db()
    assert order.ship_line1 == "临时" and order.status == "pending_payment"


def test_orders_cancelled_on_the_platform_are_not_reviewed(ingest):
    rule(K.AMOUNT_OVER, amount=Decimal("1.00"), currency="CNY")

    [order] = ingest({"cancelled": True})

    assert order.status == "cancelled"


# --- holds, stock, release and cancel -------------------------------------------------------------


def test_both_paths_give_the_same_timeline():
    ensure_master_data()
    rule(K.ADDRESS_KEYWORD, name="Temporary", keywords="临时")
    rule(K.AMOUNT_OVER, name="Big", amount=Decimal("100.00"), currency="CNY")
    rule(K.PHONE_VELOCITY, name="Velocity", threshold_count=2)
    payloads = [{"paid": True}, {"shipping_address": address(line2="临时")}, {}, {"paid": True}]

    one_by_one = [intake.order_ingest(data=item(**p))[0] for p in payloads]
    other_phone = {"customer": {"name": "王芳", "phone": "13900000009"}}  # a fresh velocity count
    batch = [o for o, _c in order_ingest_batch(items=[item(**p, **other_phone) for p in payloads])]

    def timeline(order):
        """The events as an agent reads them, the phone and the external id aside."""
        events = order.events.values_list("kind", "from_status", "to_status", "reason", "payload")
        text = json.dumps([[*event[:4], {**event[4], "external_id": None}] for event in events])
        return text.replace("13900000009", "13800000001")

    for single, bulk in zip(one_by_one, batch, strict=True):
        single.refresh_from_db()
        bulk.refresh_from_db()
        assert (single.status, single.held_from) == (bulk.status, bulk.held_from)
        assert timeline(single) == timeline(bulk)
    assert [o.status for o in one_by_one] == ["on_hold"] * 4


def test_an_order_held_for_stock_gets_the_review_added_to_that_hold(ingest):
    ensure_master_data()
    receive(SKUFactory(code="RARE"), 1)
    keywords = rule(K.ADDRESS_KEYWORD, name="Temporary", keywords="临时")

    [order] = ingest(
        {
            "lines": [{"sku": "RARE", "quantity": 2, "unit_price": "9.90"}],
            "shipping_address": address(line2="临时"),
        }
    )

    event = hold_event(order)  # exactly one hold
    assert event.reason == (
        "Out of stock: RARE; Held for review: Temporary (Address contains the keyword “临时”)"
    )
    assert event.payload["short"] == ["RARE"]
    assert event.payload["review"][0]["rule"] == keywords.pk
    assert order.hold_reason.startswith("Out of stock: RARE")


def test_a_held_order_keeps_its_reservation_and_an_agent_releases_it(ingest, agent):
    rule(K.ADDRESS_KEYWORD, keywords="临时")
    [order] = ingest({"shipping_address": address(line2="临时")})
    assert order.status == "on_hold"
    assert set(Reservation.objects.filter(order=order).values_list("state", flat=True)) == {"active"}

    order = services.order_transition(order=order, name="release", actor=agent, reason="checked by phone")

    assert order.status == "pending_payment" and order.hold_reason == ""
    assert set(Reservation.objects.filter(order=order).values_list("state", flat=True)) == {"active"}
    assert order.events.last().actor == agent


def test_a_paid_held_order_is_released_back_to_paid(ingest, agent):
    rule(K.AMOUNT_OVER, amount=Decimal("100.00"), currency="CNY")
    [order] = ingest({"paid": True})
    assert (order.status, order.held_from) == ("on_hold", "paid")
    assert set(Reservation.objects.filter(order=order).values_list("state", flat=True)) == {"committed"}

    order = services.order_transition(order=order, name="release", actor=agent, reason="genuine")

    assert order.status == "paid"


def test_an_agent_cancels_a_held_order_and_its_stock_returns(ingest, agent):
    rule(K.BLACKLIST, blacklist="13800000001")
    [order] = ingest({})
    reserved = StockBalance.objects.get(sku__code="SKU-1").reserved
    assert order.status == "on_hold" and reserved >= 2

    services.order_transition(order=order, name="cancel", actor=agent, reason="fraud")

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert StockBalance.objects.get(sku__code="SKU-1").reserved == reserved - 2
    assert not Reservation.objects.filter(order=order, state__in=["active", "committed"]).exists()
    assert find_drift() == []


# --- set-based evaluation and configuration -------------------------------------------------------


def test_velocity_rules_take_one_grouped_query_per_field_whatever_the_batch_size():
    ensure_master_data()
    orders = [make_order(buyer_ip=f"203.0.113.{n}") for n in range(8)]
    rule(K.PHONE_VELOCITY, threshold_count=5)
    rule(K.PHONE_VELOCITY, threshold_count=3, window_minutes=10)
    rule(K.IP_VELOCITY, threshold_count=5)
    rule(K.ADDRESS_KEYWORD, keywords="临时")

    with CaptureQueriesContext(connection) as queries:
        hits = review_orders(orders)

    assert len(queries) == 3  # the rules, the phone counts, the IP counts
    assert sorted(hits) == [order.pk for order in orders[3:]]


def test_a_rule_needs_the_parameters_of_its_kind():
    ensure_master_data()
    with pytest.raises(ValidationError) as caught:
        ReviewRule(name="Velocity", kind=K.PHONE_VELOCITY).full_clean()
    assert "threshold_count" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        ReviewRule(name="Amount", kind=K.AMOUNT_OVER, amount=Decimal("5")).full_clean()
    assert "currency" in caught.value.message_dict
    ReviewRule(name="Keywords", kind=K.ADDRESS_KEYWORD, keywords="临时").full_clean()
