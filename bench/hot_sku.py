"""Hot SKU: 64 concurrent callers reserving one SKU (SPEC §8: ≥ 5,000 successful reservations/s,
p99 ≤ 50 ms, zero oversell; ≥ 4× the naive `SELECT … FOR UPDATE` then update + insert per request).

Ours: each caller asks for a checkout lock of one unit through inventory.locks.stock_lock — what
POST /api/v1/stock/locks/ runs — so concurrent requests share one transaction and one conditional
UPDATE per batch. Baseline, same run and database: per request its own transaction that locks the
balance row with SELECT … FOR UPDATE, checks it in Python, updates it and inserts the reservation
and its ledger row. A third figure places whole orders (customer, order, line, events,
reservation, ledger) through the order intake's group commit, as POST /api/v1/orders/ does."""

import os
import threading
import time

from bench.common import describe, percentile, setup_django, teardown, verdict

DB = "conduit_bench_hot_sku"
CALLERS = int(os.environ.get("HOT_SKU_CALLERS", 64))
PER_CALLER = int(os.environ.get("HOT_SKU_REQUESTS", 400))
BASELINE_PER_CALLER = int(os.environ.get("HOT_SKU_BASELINE_REQUESTS", 40))
ORDERS_PER_CALLER = int(os.environ.get("HOT_SKU_ORDERS", 100))


def run_callers(work) -> tuple[float, list[float], list[Exception]]:
    """CALLERS threads (each with its own connection) start together and run their requests."""
    from django.db import connection

    latencies: list[float] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(CALLERS + 1)

    def caller(index):
        local = []
        try:
            barrier.wait()
            for request in work(index):
                start = time.perf_counter()
                request()
                local.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            latencies.extend(local)
            connection.close()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, errors


def main() -> None:
    setup_django(DB)
    from django.db import transaction
    from django.db.models import Sum

    from catalog.models import Channel
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
    from orders.canonical import CanonicalOrderInput
    from orders.intake import order_submit

    attempts = CALLERS * PER_CALLER
    stock = attempts * 3 // 4  # the last quarter of the callers find it sold out
    channel = Channel.objects.create(platform="generic", code="flash", name="Flash sale", currency="CNY")
    warehouse = Warehouse.objects.create(code="WH-1", name="Main", kind="own")
    skus = {code: SKU.objects.create(code=code, name=code) for code in ("HOT", "HOT-BASELINE", "HOT-ORDERS")}
    with transaction.atomic():
        for sku in skus.values():
            stock_change(
                kind=MovementKind.RECEIPT, sku=sku, warehouse=warehouse, quantity=stock, reference="PO"
            )

    def outcome(sku):
        balance = StockBalance.objects.get(sku=sku)
        held = Reservation.objects.filter(sku=sku, state__in=HOLDING).aggregate(n=Sum("quantity"))["n"] or 0
        made = Reservation.objects.filter(sku=sku).count()
        return balance, held, made

    # --- ours: checkout locks through the group commit ---------------------------------------
    hot = skus["HOT"]

    def lock_work(index):
        for k in range(PER_CALLER):
            request = locks.LockRequest(
                channel_id=channel.pk, lines=[(hot.pk, 1)], reference=f"cart-{index}-{k}"
            )
            yield lambda request=request: locks.stock_lock(request)

    ours_s, ours_lat, ours_err = run_callers(lock_work)
    balance, held, ours_ok = outcome(hot)
    no_oversell = balance.reserved <= balance.on_hand and held == balance.reserved == ours_ok == stock

    # --- baseline: lock the row, check in Python, update, insert — one transaction per request --
    cold = skus["HOT-BASELINE"]
    cold_balance = StockBalance.objects.get(sku=cold)

    def naive_lock():
        with transaction.atomic():
            row = StockBalance.objects.select_for_update().get(pk=cold_balance.pk)
            if row.on_hand - row.reserved - row.qc_hold < 1:
                return
            row.reserved += 1
            row.save(update_fields=["reserved"])
            reservation = Reservation.objects.create(
                channel=channel, balance=row, sku=cold, quantity=1, original_quantity=1, reference="cart"
            )
            StockMovement.objects.create(
                balance=row, sku=cold, kind=MovementKind.RESERVE, reserved_delta=1, reservation=reservation
            )

    base_s, base_lat, base_err = run_callers(lambda i: (naive_lock for _ in range(BASELINE_PER_CALLER)))
    _b, _h, base_ok = outcome(cold)

    # --- for reference: whole orders through the order intake's group commit ------------------
    template = CanonicalOrderInput(
        data={
            "channel": "flash",
            "external_id": "X",
            "placed_at": "2026-11-11T00:00:00+08:00",
            "currency": "CNY",
            "customer": {"name": "Buyer", "phone": "13800000000"},
            "shipping_address": {
                "country": "CN",
                "province": "浙江省",
                "city": "杭州市",
                "line1": "文三路 1 号",
            },
            "lines": [{"sku": "HOT-ORDERS", "quantity": 1, "unit_price": "99.00"}],
        }
    )
    template.is_valid(raise_exception=True)
    base = template.validated_data

    def order_work(index):
        for k in range(ORDERS_PER_CALLER):
            data = {
                **base,
                "external_id": f"F-{index}-{k}",
                "customer": {"name": "B", "phone": f"138{index:04d}{k:04d}"},
            }
            yield lambda data=data: order_submit(data=data)

    orders_s, orders_lat, orders_err = run_callers(order_work)
    _b, _h, orders_ok = outcome(skus["HOT-ORDERS"])

    books = not find_drift()
    ours_rate, base_rate = ours_ok / ours_s, base_ok / base_s
    p99_ms = percentile(ours_lat, 99) * 1000
    print(f"hot SKU: {CALLERS} concurrent callers, {stock:,} units, {attempts:,} requests")
    print(
        f"  ours     : {ours_ok:,} reservations in {ours_s:.2f}s → {ours_rate:,.0f}/s "
        f"({attempts / ours_s:,.0f} requests/s); {describe(ours_lat)}; errors {len(ours_err)}"
    )
    print(
        f"  baseline : {base_ok:,} reservations in {base_s:.2f}s → {base_rate:,.0f}/s; {describe(base_lat)}; "
        f"errors {len(base_err)}"
    )
    print(f"  ratio    : {ours_rate / base_rate:.1f}× (target ≥ 4×) {verdict(ours_rate / base_rate >= 4)}")
    print(
        f"  target   : ≥ 5,000/s {verdict(ours_rate >= 5000)}, p99 {p99_ms:.1f} ms ≤ 50 ms {verdict(p99_ms <= 50)}"
    )
    print(
        f"  orders   : {CALLERS * ORDERS_PER_CALLER:,} whole orders placed in {orders_s:.2f}s → "
        f"{CALLERS * ORDERS_PER_CALLER / orders_s:,.0f} orders/s ({orders_ok:,} reserved); {describe(orders_lat)}; "
        f"errors {len(orders_err)}"
    )
    print(
        f"  invariants: no oversell {verdict(no_oversell)} (reserved {balance.reserved:,} of {balance.on_hand:,}, "
        f"reservations hold {held:,}), balances equal the ledger {verdict(books)}"
    )
    teardown(DB)
    if not (no_oversell and books and not ours_err and not base_err and not orders_err):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
