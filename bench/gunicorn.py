"""Gunicorn as the README's production section runs it (gthread workers), for the HTTP benchmarks:
started on a free local port against the benchmark's database, waited for, and stopped."""

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from bench.common import ROOT, SERVER, rates, run_together


def request_once(port: int, method: str, path: str, body, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_clients(
    port: int,
    headers: dict,
    method: str,
    path: str,
    bodies: list,
    *,
    clients: int,
    expected: int,
    also_fine: tuple[int, ...] = (),
) -> dict:
    """`clients` threads, each with its own keep-alive connection (the standard library's
    http.client: a load generator that takes little of the CPU it shares with the server), take the
    bodies (bytes, or None) in turn. Answers with the `expected` status are kept, decoded; one in
    `also_fine` (a sold-out 409 on the lock endpoint) is an answer, not a failure.
    Returns rate (kept answers/s), requests/s, p50 and p99 in ms, answers, failures."""
    latencies, answers, failures = [], [], [0]
    lock = threading.Lock()
    pending = list(reversed(bodies))

    def client_loop(barrier, _index):
        local, mine = [], []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        while True:
            with lock:
                if not pending:
                    break
                body = pending.pop()
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            local.append(time.perf_counter() - start)
            if response.status == expected:
                mine.append(content)
            elif response.status not in also_fine:
                with lock:
                    failures[0] += 1
                    if failures[0] <= 3:
                        print(f"    {method} {path} answered {response.status}: {content[:300]!r}")
        conn.close()
        with lock:
            latencies.extend(local)
            answers.extend(mine)

    wall = run_together(clients, client_loop)
    return {
        **rates(latencies, len(answers), wall),
        "answers": [json.loads(content) for content in answers],  # decoded after the clock stopped
        "failures": failures[0],
    }


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def _env(db: str, broker: str, cache: str | None, extra: dict | None = None) -> dict:
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"{SERVER}/{db}",
        "CELERY_BROKER_URL": broker,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    if cache:
        env["CACHE_URL"] = cache
    return {**env, **(extra or {})}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(
    db: str,
    *,
    workers: int,
    threads: int,
    broker: str,
    cache: str | None = None,
    extra_env: dict | None = None,
):
    """Yields the port of a running `gunicorn config.wsgi --worker-class gthread`; its log is
    /tmp/<db>-gunicorn.log. Stopped (terminate, then kill) when the block ends."""
    port = _free_port()
    log_path = f"/tmp/{db}-gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "config.wsgi",
                "--worker-class",
                "gthread",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "60",
                "--access-logfile",
                "-",
            ],
            cwd=ROOT,
            env=_env(db, broker, cache, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    sys.exit(f"gunicorn exited ({server.returncode}); see {log_path}")
                try:
                    if request_once(port, "GET", "/health/live/", None, {})[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit("gunicorn did not answer within 60 s")
                time.sleep(0.3)
            yield port
        finally:
            _stop(server)


@contextmanager
def manage_process(
    db: str,
    *args: str,
    broker: str,
    cache: str | None = None,
    extra_env: dict | None = None,
    log_tag: str = "",
):
    """A long-running `manage.py` command beside the server (e.g. stock_lock_writer), with the
    same environment; its log is /tmp/<db>-<command>[-<log_tag>].log. Stopped (SIGTERM, then
    kill) at the end."""
    log_path = f"/tmp/{db}-{args[0]}{'-' + log_tag if log_tag else ''}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "manage.py", *args],
            cwd=ROOT,
            env=_env(db, broker, cache, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(2)  # imports Django and connects before the first request
            if process.poll() is not None:
                sys.exit(f"{args[0]} exited ({process.returncode}); see {log_path}")
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, and kill what has not exited within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
