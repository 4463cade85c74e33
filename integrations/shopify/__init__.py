"""Shopify order webhooks (https://shopify.dev/docs/apps/build/webhooks) and Admin REST polling."""

from datetime import UTC, datetime

from integrations.adapters import WebhookAdapter
from integrations.shopify import mapping
from integrations.shopify.client import ShopifyClient


class ShopifyAdapter(WebhookAdapter):
    platform = "shopify"
    signature_header = "X-Shopify-Hmac-Sha256"
    topic_header = "X-Shopify-Topic"
    dedupe_header = "X-Shopify-Webhook-Id"
    order_topics = frozenset(
        {
            "orders/create",
            "orders/updated",
            "orders/paid",
            "orders/cancelled",
            "orders/fulfilled",
            "orders/partially_fulfilled",
        }
    )
    client_class = ShopifyClient
    supports_stock_push = True  # integrations.stock_sync pushes sellable quantities
    poll_topic = "orders/updated"  # a polled order is a whole order, like this webhook's payload

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)

    def poll_updated_at(self, payload: dict) -> datetime:
        """`updated_at` carries the shop's offset ("2026-03-08T01:30:00-05:00"): read with it."""
        return datetime.fromisoformat(payload["updated_at"]).astimezone(UTC)

    def poll_dedupe_id(self, payload: dict) -> str:
        """One id per version of an order: a re-read is a duplicate, a later version is not."""
        return f"poll:{payload['id']}:{self.poll_updated_at(payload).isoformat()}"
