"""WooCommerce REST v3 orders, polled by modification time (HTTP only; mapping.py maps them).

https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders
https://developer.wordpress.org/rest-api/using-the-rest-api/pagination/ (X-WP-TotalPages)"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx

from core.http import TIMEOUT, PlatformError, send

PAGE_SIZE = 100  # the REST API's maximum per_page
DEFAULT_RETRY_AFTER = 2.0


class WooCommerceClient:
    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        self.orders_url = f"{credentials.get('base_url', '').rstrip('/')}/wp-json/wc/v3/orders"
        self.auth = httpx.BasicAuth(
            credentials.get("consumer_key", ""), credentials.get("consumer_secret", "")
        )
        self.http = http
        self.pages_fetched = 0

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        params = {
            # modified_after is exclusive and second-precise: one second earlier makes it inclusive.
            "modified_after": _gmt(updated_since - timedelta(seconds=1)),
            "modified_before": _gmt(updated_until),
            "dates_are_gmt": "true",  # the two dates above are UTC, not the site's time zone
            "orderby": "modified",
            "order": "asc",
            "per_page": PAGE_SIZE,
        }
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            page, total_pages = 1, 1
            while page <= total_pages:
                response = self._get(http, {**params, "page": page})
                self.pages_fetched += 1
                orders = _orders(response)
                yield from orders
                total_pages = _total_pages(response, page, len(orders))
                page += 1
        finally:
            if self.http is None:
                http.close()

    def _get(self, http: httpx.Client, params: dict) -> httpx.Response:
        return send(
            "WooCommerce",
            lambda: http.get(self.orders_url, params=params, auth=self.auth),
            DEFAULT_RETRY_AFTER,
        )

    def set_stock(self, *, product_id: int, quantity: int, variation_id: int | None = None) -> None:
        """Set a product's (or one of its variations') stock quantity, managing its stock (R-I10).

        https://woocommerce.github.io/woocommerce-rest-api-docs/#update-a-product
        https://woocommerce.github.io/woocommerce-rest-api-docs/#update-a-product-variation"""
        url = f"{self.orders_url.removesuffix('/orders')}/products/{product_id}"
        if variation_id is not None:
            url = f"{url}/variations/{variation_id}"
        body = {"manage_stock": True, "stock_quantity": quantity}
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            send("WooCommerce", lambda: http.put(url, json=body, auth=self.auth), DEFAULT_RETRY_AFTER)
        finally:
            if self.http is None:
                http.close()


def _gmt(moment: datetime) -> str:
    """UTC without an offset, as `dates_are_gmt=true` expects."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _orders(response: httpx.Response) -> list[dict]:
    try:
        orders = response.json()
    except ValueError as exc:
        raise PlatformError(f"WooCommerce: not an orders page: {exc!r}") from exc
    if not isinstance(orders, list) or not all(isinstance(order, dict) for order in orders):
        raise PlatformError("WooCommerce: not an orders page")
    return orders


def _total_pages(response: httpx.Response, page: int, count: int) -> int:
    """X-WP-TotalPages; without it, a full page means there may be another."""
    try:
        return int(response.headers["X-WP-TotalPages"])
    except (KeyError, ValueError):
        return page + 1 if count >= PAGE_SIZE else page
