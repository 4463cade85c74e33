"""Shopify Admin REST orders, polled by `updated_at` (HTTP only; mapping.py maps the payloads).

https://shopify.dev/docs/api/admin-rest/2024-10/resources/order#get-orders
https://shopify.dev/docs/api/usage/pagination-rest (cursor pagination with `page_info`)"""

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from core.http import TIMEOUT, PlatformError, send

API_VERSION = "2024-10"
PAGE_SIZE = 250  # Shopify's maximum
DEFAULT_RETRY_AFTER = 2.0  # seconds; Shopify's REST leaky bucket drains 2 requests a second


class ShopifyClient:
    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        base_url = credentials.get("base_url") or f"https://{credentials.get('shop', '')}"
        self.orders_url = f"{base_url.rstrip('/')}/admin/api/{API_VERSION}/orders.json"
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
        """Set the available quantity of an inventory item at a location (R-I10).

        https://shopify.dev/docs/api/admin-rest/2024-10/resources/inventorylevel#post-inventory-levels-set"""
        url = self.orders_url.removesuffix("orders.json") + "inventory_levels/set.json"
        body = {"location_id": location_id, "inventory_item_id": inventory_item_id, "available": available}
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            send("Shopify", lambda: http.post(url, json=body, headers=self.headers), DEFAULT_RETRY_AFTER)
        finally:
            if self.http is None:
                http.close()


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
