"""Douyin push messages (消息推送): a stored push body (a JSON array of {"tag", "msg_id", "data"},
`data` a JSON string; official Java SDK DoudianOpMsgRequest / DoudianOpMsgParamRecord) is
processed here (integrations.services topic processor). Messages are thin: for every order a
trade or after-sale message names (`p_id`, a number above 2^53, kept exact), the order is read with
order.orderDetail and ingested through the polling path (integrations.sync.ingest_platform_order), so the
same version by push and by poll is one stored message and one order. Tags (research notes §A6):
100–126 trade messages, 200–227 after-sale messages; "0" is the probe Douyin sends when the push
URL is saved; other tags (400 product change …) are stored and ignored."""

import json

from django.utils.translation import gettext as _

from catalog.models import Platform
from core.errors import DomainError
from integrations.adapters import header
from integrations.douyin.client import DouyinClient
from integrations.models import InboundMessage, InboundStatus
from integrations.sync import ingest_platform_order

PROBE_TAG = "0"


def order_tag(tag: str) -> bool:
    return tag.isdigit() and (100 <= int(tag) < 200 or 200 <= int(tag) < 300)


def order_ids(records: list) -> list[str]:
    """The shop order ids the push's trade and after-sale messages name, in order, once each."""
    found: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            raise DomainError(_("A push message is not an object."), field="body")
        tag = str(record.get("tag") or "")
        if not order_tag(tag):
            continue
        data = record.get("data")
        try:
            data = json.loads(data) if isinstance(data, str) else data
        except ValueError as exc:
            raise DomainError(
                _("Push message %(id)s: data is not JSON.") % {"id": record.get("msg_id")}, field="data"
            ) from exc
        p_id = str((data or {}).get("p_id") or "") if isinstance(data, dict) else ""
        if not p_id.isdigit():
            raise DomainError(
                _("Push message %(id)s (tag %(tag)s) names no order (p_id).")
                % {"id": record.get("msg_id"), "tag": tag},
                field="p_id",
            )
        if p_id not in found:
            found.append(p_id)
    return found


def push_message_process(message: InboundMessage, payload):
    """(order, status) for a stored push: each order named read and ingested. A refusal fails the
    message (DomainError); a rate limit or a temporary failure is raised as it is, leaving the
    message "received" for the sweeper."""
    if not isinstance(payload, list):
        raise DomainError(_("A Douyin push body is a JSON array."), field="body")
    app_key = str((message.channel.api_credentials or {}).get("app_key") or "")
    sender = (header(message.headers or {}, "app-id") or "").strip()
    if app_key and sender != app_key:
        raise DomainError(
            _("The push names app %(sender)s, not the channel's app key.") % {"sender": sender or "-"},
            field="app-id",
        )
    ids = order_ids(payload)
    if not ids:
        return None, InboundStatus.IGNORED
    client = DouyinClient(message.channel)
    order = None
    for shop_order_id in ids:
        stored = ingest_platform_order(message.channel, Platform.DOUYIN, shop_order_id, client.order_detail)
        order = stored.order or order
    return order, InboundStatus.PROCESSED
