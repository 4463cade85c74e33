"""Pinduoduo's message service (消息服务): PDD pushes only over a WebSocket the app opens, no HTTP
callbacks (research notes for #16, jd-pinduoduo.md §A4; SOURCES.md §16).

Sources: the official Java SDK com.pdd.pop.sdk [PDD-JAVA] `WsClient.doConnect` and its
`message.model` classes as the notes quote them, the fixtures pdd_message_ws_auth_vector.json,
pdd_message_frame_*.json, pdd_message_ack.json and the captured messages
pdd_message_*_captured.json.

- Connection: wss://message-api.pinduoduo.com/message/{client_id}/{timestamp_ms}/{sig} with
  sig = base64(md5_hex_lowercase(client_id + timestamp_ms + client_secret)) (`ws_signature`; the
  vector app / 1700000000000 / secret → OTgxODMw…MTIx=). One connection per app (client_id): it
  carries the messages of every shop the app serves, told apart by `mallID`.
- Server frames: `{id (long), commandType: Common|HeartBeat|Fail|Ack, time, sendTime,
  message{type, mallID, content (a JSON string)}}`. Each Common frame is answered with
  `{id, commandType: "Ack", time, sendTime, type, mallID}`. The frames carry no signature: trust is
  the TLS connection this process opened.
- Heartbeats: the SDK sends `{id, commandType: "HeartBeat", time, version}` every 5 s and reconnects
  when the server has been silent for 3 minutes. (The SDK's heartbeat also has `timeMetrics`, whose
  shape was not found published: it is not sent.)
- Redelivery of an unacknowledged message is not documented; the FAQ only says a message the SDK
  acknowledged but the app lost is the app's loss. So each Common frame is stored raw as an
  InboundMessage (dedupe id "ws:<frame id>", the unique constraint making a repeat a no-op) and
  acknowledged only once that row is committed; a frame that could not be stored is not
  acknowledged, the connection is closed and opened again after a back-off.
- Messages are notifications: trade messages (pdd_trade_*) and refund messages (pdd_refund_*)
  carry `{"mall_id", "tid" (the order_sn), …}`; the order is read with pdd.order.information.get and
  ingested through the polling path (integrations.sync.ingest_platform_order), so the same version by
  push and by poll is one stored message and one order. A refund message also asks for an
  after-sales poll of the channel (integrations.after_sales, as a task). Other topics
  (pdd_goods_* …) are stored and ignored. PDD's FAQ says the API can lag a message ("如果是消息推送
  获取的订单号，请延后10min调用接口"): the order read may be the older version; the poll, which
  follows, takes the later one.

Channels: the connection's channel's credentials (client_id, client_secret; optional `ws_url`, a
base URL instead of wss://message-api.pinduoduo.com; optional `mall_id`, the shop's 店铺 id). A
frame of a mall that another active Pinduoduo channel of the same app names (its `mall_id`) is
stored for that channel; one of a mall no channel names is stored for the connection's channel
when that channel names no mall (a one-shop set-up), else stored as ignored, saying so."""

import base64
import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from functools import partial

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils.translation import gettext as _
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from catalog.models import Channel, Platform
from core import handoff
from core.errors import DomainError
from core.http import PlatformError
from integrations.models import InboundMessage, InboundStatus
from integrations.pdd.client import PddClient
from integrations.sync import ingest_platform_order
from integrations.tasks import process_inbound_message, sync_channel_after_sales

logger = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://message-api.pinduoduo.com"
SDK_VERSION = "1.1.6"  # HeartBeatMessage.version as the SDK sends it
HEARTBEAT_SECONDS = 5.0
SILENCE_SECONDS = 180.0  # no frame from PDD for 3 minutes: the connection is taken for dead
MAX_BACKOFF_SECONDS = 60.0
SOURCE_HEADERS = {"X-Conduit-Source": "pdd-ws"}

# Topics seen in real consumers (notes §A4); pdd_trade_TradeModified was not found anywhere.
TRADE_TOPICS = (
    "pdd_trade_TradeConfirmed",
    "pdd_trade_TradeSellerShip",
    "pdd_trade_TradeSuccess",
    "pdd_trade_TradeRiskChanged",
    "pdd_trade_TradeLogisticsAddressChanged",
    "pdd_trade_TradeMemoModified",
    "pdd_trade_BuyerMemoModified",
)
REFUND_TOPICS = (
    "pdd_refund_RefundCreated",
    "pdd_refund_RefundAgreeAgreement",
    "pdd_refund_RefundClosed",
    "pdd_refund_RefundBuyerModifyAgreement",
    "pdd_refund_RefundBuyerReturnGoods",
    "pdd_refund_RefundCreateMessage",
)
TOPICS = TRADE_TOPICS + REFUND_TOPICS


def ws_signature(client_id: str, timestamp_ms: int, client_secret: str) -> str:
    """base64 of the lower-case MD5 hex of client_id + timestamp_ms + client_secret ([PDD-JAVA]
    `DigestUtil.md5Base64Sign32`): the hex text is what is base64-encoded, not the digest bytes."""
    hex_digest = hashlib.md5(f"{client_id}{timestamp_ms}{client_secret}".encode()).hexdigest()
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


def ws_url(base_url: str, client_id: str, client_secret: str, timestamp_ms: int) -> str:
    sig = ws_signature(client_id, timestamp_ms, client_secret)
    return f"{base_url.rstrip('/')}/message/{client_id}/{timestamp_ms}/{sig}"


def ack_frame(frame: dict, *, now_ms: int) -> dict:
    """AckMessage for a Common frame (pdd_message_ack.json)."""
    message = frame.get("message") or {}
    return {
        "id": frame["id"],
        "commandType": "Ack",
        "time": now_ms,
        "sendTime": frame.get("sendTime"),
        "type": message.get("type"),
        "mallID": message.get("mallID"),
    }


def heartbeat_frame(beat_id: int, *, now_ms: int) -> dict:
    return {"id": beat_id, "commandType": "HeartBeat", "time": now_ms, "version": SDK_VERSION}


# --- storing a frame ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    message: InboundMessage
    created: bool


def frame_channel(channel: Channel, mall_id) -> tuple[Channel, bool]:
    """(the channel a mall's frame belongs to, whether it is that mall's). See the module doc."""
    client_id = str((channel.api_credentials or {}).get("client_id") or "")
    mall = str(mall_id or "")
    if mall:
        # credentials are encrypted at rest: compared here, not in SQL (a handful of channels)
        for candidate in Channel.objects.filter(platform=Platform.PDD, is_active=True).order_by("pk"):
            credentials = candidate.api_credentials or {}
            if (
                str(credentials.get("client_id") or "") == client_id
                and str(credentials.get("mall_id") or "") == mall
            ):
                return candidate, True
    own = str((channel.api_credentials or {}).get("mall_id") or "")
    return channel, not own


def frame_store(channel: Channel, raw: str) -> Stored | None:
    """Store one server frame as an InboundMessage and queue its processing once it commits.
    None for a frame that is not a message (heartbeat, Ack, Fail…) or has no id to acknowledge.
    A database failure is raised: the frame must then not be acknowledged."""
    try:
        frame = json.loads(raw)
    except ValueError:
        logger.warning("pdd message service: a frame that is not JSON on channel %s", channel.code)
        return None
    if not isinstance(frame, dict) or frame.get("commandType") != "Common":
        return None
    if not isinstance(frame.get("id"), int):
        logger.warning("pdd message service: a Common frame without an id on channel %s", channel.code)
        return None
    message = frame.get("message") if isinstance(frame.get("message"), dict) else {}
    owner, ours = frame_channel(channel, message.get("mallID"))
    row = InboundMessage(
        channel=owner,
        platform=Platform.PDD,
        topic=str(message.get("type") or "")[:100],
        dedupe_id=f"ws:{frame['id']}",
        headers={**SOURCE_HEADERS, "mallID": str(message.get("mallID") or "")},
        body=raw.replace("\x00", "\ufffd"),
        body_sha256=hashlib.sha256(raw.encode()).hexdigest(),
    )
    if not ours:
        row.status = InboundStatus.IGNORED
        row.error = _("Mall %(mall)s is not the mall of any Pinduoduo channel of this app.") % {
            "mall": message.get("mallID")
        }
    with transaction.atomic():
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            return Stored(InboundMessage.objects.get(channel=owner, dedupe_id=row.dedupe_id), False)
        if row.status == InboundStatus.RECEIVED:
            handoff.publish_on_commit(process_inbound_message, row.pk)
    return Stored(row, True)


# --- processing a stored message (a topic processor, config.registry) ---------------------------


def message_order_sn(payload) -> str:
    """The order_sn (`tid`) a trade or refund message names; DomainError when none."""
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        raise DomainError(_("A Pinduoduo message frame has no message."), field="message")
    content = message.get("content")
    try:
        content = json.loads(content) if isinstance(content, str) else content
    except ValueError as exc:
        raise DomainError(_("The message content is not JSON."), field="content") from exc
    tid = str((content or {}).get("tid") or "") if isinstance(content, dict) else ""
    if not tid:
        raise DomainError(
            _("Pinduoduo message %(type)s names no order (tid).") % {"type": message.get("type")},
            field="tid",
        )
    return tid


def message_process(message: InboundMessage, payload):
    """(order, status) for a stored trade or refund message: the order it names read with
    pdd.order.information.get and ingested through the polling path. A refusal fails the message
    (DomainError); a rate limit or a temporary failure is raised as it is, leaving the message
    "received" for the sweeper."""
    order_sn = message_order_sn(payload)
    # The client is made inside the read (as before), so its credential check fails the way a read does.
    stored = ingest_platform_order(
        message.channel, Platform.PDD, order_sn, lambda sn: PddClient(message.channel).order_information(sn)
    )
    if message.topic in REFUND_TOPICS:
        # The request itself comes with the channel's after-sales poll (integrations.after_sales).
        transaction.on_commit(partial(sync_channel_after_sales.delay, message.channel_id))
    return stored.order, InboundStatus.PROCESSED


# --- the long-lived connection -------------------------------------------------------------------


def _drop_dead_connection() -> None:
    """A long-lived process: a connection the database closed (a restart, a network cut) is
    dropped before the next frame uses it — Django reconnects on the next query — else one
    outage would fail every frame after it, for ever."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


class FrameNotStored(Exception):
    """A Common frame could not be stored: it is not acknowledged and the connection is reopened."""


@dataclass
class Counts:
    connections: int = 0
    refused: int = 0  # handshakes PDD refused (a bad signature, an unknown app)
    frames: int = 0
    stored: int = 0
    duplicates: int = 0
    acked: int = 0
    not_stored: int = 0
    heartbeats_answered: int = 0


class PddMessageClient:
    """One app's connection to PDD's message service for a channel (`run` until `stop` is set).
    Storing happens in this thread (short transactions, no lock held across the network);
    processing is queued (integrations.tasks.process_inbound_message)."""

    def __init__(
        self,
        channel: Channel,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        silence_seconds: float = SILENCE_SECONDS,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        open_timeout: float = 10.0,
    ):
        credentials = channel.api_credentials or {}
        self.channel = channel
        self.client_id = str(credentials.get("client_id") or "")
        self.client_secret = str(credentials.get("client_secret") or "")
        self.base_url = str(credentials.get("ws_url") or DEFAULT_WS_URL)
        if not (self.client_id and self.client_secret):
            raise PlatformError(
                _("Pinduoduo credentials of channel %(channel)s lack client_id or client_secret.")
                % {"channel": channel.code}
            )
        self.heartbeat_seconds = heartbeat_seconds
        self.silence_seconds = silence_seconds
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.open_timeout = open_timeout
        self.counts = Counts()
        self._beat_id = 0

    def url(self) -> str:
        return ws_url(self.base_url, self.client_id, self.client_secret, int(time.time() * 1000))

    def backoff(self, failures: int) -> float:
        """Exponential back-off with jitter, capped: 1, 2, 4 … 60 s (× 0.5–1)."""
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** min(failures, 16))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret

    def run(self, *, stop: threading.Event | None = None, max_connections: int | None = None) -> Counts:
        """Connect, take frames, reconnect after a back-off when the connection ends or fails;
        returns when `stop` is set (or after `max_connections` connections, for tests)."""
        stop = stop or threading.Event()
        failures = 0
        while not stop.is_set():
            self.counts.connections += 1
            healthy = False
            try:
                with connect(self.url(), open_timeout=self.open_timeout, ping_interval=None) as ws:
                    healthy = self._session(ws, stop)
            except InvalidStatus as exc:
                self.counts.refused += 1
                logger.warning("pdd message service refused channel %s: %s", self.channel.code, exc)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, FrameNotStored) as exc:
                logger.warning("pdd message service connection of %s ended: %r", self.channel.code, exc)
            failures = 0 if healthy else failures + 1
            if max_connections is not None and self.counts.connections >= max_connections:
                break
            stop.wait(self.backoff(failures))
        return self.counts

    def _session(self, ws, stop: threading.Event) -> bool:
        """Take frames until `stop`, PDD's silence or an error; True once a frame was handled."""
        healthy = False
        last_heard = last_beat = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now - last_heard > self.silence_seconds:
                logger.warning("pdd message service silent for %s s: reconnecting", self.silence_seconds)
                return healthy
            if now - last_beat >= self.heartbeat_seconds:
                self._send_heartbeat(ws)
                last_beat = now
            try:
                raw = ws.recv(timeout=min(self.heartbeat_seconds, 1.0))
            except TimeoutError:
                continue
            last_heard = time.monotonic()
            self.frame_take(ws, raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
            healthy = True
        return healthy

    def frame_take(self, ws, raw: str) -> None:
        """One server frame: a heartbeat is answered; a message is stored, then acknowledged."""
        self.counts.frames += 1
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if isinstance(frame, dict) and frame.get("commandType") == "HeartBeat":
            self._send_heartbeat(ws)
            self.counts.heartbeats_answered += 1
            return
        _drop_dead_connection()
        try:
            stored = frame_store(self.channel, raw)
        except DatabaseError as exc:
            self.counts.not_stored += 1
            _drop_dead_connection()
            raise FrameNotStored(str(exc)) from exc
        if stored is None:
            if isinstance(frame, dict) and frame.get("commandType") == "Fail":
                logger.warning(
                    "pdd message service says Fail on channel %s: %s", self.channel.code, raw[:500]
                )
            return
        if stored.created:
            self.counts.stored += 1
        else:
            self.counts.duplicates += 1
        ws.send(json.dumps(ack_frame(json.loads(raw), now_ms=int(time.time() * 1000))))
        self.counts.acked += 1

    def _send_heartbeat(self, ws) -> None:
        self._beat_id += 1
        ws.send(json.dumps(heartbeat_frame(self._beat_id, now_ms=int(time.time() * 1000))))
