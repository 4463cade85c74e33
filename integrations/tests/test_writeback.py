"""Shipment write-back (发货回传, issue #15), end to end: an order arrives through the platform's real
webhook, is routed (split over two warehouses when no warehouse holds it all), its parcels are
driven through the real shipment services, and the fake Shopify / WooCommerce store on localhost
(fake_platforms.py: auth checked as the platform does, answers shaped like the published samples
in payloads/, SOURCES.md §11–§12) must end up with exactly the parcel's tracking and lines — once,
however often the outbox delivers and whatever failed on the way."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from core.models import Alert, AlertState, OutboxMessage, OutboxState
from core.outbox import outbox_deliver
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import Carrier, ShipmentStatus
from fulfilment.services import shipment_transition
from fulfilment.tracking import TrackingUpdate, record_tracking
from integrations import writeback
from integrations.models import CarrierCode, ShipmentWriteBack, WriteBackState
from integrations.shopify.client import throttle_wait
from integrations.tests.conftest import SECRET, WOO_SECRET, payload, raw, sign
from integrations.tests.fake_platforms import (
    SHOPIFY_TOKEN,
    WOO_CONSUMER_SECRET,
    WOO_KEY,
    FakeShopify,
    FakeWoo,
    ShopifyHandler,
    WooHandler,
    sample,
    serve,
)
from inventory.models import BundleComponent, Warehouse, WarehouseKind
from orders.models import Order
from orders.tests.factories import (
    CarrierFactory,
    ChannelFactory,
    SKUFactory,
    WarehouseFactory,
    ensure_master_data,
    make_order,
    receive,
)

pytestmark = pytest.mark.django_db

WS = WriteBackState
PINK, BLACK = "866550311766439020", "141249953214522974"  # the line items of shopify_orders_create.json


# --- set-up ------------------------------------------------------------------------------------


@pytest.fixture
def shopify():
    store = FakeShopify()
    stop = serve(store, ShopifyHandler)
    yield store
    stop()


@pytest.fixture
def woo():
    store = FakeWoo()
    stop = serve(store, WooHandler)
    yield store
    stop()


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def warehouses(db):
    """WH-HZ and WH-SH, empty."""
    ensure_master_data(stock=0)
    shanghai = Warehouse.objects.create(
        code="WH-SH", name="Shanghai", kind=WarehouseKind.OWN, province="上海市", city="上海市"
    )
    return WarehouseFactory(), shanghai


@pytest.fixture
def sf(db):
    return CarrierFactory()  # SF Express, Kuaidi100 "shunfeng"


def shopify_shop(store, **changes):
    credentials = {"access_token": SHOPIFY_TOKEN, "base_url": store.base_url}
    return ChannelFactory(
        code="shop-us",
        platform="shopify",
        webhook_secret=SECRET,
        currency="USD",
        time_zone="America/New_York",
        api_credentials=credentials,
        **changes,
    )


def woo_shop(store, **changes):
    credentials = {
        "base_url": store.base_url,
        "consumer_key": WOO_KEY,
        "consumer_secret": WOO_CONSUMER_SECRET,
    }
    return ChannelFactory(
        code="woo-cn",
        platform="woocommerce",
        webhook_secret=WOO_SECRET,
        api_credentials=credentials,
        **changes,
    )


def shopify_order(client, capture, data) -> Order:
    """The order as Shopify's orders/create webhook brings it (signed), routed on commit."""
    body = raw(data)
    with capture(execute=True):
        response = client.post(
            "/integrations/webhooks/shopify/shop-us/",
            data=body,
            content_type="application/json",
            HTTP_X_SHOPIFY_TOPIC="orders/create",
            HTTP_X_SHOPIFY_WEBHOOK_ID=f"wh-{data['id']}",
            HTTP_X_SHOPIFY_SHOP_DOMAIN="conduit-demo.myshopify.com",
            HTTP_X_SHOPIFY_HMAC_SHA256=sign(body),
        )
    assert response.status_code == 202
    return Order.objects.get(channel__code="shop-us", external_id=str(data["id"]))


def woo_order(client, capture, data) -> Order:
    body = raw(data)
    with capture(execute=True):
        response = client.post(
            "/integrations/webhooks/woocommerce/woo-cn/",
            data=body,
            content_type="application/json",
            HTTP_X_WC_WEBHOOK_TOPIC="order.created",
            HTTP_X_WC_WEBHOOK_DELIVERY_ID=f"d-{data['id']}",
            HTTP_X_WC_WEBHOOK_SOURCE="https://shop.example.com/",
            HTTP_X_WC_WEBHOOK_SIGNATURE=sign(body, WOO_SECRET),
        )
    assert response.status_code == 202
    return Order.objects.get(channel__code="woo-cn", external_id=str(data["id"]))


def parcels(order) -> list:
    return [s for s in fulfilment_selectors.order_shipments(order) if s.status != ShipmentStatus.CANCELLED]


def skus_in(shipment) -> dict[str, int]:
    return {line.sku.code: line.quantity for line in shipment.order_lines}


def ship(capture, shipment, carrier: Carrier, number: str):
    """The warehouse hands the parcel to the carrier (the real shipment services, as the system);
    what that enqueues (the write-back among it) is delivered on commit."""
    with capture(execute=True):
        if shipment.status == ShipmentStatus.CREATED:
            shipment = shipment_transition(shipment=shipment, name="send_to_warehouse")
        if shipment.status in (ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING):
            shipment = shipment_transition(shipment=shipment, name="pack")
        shipment_transition(
            shipment=shipment, name="ship", args={"carrier": carrier, "tracking_number": number}
        )


def write_back_of(shipment) -> ShipmentWriteBack:
    return ShipmentWriteBack.objects.get(shipment=shipment)


def deliver_again(row: ShipmentWriteBack) -> str:
    """The outbox's next attempt, once its backoff has passed (the outbox reckons from `now`)."""
    attempts = OutboxMessage.objects.get(pk=row.outbox_message_id).attempts
    return outbox_deliver(row.outbox_message_id, now=timezone.now() + timedelta(hours=2 * (attempts + 1)))


def shipped_on(shipment) -> str:
    shipment.refresh_from_db()
    return shipment.shipped_at.astimezone(shipment.order.channel.time_zone).date().isoformat()


def line(item_id: str, quantity: int) -> dict:
    return {"quantity": quantity, "lineItem": {"id": f"gid://shopify/LineItem/{item_id}"}}


# --- Shopify ---------------------------------------------------------------------------------------


def test_shopify_split_order_two_parcels_two_fulfillments_each_with_its_lines(
    shopify, warehouses, sf, client, capture, manager
):
    hangzhou, shanghai = warehouses
    receive(SKUFactory(code="IPOD2008PINK"), 5, warehouse=hangzhou)
    receive(SKUFactory(code="IPOD2008BLACK"), 5, warehouse=shanghai)  # no warehouse holds both
    shopify_shop(shopify)
    CarrierCode.objects.create(platform="shopify", carrier=sf, code="SF Express")  # on Shopify's list
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data)

    order = shopify_order(client, capture, data)

    by_sku = {tuple(skus_in(p)): p for p in parcels(order)}
    assert len(by_sku) == 2  # split: one parcel from each warehouse
    pink, black = by_sku[("IPOD2008PINK",)], by_sku[("IPOD2008BLACK",)]

    ship(capture, pink, sf, "SF1000000001")

    [fulfillment] = shopify.fulfillments(order_gid)
    assert fulfillment["trackingInfo"] == [{"company": "SF Express", "number": "SF1000000001", "url": None}]
    assert fulfillment["lines"] == [line(PINK, 1)]
    assert fulfillment["notifyCustomer"] is False  # the shop's customers hear from us (notify_customers)
    row = write_back_of(pink)
    assert (row.state, row.platform_reference, row.attempts) == (WS.SENT, fulfillment["id"], 1)

    ship(capture, black, sf, "SF1000000002")

    assert [(f["trackingInfo"][0]["number"], f["lines"]) for f in shopify.fulfillments(order_gid)] == [
        ("SF1000000001", [line(PINK, 1)]),
        ("SF1000000002", [line(BLACK, 2)]),
    ]
    assert write_back_of(black).state == WS.SENT
    # nothing is left open on Shopify's fulfillment order
    [fo] = shopify.orders[order_gid]["fulfillment_orders"]
    assert [item["remainingQuantity"] for item in fo["lineItems"]["nodes"]] == [0, 0]

    # the order page shows, per parcel, that Shopify has it
    client.force_login(manager)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert page.count("write-back-sent") == 2
    assert fulfillment["id"] in page


def test_shopify_write_back_failing_twice_then_fulfils_exactly_once(shopify, sf, client, capture, manager):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify)
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data)
    order = shopify_order(client, capture, data)
    [parcel] = parcels(order)
    shopify.faults = [(None, "throttled"), (None, 503)]  # Shopify's THROTTLED answer, then a 503
    before = timezone.now()

    ship(capture, parcel, sf, "SF2000000001")

    row = write_back_of(parcel)
    message = OutboxMessage.objects.get(pk=row.outbox_message_id)
    assert (row.state, row.attempts, message.state) == (WS.PENDING, 1, OutboxState.PENDING)
    assert "THROTTLED" in row.last_error or "rate limited" in row.last_error
    assert message.next_attempt_at >= before + timedelta(seconds=2)  # no cost given: the default wait
    client.force_login(manager)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert "write-back-pending" in page and "Attempt 1 failed:" in page

    assert deliver_again(row) == "retry"  # the 503
    row.refresh_from_db()
    assert (row.state, row.attempts) == (WS.PENDING, 2) and "503" in row.last_error
    assert shopify.fulfillments(order_gid) == []

    assert deliver_again(row) == "delivered"

    row.refresh_from_db()
    [fulfillment] = shopify.fulfillments(order_gid)
    assert fulfillment["lines"] == [line(PINK, 1), line(BLACK, 2)]
    assert (row.state, row.attempts, row.last_error, row.already_done) == (WS.SENT, 3, "", False)
    assert len(shopify.calls("fulfillmentCreate")) == 1

    # the outbox delivers the message once more (a lease that ran out): nothing new is made
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    assert outbox_deliver(message.pk) == "delivered"
    # and even if our own record were lost, Shopify's fulfillments say it is done
    ShipmentWriteBack.objects.filter(pk=row.pk).update(state=WS.PENDING)
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    assert outbox_deliver(message.pk) == "delivered"
    row.refresh_from_db()
    assert row.state == WS.SENT and row.already_done and row.platform_reference == fulfillment["id"]
    assert len(shopify.fulfillments(order_gid)) == 1 and len(shopify.calls("fulfillmentCreate")) == 1


def test_a_fulfillment_whose_answer_was_lost_is_not_made_twice(shopify, sf, client, capture):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify)
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data)
    [parcel] = parcels(shopify_order(client, capture, data))
    shopify.faults = [("fulfillmentCreate", "lost")]  # made on Shopify, but the answer is a 503

    ship(capture, parcel, sf, "SF3000000001")

    assert len(shopify.fulfillments(order_gid)) == 1
    assert write_back_of(parcel).state == WS.PENDING
    assert deliver_again(write_back_of(parcel)) == "delivered"
    row = write_back_of(parcel)
    assert row.state == WS.SENT and row.already_done
    assert len(shopify.fulfillments(order_gid)) == 1 and len(shopify.calls("fulfillmentCreate")) == 1


def test_a_refused_write_back_fails_raises_an_alert_and_is_sent_again_by_a_manager(
    shopify, sf, client, capture, manager, agent
):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify)
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data, status="ON_HOLD")  # held on Shopify: no CREATE_FULFILLMENT
    order = shopify_order(client, capture, data)
    [parcel] = parcels(order)

    ship(capture, parcel, sf, "SF4000000001")

    row = write_back_of(parcel)
    assert row.state == WS.FAILED
    assert "held on fulfillment orders ON_HOLD" in row.last_error
    assert OutboxMessage.objects.get(pk=row.outbox_message_id).state == OutboxState.DEAD
    alert = Alert.objects.get(kind=writeback.ALERT_KIND)
    assert alert.state == AlertState.OPEN and alert.role == "manager"
    assert order.number in alert.message and "ON_HOLD" in alert.message
    assert shopify.calls("fulfillmentCreate") == []

    # the order page shows the platform's error; only a manager gets the button
    url = reverse("orders:detail", args=[order.number])
    retry = reverse("integrations_desk:writeback-retry", args=[row.pk])
    client.force_login(agent)
    page = client.get(url).content.decode()
    assert "write-back-failed" in page and "ON_HOLD" in page and retry not in page
    assert client.post(retry).status_code == 302 and write_back_of(parcel).state == WS.FAILED  # refused
    client.force_login(manager)
    page = client.get(url).content.decode()
    assert retry in page
    failed_queue = client.get(reverse("integrations_desk:failed")).content.decode()
    assert order.number in failed_queue and "ON_HOLD" in failed_queue
    home = {str(q.label): q.count for q in client.get(reverse("desk:home")).context["queues"]}
    assert home["Parcels the platform was not told of"] == 1

    # the hold is released on Shopify; the manager sends it again
    shopify.release_holds(order_gid)
    with capture(execute=True):
        response = client.post(retry, {"next": url})
    assert response.status_code == 302

    row.refresh_from_db()
    assert row.state == WS.SENT
    assert [f["lines"] for f in shopify.fulfillments(order_gid)] == [[line(PINK, 1), line(BLACK, 2)]]
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_one_parcel_from_two_shopify_locations_makes_one_fulfillment_per_location(
    shopify, sf, client, capture
):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify)
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data, locations={BLACK: "gid://shopify/Location/24826418"})
    [parcel] = parcels(shopify_order(client, capture, data))

    ship(capture, parcel, sf, "SF5000000001")

    assert sorted(
        (f["trackingInfo"][0]["number"], f["lines"][0]["quantity"]) for f in shopify.fulfillments(order_gid)
    ) == [
        ("SF5000000001", 1),
        ("SF5000000001", 2),
    ]
    row = write_back_of(parcel)
    assert row.state == WS.SENT and row.platform_reference.count("gid://shopify/Fulfillment/") == 2


@override_settings(WRITEBACK_TRACKING_URL="https://track.example.com/{carrier}?nu={number}")
def test_a_carrier_shopify_does_not_list_goes_by_name_with_its_tracking_url(shopify, client, capture):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify)
    zto = Carrier.objects.create(code="zto", name="中通快递", tracking_code="zhongtong")  # no map row
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data)
    [parcel] = parcels(shopify_order(client, capture, data))

    ship(capture, parcel, zto, "7500 1234")

    [fulfillment] = shopify.fulfillments(order_gid)
    assert fulfillment["trackingInfo"] == [
        {
            "company": "中通快递",
            "number": "7500 1234",
            "url": "https://track.example.com/zhongtong?nu=7500%201234",
        }
    ]


def test_a_channel_that_writes_back_at_the_first_scan_waits_for_it(shopify, sf, client, capture, manager):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify, writeback_on="first_scan")
    data = payload("shopify_orders_create", financial_status="paid")
    order_gid = shopify.add_order(data)
    order = shopify_order(client, capture, data)
    [parcel] = parcels(order)

    ship(capture, parcel, sf, "SF6000000001")

    row = write_back_of(parcel)
    assert (row.state, row.outbox_message_id) == (WS.PENDING, None)
    assert shopify.requests == []
    client.force_login(manager)
    assert "write-back-waiting" in client.get(reverse("orders:detail", args=[order.number])).content.decode()

    scan = TrackingUpdate(occurred_at=timezone.now(), status="accepted", description="已揽收")
    with capture(execute=True):
        record_tracking(shipment=parcel.pk, events=[scan], source="push")

    row.refresh_from_db()
    assert (row.state, row.trigger) == (WS.SENT, "first_scan")
    assert [f["trackingInfo"][0]["number"] for f in shopify.fulfillments(order_gid)] == ["SF6000000001"]


def test_shopify_answers_are_read_as_the_samples_show():
    # the SDK README's cost sample: 999 of 1000 points left for a query of 1 → the minimum wait
    assert throttle_wait(sample("shopify_graphql_cost_extensions_sample")["extensions"]) == 1.0
    # the same bucket drained: 752 points wanted, 666 left, 50 a second → 1.72 s
    drained = sample("shopify_graphql_cost_extensions_sample")["extensions"]
    drained["cost"].update({"requestedQueryCost": 752})
    drained["cost"]["throttleStatus"].update({"currentlyAvailable": 666})
    assert throttle_wait(drained) == pytest.approx(1.72)
    # the THROTTLED sample carries no cost: the default wait
    assert throttle_wait(sample("shopify_graphql_throttled_response").get("extensions")) == 2.0


# --- WooCommerce -----------------------------------------------------------------------------------


@override_settings(WRITEBACK_TRACKING_URL="https://track.example.com/{carrier}/{number}")
def test_woocommerce_split_order_gets_a_tracking_per_parcel_and_completes_with_the_last(
    woo, warehouses, sf, client, capture, manager
):
    hangzhou, shanghai = warehouses
    receive(SKUFactory(code="WOO-1"), 5, warehouse=hangzhou)
    receive(SKUFactory(code="WOO-2"), 5, warehouse=shanghai)
    woo_shop(woo)
    data = payload("woocommerce_order_created", status="processing")
    woo.add_order(data)
    order = woo_order(client, capture, data)
    by_sku = {tuple(skus_in(p)): p for p in parcels(order)}
    first, last = by_sku[("WOO-1",)], by_sku[("WOO-2",)]

    ship(capture, first, sf, "SF7000000001")

    assert [item["tracking_number"] for item in woo.trackings(727)] == ["SF7000000001"]
    [created] = woo.calls("POST /wp-json/wc-shipment-tracking/v3/orders/<id>/shipment-trackings")
    assert created["body"] == {
        "tracking_number": "SF7000000001",
        "custom_tracking_provider": "SF Express",  # no provider mapped: the carrier's name
        "custom_tracking_link": "https://track.example.com/shunfeng/SF7000000001",
        "date_shipped": shipped_on(first),  # the store's day
    }
    assert woo.status(727) == "processing"  # one parcel of two: not completed yet
    assert woo.calls("PUT /wp-json/wc/v3/orders/<id>") == []

    ship(capture, last, sf, "SF7000000002")

    assert [item["tracking_number"] for item in woo.trackings(727)] == ["SF7000000001", "SF7000000002"]
    assert woo.status(727) == "completed"
    operations = [r["operation"] for r in woo.requests]
    assert operations[-2:] == [
        "POST /wp-json/wc-shipment-tracking/v3/orders/<id>/shipment-trackings",
        "PUT /wp-json/wc/v3/orders/<id>",
    ]  # the tracking first, so that the "completed order" e-mail carries it
    assert [write_back_of(p).state for p in (first, last)] == [WS.SENT, WS.SENT]
    client.force_login(manager)
    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()
    assert page.count("write-back-sent") == 2


def test_woocommerce_fails_twice_then_adds_the_tracking_exactly_once(woo, sf, client, capture):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="WOO-1"), 5)
    receive(SKUFactory(code="WOO-2"), 5)
    woo_shop(woo)
    aramex = Carrier.objects.create(code="aramex", name="Aramex Express")
    CarrierCode.objects.create(platform="woocommerce", carrier=aramex, code="Aramex")  # the store's provider
    data = payload("woocommerce_order_created", status="processing")
    woo.add_order(data)
    [parcel] = parcels(woo_order(client, capture, data))
    create = "POST /wp-json/wc-shipment-tracking/v3/orders/<id>/shipment-trackings"
    woo.faults = [(create, 503), (create, "lost")]  # a 503, then one that was made but answered 503

    ship(capture, parcel, aramex, "AX123456")
    row = write_back_of(parcel)
    assert (row.state, row.attempts) == (WS.PENDING, 1) and "503" in row.last_error
    assert woo.trackings(727) == []

    assert deliver_again(row) == "retry"  # the lost answer
    assert len(woo.trackings(727)) == 1
    assert deliver_again(row) == "delivered"

    [item] = woo.trackings(727)
    assert (item["tracking_provider"], item["tracking_number"]) == ("Aramex", "AX123456")
    assert item["tracking_link"] == "https://www.aramex.com/track/track-results-new?ShipmentNumber=AX123456"
    assert woo.status(727) == "completed"
    row.refresh_from_db()
    assert (row.state, row.attempts, row.already_done, row.platform_reference) == (
        WS.SENT,
        3,
        True,
        item["tracking_id"],
    )
    # delivered once more: still one tracking item
    OutboxMessage.objects.filter(pk=row.outbox_message_id).update(
        state=OutboxState.PENDING, next_attempt_at=timezone.now()
    )
    ShipmentWriteBack.objects.filter(pk=row.pk).update(state=WS.PENDING)
    assert outbox_deliver(row.outbox_message_id) == "delivered"
    assert len(woo.trackings(727)) == 1 and len(woo.calls(create)) == 2


def test_a_store_without_shipment_tracking_fails_with_a_clear_error(sf, client, capture):
    store = FakeWoo(tracking_installed=False)
    stop = serve(store, WooHandler)
    try:
        ensure_master_data(stock=0)
        receive(SKUFactory(code="WOO-1"), 5)
        receive(SKUFactory(code="WOO-2"), 5)
        woo_shop(store)
        data = payload("woocommerce_order_created", status="processing")
        store.add_order(data)
        [parcel] = parcels(woo_order(client, capture, data))

        ship(capture, parcel, sf, "SF8000000001")
    finally:
        stop()

    row = write_back_of(parcel)
    assert row.state == WS.FAILED
    assert (
        "rest_no_route" in row.last_error and "Shipment Tracking extension is not installed" in row.last_error
    )
    assert Alert.objects.filter(kind=writeback.ALERT_KIND, state=AlertState.OPEN).count() == 1


def test_woocommerce_refuses_wrong_keys(woo, sf, client, capture):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="WOO-1"), 5)
    receive(SKUFactory(code="WOO-2"), 5)
    channel = woo_shop(woo)
    channel.api_credentials = {**channel.api_credentials, "consumer_secret": "cs_wrong"}
    channel.save()
    data = payload("woocommerce_order_created", status="processing")
    woo.add_order(data)
    [parcel] = parcels(woo_order(client, capture, data))

    ship(capture, parcel, sf, "SF9000000001")

    row = write_back_of(parcel)
    assert row.state == WS.FAILED and "HTTP 401" in row.last_error
    assert "woocommerce_rest_authentication_error" in row.last_error
    assert woo.trackings(727) == []


# --- the framework ---------------------------------------------------------------------------------


def test_channels_without_a_write_back_record_why_and_send_nothing(sf, capture):
    ensure_master_data()
    ChannelFactory(code="woo-off", platform="woocommerce", writeback_on="off")
    with capture(execute=True):  # routed on commit
        generic = make_order(paid=True)  # the generic channel shop-cn: API / Excel, no platform to tell
        off = make_order(paid=True, channel="woo-off")
    for order in (generic, off):
        [parcel] = parcels(order)
        ship(capture, parcel, sf, f"SF-{order.pk}")

    rows = {row.order_id: row for row in ShipmentWriteBack.objects.all()}
    assert rows[generic.pk].state == rows[off.pk].state == WS.SKIPPED
    assert "Generic" in rows[generic.pk].last_error
    assert "never" in rows[off.pk].last_error
    assert not OutboxMessage.objects.filter(kind=writeback.KIND).exists()


def test_a_platform_that_only_takes_its_codes_refuses_an_unmapped_carrier(
    shopify, sf, client, capture, monkeypatch
):
    from integrations.shopify.client import ShopifyClient

    monkeypatch.setattr(ShopifyClient, "writeback_requires_carrier_code", True, raising=False)
    ensure_master_data(stock=0)
    receive(SKUFactory(code="IPOD2008PINK"), 5)
    receive(SKUFactory(code="IPOD2008BLACK"), 5)
    shopify_shop(shopify)
    data = payload("shopify_orders_create", financial_status="paid")
    shopify.add_order(data)
    [parcel] = parcels(shopify_order(client, capture, data))

    ship(capture, parcel, sf, "SF1100000001")

    row = write_back_of(parcel)
    assert row.state == WS.FAILED and "“SF Express” has no Shopify code" in row.last_error
    assert shopify.requests == []  # nothing was sent


def test_bundle_components_are_told_as_the_bundle_line_in_the_parcel_that_completes_it(
    warehouses, sf, capture
):
    hangzhou, shanghai = warehouses
    box = SKUFactory(code="BOX", is_bundle=True)
    BundleComponent.objects.create(bundle=box, component=SKUFactory(code="SKU-1"), quantity=2)
    BundleComponent.objects.create(bundle=box, component=SKUFactory(code="SKU-2"), quantity=1)
    receive(SKUFactory(code="SKU-1"), 10, warehouse=hangzhou)
    receive(SKUFactory(code="SKU-3"), 10, warehouse=hangzhou)
    receive(SKUFactory(code="SKU-2"), 10, warehouse=shanghai)
    with capture(execute=True):  # routed on commit
        order = make_order(
            paid=True,
            lines=[
                {"sku": "BOX", "quantity": 1, "unit_price": "100.00", "platform_line_id": "L-BOX"},
                {"sku": "SKU-3", "quantity": 1, "unit_price": "20.00", "platform_line_id": "L-3"},
            ],
        )
    by_sku = {tuple(sorted(skus_in(p))): p for p in parcels(order)}
    first, second = by_sku[("SKU-1", "SKU-3")], by_sku[("SKU-2",)]
    ship(capture, first, sf, "SF1200000001")
    ship(capture, second, sf, "SF1200000002")
    first.refresh_from_db()
    second.refresh_from_db()

    def notice(parcel):
        return writeback.build_notice(ShipmentWriteBack(shipment=parcel, order=order, channel=order.channel))

    one, two = notice(first), notice(second)
    # SKU-1 ×2 of the box left with SKU-3; the box is whole only with SKU-2 in the second parcel
    assert [(n.platform_line_id, n.quantity, n.line_quantity) for n in one.lines] == [("L-3", 1, 1)]
    assert [(n.platform_line_id, n.quantity, n.line_quantity) for n in two.lines] == [("L-BOX", 1, 1)]
    assert (one.parcel_count, two.parcel_count) == (2, 2)
    assert {one.parcel_index, two.parcel_index} == {1, 2}
    assert (one.all_lines_shipped, two.all_lines_shipped) == (False, True)
    assert (one.carrier_code, one.carrier_name, one.tracking_number) == ("", "SF Express", "SF1200000001")


def test_the_carrier_code_map_admin_names_the_field_of_a_bad_row(admin_client, sf):
    woo = ChannelFactory(code="woo-x", platform="woocommerce")
    url = "/admin/integrations/carriercode/add/"
    row = {
        "platform": "shopify",
        "channel": "",
        "carrier": sf.pk,
        "code": "SF Express",
        "name": "",
        "tracking_url": "",
    }

    response = admin_client.post(url, {**row, "channel": woo.pk})
    assert response.status_code == 200
    assert "This channel is not on the platform chosen." in response.content.decode()
    response = admin_client.post(url, {**row, "tracking_url": "https://track.example.com/"})
    assert (
        response.status_code == 200
        and "Put {number} where the tracking number goes." in response.content.decode()
    )
    assert not CarrierCode.objects.exists()

    assert (
        admin_client.post(url, {**row, "tracking_url": "https://track.example.com/{number}"}).status_code
        == 302
    )
    assert admin_client.post(url, row).status_code == 200  # the platform's row for SF exists already
    assert CarrierCode.objects.count() == 1
    assert admin_client.get("/admin/integrations/carriercode/").status_code == 200
    assert admin_client.get(f"/admin/integrations/channel/{woo.pk}/change/").status_code == 200
    assert admin_client.get("/admin/integrations/shipmentwriteback/").status_code == 200
