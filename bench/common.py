"""Shared set-up for the benchmarks: a fresh PostgreSQL database, Django configured, timing helpers.

Run a benchmark from the repository root, e.g. `.venv/bin/python -m bench.hot_sku`. It creates
(and drops) its own database on the server of BENCH_DATABASE_URL (default: local PostgreSQL)."""

import os
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")


def setup_django(name: str) -> None:
    """Create database `name` (dropping an old one), point Django at it and migrate."""
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"{SERVER}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    call_command("migrate", verbosity=0)
    # The benchmark process stands for a web or worker process, which tune their collector so.
    from core.processes import tune_garbage_collector

    tune_garbage_collector()


def teardown(name: str) -> None:
    from django.db import connections

    connections.close_all()
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def describe(latencies_s: list[float]) -> str:
    ms = [v * 1000 for v in latencies_s]
    return f"p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"


@contextmanager
def timed():
    start = time.perf_counter()
    box = {}
    yield box
    box["seconds"] = time.perf_counter() - start


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def load_average() -> str:
    """The machine's 1/5/15-minute load average and CPU count: figures mean little without it."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} CPUs"


# --- same-run rounds and the one-line summary (issue #18's table) ------------------------------
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


def load_one() -> str:
    """The 1-minute load average alone, for the summary line."""
    return f"{os.getloadavg()[0]:.1f}"


def summary(
    path: str, *, target: str, figure: str, baseline: str, floor: str, ratios: str, load: str
) -> None:
    """The benchmark's result as one line: path | target | figure | baseline | floor | ratios | load."""
    print(f"SUMMARY | {path} | {target} | {figure} | {baseline} | {floor} | {ratios} | load {load}")


def rates(latencies: list[float], kept: int, wall: float) -> dict:
    """A run's figures: kept answers and all requests per second, latency p50 and p99 in ms."""
    ms = [v * 1000 for v in latencies]
    return {
        "rate": kept / wall,
        "requests": len(ms) / wall,
        "p50": statistics.median(ms),
        "p99": percentile(ms, 99),
    }


def run_together(count: int, target) -> float:
    """Start `count` threads running target(barrier, index); each waits at the barrier once its
    set-up is done, so the clock covers only the measured work. Seconds from the start to the last
    thread's end."""
    barrier = threading.Barrier(count + 1)
    threads = [threading.Thread(target=target, args=(barrier, i)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start
