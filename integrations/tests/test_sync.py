"""Polling sync (R-X2) against a real local HTTP server playing Shopify and WooCommerce.

The server serves order pages shaped like the platforms' documentation: Shopify's Admin REST
`orders.json` with cursor pagination in the `Link` header (and its refusal of any parameter but
`limit` and `page_info` once paging), WooCommerce's `wc/v3/orders` with `X-WP-Total` /
`X-WP-TotalPages`, basic auth, and a 429 with `Retry-After` on demand. It filters by the
requested window using each timestamp's own offset, like the platforms do."""

import base64
import json
import math
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from integrations.models import InboundMessage, InboundStatus, SyncCursor
from integrations.services import inbound_message_process
from integrations.shopify.client import API_VERSION as SHOPIFY_API_VERSION
from integrations.sync import SyncStatus, channel_sync
from integrations.tasks import sync_channels
from integrations.tests.conftest import payload, raw
from orders.models import Order, OrderEventKind, OrderStatus
from orders.tests.factories import ChannelFactory, SKUFactory, receive

pytestmark = pytest.mark.django_db

SHOPIFY_PATH = f"/admin/api/{SHOPIFY_API_VERSION}/orders.json"  # the version the client pins
WOO_PATH = "/wp-json/wc/v3/orders"
SHOPIFY_TOKEN = "shpat_test_token"
WOO_KEY, WOO_SECRET_KEY = "ck_test", "cs_test"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the fake platforms -------------------------------------------------------------------------


class PlatformStub:
    """What the server serves and what it was asked."""

    def __init__(self):
        self.shopify_orders: list[dict] = []
        self.woo_orders: list[dict] = []
        self.requests: list[tuple[str, dict, dict]] = []  # (path, query, headers)
        self.page_size = 2  # small pages so that a handful of orders spans several
        self.ignore_window_end = False  # misbehave: return orders updated after the window
        self.base_url = ""
        self.delay = 0.0  # seconds before each answer, to keep a run in flight
        self._throttle: dict[int, str | None] = {}  # request index → Retry-After (None: no header)
        self._page_tokens: dict[str, tuple[dict, int]] = {}
        self._lock = threading.Lock()

    def throttle(self, retry_after: str | None = "7", *, after: int = 0):
        """Answer 429 to the request coming after `after` more requests."""
        self._throttle[len(self.requests) + after] = retry_after

    def queries(self, path: str) -> list[dict]:
        return [query for request_path, query, _headers in self.requests if request_path == path]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        stub: PlatformStub = self.server.stub
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        with stub._lock:
            index = len(stub.requests)
            stub.requests.append((url.path, query, dict(self.headers)))
            throttled = index in stub._throttle
            retry_after = stub._throttle.pop(index, None)
        if stub.delay:
            time.sleep(stub.delay)
        if throttled:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            return self.answer(429, {"errors": "Exceeded 2 calls per second for api client."}, headers)
        if url.path == SHOPIFY_PATH:
            return self.shopify(stub, query)
        if url.path == WOO_PATH:
            return self.woo(stub, query)
        return self.answer(404, {"errors": "Not Found"})

    def answer(self, status: int, body, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def shopify(self, stub: PlatformStub, query: dict):
        if self.headers.get("X-Shopify-Access-Token") != SHOPIFY_TOKEN:
            return self.answer(401, {"errors": "[API] Invalid API key or access token"})
        if "page_info" in query:
            if set(query) - {"limit", "page_info"}:  # what Shopify answers to extra parameters
                return self.answer(400, {"errors": {"page_info": "Invalid value."}})
            filters, offset = stub._page_tokens[query["page_info"]]
        else:
            assert (query["status"], query["order"], query["limit"]) == ("any", "updated_at asc", "250")
            filters, offset = query, 0
        low, high = utc(filters["updated_at_min"]), utc(filters["updated_at_max"])
        matching = sorted(
            (
                order
                for order in stub.shopify_orders
                if low <= utc(order["updated_at"])
                and (stub.ignore_window_end or utc(order["updated_at"]) <= high)
            ),
            key=lambda order: utc(order["updated_at"]),
        )
        page = matching[offset : offset + stub.page_size]
        links = []
        if offset + stub.page_size < len(matching):
            token = uuid.uuid4().hex
            stub._page_tokens[token] = (filters, offset + stub.page_size)
            links.append(f'<{stub.base_url}{SHOPIFY_PATH}?limit=250&page_info={token}>; rel="next"')
        if offset:
            links.insert(
                0, f'<{stub.base_url}{SHOPIFY_PATH}?limit=250&page_info=prev{offset}>; rel="previous"'
            )
        return self.answer(200, {"orders": page}, {"Link": ", ".join(links)} if links else {})

    def woo(self, stub: PlatformStub, query: dict):
        expected = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_SECRET_KEY}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self.answer(401, {"code": "woocommerce_rest_cannot_view", "data": {"status": 401}})
        assert (query["dates_are_gmt"], query["orderby"], query["order"], query["per_page"]) == (
            "true",
            "modified",
            "asc",
            "100",
        )
        after = datetime.fromisoformat(query["modified_after"]).replace(tzinfo=UTC)
        before = datetime.fromisoformat(query["modified_before"]).replace(tzinfo=UTC)

        def modified(order):
            return datetime.fromisoformat(order["date_modified_gmt"]).replace(tzinfo=UTC)

        matching = sorted((o for o in stub.woo_orders if after < modified(o) < before), key=modified)
        page = int(query.get("page", "1"))
        total_pages = math.ceil(len(matching) / stub.page_size)
        body = matching[(page - 1) * stub.page_size : page * stub.page_size]
        return self.answer(200, body, {"X-WP-Total": str(len(matching)), "X-WP-TotalPages": str(total_pages)})


@pytest.fixture
def platform():
    stub = PlatformStub()
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
def shop(shopify_channel, platform):
    for code in ("IPOD2008PINK", "IPOD2008BLACK"):
        receive(SKUFactory(code=code), 100)
    shopify_channel.api_credentials = {
        "shop": "conduit-demo.myshopify.com",
        "access_token": SHOPIFY_TOKEN,
        "base_url": platform.base_url,
    }
    shopify_channel.save()
    return shopify_channel


@pytest.fixture
def woo(woo_channel, platform):
    woo_channel.api_credentials = {
        "base_url": platform.base_url,
        "consumer_key": WOO_KEY,
        "consumer_secret": WOO_SECRET_KEY,
    }
    woo_channel.save()
    return woo_channel


def shopify_order(order_id: int, updated_at: str, *, created_at: str | None = None, **changes) -> dict:
    created_at = created_at or updated_at
    return {
        **payload("shopify_orders_create"),
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id}",
        "created_at": created_at,
        "processed_at": created_at,
        "updated_at": updated_at,
        **changes,
    }


def woo_order(order_id: int, modified_gmt: str, *, created_gmt: str | None = None, **changes) -> dict:
    """Woo writes each time twice: site-local without offset, and *_gmt (UTC) without offset."""
    created_gmt = created_gmt or modified_gmt

    def local(gmt):  # the woo-cn site runs on Asia/Shanghai (UTC+8)
        return (datetime.fromisoformat(gmt) + timedelta(hours=8)).isoformat()

    return {
        **payload("woocommerce_order_created"),
        "id": order_id,
        "number": str(order_id),
        "date_created": local(created_gmt),
        "date_created_gmt": created_gmt,
        "date_modified": local(modified_gmt),
        "date_modified_gmt": modified_gmt,
        **changes,
    }


def orders(channel) -> dict[str, Order]:
    return {order.external_id: order for order in Order.objects.filter(channel=channel)}


def platform_updates(channel) -> int:
    return Order.objects.filter(channel=channel, events__kind=OrderEventKind.PLATFORM_UPDATE).count()


NOW = utc("2026-03-10T12:00:00+00:00")


# --- Shopify --------------------------------------------------------------------------------------


@pytest.fixture
def shop_with_orders(shop, platform):
    platform.shopify_orders = [
        shopify_order(1001, "2026-03-10T15:00:00+08:00"),  # 07:00Z
        shopify_order(1002, "2026-03-10T05:27:00-04:00"),  # 09:27Z
        shopify_order(1003, "2026-03-10T09:30:00+00:00"),  # 09:30Z
    ]
    return shop


def test_first_sync_follows_the_link_pages_and_creates_the_orders(shop_with_orders, platform):
    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW)

    assert result.status == SyncStatus.OK
    assert (result.pages_fetched, result.orders_seen, result.messages_stored) == (2, 3, 3)
    first, second = platform.queries(SHOPIFY_PATH)
    assert first["updated_at_min"] == "2026-03-09T12:00:00+00:00"  # first run: one day back
    assert first["updated_at_max"] == "2026-03-10T11:59:55+00:00"  # never the last 5 s, never later
    assert set(second) == {"limit", "page_info"}
    stored = orders(shop_with_orders)
    assert stored.keys() == {"1001", "1002", "1003"}
    assert stored["1001"].placed_at == utc("2026-03-10T07:00:00Z")
    assert stored["1002"].placed_at == utc("2026-03-10T09:27:00Z")
    message = InboundMessage.objects.get(dedupe_id="poll:1003:2026-03-10T09:30:00+00:00")
    assert (message.topic, message.headers, message.status) == (
        "orders/updated",
        {"X-Conduit-Source": "poll"},
        InboundStatus.PROCESSED,
    )
    assert message.order == stored["1003"] and json.loads(message.body)["id"] == 1003
    cursor = SyncCursor.objects.get(channel=shop_with_orders)
    assert cursor.cursor == utc("2026-03-10T09:30:00Z")  # the newest updated_at seen
    assert (cursor.pages_fetched, cursor.orders_seen, cursor.last_error) == (2, 3, "")
    assert cursor.last_run_at == cursor.last_success_at == NOW and cursor.lease_token is None


def test_the_overlap_re_reads_the_last_orders_and_changes_nothing(shop_with_orders, platform):
    channel_sync(channel_id=shop_with_orders.pk, now=NOW)
    messages = InboundMessage.objects.count()

    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW + timedelta(minutes=1))

    assert platform.queries(SHOPIFY_PATH)[-1]["updated_at_min"] == "2026-03-10T09:25:00+00:00"
    assert (result.orders_seen, result.messages_stored) == (2, 0)  # 1002 and 1003 again
    assert InboundMessage.objects.count() == messages
    assert Order.objects.filter(channel=shop_with_orders).count() == 3
    assert platform_updates(shop_with_orders) == 0
    assert result.cursor == utc("2026-03-10T09:30:00Z")


def test_a_later_version_of_an_order_updates_it(shop_with_orders, platform):
    channel_sync(channel_id=shop_with_orders.pk, now=NOW)
    platform.shopify_orders[2] = shopify_order(
        1003,
        "2026-03-10T10:15:00+00:00",
        created_at="2026-03-10T09:30:00+00:00",
        cancelled_at="2026-03-10T10:15:00+00:00",
        cancel_reason="customer",
    )

    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW + timedelta(minutes=1))

    assert result.messages_stored == 1
    order = orders(shop_with_orders)["1003"]
    assert order.status == OrderStatus.CANCELLED
    assert order.platform_updated_at == utc("2026-03-10T10:15:00Z")
    assert order.placed_at == utc("2026-03-10T09:30:00Z")
    assert result.cursor == utc("2026-03-10T10:15:00Z")
    assert Order.objects.filter(channel=shop_with_orders).count() == 3


def test_a_rate_limit_backs_off_keeps_the_cursor_and_a_later_run_succeeds(shop_with_orders, platform):
    channel_sync(channel_id=shop_with_orders.pk, now=NOW)
    platform.shopify_orders.append(shopify_order(1004, "2026-03-10T11:00:00+00:00"))
    platform.throttle("7")
    t1 = NOW + timedelta(minutes=1)

    limited = channel_sync(channel_id=shop_with_orders.pk, now=t1)

    cursor = SyncCursor.objects.get(channel=shop_with_orders)
    assert limited.status == SyncStatus.RATE_LIMITED
    assert cursor.next_run_at == t1 + timedelta(seconds=7)
    assert cursor.cursor == utc("2026-03-10T09:30:00Z") and cursor.lease_token is None
    assert "1004" not in orders(shop_with_orders)

    # given: still backing off → no request at all
    requests = len(platform.requests)
    assert channel_sync(channel_id=shop_with_orders.pk, now=t1 + timedelta(seconds=3)).status == "waiting"
    assert len(platform.requests) == requests

    # a second 429 in a row doubles the wait; one without Retry-After uses Shopify's 2 s
    t2 = t1 + timedelta(seconds=8)
    platform.throttle(None)
    assert channel_sync(channel_id=shop_with_orders.pk, now=t2).status == SyncStatus.RATE_LIMITED
    cursor.refresh_from_db()
    assert cursor.next_run_at == t2 + timedelta(seconds=4) and cursor.backoff_level == 2

    done = channel_sync(channel_id=shop_with_orders.pk, now=t2 + timedelta(seconds=5))

    cursor.refresh_from_db()
    assert done.status == SyncStatus.OK and "1004" in orders(shop_with_orders)
    assert cursor.cursor == utc("2026-03-10T11:00:00Z")
    assert (cursor.next_run_at, cursor.backoff_level, cursor.last_error) == (None, 0, "")


def test_a_rate_limit_in_the_middle_of_the_pages_keeps_the_cursor(shop_with_orders, platform):
    platform.throttle("2", after=1)  # page 2 is refused

    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW)

    assert result.status == SyncStatus.RATE_LIMITED and result.orders_seen == 2
    assert SyncCursor.objects.get(channel=shop_with_orders).cursor is None
    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW + timedelta(seconds=3))
    assert result.status == SyncStatus.OK
    assert (result.orders_seen, result.messages_stored) == (3, 1)  # page 1 was stored before
    assert len(orders(shop_with_orders)) == 3


def test_the_backoff_is_capped_at_15_minutes(shop_with_orders, platform):
    SyncCursor.objects.create(channel=shop_with_orders, backoff_level=9)
    platform.throttle("10")

    channel_sync(channel_id=shop_with_orders.pk, now=NOW)

    assert SyncCursor.objects.get(channel=shop_with_orders).next_run_at == NOW + timedelta(minutes=15)


def test_orders_around_the_us_dst_change_and_in_utc_plus_8_are_stored_in_utc(shop, platform):
    platform.shopify_orders = [
        shopify_order(2001, "2026-03-08T01:30:00-05:00"),  # EST, 06:30Z
        shopify_order(2002, "2026-03-08T03:30:00-04:00"),  # EDT after the 02:00 jump, 07:30Z
        shopify_order(2003, "2026-03-08T01:00:00+08:00"),  # UTC+8, 2026-03-07 17:00Z
    ]

    first = channel_sync(channel_id=shop.pk, now=utc("2026-03-08T07:00:00Z"))
    second = channel_sync(channel_id=shop.pk, now=utc("2026-03-08T08:00:00Z"))

    assert (first.orders_seen, first.cursor) == (2, utc("2026-03-08T06:30:00Z"))  # 07:30Z not yet
    assert second.updated_since == utc("2026-03-08T06:25:00Z")
    assert (second.orders_seen, second.messages_stored) == (2, 1)  # 2001 again (overlap), 2002 new
    stored = orders(shop)
    assert stored["2001"].placed_at == utc("2026-03-08T06:30:00Z")
    assert stored["2002"].placed_at == utc("2026-03-08T07:30:00Z")
    assert stored["2003"].placed_at == utc("2026-03-07T17:00:00Z")
    assert str(stored["2002"].placed_at.tzinfo) == "UTC"
    assert second.cursor == utc("2026-03-08T07:30:00Z")


def test_the_window_never_reads_the_future_and_the_cursor_never_passes_its_end(shop, platform):
    platform.shopify_orders = [
        shopify_order(3001, "2026-03-10T11:00:00+00:00"),
        shopify_order(3002, "2026-03-10T11:59:58+00:00", created_at="2026-03-10T11:00:00+00:00"),
        shopify_order(3003, "2026-03-10T13:00:00+00:00", created_at="2026-03-10T11:00:00+00:00"),
    ]

    result = channel_sync(channel_id=shop.pk, now=NOW)

    assert result.updated_until == NOW - timedelta(seconds=5)
    assert utc(platform.queries(SHOPIFY_PATH)[0]["updated_at_max"]) <= NOW
    assert orders(shop).keys() == {"3001"} and result.cursor == utc("2026-03-10T11:00:00Z")

    # given: a platform that returns orders updated after the window (changed while paging)
    platform.ignore_window_end = True
    later = channel_sync(channel_id=shop.pk, now=NOW + timedelta(minutes=1))

    assert later.orders_seen == 3
    assert later.cursor == NOW + timedelta(minutes=1) - timedelta(seconds=5)  # not 13:00Z


def test_the_cursor_never_moves_backwards(shop, platform):
    known = utc("2026-03-10T11:00:00Z")
    SyncCursor.objects.create(channel=shop, cursor=known)
    platform.shopify_orders = [shopify_order(4001, "2026-03-10T10:58:00+00:00")]  # inside the overlap

    result = channel_sync(channel_id=shop.pk, now=NOW)

    assert (result.orders_seen, result.cursor) == (1, known)
    # a clock behind the cursor reads nothing and moves nothing
    requests = len(platform.requests)
    skewed = channel_sync(channel_id=shop.pk, now=known - timedelta(minutes=10))
    assert (skewed.status, skewed.cursor, len(platform.requests)) == (SyncStatus.OK, known, requests)
    assert SyncCursor.objects.get(channel=shop).cursor == known


def test_an_empty_complete_window_moves_the_cursor_to_its_end(shop, platform):
    result = channel_sync(channel_id=shop.pk, now=NOW)

    assert (result.status, result.orders_seen, result.cursor) == ("ok", 0, NOW - timedelta(seconds=5))


def test_a_platform_error_is_recorded_and_keeps_the_cursor(shop_with_orders, platform):
    shop_with_orders.api_credentials = {**shop_with_orders.api_credentials, "access_token": "revoked"}
    shop_with_orders.save()

    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW)

    cursor = SyncCursor.objects.get(channel=shop_with_orders)
    assert result.status == SyncStatus.FAILED and "401" in cursor.last_error
    assert cursor.cursor is None and cursor.lease_token is None and cursor.last_success_at is None
    assert Order.objects.filter(channel=shop_with_orders).count() == 0


def test_a_channel_another_run_holds_is_busy(shop_with_orders, platform):
    SyncCursor.objects.create(
        channel=shop_with_orders, lease_token=uuid.uuid4(), lease_until=NOW + timedelta(minutes=1)
    )

    result = channel_sync(channel_id=shop_with_orders.pk, now=NOW)

    assert result.status == SyncStatus.BUSY and platform.requests == []
    # an expired lease (a crashed run) no longer blocks the channel
    assert channel_sync(channel_id=shop_with_orders.pk, now=NOW + timedelta(minutes=2)).status == "ok"


def test_webhook_and_poll_deliveries_of_one_version_make_one_order(shop_with_orders, platform, post_shopify):
    response = post_shopify(raw(platform.shopify_orders[0]), topic="orders/create", webhook_id="wh-1001")
    assert response.status_code == 202
    inbound_message_process(InboundMessage.objects.get(dedupe_id="wh-1001").pk)

    channel_sync(channel_id=shop_with_orders.pk, now=NOW)

    assert Order.objects.filter(channel=shop_with_orders, external_id="1001").count() == 1
    assert InboundMessage.objects.filter(order__external_id="1001").count() == 2
    assert platform_updates(shop_with_orders) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_syncs_of_one_channel_at_once_run_once(shop_with_orders, platform):
    platform.delay = 0.3  # the first run is still fetching when the others look
    barrier = threading.Barrier(4)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(channel_sync(channel_id=shop_with_orders.pk, now=NOW).status)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == ["busy", "busy", "busy", "ok"]
    assert len(platform.queries(SHOPIFY_PATH)) == 2  # one run's two pages
    assert Order.objects.filter(channel=shop_with_orders).count() == 3


# --- WooCommerce ----------------------------------------------------------------------------------


def test_woo_sync_pages_by_total_pages_and_reads_gmt_times_as_utc(woo, platform):
    platform.woo_orders = [
        woo_order(501, "2026-03-10T01:00:00"),
        woo_order(502, "2026-03-10T07:30:00"),
        woo_order(503, "2026-03-10T09:00:00", created_gmt="2026-03-09T23:30:00"),
    ]

    result = channel_sync(channel_id=woo.pk, now=NOW)

    assert (result.status, result.pages_fetched, result.orders_seen) == ("ok", 2, 3)
    first, second = platform.queries(WOO_PATH)
    assert (first["page"], second["page"]) == ("1", "2")
    assert first["modified_before"] == "2026-03-10T11:59:55"  # UTC, as dates_are_gmt=true says
    stored = orders(woo)
    # *_gmt has no offset but is UTC: read as Shanghai time it would be 8 hours earlier
    assert stored["502"].placed_at == utc("2026-03-10T07:30:00Z")
    assert stored["503"].placed_at == utc("2026-03-09T23:30:00Z")
    assert InboundMessage.objects.filter(channel=woo, topic="order.updated").count() == 3
    assert result.cursor == utc("2026-03-10T09:00:00Z")

    again = channel_sync(channel_id=woo.pk, now=NOW + timedelta(minutes=1))

    assert (again.orders_seen, again.messages_stored) == (1, 0)  # 503 re-read inside the overlap
    assert platform_updates(woo) == 0


def test_woo_later_version_marks_the_order_paid(woo, platform):
    platform.woo_orders = [woo_order(601, "2026-03-10T08:00:00")]
    channel_sync(channel_id=woo.pk, now=NOW)
    platform.woo_orders = [
        woo_order(
            601,
            "2026-03-10T10:00:00",
            created_gmt="2026-03-10T08:00:00",
            status="processing",
            date_paid="2026-03-10T18:00:00",
            date_paid_gmt="2026-03-10T10:00:00",
        )
    ]

    result = channel_sync(channel_id=woo.pk, now=NOW + timedelta(minutes=1))

    order = orders(woo)["601"]
    assert result.messages_stored == 1
    assert order.status != OrderStatus.PENDING_PAYMENT
    assert order.platform_updated_at == utc("2026-03-10T10:00:00Z")


def test_woo_rate_limit_backs_off(woo, platform):
    platform.throttle("30")

    result = channel_sync(channel_id=woo.pk, now=NOW)

    assert result.status == SyncStatus.RATE_LIMITED
    assert SyncCursor.objects.get(channel=woo).next_run_at == NOW + timedelta(seconds=30)


# --- the periodic task ----------------------------------------------------------------------------


def test_sync_channels_polls_every_active_channel_with_a_client(shop, woo, platform):
    ChannelFactory(code="generic", platform="generic")
    ChannelFactory(code="old-shop", platform="shopify", is_active=False)

    polled = sync_channels.delay().get()

    assert polled == 2
    assert {path for path, _query, _headers in platform.requests} == {SHOPIFY_PATH, WOO_PATH}
    assert set(SyncCursor.objects.values_list("channel__code", flat=True)) == {"shop-us", "woo-cn"}
    assert all(cursor.last_success_at for cursor in SyncCursor.objects.all())


@pytest.mark.django_db
def test_channels_without_credentials_are_not_polled():
    from integrations.sync import pollable_channel_ids
    from orders.tests.factories import ChannelFactory

    webhook_only = ChannelFactory(code="shopify-webhooks", platform="shopify", api_credentials={})
    polled = ChannelFactory(
        code="shopify-polled", platform="shopify", api_credentials={"shop": "x.myshopify.com"}
    )
    ids = pollable_channel_ids()
    assert polled.pk in ids and webhook_only.pk not in ids
