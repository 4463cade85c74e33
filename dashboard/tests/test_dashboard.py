"""The manager dashboard: rollups maintained incrementally agree with the raw tables, business-day
boundaries, panel numbers on planted data, downloads safe from formula injection."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.roles import Role
from core.timezones import business_date
from dashboard import panels
from dashboard.models import CarrierDayRollup, OrderDayRollup
from dashboard.rollups import day_bounds, rollup_refresh
from fulfilment.models import Carrier, Shipment, ShipmentLine
from fulfilment.services import shipment_transition
from inventory.models import Warehouse
from orders import services
from orders.tests.factories import make_order
from orders.transitions import lock_order, run_order_transition

pytestmark = pytest.mark.django_db

# Two business days ago in Asia/Shanghai (UTC+8): its first second and the second before it.
TODAY = business_date()
DAY = TODAY - timedelta(days=2)
FIRST_SECOND = day_bounds(DAY)[0]
LAST_SECOND_BEFORE = FIRST_SECOND - timedelta(seconds=1)
NOW = timezone.now() + timedelta(hours=40)  # the clock the refresh judges lateness by
RANGE = {
    "date_from": (DAY - timedelta(days=3)).isoformat(),
    "date_to": (TODAY + timedelta(days=3)).isoformat(),
}


def ship_through(order, carrier, *, tracking, shipped_at, first_scan_at=None):
    """Give an allocated order one shipment carrying all its lines and move it to shipped."""
    warehouse = Warehouse.objects.order_by("pk").first()
    with transaction.atomic():
        shipment = Shipment.objects.create(order=order, warehouse=warehouse, number=f"{order.number}-1")
        ShipmentLine.objects.bulk_create(
            ShipmentLine(shipment=shipment, order_line=line, sku_id=line.sku_id, quantity=line.live_quantity)
            for line in order.lines.all()
        )
        run_order_transition(lock_order(order), "allocate", None)
    shipment_transition(shipment=shipment, name="send_to_warehouse")
    shipment_transition(
        shipment=shipment,
        name="ship",
        args={"carrier": carrier, "tracking_number": tracking, "shipped_at": shipped_at},
    )
    if first_scan_at:
        shipment_transition(shipment=shipment, name="mark_in_transit", args={"at": first_scan_at})
    return shipment


@pytest.fixture
def planted(settings):
    settings.SHIP_WITHIN_HOURS = 24
    carrier = Carrier.objects.create(code="sf", name="SF Express")
    late_carrier = Carrier.objects.create(code="=slow", name='=HYPERLINK("http://x")')
    on_9th = make_order(placed_at=LAST_SECOND_BEFORE.isoformat(), external_id="D-1")
    paid_10th = make_order(placed_at=FIRST_SECOND.isoformat(), external_id="D-2", paid=True)
    late_10th = make_order(placed_at=FIRST_SECOND.isoformat(), external_id="D-3", paid=True)
    cancelled_10th = make_order(placed_at=FIRST_SECOND.isoformat(), external_id="D-4")
    services.order_transition(order=cancelled_10th, name="cancel", reason="test")
    paid_at = paid_10th.paid_at
    ship_through(
        paid_10th,
        carrier,
        tracking="SF1",
        shipped_at=paid_at + timedelta(hours=2),
        first_scan_at=paid_at + timedelta(hours=2, minutes=30),
    )
    ship_through(late_10th, late_carrier, tracking="SL1", shipped_at=late_10th.paid_at + timedelta(hours=30))
    return {
        "carrier": carrier,
        "late_carrier": late_carrier,
        "orders": [on_9th, paid_10th, late_10th, cancelled_10th],
    }


def test_rollups_count_orders_on_their_business_day(planted):
    rollup_refresh(now=NOW)
    days = {row.day: row for row in OrderDayRollup.objects.all()}
    assert days[DAY - timedelta(days=1)].orders == 1
    tenth = days[DAY]
    assert (tenth.orders, tenth.paid, tenth.cancelled, tenth.shipped) == (3, 2, 1, 2)
    assert (tenth.shipped_on_time, tenth.late) == (1, 1)
    assert tenth.gross == sum(o.total for o in planted["orders"][1:3])


def test_rollup_panels_equal_the_same_panels_on_raw_tables(planted):
    rollup_refresh(now=NOW)
    first, last = DAY - timedelta(days=3), TODAY + timedelta(days=3)
    from_rollups = panels.dashboard(panels.from_rollups(first, last))
    from_raw = panels.dashboard(panels.from_raw(first, last))
    assert [(p.key, p.labels, p.series) for p in from_rollups] == [
        (p.key, p.labels, p.series) for p in from_raw
    ]


def test_refresh_is_incremental_and_idempotent(planted, monkeypatch):
    monkeypatch.setattr("dashboard.rollups.OVERLAP", timedelta(0))
    rollup_refresh(now=NOW)
    before = list(OrderDayRollup.objects.order_by("day", "channel_id").values())
    assert rollup_refresh(now=NOW) == 2  # nothing changed: only today and yesterday are redone
    assert list(OrderDayRollup.objects.order_by("day", "channel_id").values()) == before

    earlier_day = DAY - timedelta(days=1)
    OrderDayRollup.objects.filter(day=earlier_day).update(orders=99)  # a day nobody touched…
    rollup_refresh(now=NOW)
    assert OrderDayRollup.objects.get(day=earlier_day).orders == 99  # …is not recomputed
    services.order_transition(order=planted["orders"][0], name="cancel", reason="changed mind")
    rollup_refresh(now=NOW)
    row = OrderDayRollup.objects.get(day=earlier_day)  # its order changed: recomputed from the raw rows
    assert (row.orders, row.cancelled) == (1, 1)


def test_carrier_rollup_measures_sync_success_and_latency(planted):
    rollup_refresh(now=NOW)
    sf = CarrierDayRollup.objects.get(carrier=planted["carrier"])
    assert (sf.shipped, sf.first_scanned, sf.synced_in_window, sf.units) == (1, 1, 1, 3)
    assert sf.latency_total == timedelta(minutes=30)
    slow = CarrierDayRollup.objects.get(carrier=planted["late_carrier"])
    assert (slow.shipped, slow.first_scanned, slow.synced_in_window) == (1, 0, 0)


def test_health_index_counts_late_held_and_exceptions():
    rows = panels.DayRows(
        DAY,
        DAY,
        orders=[
            {
                "day": DAY,
                "channel_id": 1,
                "currency": "CNY",
                "gross": 0,
                "orders": 10,
                "cancelled": 2,
                "held": 1,
                "late": 1,
                "exceptions": 0,
                "paid": 8,
                "shipped": 6,
                "shipped_on_time": 5,
                "delivered": 3,
                "refunded": 1,
            }
        ],
    )
    assert panels.health_index(rows).series[0]["data"] == [75.0]
    assert panels.refund_rate(rows).series[0]["data"] == [12.5]
    # on time among the orders due (5 on time + 1 late), not among all 8 paid
    assert panels.fulfilment_rate(rows).series[0]["data"] == [83.3]


def test_dashboard_page_for_managers_only(client, make_user, planted):
    rollup_refresh(now=NOW)
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    assert client.get(reverse("dashboard:home")).status_code == 403
    client.force_login(make_user(Role.MANAGER))
    page = client.get(reverse("dashboard:home"), RANGE)
    assert page.status_code == 200
    for key in panels.PANELS:
        assert f'id="panel-{key}"' in page.content.decode()
    bad = client.get(
        reverse("dashboard:home"), {"date_from": RANGE["date_to"], "date_to": RANGE["date_from"]}
    )
    assert "after" in bad.content.decode()


def test_panel_downloads_neutralise_formulas(client, make_user, planted):
    rollup_refresh(now=NOW)
    client.force_login(make_user(Role.MANAGER))
    query = RANGE
    csv_body = b"".join(
        client.get(reverse("dashboard:download", args=["logistics_sync", "csv"]), query).streaming_content
    ).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_body and "\n=HYPERLINK" not in csv_body
    xlsx = client.get(reverse("dashboard:download", args=["orders_per_day", "xlsx"]), query)
    sheet = load_workbook(BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Label", "Orders", "Cancelled", "Partial") and (DAY.isoformat(), 3, 1, None) in rows
