"""Taobao / Tmall (Taobao Open Platform). Orders are polled by modified time (client.py), the safety
net; Taobao pushes through its own message service (TMC), consumed by HTTP polling (tmc.py), not
through signed webhooks, so none is accepted. Parcels are written back with
taobao.logistics.offline.send and stock pushed with taobao.item.quantity.update (client.py)."""

from datetime import UTC, datetime

from integrations.adapters import WebhookAdapter
from integrations.taobao import mapping
from integrations.taobao.client import TaobaoClient

POLL_TOPIC = "taobao.trade.modified"


class TaobaoAdapter(WebhookAdapter):
    platform = "taobao"
    order_topics = frozenset({POLL_TOPIC})
    poll_topic = POLL_TOPIC
    client_class = TaobaoClient
    supports_stock_push = True  # taobao.item.quantity.update (integrations.stock_sync)

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        return False  # no Taobao webhooks: anything posted to the webhook URL is rejected

    def poll_updated_at(self, payload: dict) -> datetime | None:
        """`modified` is Beijing time without an offset; the sync's cursor needs it in UTC."""
        moment = mapping.beijing_time(payload.get("modified"))
        return datetime.fromisoformat(moment).astimezone(UTC) if moment else None

    def poll_dedupe_id(self, payload: dict) -> str:
        """One stored message per version of a trade: the same version polled twice is a no-op."""
        return f"poll:{mapping.trade_id(payload)}:{payload.get('modified') or ''}"

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.trade_to_canonical(payload, channel)
