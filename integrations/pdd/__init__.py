"""Pinduoduo (拼多多开放平台). Orders are polled (client.py: pdd.order.number.list.increment.get,
30-minute windows read from the last page back) and mapped in mapping.py. PDD pushes only over
its WebSocket message service (no HTTP callbacks): messages.py listens to it (manage.py
pdd_messages); anything posted to the webhook URL is rejected, and polling stays the safety net.
Parcels are written back with pdd.logistics.online.send, stock pushed with
pdd.goods.quantity.update, and the protected receiver decrypted with pdd.open.decrypt.batch
(client.py)."""

from datetime import UTC, datetime

from integrations.adapters import WebhookAdapter
from integrations.pdd import mapping
from integrations.pdd.client import PddClient

POLL_TOPIC = "pdd.order.updated"


class PddAdapter(WebhookAdapter):
    platform = "pdd"
    order_topics = frozenset({POLL_TOPIC})
    poll_topic = POLL_TOPIC
    client_class = PddClient
    supports_stock_push = True  # pdd.goods.quantity.update (integrations.stock_sync)

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        return False  # no PDD HTTP push: anything posted to the webhook URL is rejected

    def poll_updated_at(self, payload: dict) -> datetime | None:
        """`updated_at` is Beijing time without an offset; the sync's cursor needs it in UTC."""
        moment = mapping.beijing_time(payload.get("updated_at"))
        return datetime.fromisoformat(moment).astimezone(UTC) if moment else None

    def poll_dedupe_id(self, payload: dict) -> str:
        """One stored message per version of an order: the same version polled twice is a no-op."""
        return f"poll:{mapping.order_sn(payload)}:{payload.get('updated_at') or ''}"

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)
