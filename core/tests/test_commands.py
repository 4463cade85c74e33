from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from catalog.models import Channel
from config.beat import PERIODIC_TASKS

pytestmark = pytest.mark.django_db


def test_add_channel_creates_then_updates_and_never_prints_the_secret():
    out = StringIO()
    call_command(
        "add_channel",
        "--platform",
        "shopify",
        "--code",
        "shop-us",
        "--name",
        "US store",
        "--time-zone",
        "America/New_York",
        "--currency",
        "USD",
        "--webhook-secret",
        "s3cr3t-value",
        stdout=out,
    )
    call_command("add_channel", "--platform", "shopify", "--code", "shop-us", "--name", "US", stdout=out)

    channel = Channel.objects.get(code="shop-us")
    assert (channel.name, str(channel.time_zone), channel.currency) == ("US", "America/New_York", "USD")
    assert channel.webhook_secret == "s3cr3t-value"  # an update without the flag keeps it
    assert "s3cr3t-value" not in out.getvalue()
    assert "created" in out.getvalue() and "updated" in out.getvalue()


@pytest.mark.parametrize(
    "args",
    [["--time-zone", "Mars/Olympus"], ["--currency", "yuan"]],
)
def test_add_channel_rejects_bad_values(args):
    with pytest.raises(CommandError):
        call_command("add_channel", "--platform", "taobao", "--code", "tb-1", *args)
    assert not Channel.objects.exists()


def test_setup_periodic_tasks_is_idempotent_and_keeps_operator_tasks():
    # a beat started by an earlier real-process test may have added celery's own cleanup task
    foreign = set(PeriodicTask.objects.values_list("name", flat=True)) - {s.name for s in PERIODIC_TASKS}
    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name="operator's own", task="orders.tasks.x", interval=every_hour)
    call_command("setup_periodic_tasks", stdout=StringIO())
    call_command("setup_periodic_tasks", stdout=StringIO())
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {schedule.name for schedule in PERIODIC_TASKS} <= names
    assert "operator's own" in names
    assert names - foreign == {schedule.name for schedule in PERIODIC_TASKS} | {"operator's own"}
    assert PeriodicTask.objects.count() == len(PERIODIC_TASKS) + 1 + len(foreign)


def test_seed_demo_builds_every_state_and_demo_users(client):
    from orders.models import Order, OrderStatus

    call_command("seed_demo", "--orders", "120", stdout=StringIO())
    from dashboard.models import OrderDayRollup
    from fulfilment.models import SlaRule
    from returns.models import ReturnRequest

    states = set(Order.objects.values_list("status", flat=True))
    assert states == set(OrderStatus.values)
    # Through the sign-in page: the login throttle needs the request (client.login has none).
    signed_in = client.post("/login/", {"username": "agent", "password": "conduit-demo"})
    assert signed_in.status_code == 302
    assert ReturnRequest.objects.exists() and SlaRule.objects.exists()
    # returns at several stages, so each role has some to work (more stages with more orders)
    assert len(set(ReturnRequest.objects.values_list("status", flat=True))) >= 3
    assert OrderDayRollup.objects.exists()  # the dashboard has numbers at once
    # A shop on each platform; the Chinese platforms' receivers masked as they send them.
    assert set(Order.objects.values_list("channel__platform", flat=True)) == {
        "taobao",
        "shopify",
        "woocommerce",
        "jd",
        "pdd",
        "douyin",
        "xiaohongshu",
        "generic",  # the B2B account's scheduled deliveries (b2b.demo)
    }
    masked = Order.objects.filter(channel__code="xhs-shop").first()
    assert masked.receiver_protected["phone"]["masked"] == masked.customer_phone
    assert "****" in masked.customer_phone and masked.customer_id is None
    client.post("/login/", {"username": "manager", "password": "conduit-demo"})
    listed = client.get("/orders/", {"channel": "xhs-shop"})
    assert masked.external_id.encode() in listed.content

    out = StringIO()
    call_command("seed_demo", stdout=out)  # a second run adds nothing
    assert Order.objects.count() == 120 + 3  # and the three deliveries of the B2B contract
    assert "already exist" in out.getvalue()


def test_add_channel_stores_api_credentials_without_printing_them(tmp_path):
    credentials = tmp_path / "shop.json"
    credentials.write_text('{"shop": "demo.myshopify.com", "access_token": "shpat_secret"}')
    out = StringIO()
    call_command(
        "add_channel",
        "--platform",
        "shopify",
        "--code",
        "shop-api",
        "--api-credentials-file",
        str(credentials),
        stdout=out,
    )
    assert Channel.objects.get(code="shop-api").api_credentials["access_token"] == "shpat_secret"
    assert "shpat_secret" not in out.getvalue() and "API credentials set" in out.getvalue()

    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(CommandError):
        call_command(
            "add_channel", "--platform", "shopify", "--code", "shop-api", "--api-credentials-file", str(bad)
        )
