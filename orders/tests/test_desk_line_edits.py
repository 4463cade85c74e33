"""The order page's money breakdown and its line edit form (issue #14): what each user sees, what a
post does, and how refusals come back as messages naming the line and field."""

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from orders.models import LineKind, OrderEventKind, OrderLine, OrderStatus
from orders.tests.factories import make_order, order_in_state

pytestmark = pytest.mark.django_db

D = Decimal


def page_of(client, order) -> str:
    response = client.get(order.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def messages_of(response) -> list[str]:
    """The messages the post left, read (and so used up) as the next page would."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def post(client, url, data) -> list[str]:
    """Post the form; the messages it left, then shown (used up) by the page it returns to."""
    response = client.post(url, data)
    assert response.status_code == 302
    said = messages_of(response)
    client.get(response.url)
    return said


def edit_post(order, **values) -> dict:
    """The form as the page renders it (every line as seen), with `values` changed."""
    data = {"expected_status": order.status, "reason": "", "gift_sku": "", "gift_quantity": "1"}
    for line in order.lines.select_related("sku"):
        prefix = f"line_{line.pk}_"
        data.update(
            {
                f"{prefix}quantity": str(line.quantity),
                f"{prefix}seen_quantity": str(line.quantity),
                f"{prefix}seen_sku": line.sku.code if line.sku else "",
                f"{prefix}seen_unit_price": str(line.unit_price),
                f"{prefix}sku": line.sku.code if line.sku else "",
                f"{prefix}unit_price": str(line.unit_price),
            }
        )
    data.update(values)
    return data


def test_the_page_shows_each_line_s_money_and_the_paid_difference(client, agent):
    order = make_order(
        lines=[
            {
                "sku": "SKU-1",
                "quantity": 2,
                "unit_price": "50.00",
                "adjustment": "-2.00",
                "discount_allocations": [
                    {"amount": "6.00", "funded_by": "platform", "title": "Summer sale"},
                    {"amount": "4.00", "funded_by": "merchant", "title": "Shop coupon"},
                ],
                "tax_amount": "7.04",
                "tax_rate": "0.08",
            }
        ],
        discount="0.00",
        paid_amount="100.00",
    )
    order.refresh_from_db()
    assert (order.total, order.status) == (D("103.04"), OrderStatus.ON_HOLD)  # paid differs: held
    client.force_login(agent)

    page = page_of(client, order)
    lines = text(page[page.index('id="lines"') : page.index("</table>", page.index('id="lines"'))])
    assert "CNY 50.00" in lines and "CNY 100.00" in lines  # list price, goods
    assert "−CNY 6.00 platform Summer sale" in lines and "−CNY 4.00 merchant Shop coupon" in lines
    assert "CNY -2.00" in lines  # the seller's adjustment
    assert "CNY 7.04 8% excl." in lines
    assert "CNY 88.00" in lines and "CNY 95.04" in lines  # net, paid
    facts = text(page[page.index('id="amounts"') : page.index("</section>", page.index('id="amounts"'))])
    assert "Discounts funded by the platform (of the discounts above) CNY 6.00" in facts
    assert "Discounts funded by the merchant (of the discounts above) CNY 4.00" in facts
    assert "Total CNY 103.04" in facts and "Paid on the platform CNY 100.00" in facts
    assert "the buyer paid CNY 3.04 less — collect CNY 3.04" in facts


def test_gifts_bundles_and_unmapped_lines_are_shown_for_what_they_are(client, agent):
    order = make_order(
        lines=[
            {"sku": "SKU-1", "quantity": 1, "unit_price": "20.00"},
            {"sku": "SKU-2", "quantity": 2, "unit_price": "0.00"},
            {"sku": "SKU-3", "quantity": 1, "unit_price": "0.00", "gift": True},
            {"platform_item_id": "9912", "title": "Mystery tea", "quantity": 1, "unit_price": "10.00"},
        ],
        discount="0.00",
    )
    bundle, component = order.lines.get(line_no=1), order.lines.get(line_no=2)
    OrderLine.objects.filter(pk=bundle.pk).update(kind=LineKind.BUNDLE)
    OrderLine.objects.filter(pk=component.pk).update(kind=LineKind.COMPONENT, parent_line=bundle)
    client.force_login(agent)

    page = page_of(client, order)

    rows = re.findall(r'<tr class="(line-[^"]*)"[^>]*data-line="(\d)"', page)
    assert rows[:4] == [
        ("line-bundle", "1"),
        ("line-component line-component", "2"),
        ("line-gift", "3"),
        ("line-goods", "4"),
    ]
    assert "↳" in page and "Bundle component" in page and ">Gift<" in page
    assert "not mapped: platform id 9912" in page and "Mystery tea" in page


def test_the_edit_form_is_gated_by_permission_and_state(client, agent, manager, warehouse_user):
    held = order_in_state("on_hold")
    with_price = f'name="line_{held.lines.get(line_no=1).pk}_unit_price"'

    client.force_login(agent)
    page = page_of(client, held)
    assert "Edit lines" in page and with_price not in page
    client.force_login(manager)
    assert with_price in page_of(client, held)
    client.force_login(warehouse_user)
    assert "Edit lines" not in page_of(client, held)

    from django.db import transaction

    with transaction.atomic():
        routed = order_in_state("allocated")
    client.force_login(agent)
    page = page_of(client, routed)
    assert "Edit lines" not in page and "was routed to a warehouse" in page


def test_posting_a_new_quantity_edits_the_line_and_says_what_changed(client, agent):
    order = order_in_state("on_hold")
    first = order.lines.get(line_no=1)
    client.force_login(agent)

    response = client.post(
        reverse("orders:edit-lines", args=[order.number]),
        edit_post(order, **{f"line_{first.pk}_quantity": "3", "reason": "customer wants three"}),
    )

    assert response.status_code == 302
    first.refresh_from_db()
    order.refresh_from_db()
    assert first.quantity == 3 and order.total == D("267.53")
    [message] = messages_of(response)
    assert message == (
        f"Order {order.number} edited: line 1 (SKU-1): quantity 2 → 3. Total 212.80 → 267.53 CNY."
    )
    event = order.events.get(kind=OrderEventKind.EDITED)
    assert event.reason == "customer wants three" and event.actor == agent
    timeline = text(page_of(client, order))
    assert "#1 SKU-1: quantity: 2 → 3" in timeline and "Total: 212.80 → 267.53" in timeline


def test_a_price_change_by_a_manager_shows_the_difference_to_refund(client, manager):
    order = make_order(
        paid=True,
        lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": "100.00"}],
        discount="0.00",
        shipping_fee="0.00",
        paid_amount="100.00",
    )
    first = order.lines.get()
    client.force_login(manager)

    response = client.post(
        reverse("orders:edit-lines", args=[order.number]),
        edit_post(order, **{f"line_{first.pk}_unit_price": "80.00", "reason": "price match"}),
    )

    [message] = messages_of(response)
    assert "unit price 100.00 → 80.00 CNY" in message
    assert "Paid on the platform: 100.00 — refund 20.00." in message
    page = text(page_of(client, order))
    assert "the buyer paid CNY 20.00 more — refund CNY 20.00" in page


def test_an_agent_cannot_slip_a_price_into_the_post(client, agent):
    order = order_in_state("on_hold")
    first = order.lines.get(line_no=1)
    client.force_login(agent)

    response = client.post(
        reverse("orders:edit-lines", args=[order.number]),
        edit_post(order, **{f"line_{first.pk}_unit_price": "1.00", "reason": "x"}),
    )

    first.refresh_from_db()
    assert first.unit_price == D("59.90")
    assert messages_of(response) == ["Nothing to change: the lines are as they were."]


def test_errors_name_the_field(client, agent):
    order = order_in_state("on_hold")
    first = order.lines.get(line_no=1)
    url = reverse("orders:edit-lines", args=[order.number])
    client.force_login(agent)

    assert post(client, url, edit_post(order, **{f"line_{first.pk}_quantity": "0"})) == [
        "Line 1 quantity: Ensure this value is greater than or equal to 1."
    ]

    assert post(client, url, edit_post(order, **{f"line_{first.pk}_sku": "NOPE"})) == [
        "Line 1 (SKU-1): there is no SKU with the code “NOPE”"
    ]

    assert post(client, url, edit_post(order, gift_sku="SKU-3", gift_quantity="")) == [
        "Gift quantity: How many units of the gift?"
    ]

    stale = edit_post(order, **{f"line_{first.pk}_quantity": "4"})
    post(client, url, edit_post(order, **{f"line_{first.pk}_quantity": "3"}))
    assert post(client, url, stale) == [
        "Line 1 (SKU-1) changed meanwhile: its quantity is now 3. Look again and edit it anew."
    ]
    first.refresh_from_db()
    assert first.quantity == 3


def test_adding_and_removing_a_gift_from_the_page(client, agent):
    order = order_in_state("on_hold")
    client.force_login(agent)
    url = reverse("orders:edit-lines", args=[order.number])

    said = post(client, url, edit_post(order, gift_sku="SKU-3", gift_quantity="1", reason="sorry gift"))
    assert "gift SKU-3 ×1 added as line 3" in said[0]
    gift = order.lines.get(line_no=3)
    assert f'name="line_{gift.pk}_remove"' in page_of(client, order)

    said = post(client, url, edit_post(order, **{f"line_{gift.pk}_remove": "on"}))
    assert "gift line 3 (SKU-3) removed" in said[0]
    gift.refresh_from_db()
    assert gift.live_quantity == 0


def test_sku_search_answers_codes_for_editors_only(client, agent, warehouse_user):
    make_order()
    url = reverse("orders:sku-search")
    client.force_login(agent)

    found = client.get(url, {"q": "sku-"}).json()["results"]

    assert [sku["code"] for sku in found] == ["SKU-1", "SKU-2", "SKU-3"]
    assert client.get(url, {"q": ""}).json() == {"results": []}
    client.force_login(warehouse_user)
    assert client.get(url, {"q": "SKU"}).status_code == 403
