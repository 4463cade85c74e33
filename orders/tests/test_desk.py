import re
from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order, OrderStatus
from orders.tests.factories import order_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def test_list_searches_by_phone_and_filters_by_status(signed_in, agent):
    wanted = order_in_state("paid", customer={"name": "李娜", "phone": "13711112222"})
    other = order_in_state("on_hold")
    client = signed_in(agent)

    page = client.get(reverse("orders:list"), {"search": "137 1111 2222"}).content.decode()
    assert wanted.number in page and other.number not in page

    held = client.get(reverse("orders:list"), {"status": "on_hold"}).content.decode()
    assert other.number in held and wanted.number not in held
    assert 'type="checkbox" name="status" value="on_hold"' in held and "checked" in held  # tick boxes
    assert 'class="hold-reason"' in held  # why it is held, at a glance

    both = client.get(reverse("orders:list"), {"status": ["on_hold", "paid"]}).content.decode()
    assert other.number in both and wanted.number in both


def test_search_by_the_last_four_digits_and_any_form_of_a_mainland_number(signed_in, agent):
    address = {"country": "CN", "province": "浙江省", "city": "杭州市", "line1": "文三路 90 号"}
    wanted = order_in_state("paid", shipping_address={**address, "phone": "13711112222"})
    masked = order_in_state("paid", shipping_address={**address, "phone": "137****2222"})
    other = order_in_state("paid", shipping_address={**address, "phone": "13711113333"})
    Order.objects.filter(pk=wanted.pk).update(customer_phone="13711112222")  # an older row, as typed
    client = signed_in(agent)

    def found(term):
        page = client.get(reverse("orders:list"), {"search": term}).content.decode()
        return {o.number for o in (wanted, masked, other) if o.number in page}

    assert found("2222") == {wanted.number, masked.number}  # 尾号: masked numbers keep theirs
    assert found("+86 137 1111 2222") == {wanted.number}
    assert found("0086-13711112222") == {wanted.number}
    assert found("222") == set()  # three digits are too few to mean a phone


def test_an_unusable_time_filter_is_a_400_naming_the_filter_not_a_server_error(signed_in, agent):
    order = order_in_state("paid")
    client = signed_in(agent)

    response = client.get(reverse("orders:list"), {"placed_from": "2026-01-01T00:00+20:00"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Use a time zone offset between -15:59 and +15:59." in page
    assert order.number not in page  # not silently unfiltered either


def test_detail_shows_lines_timeline_and_only_permitted_actions(signed_in, agent, warehouse_user, manager):
    order = order_in_state("paid")

    page = signed_in(agent).get(order.get_absolute_url()).content.decode()
    assert "SKU-1" in page and "Timeline" in page
    assert 'value="hold"' in page and 'value="cancel"' in page
    assert 'value="allocate"' not in page

    page = signed_in(warehouse_user).get(order.get_absolute_url()).content.decode()
    assert 'value="allocate"' not in page and 'value="cancel"' not in page  # routing is a manager's call

    page = signed_in(manager).get(order.get_absolute_url()).content.decode()
    assert 'value="allocate"' in page and "Route now" in page


def test_hold_from_the_desk_lands_on_the_timeline(signed_in, agent):
    order = order_in_state("paid")
    client = signed_in(agent)

    response = client.post(
        reverse("orders:action", args=[order.number]),
        {"action": "hold", "expected_status": "paid", "reason": "地址含临时"},
        follow=True,
    )

    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    assert "地址含临时" in response.content.decode()
    assert f"Order {order.number} put on hold" in response.content.decode()  # not just "updated"


def test_each_action_says_what_it_did_and_cancelling_asks_first(signed_in, agent):
    order = order_in_state("on_hold")
    client = signed_in(agent)

    page = client.get(order.get_absolute_url()).content.decode()
    assert 'class="action-cancel" data-confirm="Cancel this order?' in page
    assert 'class="action-release">' in page  # releasing asks nothing

    released = client.post(
        reverse("orders:action", args=[order.number]),
        {"action": "release", "expected_status": "on_hold"},
        follow=True,
    ).content.decode()
    assert f"Order {order.number} released from hold." in released

    order.refresh_from_db()
    cancelled = client.post(
        reverse("orders:action", args=[order.number]),
        {"action": "cancel", "expected_status": order.status, "reason": "顾客取消"},
        follow=True,
    ).content.decode()
    assert f"Order {order.number} cancelled: its reserved stock is free again." in cancelled
    assert "updated." not in cancelled


def test_a_stale_click_is_refused_with_a_message(signed_in, agent):
    order = order_in_state("on_hold")
    response = signed_in(agent).post(
        reverse("orders:action", args=[order.number]),
        {"action": "cancel", "expected_status": "paid", "reason": "x"},
        follow=True,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    assert "changed meanwhile" in response.content.decode()


def test_forbidden_action_shows_an_error_not_a_crash(signed_in, warehouse_user):
    order = order_in_state("paid")
    response = signed_in(warehouse_user).post(
        reverse("orders:action", args=[order.number]),
        {"action": "cancel", "expected_status": "paid", "reason": "x"},
        follow=True,
    )
    assert response.status_code == 200
    assert "not allowed" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_cancel_one_line_address_priority_and_note(signed_in, agent):
    order = order_in_state("paid")
    client = signed_in(agent)
    first = order.lines.get(line_no=1)

    client.post(
        reverse("orders:cancel-lines", args=[order.number]), {f"line_{first.pk}": 1, "reason": "size"}
    )
    address = {
        "ship_name": "王芳",
        "ship_phone": "13800000001",
        "ship_country": "CN",
        "ship_province": "浙江省",
        "ship_city": "杭州市",
        "ship_district": "西湖区",
        "ship_line1": "新地址 2 号",
        "ship_line2": "",
        "ship_postcode": "310000",
        "reason": "customer called",
    }
    client.post(reverse("orders:address", args=[order.number]), address)
    client.post(reverse("orders:priority", args=[order.number]), {"priority": "expedite", "reason": ""})
    client.post(reverse("orders:note", args=[order.number]), {"text": "call before delivery"})

    order.refresh_from_db()
    first.refresh_from_db()
    assert first.cancelled_quantity == 1
    assert (order.ship_line1, order.priority) == ("新地址 2 号", "expedite")
    assert list(order.events.values_list("kind", flat=True))[-4:] == [
        "lines_cancelled",
        "address_changed",
        "priority_changed",
        "note",
    ]
    timeline = client.get(order.get_absolute_url()).content.decode()
    assert "address line 1: 文三路 90 号 → 新地址 2 号" in timeline
    assert "#1 SKU-1 ×1" in timeline
    assert "priority: Normal → Expedite" in timeline  # labels, not the codes "normal", "expedite"
    assert "· Customer service" in timeline and "customer_service</span>" not in timeline  # role label


def test_a_partial_cancellation_shows_the_new_total_and_what_to_refund(signed_in, agent):
    # SKU-1: 2 × 59.90 − 5.00 = 114.80, less 5.34 of the order discount = 109.46 paid: 54.73 a unit.
    order = order_in_state("paid")
    assert order.total == Decimal("212.80") and order.paid_at is not None
    first = order.lines.get(line_no=1)
    client = signed_in(agent)

    done = client.post(
        reverse("orders:cancel-lines", args=[order.number]),
        {f"line_{first.pk}": 1, "reason": "size"},
        follow=True,
    ).content.decode()

    assert (
        f"Units cancelled on order {order.number}. Total for the units still ordered: CNY 158.07. "
        "To refund for cancelled units: CNY 54.73." in done
    )
    page = client.get(order.get_absolute_url()).content.decode()
    assert re.search(r'<dd class="money-cancelled">−CNY 54.73</dd>', page)
    assert re.search(r'<dd class="money-live-total"><strong>CNY 158.07</strong></dd>', page)
    assert re.search(r'<dd class="money-refund-due"><strong>CNY 54.73</strong></dd>', page)

    unpaid = order_in_state("pending_payment")  # SKU-2: 100.00 less 4.66 of the order discount
    line = unpaid.lines.get(line_no=2)
    client.post(reverse("orders:cancel-lines", args=[unpaid.number]), {f"line_{line.pk}": 1, "reason": "x"})
    page = client.get(unpaid.get_absolute_url()).content.decode()
    assert re.search(r'<dd class="money-live-total"><strong>CNY 117.46</strong></dd>', page)
    assert "money-refund-due" not in page  # nothing was paid: nothing to give back


def test_pages_need_sign_in_and_the_view_permission(client, make_user):
    order = order_in_state("paid")
    assert client.get(reverse("orders:list")).status_code == 302
    client.force_login(make_user(None))
    assert client.get(reverse("orders:list")).status_code == 403
    assert client.get(order.get_absolute_url()).status_code == 403


def test_language_switch_shows_chinese(client, agent):
    client.force_login(agent)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/orders/"})
    page = client.get(reverse("orders:list")).content.decode()
    assert "订单" in page
    assert '<html lang="zh-hans">' in page


def test_timeline_details_show_shipment_moves_and_released_stock():
    from orders.templatetags.order_timeline import event_details

    moved = event_details({"shipment": "SO1-1", "transition": "ship", "from": "packed", "to": "shipped"})
    assert moved == ["SO1-1: Packed → Shipped"]
    assert event_details({"lines": [{"line": 1, "sku": "A", "quantity": 2}], "released": 2}) == [
        "#1 A ×2",
        "Stock released: 2 units",
    ]


@pytest.mark.postgres
def test_the_last_four_search_uses_its_index():
    from django.db import connection

    from desk.search import order_search

    queryset = order_search(Order.objects.all(), "2222").only("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "order_ship_phone_last4_idx" in plan, plan
