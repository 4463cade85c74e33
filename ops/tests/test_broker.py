"""Queue depths come from the broker itself: files of the embedded filesystem broker, Redis list
lengths; "unknown" (None) for a transport we cannot measure, never a made-up zero."""

import os
import uuid

import pytest
import redis
from celery import current_app
from kombu import Connection

from ops import broker


def _put(url: str, queue: str, count: int, **transport) -> None:
    with Connection(url, transport_options=transport) as connection:
        simple = connection.SimpleQueue(queue)
        for number in range(count):
            simple.put({"n": number})
        simple.close()


@pytest.fixture
def filesystem_broker(tmp_path, monkeypatch):
    folders = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path),
    }
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")
    before = current_app.conf.broker_transport_options
    current_app.conf.broker_transport_options = folders
    yield folders
    current_app.conf.broker_transport_options = before


def test_filesystem_broker_depth_counts_the_waiting_message_files(filesystem_broker):
    _put("filesystem://", "intake", 3, **filesystem_broker)
    _put("filesystem://", "outbox", 1, **filesystem_broker)

    status = broker.broker_status(queues=["intake", "outbox", "sync"])

    assert status.reachable
    assert status.depths == {"intake": 3, "outbox": 1, "sync": 0}


def test_redis_broker_depth_is_the_length_of_its_lists():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("set CELERY_BROKER_URL=redis://… to test against Redis")
    queue = f"ops-test-{uuid.uuid4().hex}"  # nothing else uses it
    try:
        _put(url, queue, 4)

        status = broker.broker_status(queues=[queue])

        assert status.reachable
        assert status.depths == {queue: 4}
    finally:  # the list and the bindings kombu keeps for the queue's exchange (named as the queue)
        redis.Redis.from_url(url).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )


def test_a_transport_we_cannot_measure_reports_unknown_depths(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    monkeypatch.setattr(broker, "MEASURED_TRANSPORTS", {"redis"})

    status = broker.broker_status(queues=["default"])

    assert status.reachable
    assert status.depths == {"default": None}


def test_queue_names_are_the_configured_queues():
    assert set(broker.queue_names()) >= {"default", "intake", "outbox", "imports", "sync"}
