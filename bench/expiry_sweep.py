"""Reservation expiry sweep (SPEC §8: ≥ 50,000 released/s, batches ≤ 200 ms).

Ours: inventory.reservations.reservations_expire_sweep — batches taken with SKIP LOCKED, one
UPDATE for the reservations, one conditional UPDATE for the balances, one insert for the ledger.
Baseline, in the same run: the per-row loop — for each due reservation its own transaction that
locks the balance, releases the units, marks the reservation and writes the ledger row."""

import os
import time

from bench.common import setup_django, teardown, verdict

DB = "conduit_bench_expiry"
RESERVATIONS = int(os.environ.get("SWEEP_RESERVATIONS", 100_000))
PER_SKU = 10  # below the release breaker's 20 per SKU per hour
BASELINE_SAMPLE = int(os.environ.get("SWEEP_BASELINE", 5_000))
BATCH = int(os.environ.get("SWEEP_BATCH", 1_000))  # short transactions: locks held ≤ 200 ms


def load(skus: int) -> None:
    """Set-based fixture: `skus` SKUs with stock, one order line each, PER_SKU overdue unpaid
    reservations per SKU, and the ledger rows that make balances and reservations agree."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO integrations_channel (created_at, updated_at, platform, code, name, time_zone, currency,
                                              reservation_ttl_minutes, webhook_secret, api_credentials, is_active)
            VALUES (now(), now(), 'generic', 'bench', 'Bench', 'Asia/Shanghai', 'CNY', 30, '', '{}', true);
            INSERT INTO inventory_warehouse (created_at, updated_at, code, name, kind, country, province, city, district,
                                             address_line, postcode, service_regions, is_active, wms_protocol,
                                             wms_endpoint, wms_customer_id, wms_owner_code, wms_app_key, wms_secret)
            VALUES (now(), now(), 'WH', 'Main', 'own', 'CN', '', '', '', '', '', '[]', true, 'own', '', '', '', '', '');
            INSERT INTO inventory_sku (created_at, updated_at, code, name, presale, lot_tracked, is_active)
            SELECT now(), now(), 'S' || g, 'Item ' || g, false, false, true FROM generate_series(1, %(skus)s) g;
            INSERT INTO inventory_stockbalance (sku_id, warehouse_id, pool_id, on_hand, reserved, qc_hold, updated_at)
            SELECT s.id, w.id, p.id, 1000, %(per)s, 0, now()
              FROM inventory_sku s, inventory_warehouse w, inventory_stockpool p WHERE p.is_default;
            INSERT INTO orders_order (created_at, updated_at, number, channel_id, external_id, status, held_from,
                   hold_reason, cancel_reason, priority, tags, customer_name, customer_phone, customer_email,
                   buyer_note, ship_name, ship_phone, ship_country, ship_province, ship_city, ship_district,
                   ship_line1, ship_line2, ship_postcode, currency, goods_amount, line_discount_amount, discount,
                   shipping_fee, platform_commission, total, placed_at, channel_time_zone)
            SELECT now(), now(), 'SOB' || s.id, c.id, 'B' || s.id, 'pending_payment', '', '', '', 'normal', '[]',
                   '', '', '', '', '', '', 'CN', '', 'x', '', 'x', '', '', 'CNY', 0, 0, 0, 0, 0, 0, now(),
                   'Asia/Shanghai'
              FROM inventory_sku s, integrations_channel c;
            INSERT INTO orders_orderline (order_id, line_no, sku_id, quantity, cancelled_quantity, unit_price,
                                          discount, presale)
            SELECT o.id, 1, s.id, %(per)s, 0, 1, 0, false
              FROM orders_order o JOIN inventory_sku s ON o.external_id = 'B' || s.id;
            INSERT INTO inventory_reservation (fingerprint, order_id, order_line_id, channel_id, reference, balance_id,
                                               sku_id, quantity, original_quantity, state, expires_at, created_at,
                                               updated_at)
            SELECT md5(random()::text || l.id || g), l.order_id, l.id, o.channel_id, '', b.id, l.sku_id, 1, 1,
                   'active', now() - interval '1 minute', now(), now()
              FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
              JOIN inventory_stockbalance b ON b.sku_id = l.sku_id, generate_series(1, %(per)s) g;
            INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                                 qc_hold_delta, reference, note, payload, created_at)
            SELECT id, sku_id, 'receipt', 1000, 0, 0, 'PO', '', '{}', now() FROM inventory_stockbalance;
            INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                                                 qc_hold_delta, reference, note, payload, created_at,
                                                 reservation_id, order_id)
            SELECT balance_id, sku_id, 'reserve', 0, quantity, 0, '', '', '{}', now(), id, order_id
              FROM inventory_reservation;
            ANALYZE;
            """,
            {"skus": skus, "per": PER_SKU},
        )


def main() -> None:
    setup_django(DB)
    from django.db import transaction
    from django.utils import timezone

    from inventory import reservations
    from inventory.models import MovementKind, Reservation, StockBalance, StockMovement
    from inventory.reconciliation import find_drift

    load(RESERVATIONS // PER_SKU)
    total = Reservation.objects.filter(state="active").count()

    # --- baseline: the per-row loop, on a sample ------------------------------------------------
    sample = list(
        Reservation.objects.filter(state="active")
        .order_by("pk")
        .values_list("pk", flat=True)[:BASELINE_SAMPLE]
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
    baseline_rate = len(sample) / (time.perf_counter() - start)

    # --- ours: the sweep, batch by batch --------------------------------------------------------
    now = timezone.now()
    batches: list[tuple[int, float]] = []
    start = time.perf_counter()
    while True:
        began = time.perf_counter()
        with transaction.atomic():
            count, _freed = reservations.expire_due(now=now, limit=BATCH)
        if not count:
            break
        batches.append((count, time.perf_counter() - began))
    elapsed = time.perf_counter() - start
    released = sum(count for count, _ in batches)
    rate = released / elapsed
    slowest = max(seconds for _, seconds in batches) * 1000

    left = Reservation.objects.filter(state="active").count()
    books = not find_drift()
    print(f"expiry sweep, {total:,} overdue unpaid reservations on {total // PER_SKU:,} SKUs")
    print(
        f"  ours     : {released:,} released in {elapsed:.2f}s → {rate:,.0f}/s; {len(batches)} batches of "
        f"≤{BATCH:,}, slowest {slowest:.0f} ms"
    )
    print(f"  baseline : per-row loop on {len(sample):,} → {baseline_rate:,.0f}/s")
    print(f"  ratio    : {rate / baseline_rate:.1f}×")
    print(f"  target   : ≥ 50,000/s {verdict(rate >= 50_000)}, batches ≤ 200 ms {verdict(slowest <= 200)}")
    print(
        f"  invariants: all due released {verdict(left == 0 and released + len(sample) == total)}, "
        f"balances equal the ledger {verdict(books)}"
    )
    teardown(DB)
    if left or not books:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
