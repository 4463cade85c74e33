"""The desk's queue of unmapped platform items: what waits, with orders and units, and mapping an
item from it (by code, or by picking among the SKUs a name matches)."""

import pytest
from django.urls import reverse

from orders import intake
from orders.models import Order, OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    receive,
    validated,
)

pytestmark = pytest.mark.django_db


def place(channel: str, item: str, variant: str, quantity: int, title: str = "Red mug") -> Order:
    line = {
        "platform_item_id": item,
        "platform_sku_id": variant,
        "title": title,
        "quantity": quantity,
        "unit_price": "10.00",
    }
    return intake.order_ingest(
        data=validated(canonical_payload(channel=channel, discount="0.00", lines=[line]))
    )[0]


@pytest.fixture
def waiting(db):
    ensure_master_data()
    ChannelFactory(code="tb-shop", name="Taobao shop", platform="taobao")
    ChannelFactory(code="jd-shop", name="JD shop", platform="jd")
    return [
        place("tb-shop", "I-1", "V-1", 2),
        place("tb-shop", "I-1", "V-1", 1),
        place("jd-shop", "J-7", "", 4, title="Blue cup"),
    ]


def test_the_queue_lists_each_item_with_its_waiting_orders_and_units_and_is_counted(client, agent, waiting):
    client.force_login(agent)

    page = client.get(reverse("inventory:unmapped"))

    assert page.status_code == 200
    rows = {
        (r["order__channel__code"], r["platform_item_id"], r["platform_sku_id"]): r
        for r in page.context["items"]
    }
    assert {key: (row["orders"], row["units"]) for key, row in rows.items()} == {
        ("tb-shop", "I-1", "V-1"): (2, 3),
        ("jd-shop", "J-7", ""): (1, 4),
    }
    assert "Red mug" in page.content.decode() and "Blue cup" in page.content.decode()
    home = client.get(reverse("desk:home"))
    assert {str(q.label): q.count for q in home.context["queues"]}["Unmapped platform items"] == 2
    assert any(
        link["label"] == "Unmapped items" for group in home.context["desk_nav"] for link in group["links"]
    )

    only_jd = client.get(reverse("inventory:unmapped"), {"channel": "jd-shop"})
    assert [row["order__channel__code"] for row in only_jd.context["items"]] == ["jd-shop"]


def test_mapping_from_the_queue_releases_the_orders_and_says_how_many(client, agent, waiting):
    mug = SKUFactory(code="MUG-RED", name="Red mug")
    receive(mug, 10)
    client.force_login(agent)
    item = {
        "channel": "tb-shop",
        "platform_item_id": "I-1",
        "platform_sku_id": "V-1",
        "seller_code": "",
        "title": "Red mug",
    }

    response = client.post(reverse("inventory:unmapped-map"), {**item, "sku": "mug-red"}, follow=True)

    text = [str(m) for m in response.context["messages"]]
    assert text == ["I-1/V-1 mapped to MUG-RED: 2 of 2 waiting orders released."]
    assert {o.status for o in Order.objects.filter(pk__in=[waiting[0].pk, waiting[1].pk])} == {
        OrderStatus.PENDING_PAYMENT
    }
    assert [row["platform_item_id"] for row in response.context["items"]] == ["J-7"]


def test_a_name_matching_several_skus_offers_them_to_pick_from(client, agent, waiting):
    SKUFactory(code="CUP-BLUE-S", name="Blue cup small")
    large = SKUFactory(code="CUP-BLUE-L", name="Blue cup large")
    receive(large, 10)
    client.force_login(agent)
    item = {
        "channel": "jd-shop",
        "platform_item_id": "J-7",
        "platform_sku_id": "",
        "seller_code": "",
        "title": "",
    }

    asked = client.post(reverse("inventory:unmapped-map"), {**item, "sku": "blue cup"}, follow=True)

    assert [str(m) for m in asked.context["messages"]] == ["Several SKUs match “blue cup”: pick one."]
    row = next(r for r in asked.context["items"] if r["platform_item_id"] == "J-7")
    assert [sku.code for sku in row["choices"]] == ["CUP-BLUE-L", "CUP-BLUE-S"]
    assert 'value="CUP-BLUE-L"' in asked.content.decode()

    picked = client.post(reverse("inventory:unmapped-map"), {**item, "sku": "CUP-BLUE-L"}, follow=True)
    assert "1 of 1 waiting orders released" in str(list(picked.context["messages"])[0])
    nothing = client.post(reverse("inventory:unmapped-map"), {**item, "sku": "no such thing"}, follow=True)
    assert [str(m) for m in nothing.context["messages"]] == ["No active SKU matches “no such thing”."]


def test_the_sku_search_answers_as_the_agent_types(client, agent, waiting):
    SKUFactory(code="MUG-RED", name="Red mug")
    client.force_login(agent)

    found = client.get(reverse("inventory:unmapped-sku-search"), {"q": "red"}).json()

    assert found == {"results": [{"code": "MUG-RED", "name": "Red mug"}]}


def test_the_queue_and_mapping_need_their_permissions(client, warehouse_user, finance_user, waiting):
    client.force_login(warehouse_user)
    assert client.get(reverse("inventory:unmapped")).status_code == 403
    client.force_login(finance_user)
    assert (
        client.post(reverse("inventory:unmapped-map"), {"channel": "tb-shop", "sku": "SKU-1"}).status_code
        == 403
    )
    home = client.get(reverse("desk:home"))
    assert "Unmapped platform items" not in {str(q.label) for q in home.context["queues"]}
