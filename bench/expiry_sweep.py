"""Reservation expiry sweep (issue #18: batches ≤ 200 ms, ≥ 80 % of the plain-SQL floor; expired
stock sellable again at its deadline even before the sweep).

Rounds interleaved A B F, A B F …, each path on its own freshly loaded overdue reservations
(SWEEP_RESERVATIONS per round, PER_SKU per SKU — below the release breaker's 20 per SKU an hour);
medians over the rounds:
A, ours: inventory.reservations.expire_due batch after batch, each in its own short transaction —
   reservation rows taken with SKIP LOCKED, the release breaker's allowance per SKU, one UPDATE
   for the reservations, one conditional UPDATE for the balances, one array insert for the ledger.
B, baseline (the naive loop): per due reservation its own transaction that locks it and its
   balance, gives the units back, marks it expired and writes the ledger row (SWEEP_BASELINE rows).
F, plain-SQL floor: the same writes with no Python between them and no breaker — one statement per
   batch of SWEEP_BATCH (`WITH due … FOR UPDATE SKIP LOCKED, UPDATE, UPDATE, INSERT`).

Before the rounds: stock whose only holders are overdue locks is sold again with no sweep run
(a checkout lock for all of it is granted, the overdue lock expired on the way). Invariants: every
due reservation released, balances equal the ledger and their holding reservations (find_drift).
Run: `.venv/bin/python -m bench.expiry_sweep`."""

import os
import statistics
import time

from bench.common import SERVER, load_average, setup_django, teardown, verdict

DB = "conduit_bench_hot_h_expiry"
ROUNDS = int(os.environ.get("SWEEP_ROUNDS", 3))
RESERVATIONS = int(os.environ.get("SWEEP_RESERVATIONS", 30_000))
PER_SKU = 10  # below the release breaker's 20 per SKU per hour
BASELINE = int(os.environ.get("SWEEP_BASELINE", 1_000))
BATCH = int(os.environ.get("SWEEP_BATCH", 1_000))  # short transactions: locks held ≤ 200 ms


def load(prefix: str, reservations: int, channel_id: int, warehouse_id: int) -> None:
    """`reservations` overdue checkout locks, PER_SKU on each of fresh SKUs `prefix…`, with the
    receipts and reserve movements that make balances, reservations and the ledger agree."""
    from django.db import connection

    from inventory.models import SKU

    skus = SKU.objects.bulk_create(
        SKU(code=f"{prefix}{n}", name=f"Item {prefix}{n}") for n in range(max(1, reservations // PER_SKU))
    )
    ids = [sku.pk for sku in skus]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO inventory_stockbalance (sku_id, warehouse_id, pool_id, on_hand, reserved, qc_hold, updated_at)
            SELECT s, %(wh)s, p.id, 1000, %(per)s, 0, now()
              FROM unnest(%(skus)s::bigint[]) s, inventory_stockpool p WHERE p.is_default;
            INSERT INTO inventory_reservation (fingerprint, channel_id, reference, balance_id, sku_id, quantity,
                                               original_quantity, state, expires_at, created_at, updated_at)
            SELECT md5(random()::text || b.id || '-' || g), %(channel)s, 'cart', b.id, b.sku_id, 1, 1, 'active',
                   now() - interval '1 minute', now(), now()
              FROM inventory_stockbalance b, generate_series(1, %(per)s) g WHERE b.sku_id = ANY(%(skus)s);
            INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                                 qc_hold_delta, reference, note, payload, created_at)
            SELECT id, sku_id, 'receipt', 1000, 0, 0, 'PO', '', '{}', now()
              FROM inventory_stockbalance WHERE sku_id = ANY(%(skus)s);
            INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                                 qc_hold_delta, reference, note, payload, created_at, reservation_id)
            SELECT balance_id, sku_id, 'reserve', 0, quantity, 0, '', '', '{}', now(), id
              FROM inventory_reservation WHERE sku_id = ANY(%(skus)s);
            ANALYZE inventory_reservation;
            ANALYZE inventory_stockbalance;
            """,
            {"wh": warehouse_id, "per": PER_SKU, "skus": ids, "channel": channel_id},
        )


_FLOOR_SQL = """
WITH due AS (
    SELECT id, balance_id, sku_id, quantity, order_id FROM inventory_reservation
     WHERE state = 'active' AND expires_at <= %(now)s
     ORDER BY expires_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE inventory_reservation r SET state = 'expired', quantity = 0, updated_at = %(now)s
      FROM due WHERE r.id = due.id
), v AS (
    SELECT balance_id, SUM(quantity)::int AS q FROM due GROUP BY balance_id
), released AS (
    UPDATE inventory_stockbalance b SET reserved = b.reserved - v.q, updated_at = %(now)s
      FROM v WHERE b.id = v.balance_id AND b.reserved - v.q >= 0
), moved AS (
    INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta, qc_hold_delta,
                                         reference, note, payload, reservation_id, order_id, created_at)
    SELECT balance_id, sku_id, 'expire', 0, -quantity, 0, '', '', '{}', id, order_id, %(now)s FROM due
)
SELECT COUNT(*) FROM due
"""


def run_batches(step) -> dict:
    """Call `step()` (one batch, its own transaction, returns rows released) until it returns 0."""
    batches = []
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        count = step()
        if not count:
            break
        batches.append((count, time.perf_counter() - began))
    elapsed = time.perf_counter() - start
    released = sum(count for count, _ in batches)
    return {
        "rate": released / elapsed,
        "released": released,
        "batches": len(batches),
        "slowest": max(seconds for _, seconds in batches) * 1000,
        "p50": statistics.median(seconds for _, seconds in batches) * 1000,
    }


def main() -> None:
    setup_django(DB)
    import psycopg
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Channel
    from inventory import locks, reservations
    from inventory.models import SKU, MovementKind, Reservation, StockBalance, StockMovement, Warehouse
    from inventory.reconciliation import find_drift
    from inventory.services import stock_change

    channel = Channel.objects.create(platform="generic", code="bench", name="Bench", currency="CNY")
    warehouse = Warehouse.objects.create(code="WH", name="Main", kind="own")

    # --- sellable at the deadline, before any sweep ----------------------------------------------
    last = SKU.objects.create(code="LAST", name="Last ten")
    with transaction.atomic():
        stock_change(kind=MovementKind.RECEIPT, sku=last, warehouse=warehouse, quantity=10, reference="PO")
    [held] = locks.stock_lock_batch([locks.LockRequest(channel_id=channel.pk, lines=[(last.pk, 10)])])
    Reservation.objects.filter(pk=held.locks[0].pk).update(expires_at=timezone.now())
    [again] = locks.stock_lock_batch([locks.LockRequest(channel_id=channel.pk, lines=[(last.pk, 10)])])
    at_deadline = bool(again.locks) and Reservation.objects.get(pk=held.locks[0].pk).state == "expired"

    print(
        f"expiry sweep: {ROUNDS} rounds A B F, {RESERVATIONS:,} overdue locks per path per round; {load_average()}"
    )
    rounds = []
    for number in range(ROUNDS):
        load(f"A{number}-", RESERVATIONS, channel.pk, warehouse.pk)
        now = timezone.now()

        def ours_step(now=now):
            with transaction.atomic():
                return reservations.expire_due(now=now, limit=BATCH)[0]

        ours = run_batches(ours_step)

        load(f"B{number}-", BASELINE, channel.pk, warehouse.pk)
        sample = list(
            Reservation.objects.filter(state="active", expires_at__lte=timezone.now()).values_list(
                "pk", flat=True
            )
        )
        start = time.perf_counter()
        for pk in sample:
            with transaction.atomic():
                reservation = Reservation.objects.select_for_update().get(pk=pk)
                balance = StockBalance.objects.select_for_update().get(pk=reservation.balance_id)
                balance.reserved -= reservation.quantity
                balance.save(update_fields=["reserved"])
                StockMovement.objects.create(
                    balance=balance,
                    sku_id=balance.sku_id,
                    kind=MovementKind.EXPIRE,
                    reserved_delta=-reservation.quantity,
                    reservation=reservation,
                    order_id=reservation.order_id,
                )
                Reservation.objects.filter(pk=pk).update(state="expired", quantity=0)
        baseline = {"rate": len(sample) / (time.perf_counter() - start)}

        load(f"F{number}-", RESERVATIONS, channel.pk, warehouse.pk)
        connection.close()
        with psycopg.connect(f"{SERVER}/{DB}") as conn:
            floor_now = timezone.now()

            def floor_step(conn=conn, floor_now=floor_now):
                with conn.transaction():
                    return conn.execute(_FLOOR_SQL, {"now": floor_now, "limit": BATCH}).fetchone()[0]

            floor = run_batches(floor_step)
        rounds.append((ours, baseline, floor))
        print(
            f"  round {number + 1}: A {ours['rate']:7,.0f}/s ({ours['batches']} batches, p50 {ours['p50']:.0f} ms, "
            f"slowest {ours['slowest']:.0f} ms) | B {baseline['rate']:5,.0f}/s | F {floor['rate']:7,.0f}/s "
            f"(slowest {floor['slowest']:.0f} ms) | {load_average()}"
        )

    med = statistics.median
    rate = med(r[0]["rate"] for r in rounds)
    slowest = max(r[0]["slowest"] for r in rounds)
    base_rate = med(r[1]["rate"] for r in rounds)
    floor_rate = med(r[2]["rate"] for r in rounds)
    left = Reservation.objects.filter(state="active", expires_at__lte=timezone.now()).count()
    released = sum(r[0]["released"] + r[2]["released"] for r in rounds)
    books = not find_drift()
    print("  medians over the rounds:")
    print(
        "  | path | released/s | slowest batch | baseline /s | floor /s | ours/baseline | ours/floor | target | |"
    )
    print("  |---|---:|---:|---:|---:|---:|---:|---|---|")
    print(
        f"  | sweep, batches of {BATCH:,} | {rate:,.0f} | {slowest:.0f} ms | {base_rate:,.0f} | {floor_rate:,.0f} | "
        f"{rate / base_rate:.1f}× | {rate / floor_rate:.0%} | ≤ 200 ms, ≥ 80 % of floor | "
        f"{verdict(slowest <= 200 and rate >= 0.8 * floor_rate)} |"
    )
    print(
        f"  invariants: sellable at the deadline before any sweep {verdict(at_deadline)}, all due released "
        f"{verdict(left == 0 and released == 2 * ROUNDS * RESERVATIONS)} ({left} left), balances equal the ledger "
        f"{verdict(books)}; {load_average()}"
    )
    teardown(DB)
    if left or not books or not at_deadline:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
