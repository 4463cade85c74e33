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

The poll (`after_sales_sync`): per channel, its own AfterSaleCursor (lease, overlap, back-off:
integrations.cursor_lease, which the order sync shares); each record is stored as an InboundMessage (topic
AFTER_SALE_TOPIC, the raw record as body, dedupe id "after_sale:<external_ref>:<updated_at>", so one
message per record version and the raw record kept for replay) and processed through
integrations.services, whose topic processor for AFTER_SALE_TOPIC (returns.platform_after_sales,
wired in config.registry) maps it and applies it to the order's RMA. An after-sale of an order not
known yet fails its message naming the order; replay it once the order is in. A rate limit stops
the run and leaves the cursor where it was.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import Channel, Platform
from integrations.adapters import get_adapter
from integrations.cursor_lease import LeasedRun, PolledCursor, SyncResult, SyncStatus, leased_run
from integrations.douyin import after_sales as douyin_after_sales
from integrations.jd import after_sales as jd_after_sales
from integrations.models import AfterSaleCursor, InboundMessage, InboundStatus
from integrations.pdd import after_sales as pdd_after_sales
from integrations.services import inbound_message_process
from integrations.sync import POLL_HEADERS
from integrations.xiaohongshu import after_sales as xiaohongshu_after_sales

AFTER_SALE_TOPIC = "after_sale"
# Kept apart from the order cursor (the two are read by different calls, each at its own pace),
# leased, overlapped and backed off the same way (integrations.cursor_lease).
AFTER_SALE_CURSOR = PolledCursor(
    AfterSaleCursor,
    seen_field="records_seen",
    run_name="after-sales sync",
    stopped_unexpectedly=gettext_lazy("The after-sales sync stopped unexpectedly: %(error)r"),
)

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

    def read(run: LeasedRun) -> None:
        run.client = client_class(channel)
        for record in run.client.iter_after_sales(updated_since=run.since, updated_until=run.until):
            run.seen += 1
            message, created = after_sale_message_store(channel, record)
            run.stored += int(created)
            if message.status == InboundStatus.RECEIVED:
                inbound_message_process(message.pk)

    return leased_run(AFTER_SALE_CURSOR, channel, clock, read)


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
