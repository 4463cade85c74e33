"""Order intake over HTTP (issue #18: bulk ≥ 1,000 orders/s; single POST ≥ 200 orders/s at 16
clients with p50 ≤ 50 ms), against gunicorn run as the README's production section runs it:
`config.wsgi --worker-class gthread --workers 4 --threads 8 --timeout 60 --access-logfile -`
(production settings, DEBUG off, token authentication as a customer-service user, Redis broker
and cache on HTTP_REDIS_URL), with its two `order_intake_writer` processes taking every web
process's single POSTs (HTTP_WRITERS: how many; 0: none, each web process ingests its own).

A, measured: POST /api/v1/orders/bulk/ — batches of HTTP_BULK_BATCH (1,000) 3-line canonical
   orders; one order in fifty repeats an earlier one of its round (a platform delivering it twice:
   `unchanged`), which may be in a batch another client posts at the same time. Twice per round:
   A1, one client posting its batches one after the other (one integration: what one request
   costs from end to end, Python and the database taking turns); A2, HTTP_BULK_CLIENTS (2)
   clients at once, twice the orders (two shops' integrations: the server's throughput, its two
   cores both busy). The target (≥ 1,000 orders/s) is judged on A2, the server's throughput.
B, baseline: POST /api/v1/orders/ — the same kind of orders, one per request, from HTTP_CLIENTS
   (16) threads with keep-alive connections (http.client, as the hot SKU bench: a load generator
   light on the CPU it shares with the server).
T, reference: GET /api/v1/ (authentication and a tiny JSON answer) from the same 16 clients,
   HTTP_TRIVIAL_REQUESTS (3,000: a few seconds, long enough to be steady) per round: what the
   server answers at all on this machine in the same run, so that runs on machines of different
   speed can be compared (B's share of T).
Rounds interleave A1 A2 B T A1 A2 B T …, each on new orders; medians over the rounds. Bodies are
encoded before the clock starts; the clients run on the same machine as the server and the
database.

Invariants at the end: one order per distinct external id posted, 3 lines each, every ordered
unit reserved (stock is ample), no order held, balances equal the ledger.

Knobs: HTTP_ROUNDS (3), HTTP_BULK_ORDERS per round (3,000), HTTP_BULK_BATCH (1,000),
HTTP_BULK_CLIENTS (2, for A2), HTTP_SINGLE_ORDERS per round (600), HTTP_TRIVIAL_REQUESTS per round (3,000),
HTTP_CLIENTS (16), HTTP_WORKERS (4),
HTTP_THREADS (8), HTTP_REDIS_URL (redis://127.0.0.1:6379/13: broker, cache and writer queue; the
bench flushes that database before and after; nothing consumes the routing tasks published there),
HTTP_WRITERS (2). Run: `.venv/bin/python -m bench.http_ingest`."""

import json
import os
import random
import secrets
import statistics
import threading
import time
from contextlib import ExitStack
from datetime import timedelta

from bench.common import load_average, setup_django, teardown, verdict
from bench.gunicorn import flush_redis, gunicorn, manage_process, run_clients

DB = "conduit_bench_http_ingest"
ROUNDS = int(os.environ.get("HTTP_ROUNDS", 3))
BULK_ORDERS = int(os.environ.get("HTTP_BULK_ORDERS", 3_000))
BULK_BATCH = int(os.environ.get("HTTP_BULK_BATCH", 1_000))
BULK_CLIENTS = int(os.environ.get("HTTP_BULK_CLIENTS", 2))
SINGLE_ORDERS = int(os.environ.get("HTTP_SINGLE_ORDERS", 600))
CLIENTS = int(os.environ.get("HTTP_CLIENTS", 16))
TRIVIAL_REQUESTS = int(os.environ.get("HTTP_TRIVIAL_REQUESTS", 3_000))
WORKERS = int(os.environ.get("HTTP_WORKERS", 4))
THREADS = int(os.environ.get("HTTP_THREADS", 8))
REDIS = os.environ.get("HTTP_REDIS_URL", "redis://127.0.0.1:6379/13")
WRITERS = int(os.environ.get("HTTP_WRITERS", 2))  # the README's production shape: two order writers
SKUS = 300
CHANNEL = "bench-api"


def main() -> None:
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    setup_django(DB)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.db.models import Count, Sum
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from catalog.models import Channel
    from core.roles import Role
    from inventory.models import SKU, MovementKind, Reservation, Warehouse
    from inventory.reconciliation import find_drift
    from inventory.services import stock_change
    from orders.models import Order, OrderLine

    Channel.objects.create(platform="generic", code=CHANNEL, name="Bench API", currency="CNY")
    warehouse = Warehouse.objects.create(code="WH-1", name="Main", kind="own")
    skus = SKU.objects.bulk_create(SKU(code=f"H-{n:04d}", name=f"Item {n}") for n in range(SKUS))
    with transaction.atomic():
        for sku in skus:
            stock_change(
                kind=MovementKind.RECEIPT, sku=sku, warehouse=warehouse, quantity=1_000_000, reference="PO"
            )
    user = get_user_model().objects.create_user("bench-intake", password=secrets.token_urlsafe(16))
    user.groups.add(Group.objects.get(name=Role.CUSTOMER_SERVICE))
    token = Token.objects.create(user=user).key
    connection.close()

    rng = random.Random(18)
    placed = (timezone.now() - timedelta(minutes=5)).isoformat()
    codes = [sku.code for sku in skus]

    def payload(external_id: str, n: int) -> dict:
        return {
            "channel": CHANNEL,
            "external_id": external_id,
            "placed_at": placed,
            "currency": "CNY",
            "customer": {"name": "买家", "phone": f"139{n % 10**8:08d}"},
            "shipping_address": {
                "country": "CN",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "line1": "文三路 90 号",
                "postcode": "310000",
            },
            "lines": [
                {"sku": code, "quantity": rng.randint(1, 3), "unit_price": "19.90"}
                for code in rng.sample(codes, 3)
            ],
            "shipping_fee": "8.00",
            "paid": n % 2 == 0,
        }

    posted: dict[str, dict] = {}  # distinct orders, by external id
    serial = iter(range(10**9))

    def new_orders(prefix: str, count: int) -> list[dict]:
        made = [payload(f"{prefix}-{n}", next(serial)) for n in range(count)]
        posted.update((p["external_id"], p) for p in made)
        return made

    def bulk_bodies(prefix: str, total: int) -> tuple[list[bytes], int]:
        orders = new_orders(prefix, total - total // 50)
        repeats = [rng.choice(orders) for _ in range(total // 50)]
        for repeat in repeats:
            orders.insert(rng.randrange(len(orders) + 1), repeat)
        batches = [orders[i : i + BULK_BATCH] for i in range(0, len(orders), BULK_BATCH)]
        return [encode({"orders": batch}) for batch in batches], len(repeats)

    flush_redis(REDIS)
    import httpx

    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    shape = {"ORDER_INTAKE_WRITER_URL": REDIS if WRITERS else ""}
    with ExitStack() as running:
        port = running.enter_context(
            gunicorn(DB, workers=WORKERS, threads=THREADS, broker=REDIS, cache=REDIS, extra_env=shape)
        )
        for number in range(WRITERS):
            running.enter_context(
                manage_process(
                    DB,
                    "order_intake_writer",
                    broker=REDIS,
                    cache=REDIS,
                    extra_env=shape,
                    log_tag=str(number + 1),
                )
            )
        base = f"http://127.0.0.1:{port}"
        # Warm-up: every worker imports the app and opens its connection before the clock runs.
        run_singles(port, headers, [encode(p) for p in new_orders("W", 4 * WORKERS * 2)], CLIENTS)
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            warm = client.post("/api/v1/orders/bulk/", content=encode({"orders": new_orders("WB", 50)}))
            assert warm.status_code == 200, warm.text[:500]

        size = len(encode({"orders": [payload("size", 0) for _ in range(BULK_BATCH)]}))
        writer = (
            f"{WRITERS} order_intake_writer processes" if WRITERS else "each web process ingesting its own"
        )
        print(f"HTTP order intake: gunicorn gthread {WORKERS}×{THREADS}, Redis broker and cache, {writer}")
        print(f"  {ROUNDS} rounds, A1 A2 B T interleaved; {load_average()}")
        print(
            f"  A bulk  : {BULK_ORDERS:,} orders per round in batches of {BULK_BATCH:,} "
            f"({size / 1e6:.2f} MB each), 1 in 50 a repeat: A1 by 1 client; A2 twice the orders by "
            f"{BULK_CLIENTS} clients at once"
        )
        print(f"  B single: {SINGLE_ORDERS:,} orders per round, one per POST, {CLIENTS} clients")
        print(
            f"  T trivial: {TRIVIAL_REQUESTS:,} GET /api/v1/ per round, {CLIENTS} clients (this machine's reference)"
        )
        rounds = []
        repeats_posted = 0
        for number in range(ROUNDS):
            bodies, repeats = bulk_bodies(f"A{number}", BULK_ORDERS)
            repeats_posted += repeats
            alone = run_bulk(base, headers, bodies, clients=1)
            bodies, repeats = bulk_bodies(f"AA{number}", BULK_CLIENTS * BULK_ORDERS)
            repeats_posted += repeats
            bulk = run_bulk(base, headers, bodies, clients=BULK_CLIENTS)
            singles = run_singles(
                port, headers, [encode(p) for p in new_orders(f"B{number}", SINGLE_ORDERS)], CLIENTS
            )
            trivial = run_clients(
                port, headers, "GET", "/api/v1/", [None] * TRIVIAL_REQUESTS, clients=CLIENTS, expected=200
            )
            rounds.append((bulk, singles, trivial, alone))
            print(
                f"  round {number + 1}: A1 {alone['rate']:5,.0f} orders/s (batch p50 {alone['p50']:.0f} ms) | "
                f"A2 {bulk['rate']:5,.0f} orders/s (batch p50 {bulk['p50']:.0f} ms, max {bulk['max']:.0f} ms) | B {singles['rate']:5,.0f} orders/s (p50 {singles['p50']:.0f} ms, "
                f"p99 {singles['p99']:.0f} ms) | T {trivial['requests']:5,.0f}/s (p50 {trivial['p50']:.0f} ms) | "
                f"{load_average()}"
            )
        bulk_rate = statistics.median(r[0]["rate"] for r in rounds)
        alone_rate = statistics.median(r[3]["rate"] for r in rounds)
        alone_p50 = statistics.median(r[3]["p50"] for r in rounds)
        single_rate = statistics.median(r[1]["rate"] for r in rounds)
        single_p50 = statistics.median(r[1]["p50"] for r in rounds)
        single_p99 = statistics.median(r[1]["p99"] for r in rounds)
        batch_p50 = statistics.median(r[0]["p50"] for r in rounds)
        trivial_rate = statistics.median(r[2]["requests"] for r in rounds)
        failures = sum(
            r[0]["failures"] + r[1]["failures"] + r[2]["failures"] + r[3]["failures"] for r in rounds
        )
        statuses = {}
        for bulk, _singles, _trivial, alone in rounds:
            for key, value in [*bulk["statuses"].items(), *alone["statuses"].items()]:
                statuses[key] = statuses.get(key, 0) + value

    print("  medians over the rounds:")
    print("  | path | orders/s | latency p50 | latency p99 | target | |")
    print("  |---|---:|---:|---:|---|---|")
    print(
        f"  | A1 bulk, batches of {BULK_BATCH:,}, 1 client | {alone_rate:,.0f} | {alone_p50:,.0f} ms per batch | – | "
        f"(one request end to end) | – |"
    )
    print(
        f"  | A2 bulk, batches of {BULK_BATCH:,}, {BULK_CLIENTS} clients | {bulk_rate:,.0f} | {batch_p50:,.0f} ms "
        f"per batch | – | ≥ 1,000 orders/s | {verdict(bulk_rate >= 1_000)} |"
    )
    print(
        f"  | B single POST, {CLIENTS} clients | {single_rate:,.0f} | {single_p50:.0f} ms | {single_p99:.0f} ms | "
        f"≥ 200 orders/s, p50 ≤ 50 ms | {verdict(single_rate >= 200 and single_p50 <= 50)} |"
    )
    print(
        f"  | T trivial GET, {CLIENTS} clients (reference) | {trivial_rate:,.0f} requests/s | – | – | – | – |"
    )
    print(
        f"  ratio A2/B: {bulk_rate / single_rate:.1f}×; A2/A1: {bulk_rate / alone_rate:.2f}×; "
        f"B/T: {single_rate / trivial_rate:.0%}, A2/T: {bulk_rate / trivial_rate:.1f}×; {load_average()}"
    )

    orders = Order.objects.filter(channel__code=CHANNEL)
    stored = orders.count()
    lines = OrderLine.objects.filter(order__channel__code=CHANNEL).count()
    ordered_units = sum(line["quantity"] for p in posted.values() for line in p["lines"])
    reserved_units = Reservation.objects.filter(order__channel__code=CHANNEL).aggregate(n=Sum("quantity"))[
        "n"
    ]
    by_status = dict(orders.values_list("status").annotate(n=Count("pk")))
    books = not find_drift()
    ok = {
        "orders": stored == len(posted),
        "lines": lines == 3 * len(posted),
        "reserved": reserved_units == ordered_units,
        "held": "on_hold" not in by_status,
        "answers": failures == 0 and statuses.get("unchanged", 0) == repeats_posted,
        "books": books,
    }
    print(
        f"  invariants: one order per distinct external id {verdict(ok['orders'])} ({stored:,} of {len(posted):,}), "
        f"3 lines each {verdict(ok['lines'])}, reserved units = ordered units {verdict(ok['reserved'])} "
        f"({reserved_units:,} of {ordered_units:,}), none held {verdict(ok['held'])} {by_status}, "
        f"every answer 2xx and each repeat `unchanged` {verdict(ok['answers'])} ({failures} failed, {statuses}), "
        f"balances equal the ledger {verdict(books)}"
    )
    teardown(DB)
    flush_redis(REDIS)
    if not all(ok.values()):
        raise SystemExit(1)


def encode(body) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def run_bulk(base: str, headers: dict, bodies: list[bytes], clients: int) -> dict:
    """Batches posted one after the other by each of `clients` clients, taking the next one free."""
    import httpx

    latencies, statuses, failures, orders = [], {}, [0], [0]
    lock = threading.Lock()
    pending = list(reversed(bodies))

    def client_loop():
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            while True:
                with lock:
                    if not pending:
                        return
                    body = pending.pop()
                start = time.perf_counter()
                response = client.post("/api/v1/orders/bulk/", content=body)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        failures[0] += 1
                        print(f"    bulk answered {response.status_code}: {response.text[:300]}")
                        continue
                    answer = response.json()
                    orders[0] += len(answer["results"])
                    for key in ("created", "updated", "unchanged", "invalid", "refused"):
                        statuses[key] = statuses.get(key, 0) + answer[key]
                    failures[0] += answer["invalid"] + answer["refused"]

    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return {
        "rate": orders[0] / wall,
        "p50": statistics.median(ms),
        "max": max(ms),
        "statuses": statuses,
        "failures": failures[0],
    }


def run_singles(port: int, headers: dict, bodies: list[bytes], clients: int) -> dict:
    """One POST per order from `clients` threads, each with its own keep-alive connection."""
    done = run_clients(port, headers, "POST", "/api/v1/orders/", bodies, clients=clients, expected=201)
    return {**done, "rate": done["requests"]}


if __name__ == "__main__":
    main()
