"""A process of its own on a filesystem broker folder, for tests that need a real worker beside
other work: `python -m desk.tests.broker_process FOLDER worker | traffic STOP_FILE | command NAME ARGS…`.

The caller's environment names the database (DATABASE_URL) and settings; the folder is the broker.
`command` prints the tasks it published (PUBLISHED {…}); `traffic` keeps placing paid orders of the
demo shops' SKUs — each routed by a task, as live orders are — until STOP_FILE exists."""

import json
import os
import random
import sys
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ["CELERY_BROKER_URL"] = "filesystem://"

import django  # noqa: E402

django.setup()

from celery import current_app  # noqa: E402
from celery.signals import after_task_publish  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from ops.broker import queue_names  # noqa: E402


def worker() -> None:
    current_app.worker_main(
        ["worker", "--pool", "solo", "--loglevel", "INFO", "--without-heartbeat", "--without-gossip"]
        + ["--without-mingle", "-Q", ",".join(queue_names())]
    )


def command(name: str, *args: str) -> None:
    published: Counter[str] = Counter()
    after_task_publish.connect(lambda sender=None, **kwargs: published.update([sender]), weak=False)
    call_command(name, *args)
    print("PUBLISHED", json.dumps(published), flush=True)


def traffic(stop_file: str) -> None:
    from catalog.models import Channel
    from inventory.models import SKU
    from orders.intake import order_ingest

    channel = Channel.objects.get(code="tmall-flagship")
    skus = list(SKU.objects.filter(presale=False).order_by("code"))
    rng, placed = random.Random(7), 0
    while not os.path.exists(stop_file):
        now = timezone.now()
        lines = [
            {"sku": sku, "quantity": 1, "unit_price": Decimal("10.00"), "discount": Decimal("0")}
            for sku in rng.sample(skus, rng.choice([1, 2, 3]))
        ]
        phone = f"1590000{placed:04d}"
        order_ingest(
            data={
                "channel": channel,
                "external_id": f"LIVE-{placed}",
                "placed_at": now - timedelta(minutes=1),
                "currency": "CNY",
                "customer": {"name": "顾客", "phone": phone},
                "shipping_address": {
                    "name": "顾客",
                    "country": "CN",
                    "province": "浙江省",
                    "city": "杭州市",
                    "district": "西湖区",
                    "line1": "文三路 90 号",
                    "postcode": "310000",
                    "phone": phone,
                },
                "lines": lines,
                "paid": True,
                "paid_at": now,
            }
        )
        placed += 1
        time.sleep(0.3)  # a few orders a second: the worker keeps up, and is never idle
    print("PLACED", placed, flush=True)


if __name__ == "__main__":
    folder, role, *rest = sys.argv[1:]
    current_app.conf.broker_transport_options = {
        "data_folder_in": folder,
        "data_folder_out": folder,
        "control_folder": os.path.join(folder, "control"),  # exchange bindings; not the working directory
    }
    {"worker": worker, "traffic": traffic, "command": command}[role](*rest)
