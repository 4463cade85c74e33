"""Qimen deliveryorder.confirm as real gateways send it (issue #17 part 5): the short method name,
a warehouse's own carrier codes, several packages, a partial then a final confirmation, and a
short shipment. The confirmations are the fixtures in payloads/qimen_*.xml (SOURCES.md), signed
and posted to our endpoint like a gateway does; the fixtures and helpers of test_wms_qimen
(the fake WMS, the cloud warehouse WH-HZ, an order routed there) are reused."""

from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest
from django.urls import reverse

from core.models import Alert, AlertState, OutboxMessage
from fulfilment.models import Carrier, Shipment, ShipmentStatus
from integrations.carriers.services import SUBSCRIBE
from integrations.models import InboundMessage, InboundStatus, ShipmentWriteBack
from integrations.services import inbound_message_replay
from integrations.tests import test_wms_qimen as base
from integrations.wms.qimen import callbacks, protocol
from inventory.models import Reservation, ReservationState, WarehouseCarrierCode
from orders.models import Order, OrderEvent, OrderEventKind, OrderStatus
from orders.tests.factories import SKUFactory, WarehouseFactory, receive

pytestmark = pytest.mark.django_db

PAYLOADS = Path(__file__).parent / "payloads"
FIXTURE_NUMBER = "SO20260310000001-1"

# The fake WMS, the cloud warehouse and an order routed there, from test_wms_qimen.
wms = base.wms
cloud_warehouse = base.cloud_warehouse
shipment = base.shipment
sf = base.sf


def confirmation(name: str, number: str) -> str:
    return (PAYLOADS / f"qimen_{name}.xml").read_text(encoding="utf-8").replace(FIXTURE_NUMBER, number)


def post(client, body: str, *, method="deliveryorder.confirm", version="2.0"):
    """Sign and post like a gateway: system parameters in the query string, XML body."""
    data = body.encode("utf-8")
    params = protocol.system_params(method=method, app_key=base.APP_KEY, customer_id=base.CUSTOMER_ID)
    params["v"] = version
    params["sign"] = protocol.sign(params, data, base.SECRET)
    url = reverse("integrations:wms-qimen", args=["WH-HZ"]) + "?" + urlencode(params)
    response = client.post(url, data=data, content_type="text/xml; charset=utf-8")
    root = ET.fromstring(response.content)
    return response.status_code, root.findtext("flag"), root.findtext("code"), root.findtext("message")


@pytest.fixture
def tracking(settings):
    """Kuaidi100 pushes configured, so shipped parcels are subscribed (outbox messages)."""
    settings.KUAIDI100_KEY, settings.KUAIDI100_SALT = "key", "salt"
    settings.KUAIDI100_CALLBACK_URL = "https://conduit.example/carriers/kuaidi100"


@pytest.fixture
def sto(db):
    return Carrier.objects.create(code="sto", name="STO Express", tracking_code="shentong")


def parcels(shipment) -> list[Shipment]:
    return list(Shipment.objects.filter(order=shipment.order).order_by("pk"))


def units(parcel) -> dict[str, int]:
    return {line.sku.code: line.quantity for line in parcel.lines.select_related("sku")}


def subscriptions() -> set[tuple[str, str]]:
    return {
        (message.payload["company"], message.payload["number"])
        for message in OutboxMessage.objects.filter(kind=SUBSCRIBE)
    }


def last_message() -> InboundMessage:
    return InboundMessage.objects.filter(platform="qimen").order_by("pk").last()


# --- method names and versions -------------------------------------------------------------------------


def test_the_short_method_name_is_taken_as_the_long_one(client, shipment, sf):
    result = post(client, base.delivery_confirm(shipment.number), method="deliveryorder.confirm")

    assert result[:2] == (200, "success")
    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_number) == (ShipmentStatus.SHIPPED, "SF1234567890")
    assert last_message().topic == protocol.DELIVERY_ORDER_CONFIRM
    assert last_message().headers[callbacks.QUERY_HEADER]["method"] == "deliveryorder.confirm"


def test_the_short_process_report_name_is_taken_too(client, shipment):
    body = base.process_report(shipment.number, "PICK")
    assert post(client, body, method="orderprocess.report")[:2] == (200, "success")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PICKING


@pytest.mark.parametrize("version", ["3.0", "1.0", ""])
def test_another_version_is_kept_and_refused_with_a_qimen_error(client, shipment, sf, version):
    status, flag, code, message = post(client, base.delivery_confirm(shipment.number), version=version)

    assert (status, flag, code) == (200, "failure", "invalid-version")
    assert message.startswith("v: version") and "2.0" in message
    assert last_message().status == InboundStatus.IGNORED
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED


# --- the warehouse's own carrier codes -------------------------------------------------------------------


def test_an_unknown_carrier_code_fails_the_message_until_the_warehouse_maps_it(
    client, shipment, sto, tracking
):
    # given the warehouse calls its Shentong account STO2, which nobody mapped yet
    status, flag, code, message = post(
        client, confirmation("deliveryorder_confirm_two_packages", shipment.number)
    )

    # then the message is kept as failed, naming the code and the warehouse, and nothing moved
    assert (status, flag, code) == (200, "failure", "invalid-parameter")
    assert message.startswith("packages.package.logisticsCode: STO2 ")
    assert "WH-HZ" in message
    row = last_message()
    assert (row.status, row.order_id) == (InboundStatus.FAILED, shipment.order_id)
    assert [s.status for s in parcels(shipment)] == [ShipmentStatus.CREATED]

    # when someone maps STO2 to STO for this warehouse and replays the message
    WarehouseCarrierCode.objects.create(warehouse=shipment.warehouse, code="STO2", carrier=sto)
    assert inbound_message_replay(row.pk).status == InboundStatus.PROCESSED

    # then both boxes left with STO
    assert {(p.carrier, p.status) for p in parcels(shipment)} == {(sto, ShipmentStatus.SHIPPED)}


def test_the_code_is_mapped_per_warehouse(client, shipment, sto, sf):
    # another warehouse's STO2 means something else, and does not count here
    other = WarehouseFactory(code="WH-SH", name="Shanghai")
    WarehouseCarrierCode.objects.create(warehouse=other, code="STO2", carrier=sf)
    WarehouseCarrierCode.objects.create(warehouse=shipment.warehouse, code="sto2", carrier=sto)  # any case

    post(client, confirmation("deliveryorder_confirm_two_packages", shipment.number))

    assert {p.carrier for p in parcels(shipment)} == {sto}


# --- several packages ------------------------------------------------------------------------------------


def test_two_packages_become_two_tracked_parcels(client, shipment, sto, tracking):
    WarehouseCarrierCode.objects.create(warehouse=shipment.warehouse, code="STO2", carrier=sto)

    result = post(client, confirmation("deliveryorder_confirm_two_packages", shipment.number))

    assert result[:2] == (200, "success")
    first, second = parcels(shipment)
    # the first box was split off the shipment, the second (all that was left) is the shipment
    assert (first.pk, second.split_from_id) == (shipment.pk, shipment.pk)
    assert (first.tracking_number, units(first)) == ("773200000000002", {"SKU-2": 1})
    assert (second.tracking_number, units(second)) == ("773200000000001", {"SKU-1": 2})
    assert {p.status for p in (first, second)} == {ShipmentStatus.SHIPPED}
    # each is subscribed to tracking and told to the sales platform on its own
    assert subscriptions() == {("shentong", "773200000000001"), ("shentong", "773200000000002")}
    assert set(ShipmentWriteBack.objects.values_list("shipment_id", flat=True)) == {first.pk, second.pk}
    # every unit left the shelf, each parcel consuming its own reservations
    held = Reservation.objects.filter(order=shipment.order)
    assert not held.filter(state__in=[ReservationState.ACTIVE, ReservationState.COMMITTED]).exists()
    assert {(r.shipment_id, r.sku.code) for r in held.filter(state=ReservationState.CONSUMED)} == {
        (first.pk, "SKU-2"),
        (second.pk, "SKU-1"),
    }
    assert Order.objects.get(pk=shipment.order_id).status == OrderStatus.SHIPPED

    # the same confirmation again changes nothing
    assert post(client, confirmation("deliveryorder_confirm_two_packages", shipment.number))[:2] == (
        200,
        "success",
    )
    assert last_message().status == InboundStatus.IGNORED
    assert len(parcels(shipment)) == 2


def test_packages_holding_more_than_the_shipment_are_refused_whole(client, shipment, sto):
    WarehouseCarrierCode.objects.create(warehouse=shipment.warehouse, code="STO2", carrier=sto)
    body = confirmation("deliveryorder_confirm_two_packages", shipment.number).replace(
        "<quantity>1</quantity>", "<quantity>3</quantity>"
    )

    status, flag, _code, message = post(client, body)

    assert (status, flag) == (200, "failure")
    assert message.startswith("packages.package.items: 2 more of SKU-2")
    assert [(s.status, units(s)) for s in parcels(shipment)] == [
        (ShipmentStatus.CREATED, {"SKU-1": 2, "SKU-2": 1})
    ]


# --- partial, then final -----------------------------------------------------------------------------


def test_a_partial_confirmation_keeps_the_rest_open_until_the_final_one(client, shipment, sf, tracking):
    # when the warehouse ships one box and says more will follow (confirmType=1)
    assert post(client, confirmation("deliveryorder_confirm_partial", shipment.number))[:2] == (
        200,
        "success",
    )

    # then that box is a shipped parcel and the rest stays open at the warehouse
    shipment.refresh_from_db()
    parcel = shipment.split_parcels.get()
    assert (parcel.status, parcel.tracking_number, units(parcel)) == (
        ShipmentStatus.SHIPPED,
        "SF1400000000001",
        {"SKU-1": 2},
    )
    assert (shipment.status, units(shipment), shipment.tracking_number) == (
        ShipmentStatus.PICKING,
        {"SKU-2": 1},
        "",
    )
    order = Order.objects.get(pk=shipment.order_id)
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    assert subscriptions() == {("shunfeng", "SF1400000000001")}
    # the timeline names the box and what it carries
    split = OrderEvent.objects.get(order=order, payload__transition="split")
    assert split.payload["lines"] == [{"line": 1, "sku": "SKU-1", "quantity": 2}]

    # a repeat of the partial confirmation changes nothing
    post(client, confirmation("deliveryorder_confirm_partial", shipment.number))
    assert last_message().status == InboundStatus.IGNORED
    assert len(parcels(shipment)) == 2

    # when the final confirmation brings the other box
    assert post(client, confirmation("deliveryorder_confirm_final", shipment.number))[:2] == (200, "success")

    # then the shipment itself leaves with it and the order is shipped
    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_number, units(shipment)) == (
        ShipmentStatus.SHIPPED,
        "SF1400000000002",
        {"SKU-2": 1},
    )
    assert Order.objects.get(pk=shipment.order_id).status == OrderStatus.SHIPPED
    assert subscriptions() == {("shunfeng", "SF1400000000001"), ("shunfeng", "SF1400000000002")}
    assert not Alert.objects.filter(kind="wms_short_shipment").exists()

    # and a late repeat of either changes nothing
    for name in ("deliveryorder_confirm_partial", "deliveryorder_confirm_final"):
        assert post(client, confirmation(name, shipment.number))[:2] == (200, "success")
        assert last_message().status == InboundStatus.IGNORED
    assert len(parcels(shipment)) == 2


def test_a_partial_confirmation_must_say_what_left(client, shipment, sf):
    # (the first confirmation's orderLines/actualQty would say it; without them nothing does)
    body = confirmation("deliveryorder_confirm_partial", shipment.number)
    body = body[: body.index("<items>")] + body[body.index("</items>") + len("</items>") :]
    body = body[: body.index("<orderLines>")] + body[body.index("</orderLines>") + len("</orderLines>") :]

    status, flag, _code, message = post(client, body)

    assert (status, flag) == (200, "failure")
    assert message.startswith("packages.package.items: a partial confirmation")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CREATED


# --- a short shipment ---------------------------------------------------------------------------------


def test_a_short_final_shipment_reroutes_the_rest_with_an_alert(client, shipment, sf, tracking):
    # given another warehouse has the SKU the cloud warehouse will not ship
    elsewhere = WarehouseFactory(code="WH-SH", name="Shanghai", province="上海市", city="上海市")
    receive(SKUFactory(code="SKU-2"), 5, elsewhere)

    # when the final confirmation holds SKU-1 ×2 only
    assert post(client, confirmation("deliveryorder_confirm_short", shipment.number))[:2] == (200, "success")

    # then SKU-1 left as its own parcel, the rest of the shipment was closed as short ...
    shipment.refresh_from_db()
    parcel = shipment.split_parcels.get()
    assert (parcel.status, parcel.tracking_number, units(parcel)) == (
        ShipmentStatus.SHIPPED,
        "SF1400000000003",
        {"SKU-1": 2},
    )
    assert shipment.status == ShipmentStatus.CANCELLED
    assert shipment.problem.startswith("Short shipment: warehouse WH-HZ closed")
    assert "SKU-2 ×1" in shipment.problem
    # ... and routed again to the warehouse that has it
    rerouted = Shipment.objects.get(order=shipment.order, warehouse=elsewhere)
    assert (rerouted.status, units(rerouted)) == (ShipmentStatus.SENT_TO_WAREHOUSE, {"SKU-2": 1})
    # the order is not shipped: one parcel left, one is on its way from elsewhere
    order = Order.objects.get(pk=shipment.order_id)
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    # the managers are told, and the timeline says what happened
    alert = Alert.objects.get(key=callbacks.short_shipment_alert_key(shipment.pk))
    assert alert.state == AlertState.OPEN
    assert "SKU-2 ×1" in alert.message and rerouted.number in alert.message
    short = OrderEvent.objects.get(
        order=order, kind=OrderEventKind.SHIPMENT, payload__transition="short_shipped"
    )
    assert short.payload["lines"] == [{"line": 2, "sku": "SKU-2", "quantity": 1}]
    assert OrderEvent.objects.filter(order=order, kind=OrderEventKind.ROUTED).count() == 2

    # a repeat of the confirmation changes nothing
    post(client, confirmation("deliveryorder_confirm_short", shipment.number))
    assert last_message().status == InboundStatus.IGNORED
    assert Shipment.objects.filter(order=shipment.order).count() == 3
    assert Alert.objects.get(key=callbacks.short_shipment_alert_key(shipment.pk)).occurrences == 1


def test_a_short_shipment_with_the_rest_nowhere_alerts_and_never_shows_shipped(client, shipment, sf):
    post(client, confirmation("deliveryorder_confirm_short", shipment.number))

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    order = Order.objects.get(pk=shipment.order_id)
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    assert Alert.objects.get(key=callbacks.short_shipment_alert_key(shipment.pk)).state == AlertState.OPEN
    # routing found no other warehouse for SKU-2 and says so
    assert Alert.objects.filter(kind="routing_short", state=AlertState.OPEN).exists()
