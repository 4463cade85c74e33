"""JD (京东 JOS / 宙斯开放平台) POP shops, issue #16.

Documents followed: JD's SDKs and JOS doc text as listed in client.py and mapping.py (research
notes /tmp/h/research16_jd_pdd.md §B; fixtures integrations/tests/payloads/jd_*.json, SOURCES.md
§15). JD pushes order changes only inside 京东云鼎 (数据推送 into an ISV database, JMQ): a server
outside it has no push to receive, so polling jingdong.pop.order.enSearch by modification time
(client.py, through integrations.sync with its overlap) is the way orders come in, and nothing
posted to the webhook URL is accepted. Parcels are written back with jingdong.pop.order.shipment,
stock set with jingdong.stock.write.updateSkuStock, the receiver decrypted with
jingdong.jos.order.oaid.decrypt (integrations.protected_data)."""

from integrations.adapters import WebhookAdapter
from integrations.jd import mapping
from integrations.jd.client import JdClient

POLL_TOPIC = "jd.order.modified"


class JdAdapter(WebhookAdapter):
    platform = "jd"
    order_topics = frozenset({POLL_TOPIC})
    poll_topic = POLL_TOPIC
    client_class = JdClient
    supports_stock_push = True  # jingdong.stock.write.updateSkuStock (integrations.stock_sync)

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        return False  # no JD webhooks outside 云鼎: anything posted to the webhook URL is rejected

    def poll_updated_at(self, payload: dict):
        """`modified` is Beijing time without an offset; aware here (the sync compares in UTC)."""
        return mapping.updated_at(payload)

    def poll_dedupe_id(self, payload: dict) -> str:
        """One stored message per version of an order: the same version polled twice is a no-op."""
        return f"poll:{mapping.order_id(payload)}:{payload.get('modified') or ''}"

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)
