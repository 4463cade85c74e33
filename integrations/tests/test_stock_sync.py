"""Stock push (R-I10) through the outbox (R-X4), against a local HTTP server playing Shopify's
GraphQL `inventorySetQuantities` and WooCommerce's `PUT products/{id}`.

The Shopify side checks the mutation as Shopify 2026-10 takes it and records what it set as
{"location_id", "inventory_item_id", "available"} (the numeric ids of the gids), so the tests
read the same for both platforms."""

import base64
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from core.models import OutboxMessage, OutboxState
from core.outbox import outbox_sweep
from integrations.models import ChannelListing
from inventory.ledger import queue_stock_push
from inventory.models import SafetyStock
from inventory.stock_push import push_pending_stock
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

pytestmark = pytest.mark.django_db

SHOPIFY_PATH = "/admin/api/2026-10/graphql.json"
SHOPIFY_TOKEN = "shpat_test_token"
WOO_KEY, WOO_SECRET_KEY = "ck_test", "cs_test"


class FakePlatform:
    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, JSON body)
        self.statuses: list[tuple[int, dict]] = []  # answers to give next (status, headers)
        self.base_url = ""
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.record(expected_auth=("X-Shopify-Access-Token", SHOPIFY_TOKEN))

    def do_PUT(self):  # noqa: N802
        basic = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_SECRET_KEY}".encode()).decode()
        self.record(expected_auth=("Authorization", basic))

    def record(self, *, expected_auth):
        stub: FakePlatform = self.server.stub
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {"ok": True}
        if self.path == SHOPIFY_PATH:
            body, answer = shopify_quantity(body), SET_QUANTITIES_ANSWER
        with stub.lock:
            stub.requests.append((self.command, self.path, body))
            status, headers = stub.statuses.pop(0) if stub.statuses else (200, {})
        if self.headers.get(expected_auth[0]) != expected_auth[1]:
            status, headers = 401, {}
        data = json.dumps({"errors": "no"} if status >= 400 else answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# InventorySetQuantitiesPayload {inventoryAdjustmentGroup, userErrors} (Admin GraphQL schema)
SET_QUANTITIES_ANSWER = {
    "data": {
        "inventorySetQuantities": {
            "inventoryAdjustmentGroup": {"id": "gid://shopify/InventoryAdjustmentGroup/1"},
            "userErrors": [],
        }
    }
}


def shopify_quantity(body: dict) -> dict:
    """What an `inventorySetQuantities` request sets, checked as Shopify 2026-10 takes it: the
    "available" quantity, a documented reason, one quantity per item and location with
    `changeFromQuantity` given (null: no compare-and-swap), ids as gids.
    https://shopify.dev/docs/api/admin-graphql/latest/mutations/inventorySetQuantities"""
    assert body["query"].lstrip().startswith("mutation inventorySetQuantities(")
    given = body["variables"]["input"]
    assert (given["name"], given["reason"]) == ("available", "correction")
    [quantity] = given["quantities"]
    assert "changeFromQuantity" in quantity and quantity["changeFromQuantity"] is None
    item, location = quantity["inventoryItemId"], quantity["locationId"]
    assert item.startswith("gid://shopify/InventoryItem/") and location.startswith("gid://shopify/Location/")
    return {
        "location_id": int(location.rsplit("/", 1)[1]),
        "inventory_item_id": int(item.rsplit("/", 1)[1]),
        "available": quantity["quantity"],
    }


@pytest.fixture
def platform():
    stub = FakePlatform()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.stub = stub
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stub
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def shop(platform):
    ensure_master_data(stock=0)
    channel = ChannelFactory(
        code="shop-us",
        platform="shopify",
        api_credentials={"access_token": SHOPIFY_TOKEN, "base_url": platform.base_url},
    )
    ChannelListing.objects.create(
        channel=channel,
        sku=SKUFactory(code="SKU-1"),
        platform_item_id="808950810",
        platform_location_id="655441491",
    )
    return channel


@pytest.fixture
def woo(platform):
    ensure_master_data(stock=0)
    channel = ChannelFactory(
        code="woo-cn",
        platform="woocommerce",
        api_credentials={
            "base_url": platform.base_url,
            "consumer_key": WOO_KEY,
            "consumer_secret": WOO_SECRET_KEY,
        },
    )
    ChannelListing.objects.create(channel=channel, sku=SKUFactory(code="SKU-1"), platform_item_id="794")
    return channel


@pytest.fixture
def push(django_capture_on_commit_callbacks):
    """Run the debounced stock push and everything it schedules on commit (outbox delivery)."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            push_pending_stock()

    return run


def test_receiving_stock_pushes_the_sellable_quantity_to_shopify(shop, platform, push):
    receive(SKUFactory(code="SKU-1"), 12)

    push()

    assert platform.requests == [
        ("POST", SHOPIFY_PATH, {"location_id": 655441491, "inventory_item_id": 808950810, "available": 12})
    ]
    listing = ChannelListing.objects.get(channel=shop)
    assert listing.last_pushed_quantity == 12 and listing.last_pushed_at is not None
    message = OutboxMessage.objects.get(kind="stock_push")
    assert message.state == OutboxState.DELIVERED and message.channel_id == shop.pk
    assert message.idempotency_key.startswith(f"stock:{shop.pk}:SKU-1:12:")


def test_receiving_stock_pushes_to_woocommerce(woo, platform, push):
    receive(SKUFactory(code="SKU-1"), 5)

    push()

    assert platform.requests == [
        ("PUT", "/wp-json/wc/v3/products/794", {"manage_stock": True, "stock_quantity": 5})
    ]


def test_unlisted_skus_and_channels_without_push_send_nothing(shop, platform, push):
    # given: SKU-2 has no listing; the generic channel shop-cn cannot take pushes
    receive(SKUFactory(code="SKU-2"), 7)

    push()

    assert platform.requests == []
    assert not OutboxMessage.objects.exists()


def test_the_same_quantity_is_pushed_once(shop, platform, push):
    sku = SKUFactory(code="SKU-1")
    receive(sku, 12)
    push()

    # when: SKU-1 is pushed again with the channel's number unchanged
    queue_stock_push({sku.pk})
    push()

    assert len(platform.requests) == 1
    assert OutboxMessage.objects.filter(kind="stock_push").count() == 1

    # when: the number changes, it is pushed again
    receive(sku, 3)
    push()

    assert [body["available"] for _method, _path, body in platform.requests] == [12, 15]


def test_a_rate_limit_retries_later_and_a_404_dead_letters(shop, platform, push):
    platform.statuses = [(429, {"Retry-After": "7"})]
    receive(SKUFactory(code="SKU-1"), 12)
    before = timezone.now()

    push()

    message = OutboxMessage.objects.get(kind="stock_push")
    assert message.state == OutboxState.PENDING and message.attempts == 1
    assert message.next_attempt_at >= before + timedelta(seconds=7)
    assert ChannelListing.objects.get(channel=shop).last_pushed_quantity is None

    # when: the platform does not know the item
    platform.statuses = [(404, {})]
    receive(SKUFactory(code="SKU-1"), 1)
    push()

    dead = OutboxMessage.objects.exclude(pk=message.pk).get(kind="stock_push")
    assert dead.state == OutboxState.DEAD and "404" in dead.last_error


@pytest.mark.parametrize(
    "status, headers",
    [(408, {}), (425, {}), (429, {}), (429, {"Retry-After": "7"}), (500, {}), (503, {})],
)
def test_a_temporary_http_failure_is_retried_and_then_delivered(shop, platform, push, status, headers):
    # given: the platform times out, is busy or is down (the one rule: core.http)
    platform.statuses = [(status, headers)]
    receive(SKUFactory(code="SKU-1"), 12)

    push()

    message = OutboxMessage.objects.get(kind="stock_push")
    assert (message.state, message.attempts) == (OutboxState.PENDING, 1)
    assert ChannelListing.objects.get(channel=shop).last_pushed_quantity is None

    # when: the retry comes due and the platform takes it
    outbox_sweep(now=timezone.now() + timedelta(minutes=5))

    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.DELIVERED, 2)
    assert ChannelListing.objects.get(channel=shop).last_pushed_quantity == 12
    assert len(platform.requests) == 2


@pytest.mark.parametrize("status", [400, 403, 422])
def test_a_refused_push_is_dead_lettered_at_once(shop, platform, push, status):
    platform.statuses = [(status, {})]
    receive(SKUFactory(code="SKU-1"), 12)

    push()

    message = OutboxMessage.objects.get(kind="stock_push")
    assert (message.state, message.attempts) == (OutboxState.DEAD, 1)
    assert f"HTTP {status}" in message.last_error
    assert outbox_sweep(now=timezone.now() + timedelta(hours=2)) == 0
    assert len(platform.requests) == 1


def test_the_pushed_number_is_the_sellable_quantity_after_safety_stock(shop, platform, push):
    sku = SKUFactory(code="SKU-1")
    SafetyStock.objects.create(sku=sku, channel=shop, quantity=4)
    receive(sku, 10)

    push()

    assert platform.requests[-1][2]["available"] == 6  # on hand 10, safety stock 4


def test_a_retried_push_older_than_a_later_change_is_dropped(shop, platform, push):
    sku = SKUFactory(code="SKU-1")
    platform.statuses = [(429, {"Retry-After": "7"})]
    receive(sku, 12)
    push()  # 12 is rate-limited and waits
    receive(sku, 3)
    push()  # 15 goes out

    outbox_sweep(now=timezone.now() + timedelta(minutes=1))  # the retry of 12 comes due

    assert [body["available"] for _method, _path, body in platform.requests] == [12, 15]
    assert ChannelListing.objects.get(channel=shop).last_pushed_quantity == 15
    assert not OutboxMessage.objects.filter(state=OutboxState.PENDING).exists()
