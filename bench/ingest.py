"""Order ingestion burst (SPEC §8: ≥ 5,000 orders/s at the service layer, ≥ 25× a naive per-order path).

Ours: orders.intake.order_ingest_batch — 3-line canonical orders in batches, with deduplication on
(channel, external_id), customers, numbers, lines, timeline events and all-or-none reservations,
set-based. One in ten payloads repeats an earlier order (a webhook delivered twice).
Baseline, same run: orders.services.order_ingest one order per transaction (the one-order path),
on a sample. Routing is not part of ingestion yet."""

import os
import random
import time
from datetime import timedelta
from decimal import Decimal

from bench.common import setup_django, teardown, verdict

DB = "conduit_bench_ingest"
ORDERS = int(os.environ.get("INGEST_ORDERS", 100_000))
BATCH = int(os.environ.get("INGEST_BATCH", 1_000))
BASELINE = int(os.environ.get("INGEST_BASELINE", 2_000))
SKUS = 1_000


def main() -> None:
    setup_django(DB)
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Channel
    from inventory.models import SKU, MovementKind, Reservation, Warehouse
    from inventory.reconciliation import find_drift
    from inventory.services import stock_change
    from orders import intake
    from orders.intake import order_ingest_batch
    from orders.models import Order, OrderLine

    channel = Channel.objects.create(platform="generic", code="burst", name="Burst", currency="CNY")
    warehouse = Warehouse.objects.create(code="WH-1", name="Main", kind="own")
    skus = SKU.objects.bulk_create(SKU(code=f"B-{n:04d}", name=f"Item {n}") for n in range(SKUS))
    with transaction.atomic():
        for sku in skus:
            stock_change(
                kind=MovementKind.RECEIPT, sku=sku, warehouse=warehouse, quantity=10_000, reference="PO"
            )

    rng = random.Random(11)
    placed = timezone.now() - timedelta(minutes=5)

    def payload(n: int, prefix: str) -> dict:
        lines = [
            {
                "sku": sku,
                "quantity": rng.randint(1, 3),
                "unit_price": Decimal("19.90"),
                "discount": Decimal("0"),
            }
            for sku in rng.sample(skus, 3)
        ]
        return {
            "channel": channel,
            "external_id": f"{prefix}-{n}",
            "placed_at": placed,
            "currency": "CNY",
            "customer": {"name": "买家", "phone": f"139{n:08d}", "email": ""},
            "shipping_address": {
                "country": "CN",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "line1": "文三路 90 号",
                "postcode": "310000",
                "phone": f"139{n:08d}",
            },
            "lines": lines,
            "shipping_fee": Decimal("8.00"),
            "discount": Decimal("0"),
            "platform_commission": Decimal("1.00"),
            "paid": n % 2 == 0,
            "priority": "normal",
            "tags": [],
            "note": "",
        }

    unique = ORDERS * 9 // 10
    items = [payload(n, "O") for n in range(unique)]
    items += [items[rng.randrange(unique)] for _ in range(ORDERS - unique)]  # repeated deliveries
    rng.shuffle(items)
    baseline_items = [payload(n, "N") for n in range(BASELINE)]

    # --- baseline: one order, one transaction -----------------------------------------------------
    start = time.perf_counter()
    for data in baseline_items:
        intake.order_ingest(data=data)
    baseline_rate = BASELINE / (time.perf_counter() - start)

    # --- ours: batches through the set-based intake ---------------------------------------------
    batch_times = []
    start = time.perf_counter()
    for first in range(0, ORDERS, BATCH):
        began = time.perf_counter()
        order_ingest_batch(items=items[first : first + BATCH])
        batch_times.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    rate = ORDERS / elapsed

    stored = Order.objects.filter(external_id__startswith="O-").count()
    lines = OrderLine.objects.filter(order__external_id__startswith="O-").count()
    reserved_orders = (
        Reservation.objects.filter(order__external_id__startswith="O-").values("order").distinct().count()
    )
    books = not find_drift()
    connection.close()
    print(
        f"order ingestion burst: {ORDERS:,} payloads ({unique:,} distinct orders, 3 lines each), batches of {BATCH:,}"
    )
    print(
        f"  ours     : {elapsed:.1f}s → {rate:,.0f} orders/s; slowest batch {max(batch_times) * 1000:.0f} ms"
    )
    print(f"  baseline : one order per transaction on {BASELINE:,} → {baseline_rate:,.0f} orders/s")
    print(f"  ratio    : {rate / baseline_rate:.1f}× (target ≥ 25×) {verdict(rate / baseline_rate >= 25)}")
    print(f"  target   : ≥ 5,000 orders/s {verdict(rate >= 5000)}")
    print(
        f"  invariants: one order per external id {verdict(stored == unique)} ({stored:,}), "
        f"3 lines each {verdict(lines == 3 * unique)}, every order reserved {verdict(reserved_orders == unique)}, "
        f"balances equal the ledger {verdict(books)}"
    )
    teardown(DB)
    if stored != unique or lines != 3 * unique or not books:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
