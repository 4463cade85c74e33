"""WooCommerce order webhooks and polling (REST API v3 order JSON)."""

import re
from datetime import UTC, datetime

from integrations.adapters import WebhookAdapter, header
from integrations.woocommerce import mapping
from integrations.woocommerce.client import WooCommerceClient

PING_BODY = re.compile(rb"webhook_id=\d{1,20}")


class WooCommerceAdapter(WebhookAdapter):
    platform = "woocommerce"
    signature_header = "X-WC-Webhook-Signature"
    topic_header = "X-WC-Webhook-Topic"
    dedupe_header = "X-WC-Webhook-Delivery-ID"
    order_topics = frozenset({"order.created", "order.updated", "order.restored"})
    client_class = WooCommerceClient
    supports_stock_push = True  # integrations.stock_sync pushes sellable quantities
    poll_topic = "order.updated"

    def is_ping(self, headers: dict, raw_body: bytes) -> bool:
        # WooCommerce pings a new webhook's URL, unsigned, with a form body "webhook_id=<id>";
        # it refuses to save the webhook unless the answer is 200.
        return header(headers, self.signature_header) is None and PING_BODY.fullmatch(raw_body) is not None

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)

    def poll_updated_at(self, payload: dict) -> datetime:
        """`date_modified_gmt` is UTC written without an offset; `date_modified` is shop-local."""
        return datetime.fromisoformat(mapping.gmt(payload["date_modified_gmt"])).astimezone(UTC)

    def poll_dedupe_id(self, payload: dict) -> str:
        """One id per version of an order: a re-read is a duplicate, a later version is not."""
        return f"poll:{payload['id']}:{self.poll_updated_at(payload).isoformat()}"
