"""The order-health view (held by reason, late, exceptions, retries, sync lag, one score whose
formula is on the page) and the top problem carriers and SKUs of a range."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Channel
from core.models import OutboxMessage, OutboxState
from core.roles import Role
from core.timezones import business_date
from dashboard import health, panels
from dashboard.models import HeldOrdersSnapshot
from dashboard.rollups import rollup_refresh
from dashboard.tasks import refresh_dashboard_rollups
from dashboard.tests.test_dashboard import ship_through
from fulfilment.models import Carrier
from integrations.models import InboundMessage, InboundStatus, SyncCursor
from orders.tests.factories import SKUFactory, make_order, order_in_state
from returns.tests.conftest import delivered_order, request_return

pytestmark = pytest.mark.django_db
EMPTY = {"sku": "SKU-EMPTY", "quantity": 1, "unit_price": "10.00"}  # a SKU with no stock at all
UNMAPPED = {"platform_item_id": "9912", "title": "Mystery tea", "quantity": 1, "unit_price": "10.00"}


@pytest.fixture
def troubled(settings):
    """Three held orders (out of stock, unmapped item, held by hand), one paid and waiting, a
    dead and a retrying outbound message, a failed inbound one, two polled channels of which one
    has not synced successfully for two hours."""
    now = timezone.now()
    SKUFactory(code="SKU-EMPTY")
    short = make_order(paid=True, lines=[EMPTY])
    unmapped = make_order(paid=True, lines=[UNMAPPED])
    by_hand = order_in_state("on_hold")
    make_order(paid=True)
    OutboxMessage.objects.create(
        kind="test", idempotency_key="dead-1", state=OutboxState.DEAD, attempts=8, next_attempt_at=now
    )
    OutboxMessage.objects.create(
        kind="test", idempotency_key="retry-1", state=OutboxState.PENDING, attempts=2, next_attempt_at=now
    )
    InboundMessage.objects.create(platform="shopify", status=InboundStatus.FAILED, error="bad body")
    for code, last_success in (("fast", now - timedelta(minutes=1)), ("slow", now - timedelta(hours=2))):
        channel = Channel.objects.create(
            code=code,
            platform="shopify",
            name=code.title(),
            api_credentials={"shop": f"{code}.myshopify.com"},
        )
        SyncCursor.objects.create(channel=channel, cursor=last_success, last_success_at=last_success)
    return {"short": short, "unmapped": unmapped, "by_hand": by_hand}


def test_held_orders_are_counted_by_the_reason_code_of_their_hold(troubled):
    for order in troubled.values():
        assert order.status == "on_hold"

    snapshot = health.held_snapshot_refresh()
    parts = health.held_parts(snapshot)

    assert snapshot.held == 3
    assert {str(part.label): part.count for part in parts} == {
        "Out of stock": 1,
        "Unmapped platform item": 1,
        "Held by hand or other": 1,
    }
    links = {str(part.label): part.url for part in parts}
    assert links["Unmapped platform item"] == reverse("inventory:unmapped")
    assert links["Out of stock"] == f"{reverse('orders:list')}?status=on_hold"


def test_the_health_score_follows_its_documented_formula(troubled):
    health.held_snapshot_refresh()
    report = health.order_health()
    factors = {factor.key: factor for factor in report.factors}

    assert report.open_orders == 4  # three held and one paid, none shipped
    assert factors["held"].count == 3 and factors["held"].penalty == 22.5  # 30 × 3/4
    assert factors["late"].count == 0 and factors["exceptions"].count == 0
    # a dead outbound and a failed inbound message besides one retrying: the whole weight
    assert factors["retries"].count == 3 and factors["retries"].penalty == 10
    assert [(c.code, c.lagging) for c in report.channels] == [("fast", False), ("slow", True)]
    assert factors["sync"].penalty == 5  # 10 × 1 of 2 channels
    assert report.score == 100 - 22.5 - 10 - 5


def test_the_page_reads_held_orders_from_the_snapshot_the_rollup_task_keeps(troubled):
    refresh_dashboard_rollups()  # the periodic task: rollups, then the held-orders snapshot
    with CaptureQueriesContext(connection) as first:
        report = health.order_health()
    assert report.factors[0].count == 3
    assert not [q for q in first if '"orders_order"' in q["sql"]]  # no count over the orders table

    make_order(paid=True, lines=[EMPTY])  # held short of stock: shown once the task ran again
    with CaptureQueriesContext(connection) as second:
        assert health.order_health().factors[0].count == 3
    assert len(second) == len(first) <= 12
    refresh_dashboard_rollups()
    assert health.order_health().factors[0].count == 4


def test_before_the_first_snapshot_the_page_counts_held_orders_itself(troubled):
    assert not HeldOrdersSnapshot.objects.exists()
    assert health.order_health().factors[0].count == 3
    assert not HeldOrdersSnapshot.objects.exists()  # a page view writes nothing


def test_the_page_links_each_factor_to_its_queue_and_explains_the_score(troubled, client, make_user):
    client.force_login(make_user(Role.MANAGER))

    html = client.get(reverse("dashboard:home")).content.decode()

    assert 'id="order-health"' in html and "How the score is computed" in html
    assert f'href="{reverse("orders:list")}?status=on_hold"' in html
    assert f'href="{reverse("inventory:unmapped")}"' in html
    assert f'href="{reverse("integrations_desk:channels")}"' in html
    assert f'href="{reverse("fulfilment:waybills-failed")}"' in html
    assert "Slow" in html and "lagging" in html


def test_top_problem_carriers_rank_exceptions_and_missing_first_events(settings):
    settings.SHIP_WITHIN_HOURS = 24
    good = Carrier.objects.create(code="sf", name="SF Express")
    slow = Carrier.objects.create(code="slow", name="Slow Post")
    for carrier, scanned in ((good, True), (slow, False), (slow, False)):
        order = make_order(paid=True)
        shipped_at = timezone.now() - timedelta(hours=1)
        ship_through(
            order,
            carrier,
            tracking=f"T{order.pk}",
            shipped_at=shipped_at,
            first_scan_at=shipped_at + timedelta(minutes=10) if scanned else None,
        )
    rollup_refresh()
    today = business_date()

    panel = panels.problem_carriers(panels.from_rollups(today - timedelta(days=1), today))

    assert panel.labels == ["Slow Post"]  # SF scanned in time: no trouble
    assert {str(s["label"]): s["data"] for s in panel.series} == {
        "Parcels": [2],
        "Exceptions": [0],
        "Exception %": [0.0],
        "No first event in time": [2],
    }


def test_top_problem_skus_count_short_holds_and_returned_units_in_the_range():
    SKUFactory(code="SKU-EMPTY")
    make_order(paid=True, lines=[EMPTY])
    make_order(paid=True, lines=[EMPTY, {"sku": "SKU-1", "quantity": 1, "unit_price": "5.00"}])
    request_return(delivered_order(), (1, 2))  # two units of SKU-1 (line 1) coming back
    today = business_date()

    panel = panels.problem_skus(panels.from_rollups(today, today))
    assert panel.labels == ["SKU-1", "SKU-EMPTY"]
    columns = {str(s["label"]): s["data"] for s in panel.series}
    assert columns["Orders held short of it"] == [0, 2]
    assert columns["Units returned"] == [2, 0]

    yesterday = panels.problem_skus(panels.from_rollups(today - timedelta(days=1), today - timedelta(days=1)))
    assert yesterday.labels == [] and not yesterday.has_data
