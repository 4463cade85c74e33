"""Fake Shopify and WooCommerce stores on localhost for the shipment write-back (issue #15).

Each checks the auth the way its platform does and answers in the shapes of the samples saved in
payloads/ (SOURCES.md §11–§12):

- Shopify Admin GraphQL (POST /admin/api/2026-10/graphql.json, header X-Shopify-Access-Token):
  `orderFulfillmentOrders` answers like shopify_fulfillment_orders_response.json,
  `fulfillmentCreate` like shopify_fulfillment_create_response.json, throttling with
  shopify_graphql_throttled_response.json (verbatim), `inventorySetQuantities` with the payload
  the schema gives (InventorySetQuantitiesPayload {inventoryAdjustmentGroup, userErrors}). The
  store keeps its fulfillment orders and fulfillments, and refuses (userErrors) what Shopify
  would: a line item quantity above what remains, fulfillment orders of two locations or two
  orders in one call, a fulfillment order that does not support CREATE_FULFILLMENT.
- WooCommerce (HTTP Basic with the consumer key and secret): the Shipment Tracking extension's
  `wc-shipment-tracking/v3/orders/<id>/shipment-trackings` (GET list, POST → 201 with the item as
  in woo_shipment_tracking_create_response.json) and `PUT wc/v3/orders/<id>` (the order as in
  woo_order_update_completed_response.json); errors in the documented {"code", "message",
  "data": {"status"}} shape (woo_rest_no_route_response.json when the extension is missing).

Faults are scripted per store (`faults`: (operation or None for any, fault), each used once, in
order): "throttled", an HTTP status (503), or "lost" (the call takes effect but the answer is a
503: an ambiguous failure). Operations are GraphQL operation names for Shopify and
"METHOD path-with-<id>" for WooCommerce."""

import base64
import copy
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAYLOADS = Path(__file__).parent / "payloads"
SHOPIFY_TOKEN = "shpat_writeback_test"
WOO_KEY, WOO_CONSUMER_SECRET = "ck_writeback", "cs_writeback"
SHOPIFY_LOCATION = "gid://shopify/Location/655441491"


def sample(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


class FakeStore:
    """What a store holds and what it was asked (thread-safe: the server answers in threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # {"method", "path", "operation", "body"}
        self.faults: list = []
        self.base_url = ""

    def next_fault(self, operation: str):
        with self.lock:
            for index, (wanted, _fault) in enumerate(self.faults):
                if wanted in (None, operation):
                    return self.faults.pop(index)[1]
        return None

    def calls(self, operation: str) -> list[dict]:
        return [r for r in self.requests if r["operation"] == operation]


# --- Shopify ------------------------------------------------------------------------------------


class FakeShopify(FakeStore):
    def __init__(self):
        super().__init__()
        self.orders: dict[str, dict] = {}  # order gid → {"fulfillment_orders": [...], "fulfillments": [...]}
        self.inventory: dict[tuple[str, str], int] = {}
        template = sample("shopify_fulfillment_orders_response")["data"]["order"]["fulfillmentOrders"][
            "nodes"
        ][0]
        self._fo_ids = iter(range(int(template["id"].rsplit("/", 1)[1]), 10**12))
        fo_line = template["lineItems"]["nodes"][0]["id"]
        self._fo_line_ids = iter(range(int(fo_line.rsplit("/", 1)[1]), 10**12))
        created = sample("shopify_fulfillment_create_response")["data"]["fulfillmentCreate"]["fulfillment"]
        self._fulfillment_ids = iter(range(int(created["id"].rsplit("/", 1)[1]), 10**12))

    def add_order(self, payload: dict, *, locations: dict[str, str] | None = None, status="OPEN") -> str:
        """The order as Shopify holds it after the webhook `payload`: one fulfillment order per
        location (`locations`: line item id → location gid; all at SHOPIFY_LOCATION by default)."""
        order_id = f"gid://shopify/Order/{payload['id']}"
        by_location: dict[str, list] = {}
        for item in payload["line_items"]:
            location = (locations or {}).get(str(item["id"]), SHOPIFY_LOCATION)
            by_location.setdefault(location, []).append(item)
        fulfillment_orders = []
        for location, items in by_location.items():
            fulfillment_orders.append(
                {
                    "id": f"gid://shopify/FulfillmentOrder/{next(self._fo_ids)}",
                    "status": status,
                    "supportedActions": [
                        {"action": action}
                        for action in (
                            ["REQUEST_FULFILLMENT", "CREATE_FULFILLMENT", "HOLD"]
                            if status == "OPEN"
                            else ["RELEASE_HOLD"]
                        )
                    ],
                    "assignedLocation": {"location": {"id": location}},
                    "lineItems": {
                        "nodes": [
                            {
                                "id": f"gid://shopify/FulfillmentOrderLineItem/{next(self._fo_line_ids)}",
                                "remainingQuantity": item["quantity"],
                                "totalQuantity": item["quantity"],
                                "lineItem": {
                                    "id": f"gid://shopify/LineItem/{item['id']}",
                                    "sku": item.get("sku"),
                                    "variant": {
                                        "id": f"gid://shopify/ProductVariant/{item.get('variant_id')}"
                                    },
                                },
                            }
                            for item in items
                        ]
                    },
                }
            )
        self.orders[order_id] = {"id": order_id, "fulfillment_orders": fulfillment_orders, "fulfillments": []}
        return order_id

    def release_holds(self, order_id: str) -> None:
        for fo in self.orders[order_id]["fulfillment_orders"]:
            fo["status"] = "OPEN"
            fo["supportedActions"] = [{"action": "CREATE_FULFILLMENT"}, {"action": "HOLD"}]

    def fulfillments(self, order_id: str) -> list[dict]:
        return self.orders[order_id]["fulfillments"]

    # GraphQL operations, by operation name --------------------------------------------------

    def answer(self, operation: str, variables: dict) -> dict:
        with self.lock:
            return getattr(self, f"op_{operation}")(variables)

    def op_orderFulfillmentOrders(self, variables):  # noqa: N802 - the operation's name
        order = self.orders.get(variables["id"])
        if order is None:
            return {"data": {"order": None}}
        return {
            "data": {
                "order": {
                    "id": order["id"],
                    "fulfillmentOrders": {"nodes": copy.deepcopy(order["fulfillment_orders"])},
                }
            }
        }

    def op_orderFulfillments(self, variables):  # noqa: N802
        order = self.orders.get(variables["id"])
        if order is None:
            return {"data": {"order": None}}
        listed = [
            {"id": f["id"], "status": f["status"], "trackingInfo": f["trackingInfo"]}
            for f in order["fulfillments"]
        ]
        return {"data": {"order": {"id": order["id"], "fulfillments": listed}}}

    def op_fulfillmentLineItems(self, variables):  # noqa: N802
        for order in self.orders.values():
            for fulfillment in order["fulfillments"]:
                if fulfillment["id"] == variables["id"]:
                    nodes = [
                        {"id": f"gid://shopify/FulfillmentLineItem/{n}", **line}
                        for n, line in enumerate(fulfillment["lines"], start=1)
                    ]
                    return {
                        "data": {
                            "fulfillment": {
                                "id": fulfillment["id"],
                                "status": fulfillment["status"],
                                "fulfillmentLineItems": {"nodes": nodes},
                            }
                        }
                    }
        return {"data": {"fulfillment": None}}

    def op_fulfillmentCreate(self, variables):  # noqa: N802
        given = variables["fulfillment"]
        wanted = given.get("lineItemsByFulfillmentOrder") or []
        errors, lines, orders, locations, changes = [], [], set(), set(), []
        for entry in wanted:
            found = [
                (order, fo)
                for order in self.orders.values()
                for fo in order["fulfillment_orders"]
                if fo["id"] == entry["fulfillmentOrderId"]
            ]
            if not found:
                errors.append(self._user_error("fulfillmentOrderId", "Fulfillment order does not exist."))
                continue
            order, fo = found[0]
            orders.add(order["id"])
            locations.add(fo["assignedLocation"]["location"]["id"])
            if "CREATE_FULFILLMENT" not in {a["action"] for a in fo["supportedActions"]}:
                errors.append(
                    self._user_error("fulfillmentOrderId", "Fulfillment order cannot be fulfilled.")
                )
                continue
            items = {item["id"]: item for item in fo["lineItems"]["nodes"]}
            asked = entry.get("fulfillmentOrderLineItems") or [
                {"id": item_id, "quantity": item["remainingQuantity"]} for item_id, item in items.items()
            ]
            for ask in asked:
                item = items.get(ask["id"])
                if item is None or ask["quantity"] < 1 or ask["quantity"] > item["remainingQuantity"]:
                    errors.append(
                        self._user_error("fulfillmentOrderLineItems", "Invalid line item quantity.")
                    )
                    continue
                changes.append((item, ask["quantity"]))
                lines.append({"quantity": ask["quantity"], "lineItem": {"id": item["lineItem"]["id"]}})
        if len(orders) > 1 or len(locations) > 1:
            errors.append(self._user_error("lineItemsByFulfillmentOrder", "Not the same order and location."))
        if errors:
            return {"data": {"fulfillmentCreate": {"fulfillment": None, "userErrors": errors}}}
        for item, quantity in changes:
            item["remainingQuantity"] -= quantity
        tracking = given.get("trackingInfo") or {}
        fulfillment = {
            "id": f"gid://shopify/Fulfillment/{next(self._fulfillment_ids)}",
            "status": "SUCCESS",
            "trackingInfo": [
                {
                    "company": tracking.get("company"),
                    "number": tracking.get("number"),
                    "url": tracking.get("url"),
                }
            ],
            "lines": lines,
            "notifyCustomer": given.get("notifyCustomer", False),
        }
        self.orders[next(iter(orders))]["fulfillments"].append(fulfillment)
        shape = sample("shopify_fulfillment_create_response")
        answer = shape["data"]["fulfillmentCreate"]
        answer["fulfillment"] = {k: fulfillment[k] for k in ("id", "status", "trackingInfo")}
        answer["userErrors"] = []
        return shape

    def op_inventorySetQuantities(self, variables):  # noqa: N802
        given = variables["input"]
        errors = []
        if given.get("name") not in ("available", "on_hand"):
            errors.append({"code": "INVALID_NAME", "field": ["input", "name"], "message": "Invalid name."})
        for n, quantity in enumerate(given.get("quantities") or []):
            if "changeFromQuantity" not in quantity:  # mandatory from 2026-04, even as null
                errors.append(
                    {
                        "code": "COMPARE_QUANTITY_REQUIRED",
                        "field": ["input", "quantities", str(n), "changeFromQuantity"],
                        "message": "changeFromQuantity is required.",
                    }
                )
        if errors:
            return {
                "data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": errors}}
            }
        for quantity in given["quantities"]:
            self.inventory[(quantity["inventoryItemId"], quantity["locationId"])] = quantity["quantity"]
        group = {"id": "gid://shopify/InventoryAdjustmentGroup/1"}
        return {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}}}

    @staticmethod
    def _user_error(field: str, message: str) -> dict:
        return {"field": ["fulfillment", field], "message": message}


class ShopifyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        store: FakeShopify = self.server.store
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        match = re.match(r"\s*(query|mutation)\s+(\w+)", body.get("query", ""))
        operation = match.group(2) if match else ""
        with store.lock:
            store.requests.append({"method": "POST", "path": self.path, "operation": operation, "body": body})
        if self.path != "/admin/api/2026-10/graphql.json":
            return self.reply(404, {"errors": "Not Found"})
        if self.headers.get("X-Shopify-Access-Token") != SHOPIFY_TOKEN:
            return self.reply(
                401,
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
            )
        fault = store.next_fault(operation)
        if fault == "throttled":
            return self.reply(200, sample("shopify_graphql_throttled_response"))
        if isinstance(fault, int):
            return self.reply(fault, "Service Unavailable")
        answer = store.answer(operation, body.get("variables") or {})
        if fault == "lost":
            return self.reply(503, "Service Unavailable")  # it happened, but the answer was lost
        return self.reply(200, answer)

    def reply(self, status: int, data) -> None:
        raw = data.encode() if isinstance(data, str) else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(data, str) else "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


# --- WooCommerce --------------------------------------------------------------------------------


class FakeWoo(FakeStore):
    def __init__(self, *, tracking_installed: bool = True):
        super().__init__()
        self.tracking_installed = tracking_installed
        self.orders: dict[str, dict] = {}

    def add_order(self, payload: dict) -> str:
        order_id = str(payload["id"])
        self.orders[order_id] = {"order": copy.deepcopy(payload), "trackings": []}
        return order_id

    def trackings(self, order_id) -> list[dict]:
        return self.orders[str(order_id)]["trackings"]

    def status(self, order_id) -> str:
        return self.orders[str(order_id)]["order"]["status"]

    def handle(self, method: str, path: str, body) -> tuple[int, object]:
        with self.lock:
            tracking = re.fullmatch(r"/wp-json/wc-shipment-tracking/v3/orders/(\d+)/shipment-trackings", path)
            order = re.fullmatch(r"/wp-json/wc/v3/orders/(\d+)", path)
            if tracking and not self.tracking_installed:
                return 404, sample("woo_rest_no_route_response")
            if tracking and tracking.group(1) in self.orders:
                items = self.orders[tracking.group(1)]["trackings"]
                if method == "GET":
                    return 200, copy.deepcopy(items)
                if method == "POST":
                    return self._create_tracking(items, body)
            if order and order.group(1) in self.orders and method == "PUT":
                held = self.orders[order.group(1)]["order"]
                held.update({key: value for key, value in body.items() if key == "status"})
                return 200, copy.deepcopy(held)
            if tracking or order:
                return 404, sample("woo_rest_error_response")
            return 404, sample("woo_rest_no_route_response")

    def _create_tracking(self, items: list, body: dict) -> tuple[int, object]:
        if not body.get("tracking_number"):
            return 400, {
                "code": "rest_missing_callback_param",
                "message": "Missing parameter(s): tracking_number",
                "data": {"status": 400},
            }
        providers = {
            name: url
            for region in sample("woo_shipment_tracking_providers_response").values()
            for name, url in region.items()
        }
        if body.get("tracking_provider"):
            link = providers.get(body["tracking_provider"], "")
            provider = body["tracking_provider"]
        else:
            link, provider = body.get("custom_tracking_link", ""), body.get("custom_tracking_provider", "")
        item = dict(sample("woo_shipment_tracking_create_response"))
        item.update(
            {
                "tracking_id": hashlib.md5(f"{body['tracking_number']}{len(items)}".encode()).hexdigest(),
                "tracking_provider": provider,
                "tracking_link": link.replace("%1$s", body["tracking_number"]),
                "tracking_number": body["tracking_number"],
                "date_shipped": body.get("date_shipped", ""),
            }
        )
        items.append(item)
        return 201, item


class WooHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.route()

    def do_POST(self):  # noqa: N802
        self.route()

    def do_PUT(self):  # noqa: N802
        self.route()

    def route(self):
        store: FakeWoo = self.server.store
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = self.path.split("?", 1)[0]
        operation = self.command + " " + re.sub(r"/\d+", "/<id>", path)
        with store.lock:
            store.requests.append(
                {"method": self.command, "path": path, "operation": operation, "body": body}
            )
        basic = "Basic " + base64.b64encode(f"{WOO_KEY}:{WOO_CONSUMER_SECRET}".encode()).decode()
        if self.headers.get("Authorization") != basic:
            error = {
                "code": "woocommerce_rest_authentication_error",
                "message": "Consumer key is invalid.",
                "data": {"status": 401},
            }
            return self.reply(401, error)
        fault = store.next_fault(operation)
        if isinstance(fault, int):
            return self.reply(fault, "Service Unavailable")
        status, answer = store.handle(self.command, path, body)
        if fault == "lost":
            return self.reply(503, "Service Unavailable")  # it happened, but the answer was lost
        self.reply(status, answer)

    def reply(self, status: int, data) -> None:
        raw = data.encode() if isinstance(data, str) else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(data, str) else "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def serve(store: FakeStore, handler):
    """Start the store on a free local port; returns a function that stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.store = store
    store.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join()

    return stop
