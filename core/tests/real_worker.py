"""A real Celery worker on a real Redis broker, for the fault tests (not a test module itself).

Each `RealBroker` has its own key prefix on Redis (kombu's `global_keyprefix`), so test processes
running at once never take each other's tasks. `publishing_to(url)` makes this test process
publish there instead of running tasks eagerly; `RealBroker.start_worker` starts a worker
process (its own process group, so a test can SIGKILL all of it) on the test database."""

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: a publish is refused at once


def redis_url() -> str:
    """The Redis broker CI uses (CELERY_BROKER_URL); skipped when none is reachable, unless
    CELERY_BROKER_URL names one (then a dead Redis fails the test)."""
    import redis

    configured = os.environ.get("CELERY_BROKER_URL", "")
    url = configured if configured.startswith("redis://") else "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if configured.startswith("redis://"):
            pytest.fail(f"CELERY_BROKER_URL={configured} is not reachable: {exc}")
        pytest.skip("needs Redis (set CELERY_BROKER_URL=redis://…)")
    return url


def _reset_pools(app) -> None:
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def publishing_to(url: str, *, prefix: str = ""):
    """Tasks published by this process go to `url` (not run eagerly) while inside."""
    from config.celery import app

    names = ("task_always_eager", "broker_write_url", "broker_transport_options")
    saved = {name: app.conf.get(name) for name in names}
    app.conf.task_always_eager = False
    # Publishing connects to broker_write_url; the plain broker_url loses to the environment's
    # CELERY_BROKER_URL (CI sets it).
    app.conf.broker_write_url = url
    app.conf.broker_transport_options = {"global_keyprefix": prefix} if prefix else {}
    _reset_pools(app)
    assert app.conf.broker_write_url == url, "CELERY_BROKER_WRITE_URL in the environment wins"
    try:
        yield
    finally:
        for name, value in saved.items():
            app.conf[name] = value
        _reset_pools(app)


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def shared_secrets() -> dict[str, str]:
    """The worker must read what this process encrypted (channel secrets): the same field keys.
    Its SECRET_KEY is its own unless this process has a real one (a worker refuses the demo key)."""
    from core.encryption import derived_key

    secret_key = settings.SECRET_KEY
    keys = list(settings.FIELD_ENCRYPTION_KEYS) or [derived_key(secret_key).decode()]
    if secret_key == settings.DEMO_SECRET_KEY:
        secret_key = secrets.token_urlsafe(50)
    return {"DJANGO_SECRET_KEY": secret_key, "FIELD_ENCRYPTION_KEYS": ",".join(keys)}


def worker_queues() -> str:
    names = {*getattr(settings, "CELERY_TASK_QUEUE_NAMES", ()), "celery", "default"}
    return ",".join(sorted(names))


class RealBroker:
    def __init__(self, url: str, log_dir):
        self.url = url
        self.prefix = f"conduit-test-{uuid.uuid4().hex[:12]}:"
        self.log_dir = log_dir
        self.workers: list[subprocess.Popen] = []

    @contextmanager
    def publishing(self):
        with publishing_to(self.url, prefix=self.prefix):
            yield

    def start_worker(self, **env) -> subprocess.Popen:
        """A worker process (solo pool: the task runs in the process a test kills) taking every
        queue the app routes to, on the test database."""
        script = (
            "from config.celery import app;"
            f"app.conf.broker_transport_options={{'global_keyprefix': {self.prefix!r}}};"
            "app.worker_main(['worker','--pool','solo','--loglevel','WARNING','--without-heartbeat',"
            f"'--without-gossip','--without-mingle','-Q',{worker_queues()!r}])"
        )
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            **shared_secrets(),
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": self.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            **env,
        }
        log = open(self.log_dir / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115 — the worker writes it
        worker = subprocess.Popen(
            [sys.executable, "-c", script],
            env=environment,
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches all of it
        )
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def stop_all(self) -> None:
        for worker in self.workers:  # a warm shutdown takes seconds; the test is over anyway
            if worker.poll() is None:
                self.kill(worker)
        self._flush()

    def _flush(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        keys = list(client.scan_iter(match=f"{self.prefix}*"))
        if keys:
            client.delete(*keys)

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:] for path in sorted(self.log_dir.glob("*.log"))
        )


def wait_until(condition, *, timeout: float = 30, what: str = "", broker: RealBroker | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}" + (f"\nworker log:\n{broker.logs()}" if broker else ""))


@pytest.fixture
def real_broker(tmp_path):
    broker = RealBroker(redis_url(), tmp_path)
    yield broker
    broker.stop_all()
