"""Taobao's message service (TMC, 消息服务) consumed by HTTP polling: trade and refund messages tell
Conduit about a trade within seconds; the increment polling (integrations.sync) stays the safety
net — TMC keeps a message at most 24 hours ("消息存储时间仅最多24小时", TOP doc articleId=101663).

Documents followed:
- taobao.tmc.messages.consume (http://open.alitrip.com/docs/doc.htm?articleId=21986&docType=2&treeId=34)
  and taobao.tmc.messages.confirm (articleId=21985); TOP SDK TmcMessagesConsumeRequest.php /
  TmcMessagesConfirmRequest.php and domain TmcMessage.php {id, topic, content, pub_time,
  pub_app_key, user_id, user_nick} (P79N6A/topsdk @ dced2d6a). Unconfirmed messages are delivered
  again (TheNorthMemory/tmc.js README, autoReplyConfirmation), so a message is confirmed only once
  it is stored. Message ids exceed 2^53: kept as text ("tmc:<id>").
- The messages' contents (TOP message pages https://open.taobao.com/tmc.htm?docId=N&docType=9, as
  generated into TheNorthMemory/tmc.js types/taobao.d.ts @ 910ed99b): every topic in TRADE_TOPICS
  carries the trade's `tid`, never the whole trade, so the trade is read with
  taobao.trade.fullinfo.get and ingested as polling ingests it.

One run for a channel (`channel_messages_consume`, beat task integrations.tasks.sync_taobao_messages
every 30 s, one task per channel whose credentials say `"tmc": true`):
1. consume a batch from the channel's group (credential `tmc_group`, else the default group);
2. store every message raw as an InboundMessage (topic = the TMC topic, dedupe id "tmc:<id>"): a
   message delivered again is the unique constraint's duplicate. Topics other than TRADE_TOPICS are
   stored as ignored;
3. confirm the batch (after step 2 committed: a crash in between means a redelivery, not a loss);
4. per trade the stored messages name: read it with fullinfo (no transaction open) and hand it to
   the polling path (integrations.sync.message_store: stored raw as "poll:<tid>:<modified>", the
   same version polled later is a duplicate; then integrations.services.inbound_message_process);
   the messages become processed with the trade's order.
A full batch is followed by another, at most MAX_BATCHES a run.

A trade message left "received" (a rate limit or a failure stopped step 4, a worker died) is taken
up by the channel's next run, or by the inbound sweeper: its processor `tmc_message_process` does
step 4 for that message inside the message's own transaction (the fullinfo call then holds that
message row, nothing else).

TMC queues belong to the app, not the shop: a message is stored under the channel of the app key
(and group) whose credential `seller_nick` is the message's user_nick; when no channel of the app
names a seller and only one channel uses it, under that one. A message no channel claims is stored
on the consuming channel as ignored, saying so, and confirmed."""

import hashlib
import json
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Channel, Platform
from core.errors import DomainError
from core.http import PlatformError, RateLimited, is_temporary
from integrations.adapters import get_adapter
from integrations.models import InboundMessage, InboundStatus
from integrations.services import inbound_message_process
from integrations.sync import message_store
from integrations.taobao.client import TaobaoClient

logger = logging.getLogger(__name__)

# Topic → TOP message page (https://open.taobao.com/tmc.htm?docId=N&docType=9): a trade changed.
TRADE_TOPICS = {
    "taobao_trade_TradeCreate": 101,  # 创建淘宝交易消息
    "taobao_trade_TradeBuyerPay": 105,  # 买家付完款
    "taobao_trade_TradeClose": 104,  # 关闭交易消息
    "taobao_trade_TradeCloseAndModifyDetailOrder": 103,  # 关闭或修改子订单消息
    "taobao_trade_TradeSuccess": 110,  # 交易成功消息
    "taobao_trade_TradeChanged": 115,  # 订单信息变更消息
    "taobao_trade_TradeLogisticsAddressChanged": 114,  # 修改交易收货地址消息
    "taobao_refund_RefundCreated": 118,  # 退款创建消息
    "taobao_refund_RefundSuccess": 127,  # 退款成功消息
}
DEDUPE_PREFIX = "tmc:"
TMC_HEADERS = {"X-Conduit-Source": "tmc"}
BATCH = 100  # taobao.tmc.messages.consume quantity (10–200; the doc's default)
MAX_BATCHES = 5


class TmcStatus:
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"
    NOT_CONSUMED = "not_consumed"  # inactive, not Taobao, or TMC not switched on


@dataclass(frozen=True)
class TmcRun:
    status: str
    consumed: int = 0  # messages the queue gave
    stored: int = 0  # new rows (the rest were deliveries of stored messages)
    confirmed: int = 0
    trades: int = 0  # trades read with fullinfo and ingested
    error: str = ""


def tmc_enabled(channel: Channel) -> bool:
    return (
        channel.platform == Platform.TAOBAO
        and channel.is_active
        and bool((channel.api_credentials or {}).get("tmc"))
    )


def tmc_channel_ids() -> list[int]:
    """Active Taobao channels that consume TMC (credentials `"tmc": true`), by primary key. The
    credentials are encrypted, so they are read here rather than filtered in SQL."""
    channels = Channel.objects.filter(platform=Platform.TAOBAO, is_active=True).order_by("pk")
    return [channel.pk for channel in channels if tmc_enabled(channel)]


def channel_messages_consume(*, channel_id: int, max_batches: int = MAX_BATCHES) -> TmcRun:
    """One run of the channel's TMC consumer (see the module docstring)."""
    channel = Channel.objects.get(pk=channel_id)
    if not tmc_enabled(channel):
        return TmcRun(TmcStatus.NOT_CONSUMED)
    group = str((channel.api_credentials or {}).get("tmc_group") or "")
    consumed = stored = confirmed = trades = 0
    try:
        client = TaobaoClient(channel)
        route = _router(channel)
        for _batch in range(max_batches):
            messages = client.tmc_consume(group_name=group, quantity=BATCH)
            consumed += len(messages)
            if not messages:
                break
            rows, new = _store(channel, route, messages)
            stored += new
            ids = [str(message["id"]) for message in messages if message.get("id") not in (None, "")]
            client.tmc_confirm(ids, group_name=group)
            confirmed += len(ids)
            trades += _refresh_stored(channel, client, rows)
            if len(messages) < BATCH:
                break
        trades += _refresh_waiting(channel, client)  # left by an earlier run
    except RateLimited as exc:
        error = _("Rate limited by Taobao; retrying after %(seconds)d s.") % {"seconds": exc.retry_after}
        return TmcRun(TmcStatus.RATE_LIMITED, consumed, stored, confirmed, trades, error)
    except PlatformError as exc:
        logger.warning("TMC run of channel %s stopped: %s", channel.code, exc)
        return TmcRun(TmcStatus.FAILED, consumed, stored, confirmed, trades, str(exc))
    return TmcRun(TmcStatus.OK, consumed, stored, confirmed, trades)


# --- which channel a message is for ------------------------------------------------------------------


def _router(channel: Channel):
    """message → (channel to store it under, or None when no channel claims it)."""
    credentials = channel.api_credentials or {}
    app_key, group = credentials.get("app_key"), credentials.get("tmc_group") or ""
    siblings = [
        other
        for other in Channel.objects.filter(platform=Platform.TAOBAO, is_active=True).order_by("pk")
        if (other.api_credentials or {}).get("app_key") == app_key
        and ((other.api_credentials or {}).get("tmc_group") or "") == group
    ]
    by_nick = {
        str(other.api_credentials["seller_nick"]): other
        for other in siblings
        if (other.api_credentials or {}).get("seller_nick")
    }
    only = siblings[0] if len(siblings) == 1 and not by_nick else None

    def route(message: dict) -> Channel | None:
        return by_nick.get(str(message.get("user_nick") or "")) or only

    return route


# --- storing ----------------------------------------------------------------------------------------


def message_tid(payload: dict) -> str:
    """The trade id a stored TMC message names ("" when none): `content` is the message's JSON text."""
    content = payload.get("content")
    try:
        data = json.loads(content) if isinstance(content, str) else content
    except ValueError:
        return ""
    tid = data.get("tid") if isinstance(data, dict) else None
    return str(tid) if isinstance(tid, int | str) and str(tid).isdigit() else ""


def _store(channel: Channel, route, messages: list[dict]) -> tuple[list[InboundMessage], int]:
    """Store each message once (see the module docstring); (their rows, how many were new)."""
    rows, new = [], 0
    now = timezone.now()
    for message in messages:
        target = route(message)
        topic = str(message.get("topic") or "")[:100]
        status, error = InboundStatus.RECEIVED, ""
        if target is None:
            target, status = channel, InboundStatus.IGNORED
            error = _("No Taobao channel of this app names seller %(nick)s (credential seller_nick).") % {
                "nick": message.get("user_nick") or "?"
            }
        elif topic not in TRADE_TOPICS:
            status = InboundStatus.IGNORED
        elif not message_tid(message):
            status, error = InboundStatus.FAILED, _("The message names no trade (tid).")
        body = json.dumps(message, ensure_ascii=False)
        message_id = message.get("id")
        row = InboundMessage(
            channel=target,
            platform=Platform.TAOBAO,
            topic=topic,
            dedupe_id=f"{DEDUPE_PREFIX}{message_id}" if message_id not in (None, "") else None,
            headers={**TMC_HEADERS, "X-Conduit-Consumer": channel.code},
            body=body,
            body_sha256=hashlib.sha256(body.encode()).hexdigest(),
            status=status,
            error=error,
            processed_at=None if status == InboundStatus.RECEIVED else now,
        )
        try:
            with transaction.atomic():
                row.save()
            new += 1
        except IntegrityError:  # delivered again: stored before
            row = InboundMessage.objects.get(channel=target, dedupe_id=row.dedupe_id)
        rows.append(row)
    return rows, new


# --- reading the trades the messages name ------------------------------------------------------------


def trade_refresh(channel: Channel, client: TaobaoClient, tid: str) -> InboundMessage:
    """Read the trade with fullinfo and ingest it through the polling path: the processed (or
    earlier stored) poll message of this version of the trade."""
    trade = client.trade_fullinfo(tid)
    message, _created = message_store(channel, get_adapter(Platform.TAOBAO), trade)
    if message.status == InboundStatus.RECEIVED:
        message = inbound_message_process(message.pk)
    return message


def _refresh_stored(consumer: Channel, client: TaobaoClient, rows: list[InboundMessage]) -> int:
    """Step 4 for the rows just stored, each channel's with its own client (fullinfo needs that
    shop's session)."""
    by_channel: dict[int, list[int]] = {}
    for row in rows:
        if row.status == InboundStatus.RECEIVED:
            by_channel.setdefault(row.channel_id, []).append(row.pk)
    trades = 0
    for channel_id, ids in sorted(by_channel.items()):
        if channel_id == consumer.pk:
            trades += _refresh(consumer, client, ids)
        else:
            other = Channel.objects.get(pk=channel_id)
            trades += _refresh(other, TaobaoClient(other, http=client.http), ids)
    return trades


def _refresh_waiting(channel: Channel, client: TaobaoClient, limit: int = 500) -> int:
    """Step 4 for the channel's trade messages an earlier run left "received"."""
    ids = list(
        InboundMessage.objects.filter(
            channel=channel,
            platform=Platform.TAOBAO,
            status=InboundStatus.RECEIVED,
            topic__in=list(TRADE_TOPICS),
            dedupe_id__startswith=DEDUPE_PREFIX,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return _refresh(channel, client, ids) if ids else 0


def _refresh(channel: Channel, client: TaobaoClient, message_ids: list[int]) -> int:
    """Read each trade the messages name once and settle its messages. A refusal (e.g. a trade
    Taobao does not know) fails that trade's messages; a rate limit or a temporary failure stops
    the run, leaving the rest "received"."""
    by_tid: dict[str, list[int]] = {}
    rows = InboundMessage.objects.filter(pk__in=message_ids, status=InboundStatus.RECEIVED).order_by("pk")
    for pk, body in rows.values_list("pk", "body"):
        by_tid.setdefault(message_tid(json.loads(body)), []).append(pk)
    trades = 0
    for tid, ids in by_tid.items():
        try:
            poll = trade_refresh(channel, client, tid)
        except PlatformError as exc:
            if is_temporary(exc):
                raise
            _settle(ids, status=InboundStatus.FAILED, error=str(exc))
            continue
        trades += 1
        _settle(ids, **_outcome(tid, poll))
    return trades


def _outcome(tid: str, poll: InboundMessage) -> dict:
    """A trade message's own status once its trade is ingested: processed with the order, else
    ignored, naming the stored trade message (whose failure, if any, is in the failed queue)."""
    if poll.order_id:
        return {"status": InboundStatus.PROCESSED, "order_id": poll.order_id}
    return {
        "status": InboundStatus.IGNORED,
        "error": _("Trade %(tid)s is stored as inbound message #%(id)s (%(status)s).")
        % {"tid": tid, "id": poll.pk, "status": poll.status},
    }


def _settle(ids: list[int], *, status: str, order_id: int | None = None, error: str = "") -> None:
    """Close the messages still "received"; one being processed by the sweeper's task is left to it."""
    with transaction.atomic():
        pending = list(
            InboundMessage.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=InboundStatus.RECEIVED)
            .values_list("pk", flat=True)
        )
        InboundMessage.objects.filter(pk__in=pending).update(
            status=status, order_id=order_id, error=error, processed_at=timezone.now()
        )


# --- the sweeper's (and replay's) way: one stored message -----------------------------------------


def tmc_message_process(message: InboundMessage, payload: dict):
    """(order, status) for a stored trade message (integrations.services topic processor): its
    trade is read and ingested as in a run. A refusal fails the message (DomainError); a rate limit
    or a temporary failure is raised as it is, leaving the message "received" for a later try."""
    tid = message_tid(payload)
    if not tid:
        raise DomainError(_("The message names no trade (tid)."), field="content")
    try:
        poll = trade_refresh(message.channel, TaobaoClient(message.channel), tid)
    except PlatformError as exc:
        if is_temporary(exc):
            raise
        raise DomainError(str(exc)) from exc
    return poll.order, _outcome(tid, poll)["status"]
