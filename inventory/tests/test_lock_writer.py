"""Checkout locks through the one writer process (STOCK_LOCK_WRITER_URL): callers on parallel
connections are batched together by the writer, answered only after their locks committed, never
oversold; with no writer they get a 503 and nothing is held, even once a writer comes back."""

import threading
import uuid
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from core.tests.real_worker import redis_url
from inventory import lock_writer
from inventory.models import Reservation, StockBalance
from inventory.reconciliation import find_drift
from inventory.tests.test_concurrency import run_parallel
from orders.tests.factories import SKUFactory, ensure_master_data, receive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/stock/locks/"


@pytest.fixture
def writer_settings(settings, monkeypatch):
    settings.STOCK_LOCK_WRITER_URL = redis_url()
    monkeypatch.setattr(lock_writer, "QUEUE", f"stock-locks-test-{uuid.uuid4().hex}")  # parallel test runs
    yield settings
    lock_writer.writer_queue().client.delete(lock_writer.writer_queue().queue)


@pytest.fixture
def writer(writer_settings):
    """The writer's loop on a thread of its own (its own database connection), as the command runs it."""
    stop = threading.Event()

    def serve():
        try:
            while not stop.is_set():
                lock_writer.writer_queue().serve_once(lock_writer.settle_lock_items, max_batch=256, wait=0.2)
        finally:
            connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    yield
    stop.set()
    thread.join()


def _client(manager) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager)
    return client


def _lock(client, sku="HOT"):
    return client.post(
        URL,
        {"channel": "shop-cn", "reference": "cart", "lines": [{"sku": sku, "quantity": 1}]},
        format="json",
    )


def test_callers_at_once_are_batched_by_the_writer_and_never_oversold(writer, manager):
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 20)
    clients, answers = [_client(manager) for _ in range(32)], []

    assert run_parallel(32, lambda index: answers.append(_lock(clients[index]))) == []

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 20, 409: 12}
    acknowledged = {
        answer.json()["locks"][0]["fingerprint"] for answer in answers if answer.status_code == 201
    }
    stored = Reservation.objects.filter(order__isnull=True)
    assert set(stored.values_list("fingerprint", flat=True)) == acknowledged  # each answered lock is stored
    assert StockBalance.objects.get(sku__code="HOT").reserved == 20
    assert find_drift() == []
    # the writer took callers of different connections into one batch (one created_at per batch)
    assert max(Counter(stored.values_list("created_at", flat=True)).values()) > 1
    body = next(answer.json() for answer in answers if answer.status_code == 201)["locks"][0]
    assert body["sku"] == "HOT" and body["quantity"] == 1 and body["reference"] == "cart"


def test_with_no_writer_a_caller_gets_a_503_and_a_writer_coming_back_holds_nothing(writer_settings, manager):
    writer_settings.STOCK_LOCK_WRITER_TIMEOUT_SECONDS = 1.2
    ensure_master_data(stock=0)
    receive(SKUFactory(code="HOT"), 5)

    answer = _lock(_client(manager))

    assert answer.status_code == 503
    assert "did not answer in time" in answer.json()["detail"]
    # the writer, started late, finds the request its caller gave up on and leaves it
    queue = lock_writer.writer_queue()
    assert queue.serve_once(lock_writer.settle_lock_items, max_batch=10, wait=0.1) == 1
    assert not Reservation.objects.exists()
    assert StockBalance.objects.get(sku__code="HOT").reserved == 0


def test_the_writer_command_needs_its_url(settings):
    settings.STOCK_LOCK_WRITER_URL = ""
    with pytest.raises(CommandError, match="STOCK_LOCK_WRITER_URL"):
        call_command("stock_lock_writer")
