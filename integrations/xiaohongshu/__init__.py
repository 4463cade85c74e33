"""Xiaohongshu (小红书电商开放平台, open.xiaohongshu.com).

Documents followed (research notes for issue #16 §B, fixtures SOURCES.md §18): the official docs
as mirrored in `AndersonBY/xiaohongshu-ecommerce-python-sdk` @ e25347c0 `docs/小红书官方文档/`
(039 签名算法, 040 请求与响应, 041 应用消息推送, 038 授权流程, 047 订单接入方案, 050/051 数据加解密,
292 限流, and the API specs of order.getOrderList / getOrderDetail / getOrderReceiverInfo,
data.batchDecrypt, inventory.syncSkuStock, order.orderDeliver, afterSale.listAfterSaleInfos) and the
official Java SDK `com.xiaohongshu.fls.opensdk` (Utils.addSign, BaseRequest, BaseResponse).

Orders are polled by update time (client.py, mapping.py); push messages arrive at
/integrations/webhooks/xiaohongshu/<channel>/ with headers `timestamp`, `app-key` and `sign` =
md5(path + "?" + sorted query params, app-key and timestamp + app_secret) (signing.py): the body is
not signed, the URL is, so the view hands the request's path and query to `verify` in the
`Conduit-Path` header (integrations.adapters.REQUEST_PATH_HEADER). The channel's webhook secret is
the app secret. A push is stored raw as one message (a JSON array of {msgTag, sellerId, data}),
answered {"success": true, "error_code": 0, "error_msg": ""}, and processed by push.py: each order it
names is read with order.getOrderDetail and ingested through the polling path, so push and poll make
one order. Stock goes out with inventory.syncSkuStock, parcels back with order.orderDeliver."""

import hashlib
import json
from datetime import UTC, datetime

from integrations.adapters import REQUEST_PATH_HEADER, WebhookAdapter, header
from integrations.xiaohongshu import mapping, signing
from integrations.xiaohongshu.client import XiaohongshuClient

POLL_TOPIC = "xiaohongshu.order"  # an order as order.getOrderDetail gives it (+ its receiver)
PUSH_TOPIC = "xiaohongshu.push"  # a push body: [{msgTag, sellerId, data}]
SUCCESS_ANSWER = {"success": True, "error_code": 0, "error_msg": ""}  # XHS-DOC 041


class XiaohongshuAdapter(WebhookAdapter):
    platform = "xiaohongshu"
    signature_header = "sign"
    order_topics = frozenset({POLL_TOPIC})
    poll_topic = POLL_TOPIC
    client_class = XiaohongshuClient
    supports_stock_push = True  # inventory.syncSkuStock (integrations.stock_sync)
    accepts_json_array = True  # a push body is a JSON array

    def verify(self, request_headers: dict, raw_body: bytes, secret: str) -> bool:
        """The published rule over the URL and two headers; the body is not covered (XHS-DOC 041).
        No freshness window for `timestamp` is published: a replayed push is a duplicate of its
        stored message, or reads the order again, which is harmless."""
        return signing.push_sign_valid(
            url=header(request_headers, REQUEST_PATH_HEADER) or "",
            app_key=(header(request_headers, "app-key") or "").strip(),
            timestamp=(header(request_headers, "timestamp") or "").strip(),
            app_secret=secret,
            given=header(request_headers, "sign") or "",
        )

    def is_ping(self, headers: dict, raw_body: bytes) -> bool:
        """The probe XHS posts when the push URL is saved, {"test": true} (not an array; XHS-DOC
        041), answered with the success body whether signed or not: it carries nothing to act on."""
        if len(raw_body) > 64 or not raw_body.isascii():
            return False
        try:
            body = json.loads(raw_body)
        except ValueError:
            return False
        return body == {"test": True}

    def message_keys(self, headers: dict, raw_body: bytes) -> tuple[str, str | None]:
        """Every push is stored under PUSH_TOPIC, recognised by the hash of its body. XHS sends no
        message id, and its signature covers the URL and headers, not the body: a key read from
        the body could be claimed by a forged body replayed with genuine headers, making the real
        push look like a duplicate. A redelivered push (the same bytes) has the same hash."""
        return PUSH_TOPIC, "push:sha256:" + hashlib.sha256(raw_body).hexdigest()

    def answer(self, outcome: str) -> tuple[int, dict] | None:
        """XHS expects {"success": true, "error_code": 0, "error_msg": ""} with HTTP 200."""
        if outcome in ("accepted", "duplicate", "ping"):
            return 200, SUCCESS_ANSWER
        return None

    def poll_updated_at(self, payload: dict) -> datetime | None:
        value = payload.get("updateTime")
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None

    def poll_dedupe_id(self, payload: dict) -> str:
        """One stored message per version of an order: the same version read twice is a no-op."""
        return f"poll:{mapping.order_id(payload)}:{payload.get('updateTime') or ''}"

    def to_canonical(self, payload: dict, channel) -> dict | None:
        return mapping.order_to_canonical(payload, channel)
