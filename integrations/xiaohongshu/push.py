"""Xiaohongshu push messages (应用消息推送, XHS-DOC `041_应用消息推送.md`, message docs
open.xiaohongshu.com/document/developer/file/115 订单状态变更 and /119 发起售后申请; research notes
§B4): a stored push body (a JSON array of {"msgTag", "sellerId", "data"}, `data` a JSON string) is
processed here (integrations.services topic processor). Messages are thin: for every order an
order message (msg_fulfillment_*: orderId, orderStatus, updateTime ms) or an after-sale message
(msg_after_sale_*: returnsId, orderId, …) names, the order is read with order.getOrderDetail (and its
receiver while 待发货) and ingested through the polling path (integrations.sync.ingest_platform_order), so
the same version by push and by poll is one stored message and one order; a status XHS pushes twice
(4 待发货, then 4 已拣选) reads the same version again, which is a no-op. Other tags (item messages)
are stored and ignored. XHS does not push every after-sale change, nor an order before payment:
polling stays on."""

import json

from django.utils.translation import gettext as _

from catalog.models import Platform
from core.errors import DomainError
from integrations.adapters import header
from integrations.models import InboundMessage, InboundStatus
from integrations.sync import ingest_platform_order
from integrations.xiaohongshu.client import XiaohongshuClient

ORDER_TAG_PREFIXES = ("msg_fulfillment_", "msg_after_sale_")


def message_data(record) -> dict:
    """A push message's `data` (a JSON string) as an object."""
    if not isinstance(record, dict):
        raise DomainError(_("A push message is not an object."), field="body")
    data = record.get("data")
    try:
        data = json.loads(data) if isinstance(data, str) else data
    except ValueError as exc:
        raise DomainError(
            _("Push message %(tag)s: data is not JSON.") % {"tag": record.get("msgTag")}, field="data"
        ) from exc
    if not isinstance(data, dict):
        raise DomainError(_("Push message %(tag)s: data is not an object.") % {"tag": record.get("msgTag")})
    return data


def order_ids(records: list) -> list[str]:
    """The order ids the push's order and after-sale messages name, in order, once each."""
    found: list[str] = []
    for record in records:
        data = message_data(record)
        tag = str(record.get("msgTag") or "")
        if not tag.startswith(ORDER_TAG_PREFIXES):
            continue
        order_id = str(data.get("orderId") or "")
        if not order_id:
            raise DomainError(
                _("Push message %(tag)s names no order (orderId).") % {"tag": tag}, field="orderId"
            )
        if order_id not in found:
            found.append(order_id)
    return found


def push_message_process(message: InboundMessage, payload):
    """(order, status) for a stored push: each order named read and ingested. A refusal fails the
    message (DomainError); a rate limit or a temporary failure is raised as it is, leaving the
    message "received" for the sweeper."""
    if not isinstance(payload, list):
        raise DomainError(_("A Xiaohongshu push body is a JSON array."), field="body")
    app_id = str((message.channel.api_credentials or {}).get("app_id") or "")
    sender = (header(message.headers or {}, "app-key") or "").strip()
    if app_id and sender != app_id:
        raise DomainError(
            _("The push names app %(sender)s, not the channel's app id.") % {"sender": sender or "-"},
            field="app-key",
        )
    ids = order_ids(payload)
    if not ids:
        return None, InboundStatus.IGNORED
    client = XiaohongshuClient(message.channel)
    order = None
    for order_id in ids:
        stored = ingest_platform_order(message.channel, Platform.XIAOHONGSHU, order_id, client.order)
        order = stored.order or order
    return order, InboundStatus.PROCESSED
