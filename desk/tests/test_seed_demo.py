"""seed_demo is safe beside a worker and leaves it nothing to do: it publishes no task per order
(it routes inline, refreshes statistics once, and its shops notify nobody), and run while a real
worker routes live orders on PostgreSQL it finishes without a deadlock on either side."""

import json
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F, Q, Sum

from catalog.models import Channel
from core.models import OutboxMessage
from desk.demo_data import CHANNELS
from fulfilment.models import Notification, Shipment, ShipmentStatus
from ops.models import TaskOutcomeMinute
from ops.tests.publishing import tasks_published
from orders.models import Customer, Order, OrderStatus

PER_ORDER_TASKS = {"fulfilment.route_order", "fulfilment.route_orders", "orders.tasks.refresh_customer_stats"}
DELIVER = "core.tasks.deliver_outbox_message"
FINANCE_DEMO_TASKS = {
    "finance.tasks.validate_import",
    "finance.tasks.commit_import",
    "finance.tasks.run_reconciliation",
}
ROUTED = [OrderStatus.ALLOCATED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED]
B2B_CHANNEL = "b2b-wholesale"  # b2b.demo: a contract's scheduled deliveries, held until due
SEED_ORDERS = 500  # two of the intake's batches, so a worker is busy while the next one loads


@pytest.mark.django_db(transaction=True)
def test_seed_demo_publishes_no_task_per_order_yet_does_the_follow_up_work(settings):
    started = time.monotonic()
    with tasks_published() as published:
        call_command("seed_demo", orders=120, stdout=StringIO())
    took = time.monotonic() - started

    # no task per order: the debounced stock push (at most once per window, however many orders)
    # and the deliveries of the few demo refunds (one per refunded RMA, of 25 RMAs at most)
    assert not PER_ORDER_TASKS & set(published)
    # and the demo statement's import and reconciliation (finance.demo does them itself; a worker
    # handed them finds them done)
    assert set(published) <= {"inventory.tasks.push_stock", DELIVER, *FINANCE_DEMO_TASKS}
    assert all(published.get(name, 0) <= 1 for name in FINANCE_DEMO_TASKS)
    assert published["inventory.tasks.push_stock"] <= 1 + took / settings.STOCK_PUSH_DEBOUNCE_SECONDS
    assert (
        published[DELIVER] == OutboxMessage.objects.filter(kind__startswith="finance.refund.").count() <= 25
    )
    # what those tasks would have done was done inline: routed orders have their parcels, the
    # customers' statistics are current, and the demo shops told no invented customer anything
    assert Order.objects.exclude(channel__code=B2B_CHANNEL).count() == 120
    routed = Order.objects.filter(status__in=ROUTED)
    assert routed.exists() and not routed.filter(shipments__isnull=True).exists()
    assert Shipment.objects.filter(status=ShipmentStatus.DELIVERED).exists()
    live_orders = Count("orders", filter=~Q(orders__status=OrderStatus.CANCELLED))
    assert not Customer.objects.annotate(live=live_orders).exclude(order_count=F("live")).exists()
    assert not Notification.objects.exists()
    assert not OutboxMessage.objects.filter(kind="notification.send").exists()
    shops = Channel.objects.exclude(code=B2B_CHANNEL).values_list("code", "notify_customers")
    assert set(shops) == {(c[0], False) for c in CHANNELS}


def _start(folder: Path, log: Path, *args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "desk.tests.broker_process", str(folder), *args],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seed_demo_beside_a_worker_routing_live_orders_finishes_without_deadlock(tmp_path):
    # given the demo's shops, warehouses and stock, a real worker on a filesystem broker, and live
    # paid orders arriving all along, each routed by the worker (as a webhook's order is)
    call_command("seed_demo", orders=0, stdout=StringIO())
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SECRET_KEY": "tests-only-worker-key-not-the-public-demo-key",  # a worker refuses the demo key
    }
    broker, stop = tmp_path / "broker", tmp_path / "stop-traffic"
    broker.mkdir()
    worker = _start(broker, tmp_path / "worker.log", "worker", env=env)
    traffic = _start(broker, tmp_path / "traffic.log", "traffic", str(stop), env=env)
    live = Order.objects.filter(external_id__startswith="LIVE-")
    try:
        assert _wait_for(lambda: live.filter(status=OrderStatus.ALLOCATED).exists(), 60), "the worker routes"

        # when seed_demo loads its orders meanwhile
        seed = subprocess.run(
            [sys.executable, "-m", "desk.tests.broker_process", str(broker), "command", "seed_demo"]
            + ["--orders", str(SEED_ORDERS), "--force"],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=600,
        )
        traffic_was_running = traffic.poll() is None
    finally:
        stop.touch()
        traffic.wait(timeout=60)
        # the worker drains what is left: the broker's folder empties as soon as the worker has
        # taken the messages, not when it has run them, so wait for the live orders themselves
        # too (on a slow CI machine the last ones were still paid when the worker was stopped)
        _wait_for(
            lambda: not list(broker.glob("*.msg")) and not live.filter(status=OrderStatus.PAID).exists(), 180
        )
        time.sleep(1)
        worker.terminate()
        worker.wait(timeout=30)
    logs = (
        seed.stdout
        + seed.stderr
        + (tmp_path / "worker.log").read_text()
        + (tmp_path / "traffic.log").read_text()
    )

    # then it finished, nobody hit a deadlock, and the worker routed every live order
    assert seed.returncode == 0, seed.stderr[-3000:]
    assert traffic_was_running and traffic.returncode == 0, logs[-3000:]
    assert "deadlock" not in logs.lower(), logs[-3000:]
    seeded = Order.objects.exclude(external_id__startswith="LIVE-").exclude(channel__code=B2B_CHANNEL)
    assert seeded.count() == SEED_ORDERS
    assert live.count() >= 5 and not live.filter(status=OrderStatus.PAID).exists()
    outcomes = TaskOutcomeMinute.objects.aggregate(succeeded=Sum("succeeded"), failed=Sum("failed"))
    assert outcomes["failed"] is None or outcomes["failed"] == 0
    assert outcomes["succeeded"] >= live.count()  # counted in the worker by ops' signal handlers
    # and seed_demo itself left no per-order task behind it
    published = json.loads(seed.stdout.split("PUBLISHED", 1)[1])
    assert not PER_ORDER_TASKS & set(published), published
    assert (
        published.get(DELIVER, 0) <= 25
        and not OutboxMessage.objects.filter(kind="notification.send").exists()
    )
