"""GET /health/: 200 when the database, broker, beat's heartbeat and the queue depths are fine, 503
otherwise; no sign-in, and nothing in it beyond ok / not ok, the depths and the heartbeat's age."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from ops.heartbeats import BEAT, heartbeat_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat_alive():
    heartbeat_record(BEAT)


@pytest.fixture(autouse=True)
def in_memory_broker(monkeypatch):
    """Celery reads CELERY_BROKER_URL from the environment before its settings (CI sets Redis)."""
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")


@pytest.fixture
def unreachable_broker(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there


@pytest.fixture
def default_queue_with(request):
    """Put n messages in the (in-memory) default queue; empty it afterwards."""

    def fill(n: int):
        with current_app.connection_for_write() as connection:
            queue = connection.SimpleQueue(current_app.conf.task_default_queue)
            for number in range(n):
                queue.put({"n": number})
            queue.close()

    yield fill
    with current_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(current_app.conf.task_default_queue)


def test_all_fine_answers_200_to_anyone_with_only_states_depths_and_age(client, beat_alive):
    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "beat", "queues"}
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"] == {"ok": True}
    assert body["checks"]["beat"]["ok"] is True and 0 <= body["checks"]["beat"]["age_seconds"] < 60
    assert set(body["checks"]["beat"]) == {"ok", "age_seconds"}
    assert body["checks"]["queues"]["ok"] is True
    assert set(body["checks"]["queues"]["depth"]) >= {"default", "intake", "outbox", "imports", "sync"}
    assert all(depth == 0 for depth in body["checks"]["queues"]["depth"].values())
    assert response["Cache-Control"].startswith("max-age=0")


def test_unreachable_broker_answers_503(client, beat_alive, unreachable_broker):
    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["broker"] == {"ok": False}
    assert body["checks"]["queues"]["ok"] is False
    assert set(body["checks"]["queues"]["depth"].values()) == {None}  # unknown, not zero
    assert body["checks"]["database"]["ok"] is True and body["checks"]["beat"]["ok"] is True


def test_stale_heartbeat_answers_503_with_its_age(client, settings):
    heartbeat_record(BEAT, at=timezone.now() - timedelta(seconds=settings.OPS_BEAT_STALE_SECONDS + 20))

    response = client.get("/health/")

    assert response.status_code == 503
    beat = response.json()["checks"]["beat"]
    assert beat["ok"] is False
    assert beat["age_seconds"] >= settings.OPS_BEAT_STALE_SECONDS + 20


def test_a_heartbeat_never_recorded_is_not_fine(client):
    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == {"ok": False, "age_seconds": None}


def test_a_queue_deeper_than_the_limit_answers_503_with_the_depth(
    client, beat_alive, settings, default_queue_with
):
    settings.OPS_QUEUE_DEPTH_ALERT = 2
    default_queue_with(3)

    response = client.get("/health/")

    assert response.status_code == 503
    queues = response.json()["checks"]["queues"]
    assert queues["ok"] is False
    assert queues["depth"]["default"] == 3


def test_liveness_checks_only_the_database(client, unreachable_broker):
    response = client.get("/health/live/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": {"ok": True}}}


def test_health_refuses_other_methods(client, beat_alive):
    assert client.post("/health/").status_code == 405


def test_beats_heartbeat_task_runs_every_30_seconds_and_keeps_health_fine(client):
    from config.beat import PERIODIC_TASKS
    from ops.tasks import beat_heartbeat

    schedule = {task.task: task.every_seconds for task in PERIODIC_TASKS}
    assert schedule["ops.beat_heartbeat"] == 30 and schedule["ops.health_watch"] == 60
    assert client.get("/health/").status_code == 503  # no heartbeat yet

    beat_heartbeat.delay()

    assert client.get("/health/").status_code == 200
