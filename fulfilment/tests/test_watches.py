"""No-first-scan watch and carrier statistics (R-F5)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Exists
from django.urls import reverse
from django.utils import timezone

from core.models import Alert, AlertState
from fulfilment.models import Shipment, ShipmentStatus, TrackingEvent, TrackingStatus
from fulfilment.tests.shipping import carrier, shipped_shipment
from fulfilment.tracking import TrackingUpdate, record_tracking
from fulfilment.watches import carrier_statistics, first_scan_watch, shipments_without_first_scan
from inventory.models import Warehouse
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SS = ShipmentStatus


def ago(**delta) -> datetime:
    return timezone.now() - timedelta(**delta)


def alerts() -> dict[int, Alert]:
    return {a.payload["shipment_id"]: a for a in Alert.objects.filter(kind="no_first_scan")}


def test_a_parcel_with_no_scan_after_the_window_alerts_the_warehouse_once():
    late = shipped_shipment(tracking_number="ZT1", shipped_at=ago(minutes=6))
    recent = shipped_shipment(tracking_number="ZT2", shipped_at=ago(minutes=4), external_id="T-W2")
    patient = shipped_shipment(
        by=carrier("ems", "ems", first_scan_minutes=30),
        tracking_number="E3",
        shipped_at=ago(minutes=20),
        external_id="T-W3",
    )

    assert first_scan_watch() == (1, 0)
    assert first_scan_watch() == (0, 0)  # idempotent: the key is raised once

    raised = alerts()
    assert set(raised) == {late.pk}
    alert = raised[late.pk]
    assert (alert.role, alert.state, alert.occurrences) == ("warehouse", AlertState.OPEN, 1)
    assert late.number in alert.message and "ZT1" in alert.message
    assert recent.pk not in raised and patient.pk not in raised


def test_the_first_scan_resolves_the_alert(settings):
    settings.FIRST_SCAN_ALERT_MINUTES = 10
    shipment = shipped_shipment(tracking_number="ZT1", shipped_at=ago(minutes=15))
    first_scan_watch()

    record_tracking(
        shipment=shipment,
        events=[
            TrackingUpdate(occurred_at=ago(minutes=1), status=TrackingStatus.ACCEPTED, description="已揽收")
        ],
        source="push",
    )

    assert alerts()[shipment.pk].state == AlertState.RESOLVED


def test_the_watch_resolves_alerts_of_parcels_scanned_by_another_path():
    shipment = shipped_shipment(tracking_number="ZT1", shipped_at=ago(minutes=30))
    first_scan_watch()
    Shipment.objects.filter(pk=shipment.pk).update(first_scan_at=ago(minutes=2))  # e.g. a WMS callback

    assert first_scan_watch() == (0, 1)
    assert alerts()[shipment.pk].state == AlertState.RESOLVED


def test_an_alert_resolved_by_hand_is_not_raised_again():
    shipment = shipped_shipment(tracking_number="ZT1", shipped_at=ago(minutes=30))
    first_scan_watch()
    Alert.objects.filter(kind="no_first_scan").update(state=AlertState.RESOLVED)

    first_scan_watch()

    assert Alert.objects.filter(kind="no_first_scan", payload__shipment_id=shipment.pk).count() == 1


def test_the_24_hour_list_filters_by_carrier_and_warehouse():
    old = shipped_shipment(tracking_number="ZT1", shipped_at=ago(hours=25))
    shipped_shipment(tracking_number="ZT2", shipped_at=ago(hours=23), external_id="T-L2")
    scanned = shipped_shipment(tracking_number="ZT3", shipped_at=ago(hours=30), external_id="T-L3")
    record_tracking(
        shipment=scanned,
        events=[TrackingUpdate(occurred_at=ago(hours=29), status=TrackingStatus.ACCEPTED)],
        source="poll",
    )
    sf = shipped_shipment(
        by=carrier("sf", "shunfeng"), tracking_number="SF4", shipped_at=ago(days=2), external_id="T-L4"
    )

    assert list(shipments_without_first_scan()) == [sf, old]
    assert list(shipments_without_first_scan(carrier=carrier())) == [old]
    other = Warehouse.objects.create(code="WH-SH", name="Shanghai", kind="own")
    assert list(shipments_without_first_scan(warehouse=other)) == []
    assert list(shipments_without_first_scan(hours=0, carrier=carrier())) == [
        old,
        Shipment.objects.get(tracking_number="ZT2"),
    ]


# --- carrier statistics on a planted dataset -------------------------------------------------------

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 8, tzinfo=UTC)


@pytest.fixture
def planted():
    """zto (default 5-minute window) and sf (60 minutes); latencies in minutes, None = no scan."""
    order = make_order()
    warehouse = Warehouse.objects.create(code="WH-STATS", name="Stats", kind="own")
    zto, sf = carrier(), carrier("sf", "shunfeng", first_scan_minutes=60)
    rows = [
        # carrier, shipped day, latency, status, trouble scan
        (zto, 1, 2, SS.DELIVERED, None),
        (zto, 2, 4, SS.IN_TRANSIT, None),
        (zto, 3, 10, SS.EXCEPTION, TrackingStatus.EXCEPTION),
        (zto, 4, None, SS.SHIPPED, None),
        (zto, -3, 1, SS.DELIVERED, None),  # shipped before the period: not counted
        (sf, 2, 30, SS.DELIVERED, None),
        (sf, 5, 90, SS.IN_TRANSIT, TrackingStatus.RETURNED),  # recovered since: still an exception
    ]
    for index, (by, day, latency, status, trouble) in enumerate(rows):
        shipped_at = START + timedelta(days=day, hours=3)
        shipment = Shipment.objects.create(
            number=f"STAT-{index}",
            order=order,
            warehouse=warehouse,
            status=status,
            carrier=by,
            tracking_number=f"N{index}",
            shipped_at=shipped_at,
            first_scan_at=shipped_at + timedelta(minutes=latency) if latency is not None else None,
        )
        if trouble:
            TrackingEvent.objects.create(
                shipment=shipment,
                occurred_at=shipped_at + timedelta(hours=5),
                status=trouble,
                source="poll",
                fingerprint=f"f{index}",
            )
    return zto, sf


def test_carrier_statistics_count_rates_and_latencies(planted):
    zto, sf = planted

    stats = {row.carrier.code: row for row in carrier_statistics(start=START, end=END)}

    z, s = stats["zto"], stats["sf"]
    assert (z.shipments, z.scanned, z.scanned_in_window, z.delivered, z.exceptions) == (4, 3, 2, 1, 1)
    assert (z.first_scan_rate, z.delivered_rate, z.window_minutes) == (0.5, 0.25, 5)
    assert z.average_latency == timedelta(minutes=16 / 3)
    assert z.p95_latency == timedelta(minutes=10)
    assert (s.shipments, s.scanned_in_window, s.delivered, s.exceptions, s.window_minutes) == (2, 1, 1, 1, 60)
    assert (s.average_latency, s.p95_latency) == (timedelta(minutes=60), timedelta(minutes=90))


# --- desk pages ----------------------------------------------------------------------------------


def test_the_desk_lists_unscanned_parcels_and_carrier_statistics(client, warehouse_user, planted):
    shipped_shipment(tracking_number="ZT-DESK", shipped_at=ago(hours=30))
    client.force_login(warehouse_user)

    listing = client.get(reverse("fulfilment:no-first-scan"), {"carrier": "zto"})
    stats = client.get(reverse("fulfilment:carrier-stats"), {"start": "2026-03-01", "end": "2026-03-07"})
    bad = client.get(reverse("fulfilment:carrier-stats"), {"start": "2026-03-07", "end": "2026-03-01"})

    assert listing.status_code == 200
    assert "ZT-DESK" in listing.content.decode()
    assert stats.status_code == 200
    assert [row.shipments for row in stats.context["stats"]] == [4, 2]
    assert bad.status_code == 200 and "before the start date" in bad.content.decode()


def test_the_watch_pages_need_the_shipment_permission(client, finance_user):
    client.force_login(finance_user)

    assert client.get(reverse("fulfilment:no-first-scan")).status_code == 403
    assert client.get(reverse("fulfilment:carrier-stats")).status_code == 403


def test_an_already_alerted_parcel_is_not_read_again():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from fulfilment.watches import _unresolved_alert, awaiting_first_scan

    def alert_lookups() -> list[str]:
        """The run's lookups of alerts by a batch of keys (made only for parcels it read)."""
        with CaptureQueriesContext(connection) as ctx:
            assert first_scan_watch() == (0, 0)
        return [q["sql"] for q in ctx.captured_queries if '"key" IN (' in q["sql"]]

    shipments = [
        shipped_shipment(tracking_number=f"ZT{n}", shipped_at=ago(minutes=30), external_id=f"T-A{n}")
        for n in range(3)
    ]
    assert first_scan_watch() == (3, 0)

    # the SQL key matches first_scan_alert_key exactly, so the late parcels drop out of the scan
    assert set(awaiting_first_scan().filter(Exists(_unresolved_alert()))) == set(shipments)
    assert alert_lookups() == []
    assert {a.occurrences for a in alerts().values()} == {1}
