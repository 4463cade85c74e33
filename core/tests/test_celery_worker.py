"""A real Celery worker process, on the embedded filesystem broker, runs follow-up work that a
service enqueued on commit: the embedded shape works with no broker server at all."""

import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from orders.models import Customer
from orders.tests.factories import make_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_worker_on_filesystem_broker_runs_enqueued_work(tmp_path, settings):
    from kombu import Connection

    from config.celery import app
    from orders.tasks import refresh_customer_stats

    # given an order whose customer statistics are stale, and a task published to a fresh
    # filesystem broker (not run eagerly, as in production)
    order = make_order()
    Customer.objects.filter(pk=order.customer_id).update(order_count=0)
    transport = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path),
    }
    app.conf.task_always_eager = False
    try:
        with Connection("filesystem://", transport_options=transport) as broker:
            refresh_customer_stats.apply_async(args=[order.customer_id], connection=broker)
    finally:
        app.conf.task_always_eager = True

    # when a worker process starts on that broker and the test database
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": "filesystem://",
        "DJANGO_SECRET_KEY": "tests-only-worker-key-not-the-public-demo-key",  # a worker refuses the demo key
    }
    script = (
        "from config.celery import app;"
        f"app.conf.broker_transport_options={transport!r};"
        "app.worker_main(['worker','--pool','solo','--loglevel','WARNING','--without-heartbeat'])"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if Customer.objects.get(pk=order.customer_id).order_count == 1:
                break
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=10)

    # then the task ran in the worker process
    assert Customer.objects.get(pk=order.customer_id).order_count == 1
