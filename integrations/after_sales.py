"""Platform after-sales requests (售后 / 退款申请) polled into the returns desk (issue #16 part 6).

THE CONTRACT every platform implements (JD, Pinduoduo, Douyin here; Xiaohongshu beside them):

1. Client. The platform's HTTP client (its adapter's `client_class`) has

       iter_after_sales(*, updated_since: datetime, updated_until: datetime) -> Iterator[dict]

   yielding the platform's raw after-sale records (one dict each, as the platform sent it, possibly
   completed with the detail call the list lacks), every record updated in [updated_since,
   updated_until). The client pages, cuts the window at the platform's limits (PDD 30 min, …) and
   raises core.http.RateLimited / PlatformError like `iter_orders`. It counts `pages_fetched`.

2. Mapping. `integrations/<platform>/after_sales.py` has

       after_sale_to_canonical(record: dict, channel) -> dict

   returning exactly these keys (a canonical after-sale):

       {
         "external_ref": "<platform>:<after-sale id>",   # unique per order; e.g. "pdd:5001"
         "order_external_id": str,                      # the order's id as Order.external_id holds it
         "kind": "refund_only" | "return" | "exchange",
         "state": "requested" | "approved" | "rejected" | "awaiting_return" | "returned"
                  | "refunded" | "closed",
         "refund_amount": Decimal | None,   # money the platform refunded / will refund, 2 places;
                                            # None when the record does not say
         "currency": str,                   # "CNY"
         "lines": [{"platform_line_id": str | None,  # OrderLine.external_line_id (sub-order id)
                    "platform_sku_id": str | None,   # OrderLine.platform_sku_id
                    "seller_code": str | None,       # the seller's own code (outer id) = SKU code
                    "quantity": int}],               # may be [] (whole order / not stated)
         "reason": str,                     # the buyer's reason as given, free text
         "return_carrier": str,             # return waybill's carrier name/code ("" when none)
         "return_tracking": str,            # return waybill number ("" when none)
         "updated_at": datetime,            # aware; the version of this record
       }

   States (the platform's life of a request, one word each):
     requested        待审核: waiting for the seller
     approved         seller agreed, nothing else yet
     rejected         seller refused (terminal unless the platform reopens it as a new version)
     awaiting_return  buyer must send / has sent the goods back (with or without a waybill)
     returned         the goods reached the seller
     refunded         the platform paid the money back (refund_amount is what it paid)
     closed           withdrawn by the buyer, closed by the platform, or failed — nothing refunded
   Receiving, inspecting and exchanging goods are done in our own returns desk: "returned" and a
   completed exchange (its replacement received by the buyer) never move an RMA past "awaiting
   return"; only "refunded" with money records a refund. A platform state the mapping cannot
   place raises ValueError naming it (never guessed).
   A record that is not an after-sale we handle (price protection 价保, 补寄, 维修…) maps to None:
   it is stored and marked ignored.
   Bad records raise KeyError / TypeError / ValueError (the message then fails naming the error)
   or core.errors.DomainError naming the field.

3. Registration. `AFTER_SALE_MAPPINGS` below: platform → its mapping function. A platform listed
   there is polled for after-sales (its client must have `iter_after_sales`).

The poll (`after_sales_sync`): per channel, its own AfterSaleCursor (lease, overlap, back-off, as
integrations.sync keeps the order cursor); each record is stored as an InboundMessage (topic
AFTER_SALE_TOPIC, the raw record as body, dedupe id "after_sale:<external_ref>:<updated_at>", so one
message per record version and the raw record kept for replay) and processed through
integrations.services, whose topic processor for AFTER_SALE_TOPIC (returns.platform_after_sales,
wired in config.registry) maps it and applies it to the order's RMA. An after-sale of an order not
known yet fails its message naming the order; replay it once the order is in. A rate limit stops
the run and leaves the cursor where it was.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Channel, Platform
from core.http import PlatformError, RateLimited
from integrations.adapters import get_adapter
from integrations.douyin import after_sales as douyin_after_sales
from integrations.jd import after_sales as jd_after_sales
from integrations.models import AfterSaleCursor, InboundMessage, InboundStatus
from integrations.pdd import after_sales as pdd_after_sales
from integrations.services import inbound_message_process
from integrations.sync import LEASE, MAX_BACKOFF, POLL_HEADERS, SETTLE, SyncResult, SyncStatus
from integrations.xiaohongshu import after_sales as xiaohongshu_after_sales

logger = logging.getLogger(__name__)

AFTER_SALE_TOPIC = "after_sale"
FIRST_RUN_LOOKBACK = timedelta(days=1)

# Platform → its mapping (raw record → canonical after-sale, or None for one not handled). The
# platform's client (its adapter's client_class) has `iter_after_sales`.
AFTER_SALE_MAPPINGS: dict[str, Callable[[dict, Channel], dict | None]] = {
    Platform.JD: jd_after_sales.after_sale_to_canonical,
    Platform.PDD: pdd_after_sales.after_sale_to_canonical,
    Platform.DOUYIN: douyin_after_sales.after_sale_to_canonical,
    Platform.XIAOHONGSHU: xiaohongshu_after_sales.after_sale_to_canonical,
}


def after_sale_canonical(channel: Channel, record: dict) -> dict | None:
    """The canonical after-sale of a raw record of the channel's platform (see the contract)."""
    mapping = AFTER_SALE_MAPPINGS.get(channel.platform)
    if mapping is None:
        raise ValueError(_("%(platform)s has no after-sales mapping.") % {"platform": channel.platform})
    return mapping(record, channel)


def after_sale_channel_ids() -> list[int]:
    """Active channels with credentials whose platform has after-sales (a mapping and a client
    that reads them), in primary-key order."""
    ids = []
    channels = Channel.objects.filter(is_active=True, platform__in=list(AFTER_SALE_MAPPINGS))
    for channel in channels.exclude(api_credentials={}).order_by("pk").only("pk", "platform"):
        if hasattr(_client_class(channel.platform), "iter_after_sales"):
            ids.append(channel.pk)
    return ids


def after_sales_sync(*, channel_id: int, now: datetime | None = None) -> SyncResult:
    """One after-sales polling run for a channel: the records updated in [cursor − overlap,
    now − settle), each stored and processed. Safe to call twice at once (the second: "busy").
    Only a complete run moves the cursor; a rate limit backs off and leaves it."""
    clock = (lambda: now) if now is not None else timezone.now
    channel = Channel.objects.get(pk=channel_id)
    client_class = _client_class(channel.platform)
    if (
        not channel.is_active
        or channel.platform not in AFTER_SALE_MAPPINGS
        or not hasattr(client_class, "iter_after_sales")
    ):
        return SyncResult(SyncStatus.NOT_POLLED)
    claimed = _lease_take(channel, clock())
    if isinstance(claimed, SyncResult):
        return claimed
    token, since, until = claimed
    client, seen, stored = None, 0, 0
    try:
        client = client_class(channel)
        for record in client.iter_after_sales(updated_since=since, updated_until=until):
            seen += 1
            message, created = after_sale_message_store(channel, record)
            stored += int(created)
            if message.status == InboundStatus.RECEIVED:
                inbound_message_process(message.pk)
    except RateLimited as exc:
        return _settle(channel, token, clock(), client, seen, stored, since, until, rate_limited=exc)
    except PlatformError as exc:
        error = _("The platform refused the request: %(error)s") % {"error": exc}
        return _settle(channel, token, clock(), client, seen, stored, since, until, error=error)
    except BaseException as exc:
        error = _("The after-sales sync stopped unexpectedly: %(error)r") % {"error": exc}
        _settle(channel, token, clock(), client, seen, stored, since, until, error=error)
        raise
    return _settle(channel, token, clock(), client, seen, stored, since, until, complete=True)


def after_sale_message_store(channel: Channel, record: dict) -> tuple[InboundMessage, bool]:
    """The raw record kept as an InboundMessage (replayable), one per record version: the dedupe
    id is the reference, update time and state of its canonical form (the body's hash when it
    cannot be mapped; processing then fails it saying why). (message, True) when new."""
    body = json.dumps(record, ensure_ascii=False)
    body_sha256 = hashlib.sha256(body.encode()).hexdigest()
    try:
        canonical = after_sale_canonical(channel, record)
    except Exception:  # noqa: BLE001 — a bad record is stored anyway; processing names the problem
        canonical = None
    if canonical is not None:
        updated = canonical["updated_at"].isoformat()
        dedupe_id = f"after_sale:{canonical['external_ref']}:{updated}:{canonical['state']}"
    else:
        dedupe_id = f"after_sale:sha256:{body_sha256}"
    message = InboundMessage(
        channel=channel,
        platform=channel.platform,
        topic=AFTER_SALE_TOPIC,
        dedupe_id=dedupe_id[:255],
        headers=dict(POLL_HEADERS),
        body=body,
        body_sha256=body_sha256,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        return InboundMessage.objects.get(channel=channel, dedupe_id=message.dedupe_id), False
    return message, True


def _client_class(platform: str):
    try:
        return get_adapter(platform).client_class
    except LookupError:
        return None


def _lease_take(channel: Channel, now: datetime) -> SyncResult | tuple[uuid.UUID, datetime, datetime]:
    """Claim the channel's after-sales for one run: (token, since, until), or the result instead."""
    AfterSaleCursor.objects.get_or_create(channel=channel)
    with transaction.atomic():
        state = AfterSaleCursor.objects.select_for_update(skip_locked=True).filter(channel=channel).first()
        if state is None or (state.lease_until is not None and state.lease_until > now):
            return SyncResult(SyncStatus.BUSY, cursor=state.cursor if state else None)
        if state.next_run_at is not None and state.next_run_at > now:
            return SyncResult(SyncStatus.WAITING, cursor=state.cursor)
        until = now - SETTLE
        since = (
            now - FIRST_RUN_LOOKBACK
            if state.cursor is None
            else state.cursor - timedelta(seconds=state.overlap_seconds)
        )
        if since >= until:
            return SyncResult(SyncStatus.OK, since, until, cursor=state.cursor)
        state.lease_token, state.lease_until, state.last_run_at = uuid.uuid4(), now + LEASE, now
        state.save(update_fields=["lease_token", "lease_until", "last_run_at"])
    return state.lease_token, since, until


def _settle(
    channel: Channel,
    token: uuid.UUID,
    now: datetime,
    client,
    seen: int,
    stored: int,
    since: datetime,
    until: datetime,
    *,
    complete: bool = False,
    rate_limited: RateLimited | None = None,
    error: str = "",
) -> SyncResult:
    """Release the lease and record the run; a complete run moves the cursor to the end of the
    window it read (the overlap re-reads what the platform shows late)."""
    status = SyncStatus.OK if complete else SyncStatus.RATE_LIMITED if rate_limited else SyncStatus.FAILED
    with transaction.atomic():
        state = AfterSaleCursor.objects.select_for_update().get(channel=channel)
        if state.lease_token != token:
            logger.warning("after-sales sync of channel %s outlived its lease", channel.pk)
            return SyncResult(SyncStatus.BUSY, since, until, cursor=state.cursor)
        state.lease_token = state.lease_until = None
        state.pages_fetched = getattr(client, "pages_fetched", 0)
        state.records_seen = seen
        if complete:
            if state.cursor is None or until > state.cursor:
                state.cursor = until
            state.last_success_at, state.last_error = now, ""
            state.next_run_at, state.backoff_level = None, 0
        elif rate_limited is not None:
            delay = min(timedelta(seconds=rate_limited.retry_after) * 2**state.backoff_level, MAX_BACKOFF)
            state.next_run_at = now + delay
            state.backoff_level = min(state.backoff_level + 1, 16)
            error = _("Rate limited by the platform; retrying in %(seconds)d s.") % {
                "seconds": delay.total_seconds()
            }
            state.last_error = error
        else:
            state.last_error = error
        state.save()
    return SyncResult(status, since, until, state.pages_fetched, seen, stored, state.cursor, error)
