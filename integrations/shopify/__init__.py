"""Shopify order webhooks (https://shopify.dev/docs/apps/build/webhooks)."""

from integrations.adapters import WebhookAdapter, register
from integrations.shopify import mapping


@register
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

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)
