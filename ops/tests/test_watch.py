"""The health watch raises an alert to the managers while a threshold is breached and resolves it
once the measure is back to normal."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Channel
from core.models import Alert, AlertState
from core.roles import Role
from integrations.models import InboundMessage, InboundStatus, OrderUpload, OrderUploadState, SyncCursor
from ops.backlogs import UNSTARTED_AFTER_HANDOFFS
from ops.heartbeats import BEAT, heartbeat_record
from ops.task_outcomes import RETRIED, SUCCEEDED, task_outcome_record
from ops.watch import health_watch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet_system(monkeypatch):
    """A healthy system unless a test says otherwise: beat alive, an in-memory broker."""
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    heartbeat_record(BEAT)


def _outcomes(now, *, succeeded: int, retried: int):
    for _ in range(succeeded):
        task_outcome_record("fulfilment.route_order", SUCCEEDED, at=now)
    for _ in range(retried):
        task_outcome_record("fulfilment.route_order", RETRIED, at=now)


def _open(key: str):
    return Alert.objects.filter(key=key).exclude(state=AlertState.RESOLVED).first()


def test_retry_rate_above_three_percent_raises_an_alert_and_below_resolves_it():
    now = timezone.now()
    _outcomes(now, succeeded=96, retried=4)  # 4 % of 100

    result = health_watch(now=now)

    alert = _open("ops:retry_rate")
    assert "ops:retry_rate" in result.raised
    assert alert is not None and alert.role == Role.MANAGER and alert.kind == "ops"
    assert "4.0 %" in alert.message
    assert alert.payload == {"minutes": 5, "succeeded": 96, "retried": 4, "failed": 0}

    _outcomes(now, succeeded=50, retried=0)  # 4 of 150: 2.7 %
    result = health_watch(now=now)

    assert "ops:retry_rate" in result.resolved
    assert _open("ops:retry_rate") is None


def test_retry_rate_at_the_limit_or_on_too_few_tasks_raises_nothing(settings):
    now = timezone.now()
    _outcomes(now, succeeded=97, retried=3)  # exactly 3 %: not above
    health_watch(now=now)
    assert _open("ops:retry_rate") is None

    later = now + timedelta(minutes=10)  # a new window: 2 retries of 5 outcomes, under the minimum sample
    _outcomes(later, succeeded=3, retried=2)
    health_watch(now=later)
    assert settings.OPS_RATE_MIN_TASKS > 5
    assert _open("ops:retry_rate") is None


def test_retries_older_than_the_window_do_not_count():
    now = timezone.now()
    _outcomes(now - timedelta(minutes=6), succeeded=50, retried=50)
    _outcomes(now, succeeded=40, retried=0)

    health_watch(now=now)

    assert _open("ops:retry_rate") is None


def test_a_raised_alert_is_bumped_not_duplicated_while_it_lasts():
    now = timezone.now()
    _outcomes(now, succeeded=10, retried=10)

    health_watch(now=now)
    health_watch(now=now)

    assert Alert.objects.filter(key="ops:retry_rate").count() == 1
    assert _open("ops:retry_rate").occurrences == 2


def test_stale_beat_raises_a_critical_alert_resolved_by_the_next_heartbeat(settings):
    now = timezone.now()
    heartbeat_record(BEAT, at=now - timedelta(seconds=settings.OPS_BEAT_STALE_SECONDS + 1))

    health_watch(now=now)
    assert _open("ops:beat").severity == "critical"

    heartbeat_record(BEAT, at=now)
    health_watch(now=now)
    assert _open("ops:beat") is None


def test_a_channel_far_behind_its_platform_raises_an_alert(settings):
    now = timezone.now()
    channel = Channel.objects.create(
        code="shop", platform="shopify", name="Shop", api_credentials={"shop": "x.myshopify.com"}
    )
    cursor = SyncCursor.objects.create(
        channel=channel,
        cursor=now - timedelta(minutes=settings.OPS_SYNC_LAG_ALERT_MINUTES + 5),
        last_error="The platform refused the request: HTTP 401",
    )

    health_watch(now=now)
    alert = _open("ops:sync_lag:shop")
    assert alert is not None and "35 minutes" in alert.message and "HTTP 401" in alert.message
    assert alert.role == Role.MANAGER
    assert alert.payload == {"channel": "shop", "lag_seconds": (settings.OPS_SYNC_LAG_ALERT_MINUTES + 5) * 60}

    SyncCursor.objects.filter(pk=cursor.pk).update(cursor=now - timedelta(minutes=1))
    health_watch(now=now)
    assert _open("ops:sync_lag:shop") is None


def test_a_channel_no_longer_polled_is_not_behind_and_its_lag_alert_resolves(settings):
    now = timezone.now()
    channel = Channel.objects.create(
        code="shop", platform="shopify", name="Shop", api_credentials={"shop": "x.myshopify.com"}
    )
    SyncCursor.objects.create(channel=channel, cursor=now - timedelta(hours=5))
    webhook_only = Channel.objects.create(code="hooks", platform="shopify", name="Hooks")
    SyncCursor.objects.create(channel=webhook_only, cursor=now - timedelta(hours=5))  # polled once, long ago

    health_watch(now=now)
    assert _open("ops:sync_lag:shop") is not None
    assert _open("ops:sync_lag:hooks") is None

    channel.api_credentials = {}  # the shop is fed by webhooks only from now on
    channel.save()
    health_watch(now=now)
    assert _open("ops:sync_lag:shop") is None


def test_a_deep_queue_raises_an_alert_per_queue(settings):
    from celery import current_app

    settings.OPS_QUEUE_DEPTH_ALERT = 1
    with current_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("intake")
        queue.put({"a": 1})
        queue.put({"a": 2})
        queue.close()
    try:
        health_watch()
        assert "2 messages" in _open("ops:queue:intake").message
        assert _open("ops:queue:default") is None
    finally:
        with current_app.connection_for_write() as connection:
            connection.default_channel.queue_purge("intake")
    health_watch()
    assert _open("ops:queue:intake") is None


def test_stored_work_handed_over_without_ever_starting_raises_a_critical_alert(settings):
    # the sweeper never gives such a message up (core.handoff): the watch is what tells someone
    received = {"platform": "shopify", "status": InboundStatus.RECEIVED}
    waiting = InboundMessage.objects.create(**received, handoffs=UNSTARTED_AFTER_HANDOFFS)
    InboundMessage.objects.create(**received, handoffs=UNSTARTED_AFTER_HANDOFFS - 1)  # not yet
    InboundMessage.objects.create(**received, handoffs=9, attempts=1)  # started: its failures count

    health_watch()

    alert = _open("ops:unstarted:inbound")
    assert alert is not None and alert.severity == "critical"
    assert alert.message == (
        "Platform messages: 1 handed to a worker 3 times or more and never started: "
        "is a worker taking their queue?"
    )
    assert _open("ops:unstarted:order_uploads") is None

    InboundMessage.objects.filter(pk=waiting.pk).update(attempts=1)  # a worker took it
    health_watch()
    assert _open("ops:unstarted:inbound") is None


def test_files_waiting_to_be_read_are_watched_backlogs(settings, agent):
    settings.OPS_QUEUE_DEPTH_ALERT = 1
    for name in ("a.csv", "b.csv"):
        OrderUpload.objects.create(created_by=agent, file_name=name)
    OrderUpload.objects.create(created_by=agent, file_name="c.csv", state=OrderUploadState.READY)

    health_watch()

    alert = _open("ops:backlog:order_uploads_queued")
    assert alert is not None and alert.message == "Order files waiting to be read: 2 waiting (alert above 1)."
    assert _open("ops:backlog:cycle_count_uploads_queued") is None
