"""Hot SKU: 64 concurrent callers ordering one SKU (SPEC §8: ≥ 5,000 successful reservations/s,
p99 ≤ 50 ms, zero oversell; ≥ 4× the naive `SELECT … FOR UPDATE` then update + insert per request).

Ours: each caller places a whole order (customer, order, line, events, reservation, ledger) through
orders.intake.GroupCommit — what POST /api/v1/orders/ does — so concurrent orders share commits.
Baseline, in the same run and database: per request, its own transaction that locks the balance
row with SELECT … FOR UPDATE, checks it in Python, updates it and inserts the reservation and the
ledger row (reservation only: no order is created, so it does less work than ours)."""

import os
import threading
import time

from bench.common import describe, percentile, setup_django, teardown, verdict

DB = "conduit_bench_hot_sku"
CALLERS = int(os.environ.get("HOT_SKU_CALLERS", 64))
ORDERS_PER_CALLER = int(os.environ.get("HOT_SKU_ORDERS", 300))
STOCK = CALLERS * ORDERS_PER_CALLER * 3 // 4  # a quarter of the callers find it sold out
BASELINE_PER_CALLER = int(os.environ.get("HOT_SKU_BASELINE_ORDERS", 40))


def run_callers(work) -> tuple[float, list[float], list[Exception]]:
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

    from integrations.models import Channel
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
    from orders.api.serializers import CanonicalOrderInput
    from orders.intake import GroupCommit
    from orders.models import Order, OrderLine

    channel = Channel.objects.create(platform="generic", code="flash", name="Flash sale", currency="CNY")
    warehouse = Warehouse.objects.create(code="WH-1", name="Main", kind="own")
    hot = SKU.objects.create(code="HOT", name="Hot item")
    cold = SKU.objects.create(code="HOT-BASELINE", name="Hot item (baseline)")
    with transaction.atomic():
        stock_change(kind=MovementKind.RECEIPT, sku=hot, warehouse=warehouse, quantity=STOCK, reference="PO")
        stock_change(kind=MovementKind.RECEIPT, sku=cold, warehouse=warehouse, quantity=STOCK, reference="PO")

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
            "lines": [{"sku": "HOT", "quantity": 1, "unit_price": "99.00"}],
        }
    )
    template.is_valid(raise_exception=True)
    base = template.validated_data

    # --- ours: every caller places orders through the group commit ---------------------------
    group = GroupCommit(max_batch=CALLERS)

    def our_work(index):
        for k in range(ORDERS_PER_CALLER):
            data = {
                **base,
                "external_id": f"F-{index}-{k}",
                "customer": {"name": "Buyer", "phone": f"138{index:04d}{k:04d}"},
            }
            yield lambda data=data: group.submit(data)

    ours_s, ours_lat, ours_err = run_callers(our_work)
    balance = StockBalance.objects.get(sku=hot)
    held = Reservation.objects.filter(sku=hot, state__in=HOLDING).aggregate(n=Sum("quantity"))["n"] or 0
    ours_ok = Reservation.objects.filter(sku=hot).count()
    attempts = CALLERS * ORDERS_PER_CALLER
    no_oversell = balance.reserved <= balance.on_hand and held == balance.reserved == ours_ok == STOCK
    books = not find_drift()
    orders_made = Order.objects.filter(channel=channel).count()

    # --- baseline: lock, check in Python, update, insert — one transaction per request ---------
    order = Order.objects.filter(channel=channel).first()
    line = OrderLine.objects.filter(order=order).first()
    baseline_balance = StockBalance.objects.get(sku=cold)

    def naive_reserve():
        with transaction.atomic():
            row = StockBalance.objects.select_for_update().get(pk=baseline_balance.pk)
            if row.on_hand - row.reserved - row.qc_hold < 1:
                return
            row.reserved += 1
            row.save(update_fields=["reserved"])
            reservation = Reservation.objects.create(
                order=order, order_line=line, balance=row, sku=cold, quantity=1, original_quantity=1
            )
            StockMovement.objects.create(
                balance=row,
                sku=cold,
                kind=MovementKind.RESERVE,
                reserved_delta=1,
                reservation=reservation,
                order=order,
            )

    base_s, base_lat, base_err = run_callers(lambda i: (naive_reserve for _ in range(BASELINE_PER_CALLER)))
    base_ok = Reservation.objects.filter(sku=cold).count()

    ours_rate = ours_ok / ours_s
    base_rate = base_ok / base_s
    p99_ms = percentile(ours_lat, 99) * 1000
    print(f"hot SKU, {CALLERS} concurrent callers, {STOCK} units")
    print(
        f"  ours     : {attempts} orders placed ({orders_made} stored) in {ours_s:.2f}s, "
        f"{ours_ok} reservations succeeded → {ours_rate:,.0f} reservations/s ({attempts / ours_s:,.0f} orders/s); "
        f"{describe(ours_lat)}; errors {len(ours_err)}"
    )
    print(
        f"  baseline : {base_ok} reservations in {base_s:.2f}s → {base_rate:,.0f} reservations/s; "
        f"{describe(base_lat)}; errors {len(base_err)}"
    )
    print(f"  ratio    : {ours_rate / base_rate:.1f}× (target ≥ 4×) {verdict(ours_rate / base_rate >= 4)}")
    print(
        f"  target   : ≥ 5,000/s {verdict(ours_rate >= 5000)}, p99 {p99_ms:.1f} ms ≤ 50 ms {verdict(p99_ms <= 50)}"
    )
    print(
        f"  invariants: no oversell {verdict(no_oversell)} (reserved {balance.reserved} of {balance.on_hand}, "
        f"reservations hold {held}), balances equal the ledger {verdict(books)}"
    )
    teardown(DB)
    if not (no_oversell and books and not ours_err and not base_err):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
