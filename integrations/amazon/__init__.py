"""Amazon (Selling Partner API): seller-fulfilled orders polled by last update, their shipments
confirmed back per parcel, and the seller-fulfilled stock pushed to the listings. Amazon has no
signed order webhooks (its Notifications API delivers through SQS / EventBridge), so nothing is
accepted at the webhook URL.

Which Orders API: v0. Amazon has deprecated v0's order reads ("you must migrate to Orders API
v2026-01-01 by March 27, 2027",
https://developer-docs.amazon.com/sp-api/changelog/new-introducing-the-orders-api-v2026-01-01), and
v2026-01-01 exists (`models/orders-api-model/orders_2026-01-01.json`, commit
96d516badc8d69a566a4160e3c7b315600e043a7). Its published samples are not complete enough to build
and check an adapter on: the two searchOrders answers we hold
(integrations/tests/payloads/amazon_search_orders_2026_*.json) are one SHIPPED MFN order and one
SHIPPED AFN order, with no pending, unshipped, partially shipped or cancelled order, no promotion
or shipping discount amount (`promotion.breakdowns` carries only ids), no shipping charge, and no
second page. v0 has a published sample for every call used here (getOrders with and without
NextToken, getOrderItems with ItemPrice/ItemTax/PromotionDiscount, the buyer and address,
createRestrictedDataToken, confirmShipment), which the tests' fake Amazon answers with. The order
reads are therefore v0 until 2027-03-27; confirmShipment is not part of the deprecation and stays
v0 either way. Moving the reads means a client over searchOrders (`includedData=BUYER,RECIPIENT`
replaces the RDT) and a mapping of `proceeds.breakdowns`.

Follows: client.py (calls, tokens, rate limits), mapping.py (money and statuses),
marketplaces.py (endpoints, currencies, tax)."""

from datetime import UTC, datetime

from integrations.adapters import WebhookAdapter
from integrations.amazon import mapping
from integrations.amazon.client import AmazonClient
from integrations.amazon.selectors import order_as_held

POLL_TOPIC = "amazon.order.updated"


class AmazonAdapter(WebhookAdapter):
    platform = "amazon"
    order_topics = frozenset({POLL_TOPIC})
    poll_topic = POLL_TOPIC
    client_class = AmazonClient
    supports_stock_push = True  # seller-fulfilled quantity, Listings Items API (client.set_stock)

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        return False  # no Amazon webhooks: anything posted to the webhook URL is rejected

    def poll_updated_at(self, payload: dict) -> datetime | None:
        moment = mapping.utc(payload.get("LastUpdateDate"), "LastUpdateDate")
        return moment.astimezone(UTC) if moment else None

    def poll_dedupe_id(self, payload: dict) -> str:
        return mapping.version_id(payload)

    def to_canonical(self, payload: dict, channel) -> dict | None:
        external_id = mapping.order_id(payload)
        return mapping.order_to_canonical(payload, channel, held=lambda: order_as_held(channel, external_id))
