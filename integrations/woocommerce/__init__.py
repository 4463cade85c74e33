"""WooCommerce order webhooks (REST API v3 order JSON)."""

import re

from integrations.adapters import WebhookAdapter, header, register
from integrations.woocommerce import mapping

PING_BODY = re.compile(rb"webhook_id=\d{1,20}")


@register
class WooCommerceAdapter(WebhookAdapter):
    platform = "woocommerce"
    signature_header = "X-WC-Webhook-Signature"
    topic_header = "X-WC-Webhook-Topic"
    dedupe_header = "X-WC-Webhook-Delivery-ID"
    order_topics = frozenset({"order.created", "order.updated", "order.restored"})

    def is_ping(self, headers: dict, raw_body: bytes) -> bool:
        # WooCommerce pings a new webhook's URL, unsigned, with a form body "webhook_id=<id>";
        # it refuses to save the webhook unless the answer is 200.
        return header(headers, self.signature_header) is None and PING_BODY.fullmatch(raw_body) is not None

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)
