"""Hot SKU (issue #18: 64 callers, ≥ 5,000 reservations/s with p99 ≤ 50 ms in the service; through
HTTP ≥ 50 % of what the same server answers on a trivial authenticated endpoint in the same run).

Service layer, 64 caller threads, rounds interleaved A B F, A B F …, medians over the rounds:
A, ours: inventory.locks.stock_lock, what POST /api/v1/stock/locks/ runs — concurrent callers
   share one transaction through the group commit; a batch is two statements (balance rows locked
   and read; one statement raising `reserved` under the invariant and inserting the locks, their
   ledger rows and the stock-push mark).
B, baseline (a competent naive implementation): per request its own transaction with one
   conditional `UPDATE … WHERE available >= 1 RETURNING` and the inserts of the reservation and
   its ledger row (ORM).
F, plain-SQL floor: the same writes with no Python between them — one psycopg connection, batches
   of 64 as one `WITH … UPDATE … INSERT … INSERT` statement and a commit each.
Each round uses fresh SKUs; A and B get stock for 90 % of their requests, so the last callers
find them sold out (the oversell check means something).

HTTP, gunicorn as the README's production section runs it (config.wsgi, gthread 4 × 8, timeout 60,
access log; production settings, Redis cache and broker on HTTP_REDIS_URL) with its one
`stock_lock_writer` process taking every web process's locks (HOT_WRITER=0: none, each process
batches its own callers), 64 client threads
with keep-alive connections, token authentication as a manager, rounds interleaved:
H, POST /api/v1/stock/locks/ (one unit of a hot SKU), and
T, GET /api/v1/ — the API root: authentication and permission checks and a tiny JSON answer.
How often batches form across the 4 processes is read back from the rows: a batch's locks share
one created_at.

Invariants at the end: no oversell (reserved ≤ on hand; every lock holds one unit; as many held as
acknowledged), every acknowledged lock stored (by fingerprint), nothing stored that was not
acknowledged, balances equal the ledger (find_drift).

Knobs: HOT_ROUNDS (3), HOT_CALLERS (64), HOT_REQUESTS per caller (ours, 60), HOT_BASELINE_REQUESTS
(15), HOT_FLOOR_BATCHES (100), HOT_HTTP_REQUESTS per client (60; rounds of 3,840 locks, so one run settles a ratio near 50 %), HTTP_WORKERS (4), HTTP_THREADS
(8), HTTP_REDIS_URL (redis://127.0.0.1:6379/13; flushed before and after), HOT_WRITER (1). Run:
`.venv/bin/python -m bench.hot_sku`."""

import contextlib
import json
import os
import secrets
import statistics
import threading
import time

from bench.common import (
    SERVER,
    load_average,
    percentile,
    rates,
    run_together,
    setup_django,
    teardown,
    verdict,
)
from bench.gunicorn import flush_redis, gunicorn, manage_process, request_once, run_clients

DB = "conduit_bench_hot_h_sku"
ROUNDS = int(os.environ.get("HOT_ROUNDS", 3))
CALLERS = int(os.environ.get("HOT_CALLERS", 64))
PER_CALLER = int(os.environ.get("HOT_REQUESTS", 60))
BASELINE_PER_CALLER = int(os.environ.get("HOT_BASELINE_REQUESTS", 15))
FLOOR_BATCHES = int(os.environ.get("HOT_FLOOR_BATCHES", 100))
HTTP_PER_CLIENT = int(os.environ.get("HOT_HTTP_REQUESTS", 60))
WORKERS = int(os.environ.get("HTTP_WORKERS", 4))
THREADS = int(os.environ.get("HTTP_THREADS", 8))
REDIS = os.environ.get("HTTP_REDIS_URL", "redis://127.0.0.1:6379/13")
WRITER = os.environ.get("HOT_WRITER", "1") == "1"  # the README's production shape: one lock writer
SOLD = 0.9  # share of requests the stock covers


def run_callers(work) -> dict:
    """CALLERS threads start together; each runs its requests (callables returning an ack or None)."""
    from django.db import connection

    latencies: list[float] = []
    acks: list = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def caller(barrier, index):
        local, mine = [], []
        try:
            requests = list(work(index))
            barrier.wait()
            for request in requests:
                start = time.perf_counter()
                ack = request()
                local.append(time.perf_counter() - start)
                if ack is not None:
                    mine.append(ack)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            with lock:
                latencies.extend(local)
                acks.extend(mine)
            connection.close()

    wall = run_together(CALLERS, caller)
    return {**rates(latencies, len(acks), wall), "acks": acks, "errors": errors}


_FLOOR_SQL = """
WITH b AS (
    UPDATE inventory_stockbalance SET reserved = reserved + %(n)s, updated_at = now()
     WHERE id = %(balance)s AND on_hand - reserved - qc_hold >= %(n)s
    RETURNING id, sku_id
), r AS (
    INSERT INTO inventory_reservation (fingerprint, balance_id, sku_id, quantity, original_quantity, state,
                                       expires_at, channel_id, reference, created_at, updated_at)
    SELECT f, b.id, b.sku_id, 1, 1, 'active', now() + interval '15 minutes', %(channel)s, 'floor', now(), now()
      FROM b, unnest(%(fingerprints)s::text[]) f
    RETURNING id, balance_id, sku_id
)
INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta, qc_hold_delta,
                                     reference, note, payload, reservation_id, created_at)
SELECT balance_id, sku_id, 'reserve', 0, 1, 0, 'floor', '', '{}', id, now() FROM r
"""


def run_floor(balance_id: int, channel_id: int) -> dict:
    """The plain-SQL floor: FLOOR_BATCHES batches of CALLERS reservations, one statement each."""
    import psycopg

    batches = [[secrets.token_hex(16) for _ in range(CALLERS)] for _ in range(FLOOR_BATCHES)]
    latencies = []
    with psycopg.connect(f"{SERVER}/{DB}") as conn:
        start = time.perf_counter()
        for fingerprints in batches:
            began = time.perf_counter()
            with conn.transaction():
                conn.execute(
                    _FLOOR_SQL,
                    {
                        "n": CALLERS,
                        "balance": balance_id,
                        "channel": channel_id,
                        "fingerprints": fingerprints,
                    },
                )
            latencies.append(time.perf_counter() - began)
        wall = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return {"rate": CALLERS * FLOOR_BATCHES / wall, "p50": statistics.median(ms), "p99": percentile(ms, 99)}


def main() -> None:
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    setup_django(DB)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.db.models import Count, F, Sum
    from rest_framework.authtoken.models import Token

    from catalog.models import Channel
    from core.roles import Role
    from inventory import locks
    from inventory.models import (
        HOLDING,
        SKU,
        MovementKind,
        Reservation,
        StockBalance,
        StockMovement,
        Warehouse,
    )
    from inventory.reconciliation import find_drift
    from inventory.services import stock_change

    channel = Channel.objects.create(platform="generic", code="flash", name="Flash sale", currency="CNY")
    warehouse = Warehouse.objects.create(code="WH-1", name="Main", kind="own")

    def new_sku(code: str, units: int) -> tuple[SKU, int]:
        sku = SKU.objects.create(code=code, name=code)
        with transaction.atomic():
            stock_change(
                kind=MovementKind.RECEIPT, sku=sku, warehouse=warehouse, quantity=units, reference="PO"
            )
        return sku, StockBalance.objects.get(sku=sku).pk

    acknowledged: dict[str, set[str]] = {}  # SKU code → fingerprints answered as locked
    print(f"hot SKU: {CALLERS} callers; {load_average()}")
    print(
        f"  service layer, {ROUNDS} rounds A B F: A ours {CALLERS}×{PER_CALLER} requests, "
        f"B baseline {CALLERS}×{BASELINE_PER_CALLER}, F floor {FLOOR_BATCHES} batches of {CALLERS}"
    )
    service = []
    for number in range(ROUNDS):
        hot, _balance = new_sku(f"HOT-A{number}", int(CALLERS * PER_CALLER * SOLD))

        def ours_work(index, hot=hot):
            for k in range(PER_CALLER):
                request = locks.LockRequest(
                    channel_id=channel.pk, lines=[(hot.pk, 1)], reference=f"c{index}-{k}"
                )

                def call(request=request):
                    result = locks.stock_lock(request)
                    return result.locks[0].fingerprint if result.locks else None

                yield call

        ours = run_callers(ours_work)
        acknowledged[hot.code] = set(ours["acks"])
        batches = Reservation.objects.filter(sku=hot).values("created_at").distinct().count()
        ours["batch"] = len(ours["acks"]) / max(1, batches)

        cold, cold_balance = new_sku(f"HOT-B{number}", int(CALLERS * BASELINE_PER_CALLER * SOLD))

        def naive_lock(cold=cold, cold_balance=cold_balance):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE inventory_stockbalance SET reserved = reserved + 1, updated_at = now() "
                        "WHERE id = %s AND on_hand - reserved - qc_hold >= 1 RETURNING id",
                        [cold_balance],
                    )
                    if cursor.fetchone() is None:
                        return None
                reservation = Reservation.objects.create(
                    channel=channel, balance_id=cold_balance, sku=cold, quantity=1, original_quantity=1
                )
                StockMovement.objects.create(
                    balance_id=cold_balance,
                    sku=cold,
                    kind=MovementKind.RESERVE,
                    reserved_delta=1,
                    reservation=reservation,
                )
                return reservation.fingerprint

        baseline = run_callers(lambda i, call=naive_lock: (call for _ in range(BASELINE_PER_CALLER)))
        acknowledged[cold.code] = set(baseline["acks"])

        _floor_sku, floor_balance = new_sku(f"HOT-F{number}", CALLERS * FLOOR_BATCHES)
        connection.close()
        floor = run_floor(floor_balance, channel.pk)
        service.append((ours, baseline, floor))
        print(
            f"  round {number + 1}: A {ours['rate']:6,.0f}/s p99 {ours['p99']:5.1f} ms (mean batch "
            f"{ours['batch']:.1f}) | B {baseline['rate']:5,.0f}/s p99 {baseline['p99']:5.1f} ms | F "
            f"{floor['rate']:6,.0f}/s ({floor['p50']:.1f} ms per batch of {CALLERS}) | {load_average()}"
        )
    errors = [e for ours, baseline, _f in service for e in ours["errors"] + baseline["errors"]]

    # --- HTTP: gunicorn as in production ---------------------------------------------------------
    user = get_user_model().objects.create_user("bench-locks", password=secrets.token_urlsafe(16))
    user.groups.add(Group.objects.get(name=Role.MANAGER))
    token = Token.objects.create(user=user).key
    http_skus = [new_sku(f"HOT-H{n}", int(CALLERS * HTTP_PER_CLIENT * SOLD))[0] for n in range(ROUNDS)]
    warm_sku, _ = new_sku("HOT-WARM", 10_000)
    connection.close()
    flush_redis(REDIS)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    web = []
    shape = {"STOCK_LOCK_WRITER_URL": REDIS if WRITER else ""}
    with (
        gunicorn(DB, workers=WORKERS, threads=THREADS, broker=REDIS, cache=REDIS, extra_env=shape) as port,
        manage_process(DB, "stock_lock_writer", broker=REDIS, cache=REDIS, extra_env=shape)
        if WRITER
        else contextlib.nullcontext(),
    ):
        trivial = request_once(port, "GET", "/api/v1/", None, headers)
        anonymous = request_once(port, "GET", "/api/v1/", None, {})
        assert trivial[0] == 200 and anonymous[0] in (401, 403), (trivial, anonymous)
        warm = [lock_body(warm_sku.code, f"warm-{n}") for n in range(CALLERS * 4)]
        run_http(port, headers, "POST", "/api/v1/stock/locks/", warm, 201)
        run_http(port, headers, "GET", "/api/v1/", [None] * CALLERS * 4, 200)
        print(
            f"  HTTP, gunicorn gthread {WORKERS}×{THREADS}"
            f"{', one stock_lock_writer process' if WRITER else ', each process batching its own callers'}, "
            f"{CALLERS} clients × {HTTP_PER_CLIENT} requests, {ROUNDS} rounds H T"
        )
        for number, sku in enumerate(http_skus):
            bodies = [lock_body(sku.code, f"h{number}-{n}") for n in range(CALLERS * HTTP_PER_CLIENT)]
            locked = run_http(port, headers, "POST", "/api/v1/stock/locks/", bodies, 201)
            plain = run_http(port, headers, "GET", "/api/v1/", [None] * CALLERS * HTTP_PER_CLIENT, 200)
            acknowledged[sku.code] = {body["locks"][0]["fingerprint"] for body in locked["answers"]}
            batches = Reservation.objects.filter(sku=sku).values("created_at").distinct().count()
            locked["batch"] = len(acknowledged[sku.code]) / max(1, batches)
            web.append((locked, plain))
            print(
                f"  round {number + 1}: H {locked['rate']:5,.0f} locks/s ({locked['requests']:5,.0f} answers/s, "
                f"p50 {locked['p50']:.0f} ms, p99 {locked['p99']:.0f} ms, mean batch {locked['batch']:.1f}) | "
                f"T {plain['requests']:5,.0f}/s (p50 {plain['p50']:.0f} ms) | {load_average()}"
            )
            connection.close()
    flush_redis(REDIS)

    med = statistics.median
    ours_rate = med(r[0]["rate"] for r in service)
    ours_p99 = med(r[0]["p99"] for r in service)
    base_rate = med(r[1]["rate"] for r in service)
    floor_rate = med(r[2]["rate"] for r in service)
    http_rate = med(r[0]["rate"] for r in web)
    trivial_rate = med(r[1]["requests"] for r in web)
    http_failures = sum(r[0]["failures"] + r[1]["failures"] for r in web)
    print("  medians over the rounds:")
    print(
        "  | path | reservations/s | p99 | baseline /s | floor /s | ours/baseline | ours/floor | target | |"
    )
    print("  |---|---:|---:|---:|---:|---:|---:|---|---|")
    print(
        f"  | service, {CALLERS} callers | {ours_rate:,.0f} | {ours_p99:.1f} ms | {base_rate:,.0f} | "
        f"{floor_rate:,.0f} | {ours_rate / base_rate:.1f}× | {ours_rate / floor_rate:.0%} | ≥ 5,000/s, p99 ≤ 50 ms | "
        f"{verdict(ours_rate >= 5000 and ours_p99 <= 50)} |"
    )
    print(
        f"  | HTTP, {CALLERS} clients | {http_rate:,.0f} | {med(r[0]['p99'] for r in web):.0f} ms | "
        f"trivial endpoint {trivial_rate:,.0f} | – | {http_rate / trivial_rate:.0%} of trivial | – | ≥ 50 % of trivial | "
        f"{verdict(http_rate >= 0.5 * trivial_rate)} |"
    )
    print(
        f"  mean batch: service {med(r[0]['batch'] for r in service):.1f}, "
        f"HTTP across {WORKERS} processes {med(r[0]['batch'] for r in web):.1f}; {load_average()}"
    )

    # --- invariants --------------------------------------------------------------------------------
    problems = []
    for balance in StockBalance.objects.filter(sku__code__startswith="HOT-").select_related("sku"):
        held = Reservation.objects.filter(balance=balance, state__in=HOLDING).aggregate(
            n=Sum("quantity"), rows=Count("pk")
        )
        stored = set(Reservation.objects.filter(balance=balance).values_list("fingerprint", flat=True))
        code = balance.sku.code
        if balance.reserved > balance.on_hand:
            problems.append(f"{code}: oversold ({balance.reserved} of {balance.on_hand})")
        if (held["n"] or 0) != balance.reserved:
            problems.append(f"{code}: reservations hold {held['n']}, balance says {balance.reserved}")
        if code in acknowledged:
            if acknowledged[code] - stored:
                problems.append(f"{code}: {len(acknowledged[code] - stored)} acknowledged locks missing")
            if stored - acknowledged[code]:
                problems.append(f"{code}: {len(stored - acknowledged[code])} stored locks never acknowledged")
    if Reservation.objects.exclude(quantity=1).filter(sku__code__startswith="HOT-").exists():
        problems.append("a lock holds other than one unit")
    sold_out = all(
        StockBalance.objects.filter(sku__code=code, reserved=F("on_hand")).exists()
        for code in acknowledged
        if code != "HOT-WARM"
    )
    books = not find_drift()
    print(
        f"  invariants: no oversell, every acknowledged lock stored and nothing else "
        f"{verdict(not problems)} {problems[:5]}; every hot SKU sold out exactly {verdict(sold_out)}; "
        f"balances equal the ledger {verdict(books)}; errors {len(errors)}, HTTP failures {http_failures}"
    )
    teardown(DB)
    if problems or not books or errors or http_failures or not sold_out:
        raise SystemExit(1)


def lock_body(code: str, reference: str) -> dict:
    return {"channel": "flash", "reference": reference, "lines": [{"sku": code, "quantity": 1}]}


def run_http(port: int, headers: dict, method: str, path: str, bodies: list, expected: int) -> dict:
    """CALLERS clients; a 409 (sold out) on the lock endpoint is an answer, not a failure."""
    encoded = [None if body is None else json.dumps(body).encode() for body in bodies]
    return run_clients(
        port, headers, method, path, encoded, clients=CALLERS, expected=expected, also_fine=(409,)
    )


if __name__ == "__main__":
    main()
