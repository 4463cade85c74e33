"""Alerts that reach people (issue #17 part 6): alert routes per role send new alerts by SMS or
to a WeCom robot through the outbox, once per alert and route; and the no-first-scan list exports
to Excel with the outlet the waybill named."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from core.alerts import alert_raise, alert_resolve
from core.models import Alert, AlertMedium, AlertRoute, AlertSeverity, OutboxMessage, OutboxState
from core.roles import Role
from fulfilment.models import Shipment
from fulfilment.staff_alerts import KIND, staff_alerts_dispatch
from fulfilment.tests.shipping import shipped_shipment
from fulfilment.tests.test_notifications import gateway, sent, sms  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def raise_alert(kind="no_first_scan", role=Role.WAREHOUSE, key=None, severity=AlertSeverity.WARNING):
    return alert_raise(
        kind=kind,
        key=key or f"{kind}:{Alert.objects.count() + 1}",
        role=role,
        message=f"Parcel ZT0001 has had no carrier scan for 26 h ({kind})",
        severity=severity,
    )


def queued() -> list[dict]:
    payloads = OutboxMessage.objects.filter(kind=KIND).values_list("payload", flat=True)
    return sorted(payloads, key=lambda payload: (payload["alert_id"], payload["route_id"]))


@pytest.fixture
def warehouse_robot(gateway):  # noqa: F811
    return AlertRoute.objects.create(
        name="Warehouse group",
        role=Role.WAREHOUSE,
        kinds=["no_first_scan", "sla"],
        medium=AlertMedium.WECOM,
        target=f"{gateway.base_url}/wecom?key=wh-robot",
    )


def test_a_new_alert_goes_once_to_each_matching_route(warehouse_robot, sms, sent):  # noqa: F811
    lead = AlertRoute.objects.create(
        name="Lead on duty",
        role=Role.WAREHOUSE,
        medium=AlertMedium.SMS,
        target="+8613800000009",
        min_severity=AlertSeverity.CRITICAL,
    )
    wanted = raise_alert()
    raise_alert(kind="stock_drift")  # a kind the robot does not take; the lead's route: not critical
    raise_alert(role=Role.FINANCE)  # another role
    critical = raise_alert(kind="sla", severity=AlertSeverity.CRITICAL)

    with sent():
        assert staff_alerts_dispatch() == 3

    assert queued() == [
        {"alert_id": wanted.pk, "route_id": warehouse_robot.pk},
        *sorted(
            [
                {"alert_id": critical.pk, "route_id": warehouse_robot.pk},
                {"alert_id": critical.pk, "route_id": lead.pk},
            ],
            key=lambda payload: payload["route_id"],
        ),
    ]
    assert set(OutboxMessage.objects.filter(kind=KIND).values_list("state", flat=True)) == {
        OutboxState.DELIVERED
    }
    paths = [path for path, _headers, _body in sms.requests]
    assert paths.count("/wecom?key=wh-robot") == 2 and paths.count("/sms") == 1
    robot_body = next(body for path, _h, body in sms.requests if path.startswith("/wecom"))
    assert robot_body["msgtype"] == "markdown" and "ZT0001" in robot_body["markdown"]["content"]
    sms_body = next(body for path, _h, body in sms.requests if path == "/sms")
    assert sms_body["to"] == "+8613800000009" and "ZT0001" in sms_body["text"]

    # raised again while open: bumped, not sent again; and a second run finds nothing
    raise_alert(key=wanted.key)
    with sent():
        assert staff_alerts_dispatch() == 0
    assert len(queued()) == 3


def test_the_text_is_in_the_staff_language(warehouse_robot, sms, sent, settings):  # noqa: F811
    settings.STAFF_ALERT_LANGUAGE = "zh-hans"
    settings.DESK_BASE_URL = "https://oms.example.com"
    raise_alert()
    with sent():
        staff_alerts_dispatch()
    (_path, _headers, body) = sms.requests[0]
    content = body["markdown"]["content"]
    assert "https://oms.example.com/alerts/" in content
    assert "Conduit alert" not in content  # the subject is translated


def test_an_alert_resolved_before_delivery_is_not_sent(warehouse_robot, sms, sent):  # noqa: F811
    alert = raise_alert()
    staff_alerts_dispatch()  # queued; not delivered (outside the captured commit)
    alert_resolve(alert=alert)
    message = OutboxMessage.objects.get(kind=KIND)
    from core.outbox import outbox_deliver

    outbox_deliver(message.pk)
    assert sms.requests == []
    assert OutboxMessage.objects.get(pk=message.pk).state == OutboxState.DELIVERED


def test_alerts_older_than_the_cut_off_are_marked_and_never_sent(warehouse_robot):
    alert = raise_alert()
    Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - timedelta(hours=7))
    assert staff_alerts_dispatch() == 0
    assert Alert.objects.get(pk=alert.pk).routed_at is not None
    assert queued() == []


def test_a_refused_robot_is_a_dead_letter_with_its_errcode(warehouse_robot, sms, sent):  # noqa: F811
    sms.wecom = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    raise_alert()
    with sent():
        staff_alerts_dispatch()
    message = OutboxMessage.objects.get(kind=KIND)
    assert message.state == OutboxState.DEAD and "93000" in message.last_error


def test_the_no_first_scan_list_exports_to_excel_with_the_outlet(client, warehouse_user):
    shipment = shipped_shipment(shipped_at=timezone.now() - timedelta(hours=30))
    Shipment.objects.filter(pk=shipment.pk).update(
        waybill={**shipment.waybill, "origin_outlet": "杭州西湖网点"}
    )
    client.force_login(warehouse_user)

    response = client.get("/fulfilment/watches/no-first-scan/", {"format": "xlsx", "hours": "24"})

    assert response.status_code == 200 and "no-first-scan-" in response["Content-Disposition"]
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == (
        "Shipment",
        "Order",
        "Channel",
        "Carrier",
        "Tracking number",
        "Outlet (from the waybill)",
    )
    (row,) = rows[1:]
    assert (row[0], row[4], row[5], row[8]) == (shipment.number, shipment.tracking_number, "杭州西湖网点", 30)
