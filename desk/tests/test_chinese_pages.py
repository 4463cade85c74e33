"""Every main screen rendered in Chinese shows no English catalogue text: neither strings left
untranslated nor sentences the system stored in English (timeline reasons, routing explanations,
write-back notes), which are said again in the reader's language (core.stored_text)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.roles import Role
from core.tests.untranslated import english_on_chinese_page
from fulfilment.models import Shipment
from orders.tests.factories import WarehouseFactory, order_in_state
from returns.models import ReturnPolicy
from returns.tests.conftest import delivered_order, receive_and_inspect, request_return, set_delivered_at

pytestmark = pytest.mark.django_db

STATES = ("pending_payment", "paid", "on_hold", "allocated", "shipped", "delivered", "cancelled")


@pytest.fixture
def chinese_manager(client, make_user):
    client.force_login(make_user(Role.MANAGER))
    client.cookies["django_language"] = "zh-hans"
    return client


def _leaks(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    page = response.content.decode()
    assert 'lang="zh-hans"' in page, url
    return english_on_chinese_page(page)


def test_order_pages_in_every_state_read_in_chinese(chinese_manager):
    orders = [order_in_state(state) for state in STATES]
    urls = [reverse("desk:home"), reverse("orders:list"), reverse("fulfilment:shipments")]
    urls += [order.get_absolute_url() for order in orders]
    urls += [reverse("fulfilment:shipment", args=[s.number]) for s in Shipment.objects.all()[:3]]

    leaks = {url: found for url in urls if (found := _leaks(chinese_manager, url))}

    assert leaks == {}


def test_a_returns_timeline_reads_in_chinese(chinese_manager):
    rma = receive_and_inspect(
        request_return(delivered_order(), (1, 1)), {1: {"intact": 1}}, warehouse=WarehouseFactory()
    )

    for url in (reverse("returns:list"), rma.get_absolute_url()):
        assert _leaks(chinese_manager, url) == [], url


def test_a_late_returns_policy_notes_read_in_chinese(chinese_manager):
    # Stored in English when the request was made; the list's badge and the detail say them again.
    ReturnPolicy.objects.create(manual_approval=True)  # a late request waits for an agent
    order = delivered_order()
    set_delivered_at(order, timezone.now() - timedelta(days=40))
    rma = request_return(order, (1, 1))
    assert any("past the" in note for note in rma.policy_notes)

    for url in (reverse("returns:list"), rma.get_absolute_url()):
        page = chinese_manager.get(url).content.decode()
        assert "past the" not in page, url
        assert _leaks(chinese_manager, url) == [], url


def test_the_dashboard_stock_and_finance_start_pages_read_in_chinese(chinese_manager):
    order_in_state("shipped")
    for name in ("dashboard:home", "inventory:stock", "finance:payments", "alerts:list"):
        assert _leaks(chinese_manager, reverse(name)) == [], name
