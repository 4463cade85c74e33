"""Tracking write-back (R-F4): carrier scans move the shipment and its order, never backwards."""

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import DomainError
from core.models import Alert, AlertSeverity, AlertState
from fulfilment.models import Notification, ShipmentStatus, TrackingEvent, TrackingStatus
from fulfilment.tests.shipping import allocated_shipment, carrier, shipped_shipment
from fulfilment.tracking import (
    TrackingUpdate,
    record_tracking,
    shipment_record_problem,
    shipment_record_waybill,
)
from orders.models import OrderEventKind, OrderStatus

pytestmark = pytest.mark.django_db

TS = TrackingStatus
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def scan(minutes: int, status=TS.IN_TRANSIT, text: str = "", place: str = "杭州市") -> TrackingUpdate:
    return TrackingUpdate(
        occurred_at=T0 + timedelta(minutes=minutes),
        status=status,
        carrier_status=status,
        description=text or f"{status} +{minutes}",
        location=place,
    )


def tracking_events(order) -> list[dict]:
    return list(order.events.filter(kind=OrderEventKind.TRACKING).values_list("payload", flat=True))


@pytest.fixture
def shipment():
    return shipped_shipment(shipped_at=T0 - timedelta(minutes=30))


def test_the_first_scan_puts_the_parcel_in_transit_and_the_order_shipped(shipment):
    # when: the carrier picked it up, then moved it (newest first, as aggregators list them)
    result = record_tracking(
        shipment=shipment,
        events=[scan(60, TS.IN_TRANSIT, "干线"), scan(5, TS.ACCEPTED, "已揽收")],
        source="push",
    )

    shipment.refresh_from_db()
    assert result.new_events == 2
    assert result.transition == "mark_in_transit"
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert shipment.first_scan_at == T0 + timedelta(minutes=5)
    assert shipment.last_tracking_at is not None
    assert list(shipment.tracking_events.values_list("description", flat=True)) == ["已揽收", "干线"]
    assert shipment.order.status == OrderStatus.SHIPPED
    (event,) = tracking_events(shipment.order)
    assert (event["from"], event["to"], event["description"]) == ("shipped", "in_transit", "干线")


def test_a_repeated_push_stores_nothing_and_changes_nothing(shipment):
    scans = [scan(5, TS.ACCEPTED), scan(60)]
    record_tracking(shipment=shipment, events=scans, source="push")

    again = record_tracking(shipment=shipment, events=scans, source="poll")

    assert again.new_events == 0
    assert again.transition is None
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 2
    assert len(tracking_events(shipment.order)) == 1


def test_ordinary_scans_in_transit_are_stored_without_timeline_noise(shipment):
    record_tracking(shipment=shipment, events=[scan(5, TS.ACCEPTED)], source="push")

    record_tracking(shipment=shipment, events=[scan(90), scan(200, TS.OUT_FOR_DELIVERY)], source="push")

    assert TrackingEvent.objects.filter(shipment=shipment).count() == 3
    assert len(tracking_events(shipment.order)) == 1


def test_signed_for_delivers_the_shipment_and_the_order_and_tells_the_customer(shipment):
    record_tracking(shipment=shipment, events=[scan(5, TS.ACCEPTED)], source="push")

    result = record_tracking(shipment=shipment, events=[scan(900, TS.DELIVERED, "本人签收")], source="push")

    shipment.refresh_from_db()
    assert result.transition == "deliver"
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.delivered_at == T0 + timedelta(minutes=900)
    assert shipment.order.status == OrderStatus.DELIVERED
    assert Notification.objects.filter(order=shipment.order, event="delivered", medium="email").count() == 1


def test_a_delivered_shipment_stays_delivered_whatever_arrives_later(shipment):
    record_tracking(shipment=shipment, events=[scan(900, TS.DELIVERED)], source="push")

    late = record_tracking(
        shipment=shipment, events=[scan(950, TS.RETURNED, "退回"), scan(100, TS.IN_TRANSIT)], source="poll"
    )

    shipment.refresh_from_db()
    assert late.new_events == 2
    assert late.transition is None
    assert shipment.status == ShipmentStatus.DELIVERED
    assert not Alert.objects.filter(kind="shipment_exception").exists()


def test_an_older_scan_arriving_late_is_stored_but_never_moves_the_state_back(shipment):
    record_tracking(shipment=shipment, events=[scan(60), scan(120, TS.EXCEPTION, "派件异常")], source="push")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.EXCEPTION

    # when: an in-transit scan from before the exception, and the real pick-up, arrive late
    result = record_tracking(shipment=shipment, events=[scan(90), scan(2, TS.ACCEPTED)], source="poll")

    shipment.refresh_from_db()
    assert result.new_events == 2
    assert shipment.status == ShipmentStatus.EXCEPTION
    assert shipment.first_scan_at == T0 + timedelta(minutes=2)  # the earliest scan is the first scan


def test_exception_alerts_customer_service_and_a_newer_scan_recovers(shipment):
    record_tracking(shipment=shipment, events=[scan(5, TS.ACCEPTED)], source="push")

    record_tracking(shipment=shipment, events=[scan(300, TS.EXCEPTION, "超区")], source="push")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.EXCEPTION
    assert "超区" in shipment.problem
    alert = Alert.objects.get(key=f"shipment_exception:{shipment.pk}")
    assert (alert.role, alert.severity, alert.state) == (
        "customer_service",
        AlertSeverity.WARNING,
        AlertState.OPEN,
    )
    assert shipment.number in alert.message and "超区" in alert.message

    record_tracking(shipment=shipment, events=[scan(400, TS.IN_TRANSIT, "已转投")], source="push")

    shipment.refresh_from_db()
    alert.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert shipment.problem == ""
    assert alert.state == AlertState.RESOLVED
    assert [e["to"] for e in tracking_events(shipment.order)] == ["in_transit", "exception", "in_transit"]


def test_a_returned_parcel_is_a_critical_exception(shipment):
    record_tracking(
        shipment=shipment, events=[scan(5, TS.ACCEPTED), scan(2000, TS.RETURNED, "退签")], source="push"
    )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.EXCEPTION
    assert Alert.objects.get(key=f"shipment_exception:{shipment.pk}").severity == AlertSeverity.CRITICAL


def test_a_repeated_exception_push_does_not_bump_the_alert(shipment):
    scans = [scan(5, TS.ACCEPTED), scan(300, TS.EXCEPTION, "滞留")]
    record_tracking(shipment=shipment, events=scans, source="push")
    record_tracking(shipment=shipment, events=scans, source="push")

    assert Alert.objects.get(key=f"shipment_exception:{shipment.pk}").occurrences == 1


def test_scans_before_the_parcel_left_are_kept_without_moving_it():
    shipment = allocated_shipment()

    result = record_tracking(shipment=shipment, events=[scan(5, TS.ACCEPTED)], source="wms")

    shipment.refresh_from_db()
    assert result.transition is None
    assert shipment.status != ShipmentStatus.IN_TRANSIT
    assert shipment.first_scan_at == T0 + timedelta(minutes=5)


def test_bad_scans_are_refused_naming_the_field_and_nothing_is_written(shipment):
    naive = TrackingUpdate(occurred_at=datetime(2026, 3, 10, 10, 0), status=TS.IN_TRANSIT)

    with pytest.raises(DomainError) as unknown:
        record_tracking(shipment=shipment, events=[scan(5), scan(6, "teleported")], source="push")
    with pytest.raises(DomainError) as no_zone:
        record_tracking(shipment=shipment, events=[naive], source="push")
    with pytest.raises(DomainError) as source:
        record_tracking(shipment=shipment, events=[scan(5)], source="pigeon")

    assert (unknown.value.field, no_zone.value.field, source.value.field) == (
        "events[1].status",
        "events[0].occurred_at",
        "source",
    )
    assert not TrackingEvent.objects.exists()


def test_a_waybill_is_kept_once_and_a_number_in_use_is_refused():
    first, second = allocated_shipment(), allocated_shipment(external_id="T-WAYBILL-2")
    zto = carrier()

    shipment_record_waybill(shipment=first, carrier=zto, tracking_number="ZT1", label="https://label/1")
    shipment_record_waybill(shipment=first, carrier=zto, tracking_number="ZT-OTHER")  # issued once
    with pytest.raises(DomainError) as taken:
        shipment_record_waybill(shipment=second, carrier=zto, tracking_number="ZT1")

    first.refresh_from_db()
    assert (first.tracking_number, first.carrier, first.waybill["label"]) == ("ZT1", zto, "https://label/1")
    assert taken.value.field == "tracking_number"


def test_a_problem_is_shown_on_the_shipment():
    shipment = allocated_shipment()

    shipment_record_problem(shipment=shipment, problem="Waybill refused: 30004 no balance")

    shipment.refresh_from_db()
    assert shipment.problem == "Waybill refused: 30004 no balance"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_push_and_poll_at_once_store_each_scan_once_and_move_once():
    from threading import Barrier, Thread

    from django.db import connection

    shipment = shipped_shipment(shipped_at=T0 - timedelta(minutes=30))
    scans = [scan(90, TS.IN_TRANSIT), scan(5, TS.ACCEPTED)]
    barrier, results, errors = Barrier(4), [], []

    def apply(source):
        try:
            barrier.wait()
            results.append(record_tracking(shipment=shipment.pk, events=scans, source=source))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [Thread(target=apply, args=(source,)) for source in ("push", "poll", "push", "wms")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    shipment.refresh_from_db()
    assert errors == []
    assert sorted(r.new_events for r in results) == [0, 0, 0, 2]
    assert [r.transition for r in results].count("mark_in_transit") == 1
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 2
    assert len(tracking_events(shipment.order)) == 1
