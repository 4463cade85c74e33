"""Re-pull a window (issue #15 part 4) against the fake platforms of test_sync.py (Shopify's Admin
REST `orders.json`, WooCommerce's `wc/v3/orders`) and test_taobao.py (TOP's
`taobao.trades.sold.increment.get`, signatures checked as TOP does).

The time-zone incident of the source documents (an Amazon seller lost 1,200 orders when a time-zone
bug moved the polling cursor past them) is played out on Shopify: orders exist on the platform,
the cursor is already past them, polling reads nothing; a re-pull of the window brings each order
in exactly once, and a second re-pull changes nothing."""

# ruff: noqa: F811 - the fake platforms' fixtures are imported from test_sync.py and test_taobao.py

import copy
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from catalog.models import Channel
from core.errors import DomainError, NotPermitted
from integrations.cursor_lease import LEASE
from integrations.models import ChannelRepull, InboundMessage, InboundStatus, RepullState, SyncCursor
from integrations.repull import (
    ChannelBusy,
    channel_repull,
    channel_repull_request,
    channel_repull_run,
    channel_repulls_sweep,
    repull_window,
)
from integrations.sync import SyncStatus, channel_sync
from integrations.tests import fake_server, fake_top
from integrations.tests.test_sync import (  # noqa: F401 - fixtures: the fake Shopify / Woo server
    NOW,
    SHOPIFY_PATH,
    orders,
    platform,
    platform_updates,
    shop,
    shopify_order,
    utc,
    woo,
    woo_order,
)
from orders.models import Order, OrderEventKind
from orders.tests.factories import ChannelFactory, SKUFactory, ensure_master_data, receive

pytestmark = pytest.mark.django_db

# America/New_York on 2026-03-10 is UTC-4 (daylight saving time began on 2026-03-08).
MISSED = [
    shopify_order(1001, "2026-03-10T03:00:00-04:00"),  # 07:00Z
    shopify_order(1002, "2026-03-10T05:27:00-04:00"),  # 09:27Z
    shopify_order(1003, "2026-03-10T09:30:00+00:00"),  # 09:30Z
]


@pytest.fixture
def incident(shop, platform):
    """Three orders on Shopify, and a cursor a time-zone bug moved past them: polling misses them."""
    platform.shopify_orders = [dict(order) for order in MISSED]
    SyncCursor.objects.create(channel=shop, cursor=NOW - timedelta(minutes=1))
    polled = channel_sync(channel_id=shop.pk, now=NOW)
    assert (polled.status, polled.orders_seen) == (SyncStatus.OK, 0)
    assert not Order.objects.filter(channel=shop).exists()
    return shop


def counts(run: ChannelRepull) -> tuple:
    return (run.fetched, run.created, run.updated, run.unchanged, run.ignored, run.failed)


# --- the incident ------------------------------------------------------------------------------


def test_a_repull_recovers_the_missed_orders_exactly_once_and_a_second_changes_nothing(incident, platform):
    cursor_before = SyncCursor.objects.get(channel=incident).cursor

    # when: the window is given in the shop's wall-clock time (no offset)
    run = channel_repull(
        channel=incident, since="2026-03-10T00:00", until="2026-03-10T08:00", actor=None, now=NOW
    )

    # then: read in America/New_York (UTC-4 after the DST change), all three orders are in
    assert run.state == RepullState.DONE, run.message
    assert (run.since, run.until) == (utc("2026-03-10T04:00:00Z"), utc("2026-03-10T12:00:00Z"))
    query = platform.queries(SHOPIFY_PATH)[-2]  # the window's first page (two pages of two)
    assert (query["updated_at_min"], query["updated_at_max"]) == (
        "2026-03-10T04:00:00+00:00",
        "2026-03-10T12:00:00+00:00",
    )
    assert counts(run) == (3, 3, 0, 0, 0, 0)
    assert set(orders(incident)) == {"1001", "1002", "1003"}
    assert orders(incident)["1002"].placed_at == utc("2026-03-10T09:27:00Z")
    cursor = SyncCursor.objects.get(channel=incident)
    assert cursor.cursor == cursor_before  # never moved (let alone backwards)
    assert cursor.lease_token is None and cursor.lease_until is None  # the channel is free again
    assert run.pages_fetched == 2 and run.requested_via == "command" and run.requested_by is None

    # when: the same window again
    again = channel_repull(
        channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
    )

    # then: every order is a version taken before: nothing changes
    assert counts(again) == (3, 0, 0, 3, 0, 0)
    assert Order.objects.filter(channel=incident).count() == 3
    assert InboundMessage.objects.filter(channel=incident).count() == 3
    assert platform_updates(incident) == 0
    assert SyncCursor.objects.get(channel=incident).cursor == cursor_before


def test_a_newer_version_in_the_window_updates_its_order_and_only_it(incident, platform):
    channel_repull(channel=incident, since="2026-03-10T00:00", until="2026-03-10T08:00", actor=None, now=NOW)
    platform.shopify_orders[1] = shopify_order(
        1002, "2026-03-10T07:10:00-04:00", created_at="2026-03-10T05:27:00-04:00", note="leave at the door"
    )

    run = channel_repull(
        channel=incident, since="2026-03-10T00:00", until="2026-03-10T08:00", actor=None, now=NOW
    )

    assert counts(run) == (3, 0, 1, 2, 0, 0)
    assert orders(incident)["1002"].platform_updated_at == utc("2026-03-10T11:10:00Z")
    assert Order.objects.filter(channel=incident, events__kind=OrderEventKind.PLATFORM_UPDATE).count() == 1


def test_an_order_the_webhook_already_brought_is_unchanged(incident, platform, post_shopify):
    from integrations.services import inbound_message_process

    response = post_shopify(json.dumps(MISSED[0]).encode(), topic="orders/create", webhook_id="wh-1001")
    assert response.status_code == 202
    inbound_message_process(InboundMessage.objects.get(dedupe_id="wh-1001").pk)

    run = channel_repull(
        channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
    )

    assert counts(run) == (3, 2, 0, 1, 0, 0)
    assert Order.objects.filter(channel=incident, external_id="1001").count() == 1


def test_an_order_that_cannot_be_taken_is_counted_failed_and_listed(incident, platform):
    platform.shopify_orders[2] = {**MISSED[2], "line_items": "not a list"}

    run = channel_repull(
        channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
    )

    assert counts(run) == (3, 2, 0, 0, 0, 1)
    (error,) = run.errors
    failed = InboundMessage.objects.get(pk=error["message"])
    assert failed.status == InboundStatus.FAILED and error["error"] == failed.error[:500]
    assert error["dedupe_id"].startswith("poll:1003:")


def test_an_order_that_breaks_the_pipeline_stops_only_itself(incident, platform, monkeypatch):
    from integrations import repull

    real = repull.inbound_message_process

    def process(message_id):
        if InboundMessage.objects.get(pk=message_id).dedupe_id.startswith("poll:1002:"):
            raise RuntimeError("a bug in a mapping")
        return real(message_id)

    monkeypatch.setattr(repull, "inbound_message_process", process)

    run = channel_repull(
        channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
    )

    assert run.state == RepullState.DONE and counts(run) == (3, 2, 0, 0, 0, 1)
    (error,) = run.errors
    assert error["error"] == "RuntimeError: a bug in a mapping"
    left = InboundMessage.objects.get(pk=error["message"])
    assert left.status == InboundStatus.RECEIVED and "a bug in a mapping" in left.error  # for the sweeper


# --- WooCommerce and Taobao ------------------------------------------------------------------------


def test_woocommerce_window_is_sent_in_gmt_and_recovers_its_orders(woo, platform):
    platform.woo_orders = [woo_order(501, "2026-03-10T01:00:00"), woo_order(502, "2026-03-10T07:30:00")]
    SyncCursor.objects.create(channel=woo, cursor=NOW)

    run = channel_repull(channel=woo, since="2026-03-10T08:00", until="2026-03-10T16:00", actor=None, now=NOW)

    # woo-cn runs in Asia/Shanghai: 08:00–16:00 there is 00:00–08:00 UTC
    assert counts(run) == (2, 2, 0, 0, 0, 0)
    query = platform.queries("/wp-json/wc/v3/orders")[0]
    # in UTC (dates_are_gmt); modified_after is exclusive, so the client asks from a second earlier
    assert (query["modified_after"], query["modified_before"]) == (
        "2026-03-09T23:59:59",
        "2026-03-10T08:00:00",
    )
    assert set(orders(woo)) == {"501", "502"}


INCREMENT = "taobao.trades.sold.increment.get"


def _trade(tid: str, modified: str) -> dict:
    """TOP's published fullinfo sample trade (86.03 yuan, SOURCES.md §10) as another trade."""
    trade = copy.deepcopy(fake_top.sample("taobao_trade_fullinfo_86_03")["result"]["trade"])
    trade.update(tid=tid, tid_str=tid, modified=modified)
    for index, line in enumerate(trade["orders"]["order"]):
        line["oid"] = line["oid_str"] = f"{tid}{index}"
    return trade


@pytest.fixture
def top():
    with fake_server.running(fake_top.serve) as gateway:
        yield gateway


@pytest.fixture
def tmall(db, top):
    ensure_master_data(stock=0)
    for code in ("A008", "651"):
        receive(SKUFactory(code=code), 20)
    return ChannelFactory(code="tmall-1", platform="taobao", api_credentials=fake_top.credentials(top))


def test_taobao_repull_walks_the_window_one_day_at_a_time(tmall, top):
    # given: trades modified on three days (Beijing time), none of them taken yet
    top.add_trade(_trade("1011032513941200001", "2026-02-14 09:00:00"))
    top.add_trade(_trade("1011032513941200002", "2026-02-15 23:59:59"))
    top.add_trade(_trade("1011032513941200003", "2026-02-16 12:30:00"))
    top.add_trade(_trade("1011032513941200004", "2026-02-17 00:00:01"))  # after the window
    later = datetime(2026, 3, 1, tzinfo=UTC)

    # when: three days, in the shop's (Beijing) wall-clock time
    run = channel_repull(
        channel=tmall, since="2026-02-14T00:00", until="2026-02-17T00:00", actor=None, now=later
    )

    # then: TOP's one-day limit is kept, each call in Beijing time, and the three trades are in
    assert [(c["start_modified"], c["end_modified"]) for c in top.calls(INCREMENT)] == [
        ("2026-02-14 00:00:00", "2026-02-15 00:00:00"),
        ("2026-02-15 00:00:00", "2026-02-16 00:00:00"),
        ("2026-02-16 00:00:00", "2026-02-17 00:00:00"),
    ]
    assert run.state == RepullState.DONE, run.message
    assert counts(run) == (3, 3, 0, 0, 0, 0)
    assert set(Order.objects.filter(channel=tmall).values_list("external_id", flat=True)) == {
        "1011032513941200001",
        "1011032513941200002",
        "1011032513941200003",
    }
    assert SyncCursor.objects.get(channel=tmall).cursor is None  # a re-pull never sets the cursor

    again = channel_repull(
        channel=tmall, since="2026-02-14T00:00", until="2026-02-17T00:00", actor=None, now=later
    )
    assert counts(again) == (3, 0, 0, 3, 0, 0)


# --- the lease: never beside the channel's sync ------------------------------------------------------


def test_a_channel_whose_sync_runs_is_not_re_pulled(incident, platform):
    token = uuid.uuid4()
    SyncCursor.objects.filter(channel=incident).update(
        lease_token=token, lease_until=NOW + timedelta(minutes=3)
    )
    requests = len(platform.requests)

    with pytest.raises(ChannelBusy) as refused:
        channel_repull(
            channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
        )

    assert "its sync is running" in refused.value.message and refused.value.field == "channel"
    assert len(platform.requests) == requests and not ChannelRepull.objects.exists()
    assert SyncCursor.objects.get(channel=incident).lease_token == token  # the sync's lease is untouched


def test_a_channel_backing_off_a_rate_limit_is_not_re_pulled(incident, platform):
    SyncCursor.objects.filter(channel=incident).update(next_run_at=NOW + timedelta(seconds=30))

    with pytest.raises(ChannelBusy) as refused:
        channel_repull(
            channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
        )

    assert "rate limit" in refused.value.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_regular_sync_waits_while_a_repull_runs_and_runs_after_it(incident, platform):
    platform.delay = 0.4  # each page takes a while: the re-pull is in flight when the sync looks
    outcome, errors = [], []

    def repull():
        try:
            outcome.append(
                channel_repull(
                    channel=incident,
                    since="2026-03-10T04:00Z",
                    until="2026-03-10T12:00Z",
                    actor=None,
                    now=NOW,
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    before = len(platform.queries(SHOPIFY_PATH))  # the fixture's own polling
    thread = threading.Thread(target=repull)
    thread.start()
    deadline = time.monotonic() + 10
    while len(platform.queries(SHOPIFY_PATH)) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    held = SyncCursor.objects.get(channel=incident)
    running = ChannelRepull.objects.get(channel=incident)
    sync = channel_sync(channel_id=incident.pk, now=NOW + timedelta(seconds=30))
    with pytest.raises(ChannelBusy) as second:
        channel_repull(
            channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
        )
    thread.join()

    assert errors == []
    assert running.state == RepullState.RUNNING and held.lease_token == running.lease_token
    assert sync.status == SyncStatus.BUSY
    assert f"re-pull #{running.pk} holds it" in second.value.message
    assert outcome[0].state == RepullState.DONE and outcome[0].created == 3
    # the lease is free again and the sync runs; its cursor only moves forwards
    after = channel_sync(channel_id=incident.pk, now=NOW + timedelta(minutes=1))
    assert after.status == SyncStatus.OK and after.cursor >= NOW - timedelta(minutes=1)
    assert Order.objects.filter(channel=incident).count() == 3


def test_a_queued_repull_waits_for_the_sync_and_the_sweeper_runs_it_once_the_channel_is_free(
    incident, platform, manager, django_capture_on_commit_callbacks
):
    SyncCursor.objects.filter(channel=incident).update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() + timedelta(minutes=2)
    )

    with django_capture_on_commit_callbacks(execute=True):
        run = channel_repull_request(
            channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=manager
        )

    run.refresh_from_db()
    assert run.state == RepullState.QUEUED and run.attempts == 0  # waiting is not a start
    assert "its sync is running" in run.message and run.next_handoff_at is not None
    assert channel_repulls_sweep().handed_over == []  # not before the lease ends

    SyncCursor.objects.filter(channel=incident).update(lease_token=None, lease_until=None)
    with django_capture_on_commit_callbacks(execute=True):
        swept = channel_repulls_sweep(now=run.next_handoff_at + timedelta(seconds=1))

    run.refresh_from_db()
    assert swept.handed_over == [run.pk]
    assert run.state == RepullState.DONE and counts(run) == (3, 3, 0, 0, 0, 0)
    assert run.requested_by == manager and run.attempts == 1


def test_a_repull_whose_worker_died_is_handed_over_and_finally_given_up(incident, settings):
    now = timezone.now()
    run = ChannelRepull.objects.create(
        channel=incident,
        since=utc("2026-03-10T04:00Z"),
        until=utc("2026-03-10T12:00Z"),
        state=RepullState.RUNNING,
        lease_token=uuid.uuid4(),
        heartbeat_at=now - LEASE - timedelta(seconds=1),
        attempts=settings.HANDOFF_MAX_ATTEMPTS,
    )

    swept = channel_repulls_sweep(now=now)

    run.refresh_from_db()
    assert swept.given_up == [run.pk]
    assert run.state == RepullState.FAILED and "never finished" in run.message


def test_a_rate_limit_fails_the_repull_and_holds_back_the_sync_too(incident, platform):
    platform.throttle("20")

    run = channel_repull(
        channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
    )

    assert run.state == RepullState.FAILED and "in 20 s" in run.message
    cursor = SyncCursor.objects.get(channel=incident)
    assert cursor.next_run_at == NOW + timedelta(seconds=20) and cursor.lease_token is None
    assert channel_sync(channel_id=incident.pk, now=NOW).status == SyncStatus.WAITING


def test_a_platform_refusal_fails_the_repull_and_frees_the_channel(incident, platform):
    incident.api_credentials = {**incident.api_credentials, "access_token": "revoked"}
    incident.save()

    run = channel_repull(
        channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
    )

    assert run.state == RepullState.FAILED and "401" in run.message
    assert SyncCursor.objects.get(channel=incident).lease_token is None


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "field", "says"),
    [
        ("2026-03-10T08:00", "2026-03-10T08:00", "until", "must end after it starts"),
        ("2026-03-10T09:00", "2026-03-10T08:00", "until", "must end after it starts"),
        ("2026-03-10T08:00Z", "2026-03-10T12:00:01Z", "until", "is in the future"),
        ("2026-02-01T00:00", "2026-03-05T00:00", "since", "at most 31 days"),
        ("yesterday", "2026-03-10T08:00", "since", "'yesterday' is not a date and time"),
        ("2026-03-10T00:00", "", "until", "Give a date and time"),
        ("2026-03-10T00:00+16:00", "2026-03-10T08:00", "since", "offset between -15:59 and +15:59"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(shop, since, until, field, says):
    with pytest.raises(DomainError) as refused:
        repull_window(shop, since, until, now=NOW)

    assert refused.value.field == field and says in refused.value.message


def test_a_naive_window_is_read_in_the_channels_zone_and_says_so(shop):
    naive = repull_window(shop, "2026-03-08T00:00", datetime(2026, 3, 8, 12, 0), now=NOW)
    aware = repull_window(shop, "2026-03-08T00:00-05:00", "2026-03-08T16:00Z", now=NOW)

    # 2026-03-08 is the day US daylight saving time began (02:00 EST → 03:00 EDT)
    assert (naive.since, naive.until) == (utc("2026-03-08T05:00Z"), utc("2026-03-08T16:00Z"))
    assert "America/New_York" in naive.notice()
    assert (aware.since, aware.until, aware.notice()) == (naive.since, naive.until, "")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"is_active": False}, "is inactive"),
        ({"api_credentials": {}}, "has no API credentials"),
        ({"platform": "generic"}, "cannot be fetched from the platform"),
    ],
)
def test_channels_that_cannot_be_polled_are_refused(shop, change, says):
    for name, value in change.items():
        setattr(shop, name, value)
    shop.save()

    with pytest.raises(DomainError) as refused:
        channel_repull(
            channel=shop, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=None, now=NOW
        )

    assert refused.value.field == "channel" and says in refused.value.message
    assert not ChannelRepull.objects.exists()


def test_only_one_repull_per_channel_is_queued_or_running(
    incident, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = channel_repull_request(
            channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=manager
        )
        with pytest.raises(DomainError) as refused:
            channel_repull_request(
                channel=incident, since="2026-03-10T05:00Z", until="2026-03-10T12:00Z", actor=manager
            )

    assert f"already queued (#{first.pk})" in refused.value.message


def test_a_user_without_the_permission_cannot_repull(incident, agent):
    with pytest.raises(NotPermitted):
        channel_repull(
            channel=incident, since="2026-03-10T04:00Z", until="2026-03-10T12:00Z", actor=agent, now=NOW
        )


def test_a_queued_repull_of_a_channel_switched_off_meanwhile_fails_saying_why(incident, manager):
    run = ChannelRepull.objects.create(
        channel=incident, since=utc("2026-03-10T04:00Z"), until=utc("2026-03-10T12:00Z"), requested_by=manager
    )
    Channel.objects.filter(pk=incident.pk).update(is_active=False)

    run = channel_repull_run(run_id=run.pk)

    assert run.state == RepullState.FAILED and "is inactive" in run.message


# --- the command ---------------------------------------------------------------------------------


def command(*args) -> str:
    out = io.StringIO()
    call_command("channel_repull", *args, stdout=out)
    return out.getvalue()


def test_the_command_runs_the_window_and_prints_the_counts(incident, platform):
    out = command("--channel", "shop-us", "--since", "2026-03-10T00:00", "--until", "2026-03-10T08:00")

    assert "2026-03-10 04:00:00 UTC (2026-03-10 00:00:00 America/New_York)" in out
    assert "read in the channel's time zone (America/New_York)" in out
    assert "done: fetched 3: 3 new, 0 updated, 0 unchanged, 0 ignored, 0 failed." in out
    assert "Pages fetched: 2." in out

    again = command("--channel", "shop-us", "--since", "2026-03-10T04:00Z", "--until", "2026-03-10T12:00Z")
    assert "fetched 3: 0 new, 0 updated, 3 unchanged, 0 ignored, 0 failed." in again
    assert "read in the channel's time zone" not in again


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--channel", "nope", "--since", "2026-03-10T00:00", "--until", "2026-03-10T08:00"],
            "--channel: no channel",
        ),
        (
            ["--channel", "shop-us", "--since", "2026-03-10", "--until", "2026-03-09"],
            "--until: The window must end",
        ),
        (
            ["--channel", "shop-us", "--since", "10/03/2026", "--until", "2026-03-10"],
            "--since: '10/03/2026' is not",
        ),
        (
            ["--channel", "shop-us", "--since", "2026-01-01", "--until", "2026-03-01"],
            "--since: A re-pull covers at most 31",
        ),
        (["--channel", "shop-us", "--since", "2026-03-01", "--until", "2999-03-01"], "--until: 2999-03-01"),
        (
            ["--channel", "shop-us", "--since", "2026-03-01", "--until", "2026-03-02", "--user", "ghost"],
            "--user: no active user 'ghost'",
        ),
    ],
)
def test_the_command_refuses_bad_input_with_a_message(incident, args, says):
    with pytest.raises(CommandError) as refused:
        command(*args)

    assert str(refused.value).startswith(says)
    assert not ChannelRepull.objects.exists()


def test_the_command_gives_up_on_a_busy_channel_after_waiting(incident):
    SyncCursor.objects.filter(channel=incident).update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() + timedelta(minutes=5)
    )

    with pytest.raises(CommandError) as refused:
        command(
            "--channel",
            "shop-us",
            "--since",
            "2026-03-10T00:00",
            "--until",
            "2026-03-10T08:00",
            "--wait",
            "0",
        )

    assert str(refused.value).startswith("--channel: Channel shop-us is busy: its sync is running")


def test_the_command_reports_a_failed_repull_as_an_error(incident):
    incident.api_credentials = {**incident.api_credentials, "access_token": "revoked"}
    incident.save()

    with pytest.raises(CommandError) as refused:
        command("--channel", "shop-us", "--since", "2026-03-10T00:00", "--until", "2026-03-10T08:00")

    assert "The platform refused the request" in str(refused.value) and "401" in str(refused.value)
    assert ChannelRepull.objects.get().state == RepullState.FAILED


def test_the_command_queues_with_async_for_the_user_named(
    incident, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        out = command(
            "--channel",
            "shop-us",
            "--since",
            "2026-03-10T00:00",
            "--until",
            "2026-03-10T08:00",
            "--async",
            "--user",
            manager.username,
        )

    run = ChannelRepull.objects.get()
    assert f"Re-pull #{run.pk} queued" in out and f"/integrations/desk/repulls/{run.pk}/" in out
    assert (run.state, run.requested_by, run.requested_via) == (RepullState.QUEUED, manager, "command")
    assert len(queued) == 1
    queued[0]()  # the worker takes the task
    run.refresh_from_db()
    assert run.state == RepullState.DONE and run.created == 3


# --- the desk ------------------------------------------------------------------------------------

STATUS = "/integrations/desk/channels/"
FORM = "/integrations/desk/channels/shop-us/repull/"


def test_the_status_screen_shows_cursor_lag_lease_and_last_error_in_the_users_zone(client, manager, incident):
    manager.time_zone = "Asia/Shanghai"
    manager.save()
    SyncCursor.objects.filter(channel=incident).update(
        cursor=utc("2026-03-10T11:59:55Z"),
        last_error="Rate limited by the platform; retrying in 14 s.",
        lease_token=uuid.uuid4(),
        lease_until=timezone.now() + timedelta(minutes=3),
    )
    client.force_login(manager)

    response = client.get(STATUS)

    html = response.content.decode()
    (row,) = [row for row in response.context["rows"] if row["channel"] == incident]
    assert "2026-03-10 19:59:55" in html  # 11:59:55 UTC, shown in Shanghai time
    assert row["sync"].lag > timedelta(days=1) and row["lag"].endswith(" h")
    assert "Rate limited by the platform; retrying in 14 s." in html
    assert row["sync"].leased and row["sync"].lease_repull is None and "its sync" in html
    assert FORM in html  # the manager's "Re-pull a window"


def test_customer_service_sees_the_status_but_may_not_repull(client, agent, incident):
    client.force_login(agent)

    assert FORM not in client.get(STATUS).content.decode()
    assert client.get(FORM).status_code == 403
    assert client.post(FORM, {"since": "2026-03-10T00:00", "until": "2026-03-10T08:00"}).status_code == 403
    assert not ChannelRepull.objects.exists()


def test_a_manager_queues_a_repull_on_the_sync_queue_and_follows_it_to_its_result(
    client, manager, incident, django_capture_on_commit_callbacks
):
    from celery import current_app

    from integrations.tasks import sync_repull

    client.force_login(manager)
    form = client.get(FORM)
    assert form.status_code == 200 and "America/New_York" in form.content.decode()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(FORM, {"since": "2026-03-10T00:00", "until": "2026-03-10T08:00"})

    run = ChannelRepull.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/integrations/desk/repulls/{run.pk}/"
    assert (run.state, run.requested_by, run.requested_via) == (RepullState.QUEUED, manager, "desk")
    assert (run.since, run.until) == (utc("2026-03-10T04:00Z"), utc("2026-03-10T12:00Z"))
    (publish,) = queued
    assert publish.args == (sync_repull, run.pk)
    assert current_app.amqp.router.route({}, sync_repull.name)["queue"].name == "sync"
    waiting = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in waiting and "Queued for a worker" in waiting
    assert "read in the channel&#x27;s time zone (America/New_York)" in waiting  # the queued message

    publish()  # a worker takes it

    done = client.get(response["Location"])
    assert 'http-equiv="refresh"' not in done.content.decode()
    assert dict(done.context["counts"]) == {
        "Fetched": 3,
        "New": 3,
        "Updated": 0,
        "Unchanged": 0,
        "Ignored": 0,
        "Failed": 0,
    }
    (row,) = [row for row in client.get(STATUS).context["rows"] if row["channel"] == incident]
    assert row["sync"].latest_repull == run and row["sync"].active_repull is None
    assert Order.objects.filter(channel=incident).count() == 3


def test_a_bad_window_on_the_desk_is_shown_on_its_field(client, manager, incident):
    client.force_login(manager)

    response = client.post(FORM, {"since": "2026-03-10T09:00", "until": "2026-03-10T08:00"})

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "until": ["The window must end after it starts (since < until)."]
    }
    assert not ChannelRepull.objects.exists()


def test_the_desk_says_why_a_channel_cannot_be_re_pulled(client, manager, incident):
    incident.api_credentials = {}
    incident.save()
    client.force_login(manager)

    page = client.get(FORM).content.decode()
    posted = client.post(FORM, {"since": "2026-03-10T00:00", "until": "2026-03-10T08:00"})

    assert "has no API credentials" in page and 'id="repull-form"' not in page
    assert posted.status_code == 200 and "has no API credentials" in posted.content.decode()
    assert not ChannelRepull.objects.exists()
