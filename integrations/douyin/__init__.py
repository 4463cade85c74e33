"""Douyin shop (抖店开放平台, op.jinritemai.com).

Documents followed (research notes for issue #16 §A, fixtures SOURCES.md §17): the official Go SDK
`doudian-sdk-golang` 1.1.0 (request structs and field comments: order.searchList,
order.orderDetail, order.batchDecrypt, sku.syncStock, order.logisticsAdd,
order.logisticsAddMultiPack, token.create / token.refresh), the official Java SDK
`com.doudian.open` (SignUtil.sign, DoudianOpRequest's token refresh, DoudianOpMsgRequest.checkSign
and DoudianOpMsgResponse.wrapSuccess for push messages), the official Python SDK (calsSign) and
the platform's error-code table (op.jinritemai.com/docs/guide-docs/212/1427).

Orders are polled by update time (client.py, mapping.py); push messages (消息推送) arrive at
/integrations/webhooks/douyin/<channel>/ signed with `event-sign` = md5(app_key + body +
app_secret): the channel's webhook secret is the app secret, the app key the `app-id` header.
A push is stored raw as one message (a JSON array of {tag, msg_id, data}), answered
{"code": 0, "msg": "success"}, and processed by push.py: each order it names is read with
order.orderDetail and ingested through the polling path, so push and poll make one order.
Stock goes out with sku.syncStock, parcels back with order.logisticsAdd / logisticsAddMultiPack."""

import hashlib
import json
from datetime import UTC, datetime

from integrations.adapters import WebhookAdapter, header
from integrations.douyin import mapping, signing
from integrations.douyin.client import DouyinClient

POLL_TOPIC = "douyin.order"  # an order as order.searchList / order.orderDetail give it
PUSH_TOPIC = "douyin.push"  # a push body: [{tag, msg_id, data}]
PROBE_TAG = "0"
SUCCESS_ANSWER = {"code": 0, "msg": "success"}  # DoudianOpMsgResponse.wrapSuccess()


class DouyinAdapter(WebhookAdapter):
    platform = "douyin"
    signature_header = "event-sign"
    order_topics = frozenset({POLL_TOPIC})
    poll_topic = POLL_TOPIC
    client_class = DouyinClient
    supports_stock_push = True  # sku.syncStock (integrations.stock_sync)
    accepts_json_array = True  # a push body is a JSON array

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        return signing.event_sign_valid(
            app_key=(header(request_headers, "app-id") or "").strip(),
            app_secret=secret,
            raw_body=raw_body,
            given=header(request_headers, "event-sign") or "",
            sign_method=header(request_headers, "sign-method") or signing.MD5,
        )

    def is_ping(self, headers: dict, raw_body: bytes) -> bool:
        """The probe Douyin posts when the push URL is saved, [{"tag": "0", "msg_id": "0", "data":
        "<time>"}] (research notes §A6), answered with the success body whether signed or not: it
        carries nothing to act on."""
        if len(raw_body) > 512 or not raw_body.isascii():
            return False
        try:
            records = json.loads(raw_body)
        except ValueError:
            return False
        return (
            isinstance(records, list)
            and len(records) == 1
            and isinstance(records[0], dict)
            and str(records[0].get("tag")) == PROBE_TAG
        )

    def message_keys(self, headers: dict, raw_body: bytes) -> tuple[str, str | None]:
        """Every push is stored under PUSH_TOPIC; Douyin sends no delivery id in a header, so a
        redelivered body (the same msg_ids) is recognised by its messages' ids, else its hash."""
        try:
            ids = [str(item["msg_id"]) for item in json.loads(raw_body)]
        except (ValueError, TypeError, KeyError):
            ids = []
        key = ",".join(ids) if ids else ""
        if not key or len(key) > 200:
            key = "sha256:" + hashlib.sha256(raw_body).hexdigest()
        return PUSH_TOPIC, f"push:{key}"

    def answer(self, outcome: str) -> tuple[int, dict] | None:
        """Douyin expects {"code": 0, "msg": "success"} for a message it need not send again."""
        if outcome in ("accepted", "duplicate", "ping"):
            return 200, SUCCESS_ANSWER
        return None

    def poll_updated_at(self, payload: dict) -> datetime | None:
        value = payload.get("update_time")
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None

    def poll_dedupe_id(self, payload: dict) -> str:
        """One stored message per version of an order: the same version read twice is a no-op."""
        return f"poll:{mapping.order_id(payload)}:{payload.get('update_time') or ''}"

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)
