"""Amazon Selling Partner API (SP-API) client: orders by last update, their items, shipment
confirmations and MFN stock. HTTP only; mapping.py maps the orders.

Documents followed (amzn/selling-partner-api-models snapshot
34dc93fe45f37c9a0b2e56823c808f68b4f81754, with each file's last commit):
- Orders API v0, `models/orders-api-model/ordersV0.json` (e584dcb641d9da22728673317ebb73d3cd2dd852):
  getOrders `GET /orders/v0/orders` (MarketplaceIds, LastUpdatedAfter, LastUpdatedBefore "at least
  two minutes before current time", FulfillmentChannels, MaxResultsPerPage ≤ 100, NextToken that
  "doesn't affect any filters"), getOrderItems `GET /orders/v0/orders/{orderId}/orderItems`
  (NextToken), confirmShipment `POST /orders/v0/orders/{orderId}/shipmentConfirmation` (204, no
  body), their usage plans and their 429 answer (only `x-amzn-RequestId`, no rate header).
- Tokens API `models/tokens-api-model/tokens_2021-03-01.json` (040090b166546e0a5b03ed454581fdac880d609b):
  createRestrictedDataToken `POST /tokens/2021-03-01/restrictedDataToken`; the buyer and address
  come inline from getOrders called with one RDT for path `/orders/v0/orders` and dataElements
  buyerInfo + shippingAddress, as in "Get authorization to access PII for bulk orders"
  (https://developer-docs.amazon.com/sp-api/docs/get-authorization-to-access-pii-for-bulk-orders).
- Listings Items API `models/listings-items-api-model/listingsItems_2021-08-01.json` (commit
  fd69e0cc35108cd7f417bdc6f6de605ff28f0a68): getListingsItem (`includedData=summaries,
  fulfillmentAvailability`: the listing's productType in this marketplace and whether it is
  seller-fulfilled) and patchListingsItem with a `merge` of `/attributes/fulfillment_availability`
  (`fulfillment_channel_code` DEFAULT = fulfilled by the seller), which changes the quantity only
  ("Update: Listings Items v2021-08-01 API and JSON_LISTING_FEED now include a JSON patch merge
  operation", https://developer-docs.amazon.com/sp-api/changelog/update-listings-items-v2021-08-01-api-and-json_listing_feed-now-include-a-json-patch-merge-operation;
  message 5 of `schemas/feeds/listings-feed-schema-v2.example.json`).
- Login with Amazon: "Connect to the SP-API"
  (https://developer-docs.amazon.com/sp-api/docs/connecting-to-the-selling-partner-api): a form
  POST of grant_type=refresh_token, refresh_token, client_id, client_secret to
  https://api.amazon.com/auth/o2/token; the token goes in `x-amz-access-token` (with `x-amz-date`
  and a `user-agent`), "An LWA access token expires one hour after it is issued". Kept until 30 s
  before `expires_in` runs out and retried only on server_error / temporarily_unavailable, as the
  official helper does (`clients/sellingpartner-api-aa-python/auth/LwaRequest.py`); errors are
  OAuth 2.0's `{"error", "error_description"}` (RFC 6749 §5.2). No AWS Signature: "SP-API no
  longer requires … AWS Signature Version 4" (changelog, 2 October 2023).
- Rate limits: "Usage Plans and Rate Limits"
  (https://developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits): a token bucket per
  operation (rate = requests restored per second, burst = bucket size); `x-amzn-RateLimit-Limit`
  on an answer gives the rate "when available". Calls are paced by each operation's bucket; a 429
  (`QuotaExceeded`) empties it and is retried after the restore time, doubling, while that stays
  short; a longer wait is handed to the caller as RateLimited (the sync backs the channel off).
- Shipment confirmation: "Confirm the shipment status"
  (https://developer-docs.amazon.com/sp-api/docs/confirm-the-shipment-status): one call per package
  with its own packageReferenceId ("any positive numerical value"); the same packageReferenceId
  sent again edits that package, so a retried confirmation never makes a second package.

An expired or revoked token is answered 403 `Unauthorized` (amzn/selling-partner-api-docs#2147):
the client fetches new tokens once and repeats the call; a second refusal is the caller's."""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
from django.utils import timezone
from django.utils.translation import gettext as _

from core.http import TIMEOUT, PlatformError, RateLimited
from core.outbox import PermanentFailure
from integrations.amazon import mapping
from integrations.amazon.marketplaces import ENDPOINTS, marketplace
from integrations.models import InboundMessage
from integrations.writeback_contract import ShipmentNotice, WriteBackResult

LWA_URL = "https://api.amazon.com/auth/o2/token"
TOKEN_MARGIN = 30.0  # seconds before expiry a token is no longer used (LwaRequest.py)
LWA_RETRYABLE = frozenset({"server_error", "temporarily_unavailable"})
USER_AGENT = "Conduit/1.0 (Language=Python/3.11)"
PAGE_SIZE = 100  # MaxResultsPerPage: 1-100
# LastUpdatedBefore must be at least two minutes before the current time; 5 s more for clock skew.
BEFORE_LAG = timedelta(minutes=2, seconds=5)
RESTRICTED_ORDERS = {
    "method": "GET",
    "path": "/orders/v0/orders",
    "dataElements": ["buyerInfo", "shippingAddress"],
}
OTHER_CARRIER = "Other"  # carrierCode when the carrier has no Amazon code; carrierName then required
MFN_CHANNEL = "DEFAULT"  # fulfillment_channel_code of seller-fulfilled quantity
ACCEPTED_SUBMISSIONS = frozenset({"ACCEPTED", "VALID"})

# Default usage plans (rate per second, burst) from each operation's description in its model.
USAGE_PLANS = {
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "createRestrictedDataToken": (1.0, 10),
    "confirmShipment": (2.0, 10),
    "getListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
}
MAX_INLINE_WAIT = 10.0  # seconds a call may wait for its bucket; longer waits go to the caller
MAX_RATE_RETRIES = 3  # 429s retried in a row before the caller is told to come back later

# The clock and the pause, looked up at call time (tests drive both).
monotonic = time.monotonic
sleep = time.sleep


class TokenBucket:
    """The client's view of one operation's usage plan: `rate` tokens a second up to `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = float(burst), monotonic()

    def _refill(self) -> None:
        now = monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self) -> float:
        """Seconds until a call may be made (0 when one may be made now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    def empty(self) -> None:
        """The server said the bucket is empty (429)."""
        self._refill()
        self.tokens = min(self.tokens, 0.0)

    def restore_time(self) -> float:
        """Seconds for one token to come back."""
        return 1 / self.rate

    def learn(self, header: str | None) -> None:
        """`x-amzn-RateLimit-Limit`: the rate the server applies to this operation, when it says."""
        try:
            rate = float(header) if header else 0.0
        except ValueError:
            return
        if rate > 0:
            self.rate = rate


class AmazonClient:
    """One Amazon channel = one marketplace of one seller. `channel.api_credentials`:
    refresh_token, client_id, client_secret (Login with Amazon), marketplace_id, seller_id (the
    merchant token, for the Listings Items API), and optionally `endpoint` (a region — na, eu,
    fe — or a URL; default: the marketplace's region), `lwa_url`, and `restricted_data`: false
    to poll without buyer and address (an app without the restricted roles; such orders wait on
    hold for an address)."""

    def __init__(self, channel, *, http: httpx.Client | None = None):
        credentials = channel.api_credentials or {}
        self.channel = channel
        self.refresh_token = str(credentials.get("refresh_token") or "")
        self.client_id = str(credentials.get("client_id") or "")
        self.client_secret = str(credentials.get("client_secret") or "")
        self.marketplace_id = str(credentials.get("marketplace_id") or "")
        missing = [
            name
            for name in ("refresh_token", "client_id", "client_secret", "marketplace_id")
            if not getattr(self, name)
        ]
        if missing:
            raise PlatformError(
                _("Amazon credentials of channel %(channel)s lack: %(missing)s")
                % {"channel": channel.code, "missing": ", ".join(missing)}
            )
        try:
            self.marketplace = marketplace(self.marketplace_id)
        except LookupError as exc:
            raise PlatformError(
                _("Unknown Amazon marketplace id %(id)r (marketplace_id).") % {"id": self.marketplace_id}
            ) from exc
        endpoint = str(credentials.get("endpoint") or self.marketplace.region).strip()
        self.base_url = ENDPOINTS.get(endpoint.lower(), endpoint).rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise PlatformError(
                _("Amazon endpoint %(endpoint)r is neither a region (na, eu, fe) nor a URL (endpoint).")
                % {"endpoint": endpoint}
            )
        self.lwa_url = str(credentials.get("lwa_url") or LWA_URL)
        self.seller_id = str(credentials.get("seller_id") or "")
        self.restricted_data = credentials.get("restricted_data", True) is not False
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.pages_fetched = 0
        self._access: tuple[str, float] | None = None  # (LWA access token, monotonic expiry)
        self._rdt: tuple[str, float] | None = None  # (restricted data token for getOrders, expiry)
        self._buckets: dict[str, TokenBucket] = {}

    # --- orders ------------------------------------------------------------------------------

    def iter_orders(self, *, updated_since: datetime, updated_until: datetime) -> Iterator[dict]:
        """Seller-fulfilled orders last updated in the window, each with its items under
        "OrderItems" (mapping.ORDER_ITEMS). getOrders reads only up to two minutes ago, so the
        window starts that much earlier: what the previous run could not read yet is read now.

        Items are not fetched for a Pending order (Amazon gives no prices before payment is
        authorised, and it is not taken) nor for an order version already stored, which the
        sync's overlap reads again (its stored message is what counts)."""
        if timezone.is_naive(updated_since) or timezone.is_naive(updated_until):
            raise ValueError("updated_since / updated_until must be aware datetimes")
        after = updated_since - BEFORE_LAG
        before = min(updated_until, timezone.now() - BEFORE_LAG)
        if after >= before:
            return
        params = {
            "MarketplaceIds": self.marketplace_id,
            "LastUpdatedAfter": iso_utc(after),
            "LastUpdatedBefore": iso_utc(before),
            "FulfillmentChannels": "MFN",  # Amazon ships AFN orders from its own stock
            "MaxResultsPerPage": PAGE_SIZE,
        }
        next_token = None
        while True:
            page_params = {**params, "NextToken": next_token} if next_token else params
            token = self._restricted_token if self.restricted_data else None
            payload = self._payload(
                self._request("getOrders", "GET", "/orders/v0/orders", params=page_params, token=token)
            )
            self.pages_fetched += 1
            orders = payload.get("Orders")
            if not isinstance(orders, list) or not all(isinstance(order, dict) for order in orders):
                raise PlatformError(_("Amazon answered getOrders without an Orders list."))
            known = self._stored_versions(orders)
            for order in orders:
                if order.get("OrderStatus") in mapping.UNPAID_STATUSES or mapping.version_id(order) in known:
                    yield order
                else:
                    yield {**order, mapping.ORDER_ITEMS: self.order_items(mapping.order_id(order))}
            next_token = payload.get("NextToken")
            if not next_token:
                return
            if not orders:  # a next page after an empty one would loop for ever
                raise PlatformError(_("Amazon announced a next page after an empty one."))

    def order_items(self, order_id: str) -> list[dict]:
        """Every item of an order, following NextToken."""
        items: list[dict] = []
        next_token = None
        path = f"/orders/v0/orders/{quote(order_id, safe='')}/orderItems"
        while True:
            params = {"NextToken": next_token} if next_token else None
            payload = self._payload(self._request("getOrderItems", "GET", path, params=params))
            page = payload.get("OrderItems")
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise PlatformError(_("Amazon answered getOrderItems without an OrderItems list."))
            items.extend(page)
            next_token = payload.get("NextToken")
            if not next_token:
                return items
            if not page:
                raise PlatformError(_("Amazon announced a next page after an empty one."))

    def _stored_versions(self, orders: list[dict]) -> set[str]:
        """The versions of these orders already stored for the channel, in one query."""
        if getattr(self.channel, "pk", None) is None:
            return set()
        wanted = [mapping.version_id(order) for order in orders if order.get("AmazonOrderId")]
        return set(
            InboundMessage.objects.filter(channel_id=self.channel.pk, dedupe_id__in=wanted).values_list(
                "dedupe_id", flat=True
            )
        )

    # --- shipment write-back ------------------------------------------------------------------

    def write_back_shipment(self, notice: ShipmentNotice) -> WriteBackResult:
        """confirmShipment for one parcel: its packageReferenceId is the parcel's number in the
        order (1, 2…), so a repeat edits that package instead of adding one; its orderItems are
        the parcel's units per order item (OrderLine.platform_line_id = OrderItemId)."""
        units: dict[str, int] = {}
        for line in notice.lines:
            if line.quantity <= 0:
                continue
            if not line.platform_line_id:
                raise PermanentFailure(
                    _("Amazon order %(order)s: a line of parcel %(parcel)s has no Amazon OrderItemId.")
                    % {"order": notice.order_external_id, "parcel": notice.shipment_number}
                )
            units[line.platform_line_id] = units.get(line.platform_line_id, 0) + line.quantity
        if not units:
            raise PermanentFailure(
                _("Parcel %(parcel)s carries no units to confirm.") % {"parcel": notice.shipment_number}
            )
        if notice.parcel_index < 1:
            raise PermanentFailure(
                _("Parcel %(parcel)s: packageReferenceId must be positive.")
                % {"parcel": notice.shipment_number}
            )
        if not notice.tracking_number.strip():
            raise PermanentFailure(
                _("Parcel %(parcel)s has no tracking number.") % {"parcel": notice.shipment_number}
            )
        carrier_code = notice.carrier_code.strip() or OTHER_CARRIER
        carrier_name = notice.carrier_name.strip()
        if carrier_code == OTHER_CARRIER and not carrier_name:
            raise PermanentFailure(
                _("Parcel %(parcel)s: Amazon needs the carrier's name (carrierName) with carrierCode Other.")
                % {"parcel": notice.shipment_number}
            )
        package = {
            "packageReferenceId": str(notice.parcel_index),
            "carrierCode": carrier_code,
            "trackingNumber": notice.tracking_number.strip(),
            "shipDate": iso_utc(notice.shipped_at or timezone.now(), milliseconds=True),
            "orderItems": [{"orderItemId": item, "quantity": quantity} for item, quantity in units.items()],
        }
        if carrier_name:
            package["carrierName"] = carrier_name
        path = f"/orders/v0/orders/{quote(notice.order_external_id, safe='')}/shipmentConfirmation"
        self._request(
            "confirmShipment",
            "POST",
            path,
            body={"marketplaceId": self.marketplace_id, "packageDetail": package},
        )
        return WriteBackResult(reference=package["packageReferenceId"])

    # --- stock (MFN) --------------------------------------------------------------------------

    def set_stock(self, *, sku: str, quantity: int) -> dict:
        """Set the seller-fulfilled quantity of a listing (its seller SKU) in the channel's
        marketplace; returns Amazon's submission ({sku, status, submissionId, issues})."""
        if not self.seller_id:
            raise PermanentFailure(
                f"channel {self.channel.code}: seller_id is needed to push stock to Amazon"
            )
        path = f"/listings/2021-08-01/items/{quote(self.seller_id, safe='')}/{quote(sku, safe='')}"
        item = self._json(
            self._request(
                "getListingsItem",
                "GET",
                path,
                params={
                    "marketplaceIds": self.marketplace_id,
                    "includedData": "summaries,fulfillmentAvailability",
                },
            )
        )
        summary = next(
            (s for s in item.get("summaries") or [] if s.get("marketplaceId") == self.marketplace_id), None
        )
        if not summary or not summary.get("productType"):
            raise PermanentFailure(f"SKU {sku} is not listed in Amazon marketplace {self.marketplace_id}")
        channels = {
            entry.get("fulfillmentChannelCode") for entry in item.get("fulfillmentAvailability") or []
        }
        if channels and MFN_CHANNEL not in channels:
            raise PermanentFailure(
                f"SKU {sku} is fulfilled by Amazon ({', '.join(sorted(channels))}): not pushed"
            )
        body = {
            "productType": summary["productType"],
            "patches": [
                {
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": MFN_CHANNEL, "quantity": max(int(quantity), 0)}],
                }
            ],
        }
        submission = self._json(
            self._request(
                "patchListingsItem", "PATCH", path, params={"marketplaceIds": self.marketplace_id}, body=body
            )
        )
        if submission.get("status") not in ACCEPTED_SUBMISSIONS:
            issues = "; ".join(
                f"{issue.get('code')}: {issue.get('message')}" for issue in submission.get("issues") or []
            )
            raise PermanentFailure(
                f"Amazon refused the quantity of {sku} ({submission.get('status')}): {issues}"
            )
        return submission

    # --- tokens -------------------------------------------------------------------------------

    def _access_token(self) -> str:
        """The LWA access token, fetched again 30 s before it expires."""
        if self._access is not None and monotonic() < self._access[1]:
            return self._access[0]
        data = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        try:
            response = self.http.post(self.lwa_url, data=data, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise PlatformError(
                _("Login with Amazon could not be reached: %(error)s") % {"error": exc}
            ) from exc
        body = _json_or_empty(response)
        if not response.is_success:
            code = str(body.get("error") or "")
            exc = PlatformError(
                _("Login with Amazon refused the token request (HTTP %(status)s %(code)s: %(description)s).")
                % {
                    "status": response.status_code,
                    "code": code,
                    "description": body.get("error_description", ""),
                }
            )
            # server_error / temporarily_unavailable may pass; any other refusal needs the seller
            # to authorise the app again (invalid_grant: the refresh token was revoked).
            if code not in LWA_RETRYABLE and response.status_code < 500:
                exc.status_code = response.status_code
            raise exc
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise PlatformError(_("Login with Amazon answered without access_token and expires_in."))
        self._access = (token, monotonic() + expires_in - TOKEN_MARGIN)
        return token

    def _restricted_token(self) -> str:
        """A Restricted Data Token for getOrders with the buyer and the shipping address."""
        if self._rdt is not None and monotonic() < self._rdt[1]:
            return self._rdt[0]
        body = self._json(
            self._request(
                "createRestrictedDataToken",
                "POST",
                "/tokens/2021-03-01/restrictedDataToken",
                body={"restrictedResources": [RESTRICTED_ORDERS]},
            )
        )
        token, expires_in = body.get("restrictedDataToken"), body.get("expiresIn")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise PlatformError(_("Amazon answered createRestrictedDataToken without a token."))
        self._rdt = (token, monotonic() + expires_in - TOKEN_MARGIN)
        return token

    # --- HTTP ---------------------------------------------------------------------------------

    def _bucket(self, operation: str) -> TokenBucket:
        if operation not in self._buckets:
            self._buckets[operation] = TokenBucket(*USAGE_PLANS[operation])
        return self._buckets[operation]

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
        token: Callable[[], str] | None = None,
    ) -> httpx.Response:
        """One SP-API call, paced by the operation's bucket. A 429 is retried after the restore
        time (doubling each time) while the wait stays short; an expired token is replaced once."""
        bucket = self._bucket(operation)
        refused = throttled = 0
        while True:
            wait = bucket.wait()
            if wait > MAX_INLINE_WAIT:
                raise RateLimited(wait)
            if wait:
                sleep(wait)
            access = token() if token is not None else self._access_token()
            bucket.take()
            headers = {
                "x-amz-access-token": access,
                "x-amz-date": timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
                "user-agent": USER_AGENT,
                "accept": "application/json",
            }
            try:
                response = self.http.request(
                    method, f"{self.base_url}{path}", params=params, json=body, headers=headers
                )
            except httpx.HTTPError as exc:
                raise PlatformError(
                    _("Amazon %(operation)s could not be reached: %(error)s")
                    % {"operation": operation, "error": exc}
                ) from exc
            if response.status_code == 429:
                bucket.empty()
                delay = bucket.restore_time() * 2**throttled
                throttled += 1
                if throttled > MAX_RATE_RETRIES or delay > MAX_INLINE_WAIT:
                    raise RateLimited(max(delay, bucket.restore_time()))
                sleep(delay)
                continue
            if response.status_code in (401, 403) and not refused:
                refused += 1  # an expired or revoked token: new tokens, once
                self._access = self._rdt = None
                continue
            bucket.learn(response.headers.get("x-amzn-RateLimit-Limit"))
            if not response.is_success:
                raise _error(operation, response)
            return response

    @staticmethod
    def _json(response: httpx.Response) -> dict:
        body = _json_or_empty(response)
        if not body:
            raise PlatformError(
                _("Amazon answered HTTP %(status)s without a JSON object.") % {"status": response.status_code}
            )
        return body

    def _payload(self, response: httpx.Response) -> dict:
        payload = self._json(response).get("payload")
        if not isinstance(payload, dict):
            raise PlatformError(_("Amazon answered without a payload."))
        return payload


def iso_utc(moment: datetime, *, milliseconds: bool = False) -> str:
    """An aware moment as ISO 8601 in UTC with a Z, as SP-API writes and reads times."""
    if timezone.is_naive(moment):
        raise ValueError("Amazon times are built from aware datetimes only")
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if milliseconds else "seconds")
    return text.replace("+00:00", "Z")


def _json_or_empty(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(operation: str, response: httpx.Response) -> PlatformError:
    """A PlatformError naming Amazon's errors[] (code, message, details) and the HTTP status."""
    errors = _json_or_empty(response).get("errors")
    detail = (
        "; ".join(
            " ".join(
                filter(
                    None, [str(e.get("code") or ""), str(e.get("message") or ""), str(e.get("details") or "")]
                )
            )
            for e in errors
            if isinstance(e, dict)
        )
        if isinstance(errors, list)
        else response.text[:200]
    )
    error = PlatformError(
        _("Amazon %(operation)s answered HTTP %(status)s: %(detail)s")
        % {"operation": operation, "status": response.status_code, "detail": detail}
    )
    error.status_code = response.status_code
    error.codes = [e.get("code") for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    return error
