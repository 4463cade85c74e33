"""Shopify Admin API (HTTP only; mapping.py maps the payloads): orders polled by `updated_at`
through REST, stock and the shipment write-back through GraphQL.

https://shopify.dev/docs/api/admin-rest/latest/resources/order#get-orders
https://shopify.dev/docs/api/usage/pagination-rest (cursor pagination with `page_info`)
https://shopify.dev/docs/api/admin-graphql (POST {shop}/admin/api/{version}/graphql.json with the
X-Shopify-Access-Token header, body {"query", "variables"})

Version: 2026-10, the newest stable version in Shopify's own SDK (shopify-app-js
`ApiVersion.October26`, lib/types.ts); each version is supported for at least 12 months and
Shopify "falls forward" from one no longer served (https://shopify.dev/docs/api/usage/versioning),
so the pin is kept current rather than left to fall forward silently."""

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from core.http import TIMEOUT, PlatformError, RateLimited, send
from core.outbox import PermanentFailure
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

API_VERSION = "2026-10"
PAGE_SIZE = 250  # Shopify's maximum
DEFAULT_RETRY_AFTER = 2.0  # seconds; Shopify's REST leaky bucket drains 2 requests a second


class ShopifyClient:
    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        base_url = credentials.get("base_url") or f"https://{credentials.get('shop', '')}"
        api_url = f"{base_url.rstrip('/')}/admin/api/{API_VERSION}"
        self.orders_url = f"{api_url}/orders.json"
        self.graphql_url = f"{api_url}/graphql.json"
        self.headers = {
            "X-Shopify-Access-Token": credentials.get("access_token", ""),
            "Accept": "application/json",
        }
        self.http = http
        self.pages_fetched = 0

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        params = {
            "status": "any",  # the default is "open": cancelled and closed orders would be missed
            "updated_at_min": _iso(updated_since),
            "updated_at_max": _iso(updated_until),
            "limit": PAGE_SIZE,
            "order": "updated_at asc",
        }
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            while params:
                response = self._get(http, params)
                self.pages_fetched += 1
                orders = _orders(response)
                yield from orders
                # Once paging, Shopify refuses any parameter but limit and page_info (the filters
                # are inside the page_info token).
                page_info = _next_page_info(response)
                params = {"limit": PAGE_SIZE, "page_info": page_info} if page_info else None
        finally:
            if self.http is None:
                http.close()

    def _get(self, http: httpx.Client, params: dict) -> httpx.Response:
        return send(
            "Shopify",
            lambda: http.get(self.orders_url, params=params, headers=self.headers),
            DEFAULT_RETRY_AFTER,
        )

    def set_inventory(self, *, inventory_item_id: int, location_id: int, available: int) -> None:
        """Set the available quantity of an inventory item at a location (R-I10), through
        `inventorySetQuantities` (the REST inventory_levels/set endpoint is legacy REST).

        https://shopify.dev/docs/api/admin-graphql/latest/mutations/inventorySetQuantities
        https://shopify.dev/docs/api/admin-graphql/2026-07/input-objects/InventorySetQuantityInput:
        from 2026-04 every quantity must carry `changeFromQuantity`; an explicit null sets the
        quantity without the compare-and-swap (we are the source of truth for what may be sold)."""
        data = self.graphql(
            SET_QUANTITIES,
            {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "quantities": [
                        {
                            "inventoryItemId": gid("InventoryItem", inventory_item_id),
                            "locationId": gid("Location", location_id),
                            "quantity": available,
                            "changeFromQuantity": None,
                        }
                    ],
                }
            },
        )
        refused = _user_errors((data or {}).get("inventorySetQuantities"))
        if refused:
            raise PermanentFailure(
                f"Shopify refused the stock of inventory item {inventory_item_id}: {refused}"
            )

    # --- GraphQL ---------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict) -> dict:
        """Run one GraphQL Admin request; its `data`. HTTP failures go by the one rule
        (core.http.send). Top-level `errors`: THROTTLED is RateLimited, retried after the time the
        bucket needs to refill for this query's cost; INTERNAL_SERVER_ERROR may pass; any other
        code (ACCESS_DENIED, a query Shopify cannot run) is a PermanentFailure.
        https://shopify.dev/docs/api/usage/response-codes, https://shopify.dev/docs/api/usage/rate-limits"""
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            response = send(
                "Shopify",
                lambda: http.post(
                    self.graphql_url, json={"query": query, "variables": variables}, headers=self.headers
                ),
                DEFAULT_RETRY_AFTER,
            )
        finally:
            if self.http is None:
                http.close()
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformError(f"Shopify: not a GraphQL answer: {exc!r}") from exc
        if not isinstance(body, dict):
            raise PlatformError("Shopify: not a GraphQL answer")
        errors = body.get("errors")
        if errors:
            _raise_graphql_errors(errors, body.get("extensions"))
        data = body.get("data")
        if not isinstance(data, dict):
            raise PlatformError("Shopify: a GraphQL answer without data")
        return data

    # --- shipment write-back (integrations.writeback) ---------------------------------------

    writeback_requires_carrier_code = False  # trackingInfo.company is free text (with a url)

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Fulfil exactly the notice's lines with its tracking (发货回传).

        1. The order's fulfillments carrying this tracking number (a fulfilment made by an
           earlier attempt whose answer was lost) count as done: only what they do not cover
           is fulfilled, and nothing at all when they cover every line (already_done).
        2. The order's fulfillment orders (`Order.fulfillmentOrders`): the units to fulfil are
           taken from fulfillment order line items of the notice's line items (`lineItem.id` =
           gid://shopify/LineItem/<platform line id>) with `remainingQuantity` left, on
           fulfillment orders that are OPEN or IN_PROGRESS and support CREATE_FULFILLMENT.
        3. `fulfillmentCreate` per location ("The fulfillment orders are associated with the same
           order and are assigned to the same location"), with `trackingInfo` {company, number,
           url} and `notifyCustomer`. Non-empty `userErrors` (HTTP 200) is a refusal.

        https://shopify.dev/docs/api/admin-graphql/latest/mutations/fulfillmentCreate
        https://shopify.dev/docs/api/admin-graphql/latest/input-objects/FulfillmentInput
        https://shopify.dev/docs/api/admin-graphql/latest/objects/FulfillmentOrder
        (schema: Shopify/dev-mcp admin_schema_2025-01; samples: integrations/tests/payloads
        shopify_fulfillment_* and SOURCES.md §11)"""
        order_id = gid("Order", notice.order_external_id)
        wanted = {gid("LineItem", line.platform_line_id): line.quantity for line in notice.lines}
        done_ids, already = self._fulfilled_with_tracking(order_id, notice.tracking_number)
        need = {line_id: max(0, units - already.get(line_id, 0)) for line_id, units in wanted.items()}
        if not any(need.values()):
            return WriteBackResult(reference=",".join(done_ids), already_done=True)
        by_location = self._allocate(order_id, notice, need)
        made = []
        for location_id, by_order in by_location.items():
            fulfillment = {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fo_id,
                        "fulfillmentOrderLineItems": [{"id": li, "quantity": q} for li, q in items.items()],
                    }
                    for fo_id, items in by_order.items()
                ],
                "trackingInfo": _tracking_input(notice),
                "notifyCustomer": notice.notify_customer,
            }
            data = self.graphql(FULFILLMENT_CREATE, {"fulfillment": fulfillment})
            payload = data.get("fulfillmentCreate") or {}
            refused = _user_errors(payload)
            if refused:
                raise PermanentFailure(
                    f"Shopify refused to fulfil order {notice.order_external_id} "
                    f"(parcel {notice.shipment_number}, location {location_id}): {refused}"
                )
            created = payload.get("fulfillment") or {}
            if not created.get("id"):
                raise PlatformError("Shopify: fulfillmentCreate answered no fulfillment")
            made.append(created["id"])
        return WriteBackResult(reference=",".join([*done_ids, *made]))

    def _fulfilled_with_tracking(self, order_id: str, number: str) -> tuple[list[str], dict[str, int]]:
        """Ids of the order's live fulfillments carrying this tracking number, and the units of
        each line item they fulfilled."""
        data = self.graphql(ORDER_FULFILLMENTS, {"id": order_id})
        order = data.get("order")
        if order is None:
            raise PermanentFailure(f"Shopify has no order {order_id}")
        ids = [
            fulfillment["id"]
            for fulfillment in order.get("fulfillments") or []
            if fulfillment.get("status") not in DEAD_FULFILLMENTS
            and number in {info.get("number") for info in fulfillment.get("trackingInfo") or []}
        ]
        units: dict[str, int] = {}
        for fulfillment_id in ids:
            found = self.graphql(FULFILLMENT_LINE_ITEMS, {"id": fulfillment_id}).get("fulfillment") or {}
            for node in (found.get("fulfillmentLineItems") or {}).get("nodes") or []:
                line_id = (node.get("lineItem") or {}).get("id")
                units[line_id] = units.get(line_id, 0) + int(node.get("quantity") or 0)
        return ids, units

    def _allocate(
        self, order_id: str, notice: ShipmentNotice, need: dict[str, int]
    ) -> dict[str, dict[str, dict[str, int]]]:
        """location id → fulfillment order id → {fulfillment order line item id: units}."""
        data = self.graphql(ORDER_FULFILLMENT_ORDERS, {"id": order_id})
        order = data.get("order")
        if order is None:
            raise PermanentFailure(f"Shopify has no order {order_id}")
        plan: dict[str, dict[str, dict[str, int]]] = {}
        left = dict(need)
        elsewhere: dict[str, set[str]] = {}  # line item → statuses of fulfillment orders we cannot fulfil
        for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
            actions = {item.get("action") for item in fo.get("supportedActions") or []}
            usable = fo.get("status") in OPEN_FULFILLMENT_ORDERS and "CREATE_FULFILLMENT" in actions
            location = ((fo.get("assignedLocation") or {}).get("location") or {}).get("id") or ""
            for item in (fo.get("lineItems") or {}).get("nodes") or []:
                line_id = (item.get("lineItem") or {}).get("id")
                if left.get(line_id, 0) <= 0 or int(item.get("remainingQuantity") or 0) <= 0:
                    continue
                if not usable:
                    elsewhere.setdefault(line_id, set()).add(str(fo.get("status")))
                    continue
                take = min(left[line_id], int(item["remainingQuantity"]))
                plan.setdefault(location, {}).setdefault(fo["id"], {})[item["id"]] = take
                left[line_id] -= take
        short = {line_id: units for line_id, units in left.items() if units > 0}
        if short:
            detail = "; ".join(
                f"{line_id.rsplit('/', 1)[-1]}: {units} unit(s) more than Shopify has open to fulfil"
                + (
                    f" (held on fulfillment orders {', '.join(sorted(elsewhere[line_id]))})"
                    if line_id in elsewhere
                    else ""
                )
                for line_id, units in sorted(short.items())
            )
            raise PermanentFailure(
                f"Shopify order {notice.order_external_id}, parcel {notice.shipment_number}: {detail}"
            )
        return plan


# Fulfillment orders we may fulfil ourselves (FulfillmentOrderStatus), and fulfillments that no
# longer stand (FulfillmentStatus); Admin GraphQL schema.
OPEN_FULFILLMENT_ORDERS = frozenset({"OPEN", "IN_PROGRESS"})
DEAD_FULFILLMENTS = frozenset({"CANCELLED", "ERROR", "FAILURE"})

ORDER_FULFILLMENT_ORDERS = """
query orderFulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 10) {
      nodes {
        id status supportedActions { action } assignedLocation { location { id } }
        lineItems(first: 50) {
          nodes { id remainingQuantity totalQuantity lineItem { id sku variant { id } } }
        }
      }
    }
  }
}"""
ORDER_FULFILLMENTS = """
query orderFulfillments($id: ID!) {
  order(id: $id) { id fulfillments(first: 50) { id status trackingInfo(first: 10) { company number url } } }
}"""
FULFILLMENT_LINE_ITEMS = """
query fulfillmentLineItems($id: ID!) {
  fulfillment(id: $id) {
    id status fulfillmentLineItems(first: 100) { nodes { id quantity lineItem { id } } }
  }
}"""
FULFILLMENT_CREATE = """
mutation fulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 10) { company number url } }
    userErrors { field message }
  }
}"""
SET_QUANTITIES = """
mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) { inventoryAdjustmentGroup { id } userErrors { code field message } }
}"""


def gid(kind: str, value) -> str:
    """A Shopify global id (gid://shopify/<Type>/<id>, the form REST answers carry in
    `admin_graphql_api_id`) from a REST id; a gid stays as it is."""
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def _tracking_input(notice: ShipmentNotice) -> dict:
    """FulfillmentTrackingInput: Shopify builds the tracking URL for a company from its list; for
    any other company (e.g. ZTO, YTO) the url makes the number clickable. "If you provide the url
    field, you should not provide the urls field" — one number, one url."""
    tracking = {"company": notice.carrier_code or notice.carrier_name, "number": notice.tracking_number}
    if notice.tracking_url:
        tracking["url"] = notice.tracking_url
    return tracking


def _user_errors(payload) -> str:
    errors = (payload or {}).get("userErrors") or []
    return "; ".join(
        f"{'.'.join(str(part) for part in error.get('field') or []) or '-'}: {error.get('message', '')}"
        for error in errors
        if isinstance(error, dict)
    )


def _raise_graphql_errors(errors, extensions) -> None:
    codes = [
        ((error or {}).get("extensions") or {}).get("code") for error in errors if isinstance(error, dict)
    ]
    text = "; ".join(str((error or {}).get("message", error)) for error in errors)[:500]
    if "THROTTLED" in codes:
        raise RateLimited(throttle_wait(extensions))
    if codes and all(code == "INTERNAL_SERVER_ERROR" for code in codes):
        raise PlatformError(f"Shopify: {text}")  # no status code: temporary by the one rule
    raise PermanentFailure(f"Shopify refused the request: {text}")


def throttle_wait(extensions) -> float:
    """Seconds until the leaky bucket holds this query's cost again:
    (requestedQueryCost − currentlyAvailable) / restoreRate, from `extensions.cost` (at least a
    second); the default when Shopify sent no cost. https://shopify.dev/docs/api/usage/rate-limits"""
    try:
        cost = extensions["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(1.0, missing / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return DEFAULT_RETRY_AFTER


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _orders(response: httpx.Response) -> list[dict]:
    try:
        orders = response.json()["orders"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PlatformError(f"Shopify: not an orders page: {exc!r}") from exc
    if not isinstance(orders, list) or not all(isinstance(order, dict) for order in orders):
        raise PlatformError("Shopify: not an orders page")
    return orders


def _next_page_info(response: httpx.Response) -> str | None:
    """The page_info of the Link header's rel="next" URL; None on the last page."""
    url = response.links.get("next", {}).get("url")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page_info")
    if not values:
        raise PlatformError("Shopify: next link without page_info")
    return values[0]
