"""Amazon SP-API adapter against a fake Amazon on localhost (fake_amazon.py: Login with Amazon
tokens it issued checked on every call, a Restricted Data Token for the buyer and address, usage
plans answered 429 QuotaExceeded, answers built from the published sandbox samples in
payloads/amazon_*, SOURCES.md §14).

Orders are the sandbox's: TEST_CASE_200 order 902-1845936-5435065 (Unshipped, OrderTotal 11.01)
with its sandbox items (ItemPrice 10.00, ItemTax 1.01), buyer and address; the sandbox's Pending
order 902-3159896-1390916 (no OrderTotal); the getOrderItems example's items (CBA_OTF_1 /
CBA_OTF_5). The sandbox's dates (1970-01-19…) are junk and are replaced; where a test needs a
status or an amount no sample has (a promotion, shipping charges, a split order) it says what it
changed."""

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone

from core.http import PlatformError, RateLimited, is_temporary
from core.outbox import PermanentFailure, outbox_deliver
from core.timezones import business_date
from fulfilment import selectors as fulfilment_selectors
from fulfilment.models import ShipmentStatus
from fulfilment.services import shipment_transition
from integrations import stock_sync
from integrations.adapters import get_adapter
from integrations.amazon import client as amazon_client
from integrations.amazon import mapping
from integrations.amazon.client import AmazonClient
from integrations.models import (
    ChannelListing,
    InboundMessage,
    InboundStatus,
    ShipmentWriteBack,
    SyncCursor,
    WriteBackState,
)
from integrations.sync import SyncStatus, channel_sync
from integrations.tests import fake_amazon
from integrations.tests.conftest import payload
from integrations.tests.fake_amazon import CLIENT_ID, CLIENT_SECRET, SELLER_ID, US, FakeClock
from integrations.writeback_contract import NoticeLine, ShipmentNotice
from inventory.models import Warehouse, WarehouseKind
from orders.models import Order, OrderStatus
from orders.tests.factories import (
    CarrierFactory,
    ChannelFactory,
    SKUFactory,
    WarehouseFactory,
    ensure_master_data,
    receive,
)

SANDBOX_ID, PENDING_ID = "902-1845936-5435065", "902-3159896-1390916"
SANDBOX_SKU, EXAMPLE_SKU, EXAMPLE_SKU_2 = "NABetaASINB00551Q3CS", "CBA_OTF_5", "CBA_OTF_1"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
WS = WriteBackState


# --- set-up ------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """One clock for the client's token expiry, buckets and pauses and the fake's: a pause
    moves it, so waiting for a bucket takes no real time."""
    clock = FakeClock()
    monkeypatch.setattr(amazon_client, "monotonic", clock.monotonic)
    monkeypatch.setattr(amazon_client, "sleep", clock.sleep)
    return clock


@pytest.fixture
def amazon(clock):
    fake, server, thread = fake_amazon.start(clock)
    yield fake
    fake_amazon.stop(server, thread)


def credentials(fake, **changes) -> dict:
    return {
        "refresh_token": fake.refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "marketplace_id": US,
        "seller_id": SELLER_ID,
        "endpoint": fake.url,
        "lwa_url": f"{fake.url}/auth/o2/token",
        **changes,
    }


@pytest.fixture
def channel(db, amazon):
    ensure_master_data()
    for code in (SANDBOX_SKU, EXAMPLE_SKU, EXAMPLE_SKU_2):
        receive(SKUFactory(code=code), 20)
    return ChannelFactory(
        code="amz-us",
        platform="amazon",
        currency="USD",
        time_zone="America/Los_Angeles",
        api_credentials=credentials(amazon),
    )


def usd(amount: str) -> dict:
    return {"CurrencyCode": "USD", "Amount": amount}


def at(minutes_before_now: int) -> str:
    return (NOW - timedelta(minutes=minutes_before_now)).isoformat().replace("+00:00", "Z")


def sandbox_order(**changes) -> dict:
    """getOrders sandbox TEST_CASE_200's first order with getOrderAddress / getOrderBuyerInfo
    sandbox's address and buyer (same order id), updated 20 minutes ago."""
    order = payload("amazon_get_orders_response")["payload"]["Orders"][0]
    order["ShippingAddress"] = payload("amazon_get_order_address_response")["payload"]["ShippingAddress"]
    buyer = payload("amazon_get_order_buyer_info_response")["payload"]
    del buyer["AmazonOrderId"]
    order["BuyerInfo"] = buyer
    order.update(PurchaseDate=at(30), LastUpdateDate=at(20))
    order.update(changes)
    return order


def sandbox_items() -> list[dict]:
    return payload("amazon_get_order_items_response")["payload"]["OrderItems"]


def example_item(index: int) -> dict:
    return payload("amazon_get_order_items_example_response")["payload"]["OrderItems"][index]


def split_order(order_id: str = "902-1111111-2222222", **changes) -> tuple[dict, list[dict]]:
    """The sandbox order as another order id with two items: the sandbox item bought 3 times for
    ItemPrice 10.00 (3.33 a unit and a cent over) with a promotion and shipping charges, and the
    example's CBA_OTF_5 item (2 × 17.95 in USD instead of the example's JPY) with tax."""
    first = sandbox_items()[0]
    first.update(
        QuantityOrdered=3,
        ItemPrice=usd("10.00"),
        ItemTax=usd("0.80"),
        PromotionDiscount=usd("1.50"),
        PromotionDiscountTax=usd("0.12"),
        PromotionIds=["PLM-HOLIDAY-10"],
        ShippingPrice=usd("4.99"),
        ShippingTax=usd("0.40"),
        ShippingDiscount=usd("1.00"),
        ShippingDiscountTax=usd("0.08"),
    )
    second = {k: v for k, v in example_item(1).items() if k not in ("BuyerInfo", "BuyerRequestedCancel")}
    second.update(ItemPrice=usd("17.95"), ItemTax=usd("1.44"), QuantityShipped=0)
    # OrderTotal, every ItemPrice being its line's total: 10.00 − 1.50 + (0.80 − 0.12) + 17.95 + 1.44
    # + shipping 4.99 − 1.00 + (0.40 − 0.08) = 32.88
    order = sandbox_order(AmazonOrderId=order_id, OrderTotal=usd("32.88"), **changes)
    return order, [first, second]


def sync(channel, now=NOW):
    return channel_sync(channel_id=channel.pk, now=now)


def client_for(fake, **changes) -> AmazonClient:
    return AmazonClient(SimpleNamespace(code="amz-us", api_credentials=credentials(fake, **changes)))


# --- polling, end to end -------------------------------------------------------------------------


def test_polling_stores_paid_orders_with_exact_money_buyer_and_address(channel, amazon):
    amazon.add_order(sandbox_order(), sandbox_items())
    pending = payload("amazon_get_orders_next_token_page1_response")["payload"]["Orders"][0]
    amazon.add_order({**pending, "PurchaseDate": at(25), "LastUpdateDate": at(25)}, sandbox_items())
    order, items = split_order(OrderStatus="PartiallyShipped", LastUpdateDate=at(15))
    items[0]["QuantityShipped"] = 1
    amazon.add_order(order, items)
    afn = sandbox_order(AmazonOrderId="902-7777777-7777777", FulfillmentChannel="AFN", LastUpdateDate=at(10))
    amazon.add_order(afn, sandbox_items())

    result = sync(channel)

    assert (result.status, result.orders_seen, result.messages_stored) == (SyncStatus.OK, 3, 3)
    # the window: since one day back (first run) and two minutes more, only MFN orders
    [orders_call] = [call for call in amazon.calls if call.operation == "getOrders"]
    assert orders_call.query == {
        "MarketplaceIds": US,
        "LastUpdatedAfter": (NOW - timedelta(days=1, minutes=2, seconds=5))
        .isoformat()
        .replace("+00:00", "Z"),
        "LastUpdatedBefore": (NOW - timedelta(seconds=5)).isoformat().replace("+00:00", "Z"),
        "FulfillmentChannels": "MFN",
        "MaxResultsPerPage": "100",
    }
    # the buyer and address came with an RDT asked for getOrders' PII, as the bulk-orders guide says
    [rdt_call] = [call for call in amazon.calls if call.operation == "createRestrictedDataToken"]
    assert rdt_call.body == {
        "restrictedResources": [
            {"method": "GET", "path": "/orders/v0/orders", "dataElements": ["buyerInfo", "shippingAddress"]}
        ]
    }
    assert orders_call.token.startswith("Atz.sprdt|") and rdt_call.token.startswith("Atza|")
    # no items asked for the Pending order: Amazon has no prices for it yet
    assert [c.path for c in amazon.calls if c.operation == "getOrderItems"] == [
        f"/orders/v0/orders/{SANDBOX_ID}/orderItems",
        "/orders/v0/orders/902-1111111-2222222/orderItems",
    ]
    assert InboundMessage.objects.get(dedupe_id=f"poll:{PENDING_ID}:{at(25)}").status == InboundStatus.IGNORED
    assert not Order.objects.filter(external_id=PENDING_ID).exists()
    assert not Order.objects.filter(external_id="902-7777777-7777777").exists()

    sandbox = Order.objects.get(channel=channel, external_id=SANDBOX_ID)
    assert sandbox.status == OrderStatus.PAID and sandbox.hold_reason == ""
    assert (sandbox.currency, sandbox.tax_included) == ("USD", False)
    assert (sandbox.goods_amount, sandbox.tax_amount, sandbox.total, sandbox.paid_amount) == (
        Decimal("10.00"),
        Decimal("1.01"),
        Decimal("11.01"),
        Decimal("11.01"),
    )
    [line] = sandbox.lines.all()
    assert (line.sku.code, line.platform_line_id, line.platform_item_id, line.seller_code) == (
        SANDBOX_SKU,
        "05015851154158",
        "B00551Q3CS",
        SANDBOX_SKU,
    )
    assert (line.quantity, line.unit_price, line.tax_amount, line.paid_amount) == (
        1,
        Decimal("10.00"),
        Decimal("1.01"),
        Decimal("11.01"),
    )
    assert (sandbox.customer_name, sandbox.customer_email) == (
        "MFNIntegrationTestMerchant",
        "fzyrv6gwkhbb15c@example.com",
    )
    assert (sandbox.ship_name, sandbox.ship_line1, sandbox.ship_city, sandbox.ship_province) == (
        "MFNIntegrationTestMerchant",
        "2201 WESTLAKE AVE",
        "SEATTLE",
        "WA",
    )
    assert (sandbox.ship_country, sandbox.ship_postcode) == ("US", "98121-2778")
    assert sandbox.placed_at == NOW - timedelta(minutes=30)

    split = Order.objects.get(channel=channel, external_id="902-1111111-2222222")
    assert split.status == OrderStatus.PAID and split.hold_reason == ""  # PartiallyShipped is paid
    first, second = split.lines.order_by("line_no")
    # ItemPrice is the line's total: 10.00 for 3 = 3.33 a unit and the cent kept as an adjustment
    assert (first.quantity, first.unit_price, first.adjustment, first.discount, first.tax_amount) == (
        3,
        Decimal("3.33"),
        Decimal("0.01"),
        Decimal("1.50"),
        Decimal("0.68"),  # ItemTax 0.80 − PromotionDiscountTax 0.12
    )
    assert first.discount_allocations == [
        {"amount": "1.50", "funded_by": "merchant", "title": "PLM-HOLIDAY-10"}
    ]
    assert first.paid_amount == Decimal("9.18")
    # 17.95 for 2 = 8.98 a unit and a cent less
    assert (second.sku.code, second.quantity, second.unit_price, second.adjustment, second.tax_amount) == (
        EXAMPLE_SKU,
        2,
        Decimal("8.98"),
        Decimal("-0.01"),
        Decimal("1.44"),
    )
    assert second.paid_amount == Decimal("19.39")
    assert (split.shipping_fee, split.shipping_discount, split.shipping_tax) == (
        Decimal("4.99"),
        Decimal("1.00"),
        Decimal("0.32"),  # ShippingTax 0.40 − ShippingDiscountTax 0.08
    )
    assert (split.tax_amount, split.total, split.paid_amount) == (
        Decimal("2.44"),
        Decimal("32.88"),
        Decimal("32.88"),
    )


def test_unshipped_shipped_and_canceled_versions(channel, amazon):
    order, items = split_order(LastUpdateDate=at(40))
    amazon.add_order(order, items)
    shipped = sandbox_order(AmazonOrderId="902-3333333-4444444", OrderStatus="Shipped", LastUpdateDate=at(35))
    amazon.add_order(shipped, sandbox_items())
    sync(channel, now=NOW - timedelta(minutes=30))
    taken = Order.objects.get(external_id="902-1111111-2222222")
    assert taken.status == OrderStatus.PAID
    assert Order.objects.get(external_id="902-3333333-4444444").status == OrderStatus.PAID

    # Canceled: the items come back with QuantityOrdered 0 and no prices, and no address
    cancelled_items = copy.deepcopy(items)
    for item in cancelled_items:
        item["QuantityOrdered"] = 0
        for name in ("ItemPrice", "ItemTax", "PromotionDiscount", "ShippingPrice"):
            item.pop(name, None)
    amazon.add_order({**order, "OrderStatus": "Canceled", "LastUpdateDate": at(10)}, cancelled_items)
    never_taken = sandbox_order(
        AmazonOrderId="902-5555555-6666666", OrderStatus="Canceled", LastUpdateDate=at(9)
    )
    amazon.add_order(never_taken, [{**sandbox_items()[0], "QuantityOrdered": 0}])

    result = sync(channel)

    assert result.status == SyncStatus.OK
    taken.refresh_from_db()
    assert taken.status == OrderStatus.CANCELLED
    # the address we hold stays: the Canceled version has none
    assert (taken.ship_line1, taken.ship_city, taken.customer_name) == (
        "2201 WESTLAKE AVE",
        "SEATTLE",
        "MFNIntegrationTestMerchant",
    )
    assert [(line.quantity, line.unit_price) for line in taken.lines.order_by("line_no")] == [
        (3, Decimal("3.33")),
        (2, Decimal("8.98")),
    ]
    assert taken.total == Decimal("32.88")  # the money as sold stays
    assert not Order.objects.filter(external_id="902-5555555-6666666").exists()
    assert (
        InboundMessage.objects.get(dedupe_id=f"poll:902-5555555-6666666:{at(9)}").status
        == InboundStatus.IGNORED
    )


def test_the_overlap_re_reads_orders_without_asking_their_items_again(channel, amazon):
    amazon.add_order(sandbox_order(LastUpdateDate=at(20)), sandbox_items())
    sync(channel)
    items_calls = len([c for c in amazon.calls if c.operation == "getOrderItems"])

    result = sync(channel, now=NOW + timedelta(minutes=1))

    assert result.status == SyncStatus.OK and result.orders_seen == 1 and result.messages_stored == 0
    assert len([c for c in amazon.calls if c.operation == "getOrderItems"]) == items_calls == 1
    assert Order.objects.filter(external_id=SANDBOX_ID).count() == 1


def test_get_orders_and_get_order_items_follow_next_token(channel, amazon):
    amazon.orders_page_size, amazon.item_page_size = 2, 1
    for n in range(3):
        amazon.add_order(
            sandbox_order(AmazonOrderId=f"902-000000{n}-1234567", LastUpdateDate=at(20 - n)), sandbox_items()
        )
    order, items = split_order(LastUpdateDate=at(5))
    amazon.add_order(order, items)

    result = sync(channel)

    assert result.pages_fetched == 2
    first, second = [c.query for c in amazon.calls if c.operation == "getOrders"]
    assert "NextToken" not in first and second["NextToken"].startswith("next-")
    assert {k: v for k, v in second.items() if k != "NextToken"} == first  # filters kept, as the sandbox does
    item_pages = [c.query for c in amazon.calls if c.path.endswith("902-1111111-2222222/orderItems")]
    assert item_pages == [{}, {"NextToken": "1"}]
    assert Order.objects.get(external_id="902-1111111-2222222").lines.count() == 2


# --- time zones ----------------------------------------------------------------------------------


def test_an_order_placed_at_2330_on_the_day_us_dst_begins_is_stored_at_the_right_instant(channel, amazon):
    local = datetime(2026, 3, 8, 23, 30, tzinfo=LOS_ANGELES)  # Sunday 8 March 2026: PDT since 02:00
    assert local.utcoffset() == timedelta(hours=-7)
    purchase = local.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert purchase == "2026-03-09T06:30:00Z"  # not 07:30Z: the standard-time offset no longer holds
    amazon.add_order(
        sandbox_order(PurchaseDate=purchase, LastUpdateDate="2026-03-09T06:31:12Z"), sandbox_items()
    )

    result = sync(channel, now=datetime(2026, 3, 9, 6, 45, tzinfo=UTC))

    assert result.status == SyncStatus.OK
    order = Order.objects.get(external_id=SANDBOX_ID)
    assert order.placed_at == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    assert order.platform_updated_at == datetime(2026, 3, 9, 6, 31, 12, tzinfo=UTC)
    assert str(order.channel_time_zone) == "America/Los_Angeles"
    # the marketplace's day is the evening of the 8th; the business day (BUSINESS_TIME_ZONE,
    # Asia/Shanghai, what order numbers and the dashboard use) is the 9th
    assert timezone.localtime(order.placed_at, order.channel_time_zone).date() == date(2026, 3, 8)
    assert business_date(order.placed_at) == date(2026, 3, 9)
    with override_settings(BUSINESS_TIME_ZONE="America/Los_Angeles"):
        assert business_date(order.placed_at) == date(2026, 3, 8)
    assert SyncCursor.objects.get(channel=channel).cursor == datetime(2026, 3, 9, 6, 31, 12, tzinfo=UTC)


def test_amazon_times_without_an_offset_are_refused_not_guessed():
    order = {**sandbox_order(PurchaseDate="2026-03-08T23:30:00"), mapping.ORDER_ITEMS: sandbox_items()}

    with pytest.raises(ValueError, match="PurchaseDate"):
        mapping.order_to_canonical(order, SimpleNamespace(code="amz-us", api_credentials={}))


# --- rate limits and tokens ----------------------------------------------------------------------


def test_a_429_waits_the_restore_time_and_later_calls_are_paced(channel, amazon, clock):
    amazon.plan("getOrderItems", 2.0, 1)  # one call in the bucket, one more every 0.5 s
    for n in range(3):
        amazon.add_order(
            sandbox_order(AmazonOrderId=f"902-000000{n}-7654321", LastUpdateDate=at(20 - n)), sandbox_items()
        )

    result = sync(channel)

    assert result.status == SyncStatus.OK and Order.objects.filter(channel=channel).count() == 3
    # the second call found the bucket empty (429, QuotaExceeded); the client waited one restore
    # (0.5 s, the rate the first answer's x-amzn-RateLimit-Limit gave) and tried again; the third
    # call it paced itself
    assert amazon.answered("getOrderItems") == [200, 429, 200, 200]
    assert clock.slept == [0.5, 0.5]


def test_a_429_on_get_orders_backs_the_channel_off_for_its_restore_time(channel, amazon):
    amazon.plan("getOrders", 0.0167, 0)  # nothing left in the bucket
    amazon.add_order(sandbox_order(), sandbox_items())

    result = sync(channel)

    assert result.status == SyncStatus.RATE_LIMITED
    state = SyncCursor.objects.get(channel=channel)
    assert state.cursor is None  # nothing read: the window is read again
    assert timedelta(seconds=59) < state.next_run_at - NOW < timedelta(seconds=61)  # 1 / 0.0167 s
    assert amazon.answered("getOrders") == [429]
    assert not Order.objects.exists()


def test_the_client_gives_up_after_three_429s_in_a_row(amazon, clock):
    amazon.plan("getOrderItems", 0.5, 0)
    client = client_for(amazon)

    with pytest.raises(RateLimited) as error:
        client.order_items(SANDBOX_ID)

    # three retries after the restore time (1 / 0.5 rps), doubling; then the caller comes back later
    assert amazon.answered("getOrderItems") == [429, 429, 429, 429]
    assert clock.slept == [2.0, 4.0, 8.0]
    assert error.value.retry_after == 16.0


def test_the_lwa_token_is_the_documented_form_reused_and_refreshed_before_it_expires(amazon, clock):
    amazon.add_order(sandbox_order(), sandbox_items())
    client = client_for(amazon)

    client.order_items(SANDBOX_ID)
    client.order_items(SANDBOX_ID)
    assert amazon.lwa_requests == [
        {
            "grant_type": "refresh_token",
            "refresh_token": amazon.refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    clock.advance(3600 - 30)  # 30 s before expiry the token is no longer used

    client.order_items(SANDBOX_ID)

    assert len(amazon.lwa_requests) == 2
    assert amazon.answered("getOrderItems") == [200, 200, 200]
    assert len({c.token for c in amazon.calls}) == 2


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(amazon):
    amazon.add_order(sandbox_order(), sandbox_items())
    client = client_for(amazon)
    client.order_items(SANDBOX_ID)
    amazon.expire_tokens()  # Amazon no longer takes it: 403 Unauthorized

    [item] = client.order_items(SANDBOX_ID)

    assert item["OrderItemId"] == "05015851154158"
    assert amazon.answered("getOrderItems") == [200, 403, 200]
    assert len(amazon.lwa_requests) == 2


def test_a_revoked_refresh_token_is_a_refusal_not_a_retry(amazon):
    client = client_for(amazon, refresh_token="Atzr|revoked")

    with pytest.raises(PlatformError, match="invalid_grant") as error:
        client.order_items(SANDBOX_ID)

    assert error.value.status_code == 400 and not is_temporary(error.value)
    assert amazon.calls == []


def test_polling_without_restricted_data_holds_orders_for_their_address(db, amazon):
    ensure_master_data()
    receive(SKUFactory(code=SANDBOX_SKU), 5)
    channel = ChannelFactory(
        code="amz-us",
        platform="amazon",
        currency="USD",
        api_credentials=credentials(amazon, restricted_data=False),
    )
    amazon.add_order(sandbox_order(), sandbox_items())

    sync(channel)

    assert "createRestrictedDataToken" not in amazon.operations()
    order = Order.objects.get(external_id=SANDBOX_ID)
    assert order.status == OrderStatus.ON_HOLD and "No shipping address" in order.hold_reason
    assert (order.ship_city, order.ship_line1) == ("", "")  # Name and lines are restricted data


def test_the_adapter_polls_and_takes_no_webhook(channel, client):
    adapter = get_adapter("amazon")
    order = sandbox_order()

    assert adapter.client_class is AmazonClient and adapter.poll_topic in adapter.order_topics
    assert adapter.poll_dedupe_id(order) == f"poll:{SANDBOX_ID}:{at(20)}"
    assert adapter.poll_updated_at(order) == NOW - timedelta(minutes=20)
    response = client.post(
        "/integrations/webhooks/amazon/amz-us/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 401
    assert not Order.objects.exists()


def test_missing_credentials_and_unknown_marketplaces_are_named():
    with pytest.raises(PlatformError, match="client_secret, marketplace_id"):
        AmazonClient(SimpleNamespace(code="amz", api_credentials={"refresh_token": "x", "client_id": "y"}))
    with pytest.raises(PlatformError, match="marketplace_id"):
        AmazonClient(
            SimpleNamespace(
                code="amz",
                api_credentials={
                    "refresh_token": "x",
                    "client_id": "y",
                    "client_secret": "z",
                    "marketplace_id": "XX",
                },
            )
        )
    eu = AmazonClient(
        SimpleNamespace(
            code="amz",
            api_credentials={
                "refresh_token": "x",
                "client_id": "y",
                "client_secret": "z",
                "marketplace_id": "A1PA6795UKMFR9",
            },
        ),
        http=httpx.Client(),
    )
    assert eu.base_url == "https://sellingpartnerapi-eu.amazon.com"  # Germany: the Europe endpoint


# --- mapping -------------------------------------------------------------------------------------


def test_vat_inclusive_marketplaces_do_not_add_the_tax_again():
    item = {**sandbox_items()[0], "ItemPrice": {"CurrencyCode": "EUR", "Amount": "11.90"}}
    item["ItemTax"] = {"CurrencyCode": "EUR", "Amount": "1.90"}
    item["PromotionDiscount"] = {"CurrencyCode": "EUR", "Amount": "0.00"}
    order = sandbox_order(
        MarketplaceId="A1PA6795UKMFR9", OrderTotal={"CurrencyCode": "EUR", "Amount": "11.90"}
    )

    canonical = mapping.order_to_canonical(
        {**order, mapping.ORDER_ITEMS: [item]}, SimpleNamespace(code="amz-de")
    )

    assert (canonical["currency"], canonical["tax_included"], canonical["paid_amount"]) == (
        "EUR",
        True,
        "11.90",
    )
    assert (canonical["lines"][0]["unit_price"], canonical["lines"][0]["tax_amount"]) == ("11.90", "1.90")


def test_cod_fees_are_kept_on_the_line_and_mixed_currencies_are_refused():
    # getOrderItems example item CBA_OTF_1 (JPY): CODFee 10.00, CODFeeDiscount 1.00, shipping 1.26
    item = example_item(0)
    order = sandbox_order(
        MarketplaceId="A1VC38T7YXB528", OrderTotal={"CurrencyCode": "JPY", "Amount": "36.25"}
    )
    channel = SimpleNamespace(code="amz-jp")

    with pytest.raises(ValueError, match="GBP, JPY"):  # the example's gift wrap is in GBP
        mapping.order_to_canonical({**order, mapping.ORDER_ITEMS: [item]}, channel)

    del item["BuyerInfo"]
    canonical = mapping.order_to_canonical({**order, mapping.ORDER_ITEMS: [item]}, channel)

    [line] = canonical["lines"]
    assert (line["unit_price"], line["adjustment"], line["seller_code"]) == ("25.99", "9.00", EXAMPLE_SKU_2)
    assert (canonical["currency"], canonical["tax_included"], canonical["shipping_fee"]) == (
        "JPY",
        True,
        "1.26",
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"OrderStatus": "Pending"}, None),
        ({"OrderStatus": "PendingAvailability"}, None),
        ({"OrderStatus": "Unfulfillable"}, None),  # Multi-Channel Fulfillment only
        ({"FulfillmentChannel": "AFN"}, None),  # Amazon ships it from its own stock
        ({"OrderStatus": "InvoiceUnconfirmed"}, (True, False)),
        ({"OrderStatus": "Shipped"}, (True, False)),
    ],
)
def test_statuses(changes, expected):
    order = {**sandbox_order(**changes), mapping.ORDER_ITEMS: sandbox_items()}

    canonical = mapping.order_to_canonical(order, SimpleNamespace(code="amz-us"))

    assert (canonical if canonical is None else (canonical["paid"], canonical["cancelled"])) == expected


def test_an_unknown_status_and_a_paid_item_without_price_are_refused():
    with pytest.raises(ValueError, match="OrderStatus"):
        mapping.order_to_canonical(sandbox_order(OrderStatus="Lost"), SimpleNamespace(code="amz-us"))
    item = {k: v for k, v in sandbox_items()[0].items() if k != "ItemPrice"}
    with pytest.raises(ValueError, match="ItemPrice"):
        mapping.order_to_canonical(
            {**sandbox_order(), mapping.ORDER_ITEMS: [item]}, SimpleNamespace(code="amz-us")
        )


# --- confirmShipment -----------------------------------------------------------------------------


def notice(parcel: int, lines: list[tuple[str, int, int]], **changes) -> ShipmentNotice:
    values = {
        "order_external_id": "902-1111111-2222222",
        "shipment_number": f"SH{parcel}",
        "parcel_index": parcel,
        "parcel_count": 2,
        "carrier_code": "FedEx",
        "carrier_name": "FedEx",
        "tracking_number": f"11234567{parcel}",
        "lines": [NoticeLine(item, "", "", "", quantity, whole) for item, quantity, whole in lines],
        "shipped_at": datetime(2026, 11, 20, 9, 15, tzinfo=UTC),
        **changes,
    }
    return ShipmentNotice(**values)


def test_confirm_shipment_split_order_two_calls_failing_twice_then_exactly_once(amazon):
    order, items = split_order()
    amazon.add_order(order, items)
    client = client_for(amazon)
    first_item, second_item = items[0]["OrderItemId"], items[1]["OrderItemId"]

    result = client.write_back_shipment(notice(1, [(first_item, 3, 3)]))
    assert result.reference == "1"
    # parcel 2: the first attempt reaches Amazon but its answer is lost, the second is a 503
    amazon.fail("confirmShipment", 500, applied=True)
    amazon.fail("confirmShipment", 503)
    for _attempt in range(2):
        with pytest.raises(PlatformError) as error:
            client.write_back_shipment(notice(2, [(second_item, 2, 2)]))
        assert is_temporary(error.value)  # the outbox retries
    client.write_back_shipment(notice(2, [(second_item, 2, 2)]))

    assert amazon.answered("confirmShipment") == [204, 500, 503, 204]
    # one package per parcel, each with its items: the retries edited package 2, never added one
    assert {key: package["orderItems"] for key, package in amazon.packages.items()} == {
        ("902-1111111-2222222", "1"): [{"orderItemId": first_item, "quantity": 3}],
        ("902-1111111-2222222", "2"): [{"orderItemId": second_item, "quantity": 2}],
    }
    sent = [c for c in amazon.calls if c.operation == "confirmShipment"][0]
    assert sent.path == "/orders/v0/orders/902-1111111-2222222/shipmentConfirmation"
    assert sent.body == {
        "marketplaceId": US,
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "FedEx",
            "trackingNumber": "112345671",
            "shipDate": "2026-11-20T09:15:00.000Z",
            "orderItems": [{"orderItemId": first_item, "quantity": 3}],
            "carrierName": "FedEx",
        },
    }
    # the sandbox request has the same keys (less the optional shippingMethod / shipFromSupplySourceId)
    published = payload("amazon_confirm_shipment_request")["body"]
    assert set(sent.body) == set(published)
    assert set(sent.body["packageDetail"]) == set(published["packageDetail"]) - {
        "shippingMethod",
        "shipFromSupplySourceId",
    }


def test_an_unmapped_carrier_goes_as_other_with_its_name(amazon):
    order, items = split_order()
    amazon.add_order(order, items)
    client = client_for(amazon)

    client.write_back_shipment(
        notice(1, [(items[0]["OrderItemId"], 1, 3)], carrier_code="", carrier_name="SF Express")
    )

    package = amazon.packages[("902-1111111-2222222", "1")]
    assert (package["carrierCode"], package["carrierName"]) == ("Other", "SF Express")
    with pytest.raises(PermanentFailure, match="carrierName"):
        client.write_back_shipment(
            notice(2, [(items[1]["OrderItemId"], 1, 2)], carrier_code="Other", carrier_name="")
        )
    with pytest.raises(PermanentFailure, match="OrderItemId"):
        client.write_back_shipment(notice(2, [("", 1, 2)]))


def test_amazon_refuses_more_units_than_ordered_and_the_refusal_is_final(amazon):
    order, items = split_order()
    amazon.add_order(order, items)
    client = client_for(amazon)
    client.write_back_shipment(notice(1, [(items[1]["OrderItemId"], 2, 2)]))

    with pytest.raises(PlatformError, match="Invalid Input") as error:
        client.write_back_shipment(notice(2, [(items[1]["OrderItemId"], 1, 2)]))  # a third unit of two

    assert error.value.status_code == 400 and not is_temporary(error.value)


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_order_polled_then_its_two_parcels_shipped_reach_amazon_exactly_once(db, amazon, capture):
    """End to end through integrations.writeback: the order arrives by polling, is routed over two
    warehouses (neither holds both items), each parcel ships, and the outbox tells Amazon."""
    ensure_master_data(stock=0)
    hangzhou = WarehouseFactory()
    shanghai = Warehouse.objects.create(
        code="WH-SH", name="Shanghai", kind=WarehouseKind.OWN, province="上海市", city="上海市"
    )
    receive(SKUFactory(code=SANDBOX_SKU), 5, warehouse=hangzhou)
    receive(SKUFactory(code=EXAMPLE_SKU), 5, warehouse=shanghai)
    channel = ChannelFactory(
        code="amz-us",
        platform="amazon",
        currency="USD",
        time_zone="America/Los_Angeles",
        api_credentials=credentials(amazon),
    )
    carrier = CarrierFactory()  # SF Express: no Amazon code in the carrier code map
    order_data, items = split_order()
    amazon.add_order(order_data, items)

    with capture(execute=True):
        assert sync(channel).status == SyncStatus.OK
    order = Order.objects.get(external_id="902-1111111-2222222")
    parcels = [s for s in fulfilment_selectors.order_shipments(order) if s.status != ShipmentStatus.CANCELLED]
    by_sku = {tuple(line.sku.code for line in p.order_lines): p for p in parcels}
    first, second = by_sku[(SANDBOX_SKU,)], by_sku[(EXAMPLE_SKU,)]

    ship(capture, first, carrier, "SF1000000001")
    amazon.fail("confirmShipment", 500, applied=True)  # Amazon takes it, the answer is lost
    amazon.fail("confirmShipment", 503)
    ship(capture, second, carrier, "SF1000000002")

    row = ShipmentWriteBack.objects.get(shipment=second)
    assert row.state == WS.PENDING and "500" in row.last_error
    assert outbox_deliver(row.outbox_message_id, now=timezone.now() + timedelta(hours=2)) == "retry"
    assert outbox_deliver(row.outbox_message_id, now=timezone.now() + timedelta(hours=4)) == "delivered"

    # packageReferenceId is the parcel's place among the order's parcels (by creation)
    index = {parcel.pk: str(n) for n, parcel in enumerate(sorted(parcels, key=lambda p: p.pk), start=1)}
    row.refresh_from_db()
    assert (row.state, row.attempts, row.platform_reference) == (WS.SENT, 3, index[second.pk])
    assert ShipmentWriteBack.objects.get(shipment=first).state == WS.SENT
    sent = {reference: p for (_order, reference), p in amazon.packages.items()}
    assert {
        ref: (p["trackingNumber"], p["carrierCode"], p["carrierName"], p["orderItems"])
        for ref, p in sent.items()
    } == {
        index[first.pk]: (
            "SF1000000001",
            "Other",
            "SF Express",
            [{"orderItemId": items[0]["OrderItemId"], "quantity": 3}],
        ),
        index[second.pk]: (
            "SF1000000002",
            "Other",
            "SF Express",
            [{"orderItemId": items[1]["OrderItemId"], "quantity": 2}],
        ),
    }
    assert amazon.answered("confirmShipment") == [204, 500, 503, 204]


def ship(capture, shipment, carrier, number: str) -> None:
    with capture(execute=True):
        if shipment.status == ShipmentStatus.CREATED:
            shipment = shipment_transition(shipment=shipment, name="send_to_warehouse")
        if shipment.status in (ShipmentStatus.SENT_TO_WAREHOUSE, ShipmentStatus.PICKING):
            shipment = shipment_transition(shipment=shipment, name="pack")
        shipment_transition(
            shipment=shipment, name="ship", args={"carrier": carrier, "tracking_number": number}
        )


# --- stock push (MFN) ----------------------------------------------------------------------------


def listing(**changes) -> dict:
    """getListingsItem sandbox: GM-ZDPI-9B4E, LUGGAGE in the US and Canada, DEFAULT quantity 100."""
    return {**payload("amazon_get_listings_item_response"), **changes}


def test_stock_push_merges_the_seller_fulfilled_quantity_of_the_listing(channel, amazon):
    amazon.listings["GM-ZDPI-9B4E"] = listing()
    sku = SKUFactory(code=SANDBOX_SKU)
    entry = ChannelListing.objects.create(channel=channel, sku=sku, platform_item_id="GM-ZDPI-9B4E")

    stock_sync._push(channel, entry, 7)

    get, patch = [c for c in amazon.calls if c.operation in ("getListingsItem", "patchListingsItem")]
    assert (get.path, get.query) == (
        f"/listings/2021-08-01/items/{SELLER_ID}/GM-ZDPI-9B4E",
        {"marketplaceIds": US, "includedData": "summaries,fulfillmentAvailability"},
    )
    assert (patch.path, patch.query) == (get.path, {"marketplaceIds": US})
    assert patch.body == {
        "productType": "LUGGAGE",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}],
            }
        ],
    }
    assert amazon.listings["GM-ZDPI-9B4E"]["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 7}
    ]
    assert get_adapter("amazon").supports_stock_push


def test_stock_is_not_pushed_to_amazon_fulfilled_listings_nor_past_a_refusal(channel, amazon):
    amazon.listings["FBA-1"] = listing(
        fulfillmentAvailability=[{"fulfillmentChannelCode": "AMAZON_NA", "quantity": 4}]
    )
    amazon.listings["GM-ZDPI-9B4E"] = listing()
    client = AmazonClient(channel)

    with pytest.raises(PermanentFailure, match="fulfilled by Amazon"):
        client.set_stock(sku="FBA-1", quantity=3)
    amazon.patch_answer = payload("amazon_patch_listings_item_invalid_response")  # status INVALID
    with pytest.raises(PermanentFailure, match="90000900: The attributes are invalid"):
        client.set_stock(sku="GM-ZDPI-9B4E", quantity=3)
    mexico = AmazonClient(
        SimpleNamespace(code="amz-mx", api_credentials=credentials(amazon, marketplace_id="A1AM78C64UM0Y8"))
    )
    with pytest.raises(PermanentFailure, match="not listed"):  # the sample lists it in the US and Canada
        mexico.set_stock(sku="GM-ZDPI-9B4E", quantity=3)


def test_a_mapped_seller_sku_becomes_the_amazon_listing():
    mapping_row = SimpleNamespace(
        seller_code="GM-ZDPI-9B4E", platform_item_id="B071VG5N9D", platform_sku_id=""
    )

    assert stock_sync.LISTING_FROM_MAPPING["amazon"](mapping_row) == {"platform_item_id": "GM-ZDPI-9B4E"}
    assert stock_sync.LISTING_FROM_MAPPING["amazon"](SimpleNamespace(seller_code="")) is None
