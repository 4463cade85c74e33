"""A fake Amazon on a real local HTTP server: Login with Amazon and the SP-API operations the
adapter calls, checking what Amazon checks and answering with the published samples
(integrations/tests/payloads/amazon_*, sources in SOURCES.md §14).

- LWA (`POST /auth/o2/token`): a form with grant_type=refresh_token and the app's client id,
  secret and refresh token; answers the LWA docs' sample (amazon_lwa_token_response.json) with a
  fresh access token, and OAuth 2.0 errors (RFC 6749 §5.2) otherwise. Tokens expire after
  `token_lifetime` seconds of the fake clock.
- Every SP-API call must carry in `x-amz-access-token` a live token this server issued: an LWA
  token, or a Restricted Data Token issued for that method and path. Anything else is answered
  403 with the body Amazon sends for a revoked or expired token (amazon_403_unauthorized_response.json).
- Usage plans: one token bucket per operation on the fake clock (the models' default rate and
  burst, changeable per test); an empty bucket is answered 429 with the QuotaExceeded body
  (amazon_429_quota_exceeded_response.json) and only `x-amzn-RequestId`, as the models define the
  429; other answers carry `x-amzn-RateLimit-Limit`.
- getOrders filters the orders it holds by marketplace, LastUpdateDate in [after, before] and
  fulfilment channel, pages by MaxResultsPerPage with a NextToken, refuses a LastUpdatedBefore
  less than two minutes before now (400, amazon_get_orders_400_response.json), and gives the
  restricted fields (ShippingAddress name, lines and phone; BuyerInfo name) only to a Restricted
  Data Token issued with their dataElements; ShippingAddress only for the statuses the model
  lists.
- getOrderItems gives no prices for a Pending order (the model's note).
- createRestrictedDataToken answers like amazon_rdt_response.json, or the 400 sample for a
  request without resources.
- confirmShipment checks the body against ConfirmShipmentRequest (required fields, an ISO 8601
  shipDate, carrierName with carrierCode Other, the order's items, no more units than ordered
  across the order's packages) and answers 204 or the 400 sample; a package sent again with the
  same packageReferenceId replaces it ("Confirm the shipment status").
- getListingsItem / patchListingsItem answer the listing samples; a patch must name the
  listing's productType in the marketplace."""

import copy
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

PAYLOADS = Path(__file__).parent / "payloads"

CLIENT_ID = "amzn1.application-oa2-client.conduit-test"
CLIENT_SECRET = "amzn1.oa2-cs.v1.conduit-test-secret"
SELLER_ID = "A2CONDUITTEST1"
US = "ATVPDKIKX0DER"

# The models' default usage plans: operation → (rate per second, burst).
USAGE_PLANS = {
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "createRestrictedDataToken": (1.0, 10),
    "confirmShipment": (2.0, 10),
    "getListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
}
# An ErrorList (the models' error schema) with the 500 description of ordersV0.json as message.
INTERNAL_FAILURE = {
    "errors": [
        {
            "code": "InternalFailure",
            "message": "An unexpected condition occurred that prevented the server from fulfilling the request.",
        }
    ]
}
ADDRESS_STATUSES = {"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"}
RESTRICTED_ADDRESS = (
    "Name",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "Phone",
    "AddressType",
    "ExtendedFields",
)
RESTRICTED_BUYER = ("BuyerName", "BuyerTaxInfo", "PurchaseOrderNumber")
PRICE_FIELDS = (
    "ItemPrice",
    "ItemTax",
    "ShippingPrice",
    "ShippingTax",
    "ShippingDiscount",
    "ShippingDiscountTax",
    "PromotionDiscount",
    "PromotionDiscountTax",
    "CODFee",
    "CODFeeDiscount",
    "IsGift",
    "PromotionIds",
)


def sample(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(text)
    return moment.astimezone(UTC)


class FakeClock:
    """Monotonic seconds that only move when someone sleeps (the client's pauses) or a test
    advances them, shared by the client and the server."""

    def __init__(self):
        self._now = 1000.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass
class Bucket:
    rate: float
    burst: int
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Call:
    operation: str
    method: str
    path: str
    query: dict
    token: str
    body: dict | None
    status: int = 0


@dataclass
class FakeAmazon:
    clock: FakeClock
    refresh_token: str = field(default_factory=lambda: sample("amazon_lwa_token_response")["refresh_token"])
    token_lifetime: int = 3600
    orders: dict[str, dict] = field(default_factory=dict)  # AmazonOrderId → Order, with its PII
    items: dict[str, list[dict]] = field(default_factory=dict)
    orders_page_size: int = 100  # at most this many orders a page, whatever MaxResultsPerPage says
    item_page_size: int = 100
    listings: dict[str, dict] = field(default_factory=dict)  # SKU → getListingsItem answer
    packages: dict[tuple[str, str], dict] = field(default_factory=dict)  # (order, packageReferenceId)
    calls: list[Call] = field(default_factory=list)
    lwa_requests: list[dict] = field(default_factory=list)
    patch_answer: dict | None = None  # a patchListingsItem answer to give instead of ACCEPTED
    url: str = ""

    def __post_init__(self):
        self.lock = threading.Lock()
        self.access_tokens: dict[str, float] = {}  # token → expiry on the fake clock
        self.rdts: dict[str, tuple[float, list[dict]]] = {}
        self.plans = dict(USAGE_PLANS)
        self.buckets: dict[str, Bucket] = {}
        self.failures: dict[str, list[tuple[int, bool]]] = {}
        self.next_tokens: dict[str, tuple[dict, int]] = {}
        self.serial = itertools.count(1)

    # --- what tests set up and look at ---

    def add_order(self, order: dict, items: list[dict]) -> None:
        self.orders[order["AmazonOrderId"]] = copy.deepcopy(order)
        self.items[order["AmazonOrderId"]] = copy.deepcopy(items)

    def plan(self, operation: str, rate: float, burst: int) -> None:
        self.plans[operation] = (rate, burst)
        self.buckets.pop(operation, None)

    def fail(self, operation: str, *statuses: int, applied: bool = False) -> None:
        """Answer the next calls of `operation` with these statuses; `applied`: do the work
        first and lose the answer (a timeout after the platform acted)."""
        self.failures.setdefault(operation, []).extend((status, applied) for status in statuses)

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()
            self.rdts.clear()

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def answered(self, operation: str) -> list[int]:
        return [call.status for call in self.calls if call.operation == operation]

    # --- the server's side ---

    def bucket(self, operation: str) -> Bucket:
        if operation not in self.buckets:
            rate, burst = self.plans[operation]
            self.buckets[operation] = Bucket(rate, burst, float(burst), self.clock.monotonic())
        return self.buckets[operation]

    def issue_access_token(self) -> str:
        token = f"Atza|conduit-fake-{next(self.serial)}"
        self.access_tokens[token] = self.clock.monotonic() + self.token_lifetime
        return token

    def issue_rdt(self, resources: list[dict]) -> str:
        token = f"Atz.sprdt|conduit-fake-{next(self.serial)}"
        self.rdts[token] = (self.clock.monotonic() + 3600, resources)
        return token

    def authorised(self, token: str, method: str, path: str) -> tuple[bool, set[str]]:
        """(allowed, dataElements granted) for a token on this call."""
        now = self.clock.monotonic()
        if self.access_tokens.get(token, 0) > now:
            return True, set()
        expiry, resources = self.rdts.get(token, (0, []))
        if expiry <= now:
            return False, set()
        for resource in resources:
            if resource["method"] == method and _path_matches(resource["path"], path):
                return True, set(resource.get("dataElements") or [])
        return False, set()


def _path_matches(pattern: str, path: str) -> bool:
    pattern_parts, parts = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(pattern_parts) == len(parts) and all(
        p == q or (p.startswith("{") and p.endswith("}")) for p, q in zip(pattern_parts, parts, strict=True)
    )


def _route(method: str, path: str) -> tuple[str, dict] | None:
    parts = [unquote(part) for part in path.strip("/").split("/")]
    if method == "POST" and parts == ["auth", "o2", "token"]:
        return "lwa", {}
    if method == "POST" and parts == ["tokens", "2021-03-01", "restrictedDataToken"]:
        return "createRestrictedDataToken", {}
    if parts[:3] == ["orders", "v0", "orders"]:
        if method == "GET" and len(parts) == 3:
            return "getOrders", {}
        if method == "GET" and len(parts) == 5 and parts[4] == "orderItems":
            return "getOrderItems", {"order_id": parts[3]}
        if method == "POST" and len(parts) == 5 and parts[4] == "shipmentConfirmation":
            return "confirmShipment", {"order_id": parts[3]}
    if parts[:3] == ["listings", "2021-08-01", "items"] and len(parts) == 5:
        operation = {"GET": "getListingsItem", "PATCH": "patchListingsItem"}.get(method)
        if operation:
            return operation, {"seller_id": parts[3], "sku": parts[4]}
    return None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.handle_call("GET")

    def do_POST(self):  # noqa: N802
        self.handle_call("POST")

    def do_PATCH(self):  # noqa: N802
        self.handle_call("PATCH")

    def handle_call(self, method: str):
        fake: FakeAmazon = self.server.fake
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = _route(method, url.path)
        if route is None:
            return self.answer(404, {"errors": [{"code": "NotFound", "message": "Resource not found"}]})
        operation, args = route
        if operation == "lwa":
            with fake.lock:
                return self.lwa(fake, {k: v[0] for k, v in parse_qs(raw.decode()).items()})
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self.answer(400, sample("amazon_get_orders_400_response"))
        token = self.headers.get("x-amz-access-token") or ""
        with fake.lock:
            call = Call(operation, method, url.path, query, token, body)
            fake.calls.append(call)
            status, answer, headers = self.dispatch(fake, call, args)
            call.status = status
        self.answer(status, answer, headers)

    def dispatch(self, fake: FakeAmazon, call: Call, args: dict):
        request_id = {"x-amzn-RequestId": f"req-{next(fake.serial)}"}
        allowed, elements = fake.authorised(call.token, call.method, call.path)
        if not allowed:
            return 403, sample("amazon_403_unauthorized_response"), request_id
        if not fake.bucket(call.operation).take(fake.clock.monotonic()):
            return 429, sample("amazon_429_quota_exceeded_response"), request_id  # no rate header
        failures = fake.failures.get(call.operation)
        failure = failures.pop(0) if failures else None
        if failure is not None and not failure[1]:
            return failure[0], INTERNAL_FAILURE, request_id
        handler = getattr(self, f"op_{call.operation}")
        status, answer = handler(fake, call, elements, **args)
        if failure is not None:  # applied, then the answer is lost
            return failure[0], INTERNAL_FAILURE, request_id
        headers = {**request_id, "x-amzn-RateLimit-Limit": str(fake.plans[call.operation][0])}
        return status, answer, headers

    # --- Login with Amazon ---

    def lwa(self, fake: FakeAmazon, form: dict):
        fake.lwa_requests.append(form)
        if form.get("grant_type") != "refresh_token":
            return self.answer(400, {"error": "unsupported_grant_type", "error_description": "grant_type"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return self.answer(
                401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if form.get("refresh_token") != fake.refresh_token:
            return self.answer(
                400,
                {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter"},
            )
        answer = sample("amazon_lwa_token_response")
        answer.update(access_token=fake.issue_access_token(), expires_in=fake.token_lifetime)
        return self.answer(200, answer)

    # --- operations ---

    def op_createRestrictedDataToken(self, fake, call, elements):  # noqa: N802
        resources = (call.body or {}).get("restrictedResources")
        if not resources or len(resources) > 50:
            return 400, sample("amazon_rdt_400_response")
        for resource in resources:
            if resource.get("method") not in ("GET", "PUT", "POST", "DELETE") or not resource.get("path"):
                return 400, sample("amazon_rdt_400_response")
        answer = sample("amazon_rdt_response")
        answer["restrictedDataToken"] = fake.issue_rdt(resources)
        return 200, answer

    def op_getOrders(self, fake, call, elements):  # noqa: N802
        query = call.query
        if "NextToken" in query:
            if query["NextToken"] not in fake.next_tokens:
                return 400, sample("amazon_get_orders_400_response")
            query, offset = fake.next_tokens.pop(call.query["NextToken"])
        else:
            offset = 0
        try:
            marketplaces = set(query["MarketplaceIds"].split(","))
            after = parse_time(query["LastUpdatedAfter"])
            before = parse_time(query["LastUpdatedBefore"]) if "LastUpdatedBefore" in query else None
        except (KeyError, ValueError):
            return 400, sample("amazon_get_orders_400_response")
        if "CreatedAfter" in query or (
            before and (before < after or before > datetime.now(UTC) - timedelta(minutes=2))
        ):
            return 400, sample("amazon_get_orders_400_response")
        channels = set(query["FulfillmentChannels"].split(",")) if "FulfillmentChannels" in query else None
        size = min(int(query.get("MaxResultsPerPage", 100)), fake.orders_page_size)
        matching = sorted(
            (
                order
                for order in fake.orders.values()
                if order["MarketplaceId"] in marketplaces
                and after <= parse_time(order["LastUpdateDate"])
                and (before is None or parse_time(order["LastUpdateDate"]) <= before)
                and (channels is None or order.get("FulfillmentChannel") in channels)
            ),
            key=lambda order: (order["LastUpdateDate"], order["AmazonOrderId"]),
        )
        page = [_restricted(order, elements) for order in matching[offset : offset + size]]
        payload = {"Orders": page}
        if offset + size < len(matching):
            token = f"next-{next(fake.serial)}"
            fake.next_tokens[token] = (query, offset + size)
            payload["NextToken"] = token
        return 200, {"payload": payload}

    def op_getOrderItems(self, fake, call, elements, order_id):  # noqa: N802
        if order_id not in fake.orders:
            return 404, {"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]}
        items = copy.deepcopy(fake.items[order_id])
        if fake.orders[order_id]["OrderStatus"] in ("Pending", "PendingAvailability"):
            for item in items:
                for name in PRICE_FIELDS:
                    item.pop(name, None)
        offset = int(call.query.get("NextToken", "0") or 0)
        payload = {"AmazonOrderId": order_id, "OrderItems": items[offset : offset + fake.item_page_size]}
        if offset + fake.item_page_size < len(items):
            payload["NextToken"] = str(offset + fake.item_page_size)
        return 200, {"payload": payload}

    def op_confirmShipment(self, fake, call, elements, order_id):  # noqa: N802
        refused = sample("amazon_confirm_shipment_400_response")
        body = call.body or {}
        package = body.get("packageDetail") or {}
        order = fake.orders.get(order_id)
        if order is None:
            return 404, {"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]}
        required = ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
        if body.get("marketplaceId") != order["MarketplaceId"] or any(
            not package.get(name) for name in required
        ):
            return 400, refused
        reference = str(package["packageReferenceId"])
        try:
            parse_time(package["shipDate"])
        except ValueError:
            return 400, refused  # "02/21/2022": the 400 sandbox case
        if not reference.isdigit() or int(reference) < 1:
            return 400, refused
        if package["carrierCode"] == "Other" and not package.get("carrierName"):
            return 400, refused
        ordered = {item["OrderItemId"]: item["QuantityOrdered"] for item in fake.items[order_id]}
        shipped = dict.fromkeys(ordered, 0)
        for (other_order, other_reference), other in fake.packages.items():
            if other_order == order_id and other_reference != reference:
                for entry in other["orderItems"]:
                    shipped[entry["orderItemId"]] += entry["quantity"]
        for entry in package["orderItems"]:
            item_id, quantity = entry.get("orderItemId"), entry.get("quantity")
            if item_id not in ordered or not isinstance(quantity, int) or quantity < 1:
                return 400, refused
            shipped[item_id] += quantity
            if shipped[item_id] > ordered[item_id]:
                return 400, refused
        fake.packages[(order_id, reference)] = copy.deepcopy(package)
        return 204, None

    def op_getListingsItem(self, fake, call, elements, seller_id, sku):  # noqa: N802
        listing = fake.listings.get(sku)
        if seller_id != SELLER_ID or listing is None:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": f"SKU '{sku}' not found"}]}
        included = set((call.query.get("includedData") or "summaries").split(","))
        answer = {"sku": sku}
        for name in ("summaries", "offers", "fulfillmentAvailability", "issues"):
            if name in included and name in listing:
                answer[name] = copy.deepcopy(listing[name])
        return 200, answer

    def op_patchListingsItem(self, fake, call, elements, seller_id, sku):  # noqa: N802
        listing = fake.listings.get(sku)
        body = call.body or {}
        marketplace = call.query.get("marketplaceIds")
        if seller_id != SELLER_ID or listing is None:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": f"SKU '{sku}' not found"}]}
        types = {s["productType"] for s in listing.get("summaries", []) if s["marketplaceId"] == marketplace}
        patches = body.get("patches")
        if body.get("productType") not in types or not patches:
            return 400, {"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]}
        if fake.patch_answer is not None:
            return 200, {**copy.deepcopy(fake.patch_answer), "sku": sku}
        for patch in patches:
            if patch.get("op") not in ("add", "replace", "merge", "delete") or not patch.get("path"):
                return 400, {"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]}
            if patch["path"] == "/attributes/fulfillment_availability":
                for value in patch.get("value") or []:
                    for entry in listing.setdefault("fulfillmentAvailability", []):
                        if entry["fulfillmentChannelCode"] == value["fulfillment_channel_code"]:
                            entry["quantity"] = value["quantity"]
        return 200, {**sample("amazon_patch_listings_item_response"), "sku": sku}

    def answer(self, status: int, body, headers: dict | None = None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _restricted(order: dict, elements: set[str]) -> dict:
    """The order as getOrders shows it to this token: restricted fields only with their
    dataElements, and ShippingAddress only for the statuses that have one."""
    order = copy.deepcopy(order)
    address = order.pop("ShippingAddress", None)
    if address is not None and order["OrderStatus"] in ADDRESS_STATUSES:
        if "shippingAddress" not in elements:
            address = {k: v for k, v in address.items() if k not in RESTRICTED_ADDRESS}
        order["ShippingAddress"] = address
    buyer = order.pop("BuyerInfo", None)
    if buyer is not None:
        if "buyerInfo" not in elements:
            buyer = {k: v for k, v in buyer.items() if k not in RESTRICTED_BUYER}
        order["BuyerInfo"] = buyer
    return order


def start(clock: FakeClock) -> tuple[FakeAmazon, ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeAmazon(clock)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return fake, server, thread


def stop(server: ThreadingHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
