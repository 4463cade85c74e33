"""Platform items ↔ SKUs (issue #14 part 3): how a line names its SKU on the way in, an unmapped
item holding its order without losing it, and mapping it once releasing every waiting order."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import DomainError, NotPermitted, TransitionRefused
from inventory.models import SKU, ItemMapping, Reservation
from orders import intake, services
from orders.canonical import CanonicalOrderInput
from orders.item_mapping import item_map
from orders.models import LineKind, Order, OrderEvent, OrderEventKind, OrderLine, OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    receive,
    validated,
)
from orders.unmapped import unmapped_item_count, unmapped_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def shops(db):
    ensure_master_data()
    return (
        ChannelFactory(code="tb-shop", name="Taobao shop", platform="taobao"),
        ChannelFactory(code="jd-shop", name="JD shop", platform="jd"),
    )


def platform_line(item="I-100", variant="V-1", seller="", quantity=2, price="10.00", **extra):
    return {
        "sku": None,
        "platform_item_id": item,
        "platform_sku_id": variant,
        "seller_code": seller,
        "title": "Red mug, large",
        "quantity": quantity,
        "unit_price": price,
        **extra,
    }


def place(channel="tb-shop", lines=None, **overrides):
    """An order through the real intake (validated like every source)."""
    data = validated(
        canonical_payload(channel=channel, lines=lines or [platform_line()], discount="0.00", **overrides)
    )
    order, _created = intake.order_ingest(data=data)
    order.refresh_from_db()
    return order


def reserved(sku: SKU) -> int:
    return sku.balances.aggregate(total=Sum("reserved"))["total"] or 0


# --- resolution on the way in -------------------------------------------------------------------


def test_lines_resolve_by_variant_then_item_then_seller_code_then_our_codes(
    shops, django_assert_max_num_queries
):
    taobao, jd = shops
    a, b, c, d = (SKUFactory(code=code) for code in ("MUG-A", "MUG-B", "MUG-C", "MUG-D"))
    e = SKUFactory(code="MUG-E", barcode="6901234567892")
    retired = SKUFactory(code="MUG-OLD", is_active=False)
    ItemMapping.objects.create(channel=taobao, platform_item_id="I-1", platform_sku_id="V-1", sku=a)
    ItemMapping.objects.create(channel=taobao, platform_item_id="I-2", sku=b)  # an item without variants
    ItemMapping.objects.create(channel=taobao, seller_code="S-3", sku=c)
    ItemMapping.objects.create(channel=jd, platform_item_id="I-9", platform_sku_id="V-9", sku=d)  # other shop
    ItemMapping.objects.create(channel=taobao, platform_item_id="I-7", platform_sku_id="V-7", sku=retired)
    lines = [
        platform_line("I-1", "V-1"),  # 0: the variant's mapping
        platform_line("I-1", "V-1", seller="S-3"),  # 1: the variant wins over the seller code
        platform_line("I-2", "V-22"),  # 2: no variant mapping: the item's
        platform_line("I-8", "V-8", seller="S-3"),  # 3: the seller code's mapping
        {**platform_line("", ""), "sku": "S-3"},  # 4: a `sku` not ours is the seller code
        platform_line("I-8", "", seller="MUG-D"),  # 5: the seller code is one of our codes
        {**platform_line("", ""), "sku": "6901234567892"},  # 6: …or one of our barcodes
        platform_line("I-9", "V-9"),  # 7: mapped on another channel only: unmapped here
        platform_line("I-7", "V-7"),  # 8: mapped to an inactive SKU: unmapped, waits for a new one
        {**platform_line("I-1", "V-1"), "sku": "MUG-B"},  # 9: our own code is taken as it is
    ]
    payload = canonical_payload(channel="tb-shop", lines=lines, discount="0.00")

    # one query per kind of look-up for the whole order (channel, SKUs, mappings), whatever its lines
    with django_assert_max_num_queries(3):
        serializer = CanonicalOrderInput(data=payload)
        assert serializer.is_valid(), serializer.errors

    resolved = [line["sku"] for line in serializer.validated_data["lines"]]
    assert resolved == [a, a, b, c, c, d, e, None, None, b]
    assert serializer.validated_data["lines"][4]["seller_code"] == "S-3"  # kept for the mapping


def test_a_batch_of_orders_is_resolved_with_one_query_per_kind(shops, django_assert_max_num_queries):
    from orders.canonical import item_resolver

    taobao, _jd = shops
    sku = SKUFactory(code="MUG-A")
    ItemMapping.objects.create(channel=taobao, platform_item_id="I-1", platform_sku_id="V-1", sku=sku)
    payloads = [
        canonical_payload(channel="tb-shop", discount="0.00", lines=[platform_line("I-1", "V-1")] * 5)
        for _ in range(20)
    ]

    with django_assert_max_num_queries(3):  # the channel, the SKUs, the mappings: not 100 look-ups
        resolver = item_resolver(payloads)
    for payload in payloads:
        with django_assert_max_num_queries(0):  # all looked up already, the channel too
            serializer = CanonicalOrderInput(data=payload, context={"item_resolver": resolver})
            assert serializer.is_valid(), serializer.errors
        assert {line["sku"] for line in serializer.validated_data["lines"]} == {sku}


def test_generic_api_refuses_an_unknown_sku_code_naming_the_line_and_takes_platform_ids(agent):
    ensure_master_data()
    api = APIClient()
    api.force_authenticate(agent)
    refused = api.post(
        "/api/v1/orders/",
        canonical_payload(
            lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}, platform_line(sku="NOPE-1")]
        ),
        format="json",
    )
    assert refused.status_code == 400
    assert list(refused.data["lines"]) == [1] and "NOPE-1" in str(refused.data["lines"][1]["sku"][0])
    assert not Order.objects.exists()

    # the same channel naming the item by the platform's ids instead: taken, and held for the mapping
    taken = api.post(
        "/api/v1/orders/",
        canonical_payload(
            discount="0.00", lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}, platform_line()]
        ),
        format="json",
    )
    assert taken.status_code == 201, taken.data
    assert taken.data["status"] == OrderStatus.ON_HOLD
    assert [line["sku"] for line in taken.data["lines"]] == ["SKU-1", None]
    assert taken.data["lines"][1]["platform_sku_id"] == "V-1"
    assert "Unmapped item: platform id V-1" in Order.objects.get().hold_reason


def test_an_unknown_seller_code_on_a_platform_channel_holds_the_order_and_loses_nothing(shops):
    order = place(lines=[{"sku": "SELLER-X", "quantity": 3, "unit_price": "12.00"}])

    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_reason == "Unmapped item: platform id SELLER-X."
    line = order.lines.get()
    assert (line.sku_id, line.seller_code, line.quantity, line.unit_price) == (
        None,
        "SELLER-X",
        3,
        Decimal("12.00"),
    )
    assert not Reservation.objects.filter(order=order).exists()  # nothing of the line is reserved
    assert unmapped_item_count() == 1


# --- mapping releases what waited ---------------------------------------------------------------


def test_mapping_releases_every_waiting_order_of_its_channel_and_reserves_their_stock(
    shops, agent, django_capture_on_commit_callbacks
):
    taobao, jd = shops
    mug = SKUFactory(code="MUG-RED")
    receive(mug, 50)
    first = place(lines=[platform_line(quantity=2), {"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}])
    second = place(lines=[platform_line(quantity=3)], paid=True)
    elsewhere = place(channel="jd-shop", lines=[platform_line(quantity=4)])  # the same ids on another shop
    assert {o.status for o in (first, second, elsewhere)} == {OrderStatus.ON_HOLD}
    assert {row["order__channel__code"]: row["orders"] for row in unmapped_items()} == {
        "tb-shop": 2,
        "jd-shop": 1,
    }

    with django_capture_on_commit_callbacks(execute=True):
        outcome = item_map(
            channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=mug, actor=agent
        )

    assert outcome.created and outcome.lines == 2
    assert sorted(outcome.released) == sorted([first.number, second.number]) and outcome.held == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.hold_reason) == (OrderStatus.PENDING_PAYMENT, "")
    assert second.status == OrderStatus.ALLOCATED  # paid: released and routed
    assert reserved(mug) == 5
    assert first.lines.get(line_no=1).sku == mug and second.lines.get().sku == mug
    event = OrderEvent.objects.get(order=first, kind=OrderEventKind.ITEM_MAPPED)
    assert event.actor == agent and event.payload["sku"] == "MUG-RED" and "I-100/V-1" in event.reason
    assert ItemMapping.objects.get().mapped_by == agent

    # the other channel's order still waits for its own mapping; mapping it there releases it
    elsewhere.refresh_from_db()
    assert elsewhere.status == OrderStatus.ON_HOLD and unmapped_item_count() == 1
    item_map(channel=jd, platform_item_id="I-100", platform_sku_id="V-1", sku=mug, actor=agent)
    elsewhere.refresh_from_db()
    assert elsewhere.status == OrderStatus.PENDING_PAYMENT and reserved(mug) == 9
    assert unmapped_item_count() == 0

    # and the next order naming the item is mapped on arrival
    assert place(lines=[platform_line(quantity=1)]).status == OrderStatus.PENDING_PAYMENT


def test_an_order_still_short_of_stock_stays_held_with_the_stock_reason(shops, agent):
    taobao, _jd = shops
    scarce = SKUFactory(code="MUG-SCARCE")
    receive(scarce, 1)
    order = place(lines=[platform_line(quantity=3)])

    outcome = item_map(
        channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=scarce, actor=agent
    )

    order.refresh_from_db()
    assert outcome.released == [] and outcome.held == [order.number]
    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_reason == "Out of stock: MUG-SCARCE"  # the unmapped item is no longer the reason
    assert reserved(scarce) == 0  # all or nothing, as for any order
    with pytest.raises(TransitionRefused, match="Out of stock"):
        services.order_transition(order=order, name="release", actor=agent)


def test_other_hold_reasons_are_kept_when_the_item_is_mapped(shops, agent):
    taobao, _jd = shops
    mug = SKUFactory(code="MUG-RED")
    receive(mug, 10)
    order = place(lines=[platform_line(quantity=1)], paid_amount="1.00")  # the platform says 1.00 was paid
    assert "Unmapped item" in order.hold_reason and "differs from the computed total" in order.hold_reason

    outcome = item_map(channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=mug, actor=agent)

    order.refresh_from_db()
    assert outcome.held == [order.number] and order.status == OrderStatus.ON_HOLD
    assert "Unmapped item" not in order.hold_reason and "differs from the computed total" in order.hold_reason
    assert reserved(mug) == 1  # its stock is reserved all the same


def test_a_held_order_cannot_be_released_while_an_item_is_unmapped_but_its_line_can_be_cancelled(
    shops, agent
):
    order = place(lines=[platform_line(quantity=1), {"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}])

    with pytest.raises(TransitionRefused, match="Unmapped item: platform id V-1"):
        services.order_transition(order=order, name="release", actor=agent)

    line = order.lines.get(sku__isnull=True)
    services.order_cancel_lines(order=order, quantities={line.pk: 1}, actor=agent, reason="Not sold any more")
    services.order_transition(order=order, name="release", actor=agent)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    cancelled = OrderEvent.objects.get(order=order, kind=OrderEventKind.LINES_CANCELLED)
    assert "V-1" in cancelled.payload["lines"][0]["sku"]


def test_mapping_the_same_item_again_is_harmless_and_to_another_sku_is_refused(shops, agent, warehouse_user):
    taobao, _jd = shops
    mug, cup = SKUFactory(code="MUG-RED"), SKUFactory(code="CUP-RED")
    item_map(channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=mug, actor=agent)

    again = item_map(channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=mug, actor=agent)
    assert not again.created and ItemMapping.objects.count() == 1
    with pytest.raises(DomainError, match="already mapped to MUG-RED"):
        item_map(channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=cup, actor=agent)
    with pytest.raises(DomainError, match="Name the item"):
        item_map(channel=taobao, sku=cup, actor=agent)
    with pytest.raises(NotPermitted):
        item_map(channel=taobao, platform_item_id="I-200", sku=cup, actor=warehouse_user)
    with pytest.raises(NotPermitted):  # re-pointing a mapping is the admin's (a manager's)
        item_map(
            channel=taobao,
            platform_item_id="I-100",
            platform_sku_id="V-1",
            sku=cup,
            actor=agent,
            replace=True,
        )


def test_a_seller_code_mapping_releases_lines_named_only_by_it(shops, agent):
    taobao, _jd = shops
    mug = SKUFactory(code="MUG-RED")
    receive(mug, 10)
    order = place(lines=[{"sku": "TB-OUTER-7", "quantity": 2, "unit_price": "9.00"}])

    outcome = item_map(channel=taobao, seller_code="TB-OUTER-7", sku=mug, actor=agent)

    order.refresh_from_db()
    assert outcome.released == [order.number] and reserved(mug) == 2


def test_an_item_mapped_to_a_pre_sale_sku_waits_for_stock_as_pre_sale(shops, agent):
    taobao, _jd = shops
    presale = SKUFactory(code="MUG-NEXT", presale=True)
    order = place(lines=[platform_line(quantity=1)])

    item_map(channel=taobao, platform_item_id="I-100", platform_sku_id="V-1", sku=presale, actor=agent)

    order.refresh_from_db()
    line = order.lines.get()
    assert line.presale and line.kind == LineKind.GOODS
    assert order.status == OrderStatus.PENDING_PAYMENT  # released: pre-sale lines wait unreserved


# --- an unmapped line breaks nothing downstream -------------------------------------------------


def test_an_order_with_an_unmapped_line_shows_in_the_api_and_the_desk(shops, agent, client):
    order = place(lines=[platform_line(quantity=1), {"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}])
    api = APIClient()
    api.force_authenticate(agent)

    body = api.get(f"/api/v1/orders/{order.number}/").data
    assert [(line["sku"], line["name"], line["platform_item_id"]) for line in body["lines"]] == [
        (None, None, "I-100"),
        ("SKU-1", "Item SKU-1", ""),
    ]
    assert api.get("/api/v1/orders/").status_code == 200
    client.force_login(agent)
    page = client.get(order.get_absolute_url())
    assert page.status_code == 200 and "V-1" in page.content.decode()
    assert client.get("/orders/?status=on_hold").status_code == 200


def test_a_platform_update_adding_an_unmapped_item_holds_a_paid_order(shops, agent):
    mug = SKUFactory(code="MUG-RED")
    receive(mug, 10)
    earlier = timezone.now() - timedelta(minutes=30)
    order = place(
        lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}],
        paid=True,
        updated_at=earlier.isoformat(),
    )
    assert order.status == OrderStatus.PAID
    data = validated(
        canonical_payload(
            channel="tb-shop",
            external_id=order.external_id,
            discount="0.00",
            paid=True,
            updated_at=(earlier + timedelta(minutes=10)).isoformat(),
            lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}, platform_line(quantity=1)],
        )
    )

    intake.order_ingest(data=data)

    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD and "Unmapped item: platform id V-1" in order.hold_reason
    assert OrderLine.objects.filter(order=order, sku__isnull=True).count() == 1
