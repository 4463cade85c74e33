"""WooCommerce REST v3 orders, polled by modification time (HTTP only; mapping.py maps them), stock,
and the shipment write-back through the Shipment Tracking extension's REST API.

https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders
https://developer.wordpress.org/rest-api/using-the-rest-api/pagination/ (X-WP-TotalPages)
https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication-over-https (HTTP Basic:
consumer key and secret)"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx

from core.http import TIMEOUT, PlatformError, is_temporary_status, send
from core.outbox import PermanentFailure
from core.timezones import business_zone
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

PAGE_SIZE = 100  # the REST API's maximum per_page
# "Use the canonical wc-shipment-tracking/v3 namespace for new integrations" (woocommerce.com).
TRACKING_NAMESPACE = "wc-shipment-tracking/v3"
DEFAULT_RETRY_AFTER = 2.0


class WooCommerceClient:
    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        base_url = credentials.get("base_url", "").rstrip("/")
        self.orders_url = f"{base_url}/wp-json/wc/v3/orders"
        self.tracking_url = f"{base_url}/wp-json/{TRACKING_NAMESPACE}"
        self.time_zone = getattr(channel, "time_zone", None)
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

    # --- shipment write-back (integrations.writeback) ---------------------------------------

    writeback_requires_carrier_code = False  # a custom provider takes any name and link

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """Add the parcel's tracking to the order, then complete the order with its last parcel.

        1. `GET /wp-json/wc-shipment-tracking/v3/orders/<id>/shipment-trackings`: a tracking item
           with this tracking number is already there (an earlier attempt whose answer was lost):
           it is not added again.
        2. Otherwise `POST …/shipment-trackings` {tracking_provider (the store's provider name,
           from the carrier code map), tracking_number, date_shipped (YYYY-MM-DD, the store's
           day)}; a carrier the map does not name goes as {custom_tracking_provider,
           custom_tracking_link}. Answer: 201 with the item and its `tracking_id`.
        3. When every line has shipped: `PUT /wp-json/wc/v3/orders/<id>` {"status": "completed"}
           (after the tracking, so the "completed order" e-mail carries it; the same status
           again changes nothing). WooCommerce has no partly-shipped status: earlier parcels only
           add their tracking.

        Tracking items belong to the order, not to lines: a split order gets one item per parcel.
        A store without the extension answers 404 `rest_no_route`: refused, naming the extension.

        https://woocommerce.com/document/shipment-tracking/shipment-tracking-rest-api-create-tracking-item/
        https://woocommerce.com/?p=18734006719650 (responses), https://woocommerce.com/?p=18734006719652
        (custom provider), https://woocommerce.github.io/woocommerce-rest-api-docs/#update-an-order
        (samples: integrations/tests/payloads woo_* and SOURCES.md §12)"""
        order_id = notice.order_external_id
        if not str(order_id).isdigit():
            raise PermanentFailure(f"WooCommerce order id {order_id!r} is not a number")
        items_url = f"{self.tracking_url}/orders/{order_id}/shipment-trackings"
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            existing = self._tracking_request(http, "GET", items_url)
            if not isinstance(existing, list):
                raise PlatformError("WooCommerce: the shipment trackings are not a list")
            found = next(
                (
                    item
                    for item in existing
                    if isinstance(item, dict) and item.get("tracking_number") == notice.tracking_number
                ),
                None,
            )
            if found is None:
                created = self._tracking_request(http, "POST", items_url, json=self._tracking_item(notice))
                reference = str((created or {}).get("tracking_id", ""))
            else:
                reference = str(found.get("tracking_id", ""))
            if notice.all_lines_shipped:
                url = f"{self.orders_url}/{order_id}"
                _woo_send(lambda: http.put(url, json={"status": "completed"}, auth=self.auth))
        finally:
            if self.http is None:
                http.close()
        return WriteBackResult(reference=reference, already_done=found is not None)

    def _tracking_item(self, notice: ShipmentNotice) -> dict:
        store_zone = self.time_zone or business_zone()
        shipped = notice.shipped_at.astimezone(store_zone) if notice.shipped_at else None
        item = {"tracking_number": notice.tracking_number}
        if notice.carrier_code:
            item["tracking_provider"] = notice.carrier_code
        else:
            item["custom_tracking_provider"] = notice.carrier_name
            if notice.tracking_url:
                item["custom_tracking_link"] = notice.tracking_url
        if shipped is not None:
            item["date_shipped"] = shipped.date().isoformat()
        return item

    def _tracking_request(self, http: httpx.Client, method: str, url: str, **kwargs):
        try:
            response = _woo_send(lambda: http.request(method, url, auth=self.auth, **kwargs))
        except PermanentFailure as exc:
            if "rest_no_route" in str(exc):
                raise PermanentFailure(
                    f"{exc} — the WooCommerce Shipment Tracking extension is not installed on this store"
                ) from exc
            raise
        try:
            return response.json()
        except ValueError as exc:
            raise PlatformError(f"WooCommerce: not a JSON answer: {exc!r}") from exc


def _woo_send(request) -> httpx.Response:
    """core.http.send, except that a refusal (a 4xx other than 408/425/429) is raised as
    PermanentFailure naming WooCommerce's error `code` and `message` ({"code", "message",
    "data": {"status"}}, https://woocommerce.github.io/woocommerce-rest-api-docs/#errors)."""

    def checked() -> httpx.Response:
        response = request()
        status = response.status_code
        if not response.is_success and not is_temporary_status(status):
            raise PermanentFailure(f"WooCommerce refused (HTTP {status}): {_error_text(response)}")
        return response

    return send("WooCommerce", checked, DEFAULT_RETRY_AFTER)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(error, dict) and error.get("code"):
        return f"{error['code']}: {error.get('message', '')}"[:300]
    return response.text[:300]


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
