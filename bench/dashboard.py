"""Manager dashboard at 1M orders (SPEC §8: panel p95 ≤ 50 ms; ≥ 20× the same panels on raw tables).

Ours: the panels read the day rollups (dashboard.panels.from_rollups) that
dashboard.rollups keeps current. Baseline, in the same run: the very same panels computed
from the raw orders / shipments / tracking tables (panels.from_raw) — the grouped queries the
rollup refresh itself runs, on the 30-day range. Rounds: RUNS renders of every panel on rollups
(7/30/90-day ranges), then BASELINE_RUNS renders of every panel on raw tables, ROUNDS times
(A B A B …); p95 over all rollup renders, ratio of the medians. No floor: nothing is written.
Invariant checked: both give identical panels on each of the three ranges."""

import os
import random
import statistics
import time
from datetime import timedelta

from bench.common import (
    ROUNDS,
    describe,
    load_average,
    load_one,
    percentile,
    setup_django,
    summary,
    teardown,
    verdict,
)
from bench.fill import column_defaults

DB = os.environ.get("BENCH_DB", "conduit_bench_sheet_h_dashboard")
ORDERS = int(os.environ.get("DASHBOARD_ORDERS", 1_000_000))
DAYS = int(os.environ.get("DASHBOARD_DAYS", 365))  # orders spread over this many business days
RUNS = int(os.environ.get("DASHBOARD_RUNS", 10))  # per round
BASELINE_RUNS = int(os.environ.get("DASHBOARD_BASELINE_RUNS", 1))  # per round
TARGET_MS, TARGET_RATIO = 50, 20


def load() -> None:
    """Set-based fixture: 3 channels, 5 carriers, ORDERS orders with one line each over DAYS days in
    a realistic mix of states, a shipment (with its line) for every order that left the warehouse,
    first scans for most, some exceptions and refunds."""
    from django.db import connection

    from catalog.models import Channel
    from fulfilment.models import Carrier, Shipment, ShipmentLine
    from inventory.models import SKU, Warehouse
    from orders.models import Order, OrderLine

    column_defaults(Order, OrderLine, Shipment, ShipmentLine)
    for code in ("tmall", "shopify", "woo"):
        Channel.objects.create(platform="generic", code=code, name=code.title())
    Warehouse.objects.create(code="WH", name="Main", kind="own")
    for code in ("sf", "zto", "yto", "sto", "jd"):
        Carrier.objects.create(code=code, name=code.upper(), tracking_code=code)
    SKU.objects.bulk_create(SKU(code=f"S{n}", name=f"Item {n}") for n in range(1, 201))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TEMP TABLE gen AS
            SELECT g AS n,
                   now() - make_interval(secs => random() * %(days)s * 86400) AS placed,
                   (SELECT array_agg(id) FROM integrations_channel) AS channels,
                   random() AS r
              FROM generate_series(1, %(orders)s) g;
            INSERT INTO orders_order (created_at, updated_at, number, channel_id, external_id, status, held_from,
                   hold_reason, cancel_reason, priority, tags, customer_name, customer_phone, customer_email,
                   buyer_note, ship_name, ship_phone, ship_country, ship_province, ship_city, ship_district,
                   ship_line1, ship_line2, ship_postcode, currency, goods_amount, line_discount_amount, discount,
                   shipping_fee, platform_commission, total, placed_at, channel_time_zone, paid_at)
            SELECT placed, placed, 'SOD' || n, channels[1 + n %% 3], 'D' || n,
                   CASE WHEN r < 0.05 THEN 'pending_payment' WHEN r < 0.10 THEN 'cancelled'
                        WHEN r < 0.13 THEN 'on_hold' WHEN r < 0.18 THEN 'allocated'
                        WHEN r < 0.35 THEN 'shipped' WHEN r < 0.55 THEN 'delivered' ELSE 'completed' END,
                   '', '', '', 'normal', '[]', '', '', '', '', '', '', 'CN', '', 'x', '', 'x', '', '', 'CNY',
                   100, 0, 0, 8, 3, 108 + (n %% 50), placed, 'Asia/Shanghai',
                   CASE WHEN r >= 0.05 THEN placed + interval '10 minutes' END
              FROM gen;
            INSERT INTO orders_orderline (order_id, line_no, sku_id, quantity, cancelled_quantity, unit_price,
                                          discount, presale)
            SELECT o.id, 1, (SELECT min(id) FROM inventory_sku) + o.id %% 200, 1 + o.id %% 3, 0, 100, 0, false
              FROM orders_order o;
            INSERT INTO orders_shipment (created_at, updated_at, number, order_id, warehouse_id, status, presale,
                   priority, routing, carrier_id, tracking_number, waybill, external_ref, problem, shipped_at,
                   first_scan_at, delivered_at)
            SELECT o.paid_at, o.paid_at, o.number || '-1', o.id, (SELECT id FROM inventory_warehouse),
                   CASE WHEN o.id %% 97 = 0 THEN 'exception'
                        WHEN o.status = 'shipped' THEN 'in_transit' ELSE 'delivered' END,
                   false, 'normal', '{}', (SELECT min(id) FROM orders_carrier) + o.id %% 5, 'T' || o.id, '{}', '',
                   '', o.paid_at + make_interval(hours => (o.id %% 30)::int),
                   CASE WHEN o.id %% 23 <> 0 THEN o.paid_at + make_interval(hours => (o.id %% 30)::int, mins => (20 + o.id %% 90)::int) END,
                   CASE WHEN o.status <> 'shipped' THEN o.paid_at + interval '3 days' END
              FROM orders_order o WHERE o.status IN ('shipped', 'delivered', 'completed');
            INSERT INTO orders_shipmentline (shipment_id, order_line_id, sku_id, quantity, packed_quantity)
            SELECT s.id, l.id, l.sku_id, l.quantity, l.quantity
              FROM orders_shipment s JOIN orders_orderline l ON l.order_id = s.order_id;
            ANALYZE;
            """,
            {"orders": ORDERS, "days": DAYS},
        )


def main() -> None:
    setup_django(DB)
    try:
        run()
    finally:
        teardown(DB)


def run() -> None:
    from core.timezones import business_date
    from dashboard import panels
    from dashboard.rollups import rollup_refresh

    load_start = load_average()
    print(f"dashboard, {ORDERS:,} orders over {DAYS} days, {ROUNDS} rounds; {load_start}")
    started = time.perf_counter()
    load()
    print(f"  loaded   : {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    rollup_refresh(full=True)
    print(f"  full rollup refresh: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    days = rollup_refresh()
    print(
        f"  incremental refresh (no change, {days} recent days): {(time.perf_counter() - started) * 1000:.0f} ms"
    )

    last = business_date()
    ranges = [(last - timedelta(days=span - 1), last) for span in (7, 30, 90)]
    rng = random.Random(7)
    keys = list(panels.PANELS)

    def one_panel(source, key, first, lastday):
        begin = time.perf_counter()
        rows = source(first, lastday)
        panels.PANELS[key](rows)
        return time.perf_counter() - begin

    rollup_times: list[float] = []
    raw_times: list[float] = []
    for round_no in range(1, ROUNDS + 1):
        ours = []
        for _ in range(RUNS):
            first, lastday = rng.choice(ranges)
            ours.extend(one_panel(panels.from_rollups, key, first, lastday) for key in keys)
        raw = []
        for _ in range(BASELINE_RUNS):
            first, lastday = ranges[1]
            raw.extend(one_panel(panels.from_raw, key, first, lastday) for key in keys)
        rollup_times += ours
        raw_times += raw
        print(f"  round {round_no}  : rollups {describe(ours)} ({len(ours)} renders) | raw "
              f"median {statistics.median(raw) * 1000:.0f} ms ({len(raw)} renders) | {load_one()}")  # fmt: skip

    # The order-health view reads live tables (alerts, outbox, sync cursors) and the held-orders
    # snapshot the rollup task keeps: counted apart from the rollup panels, against the same 50 ms.
    from dashboard.health import held_snapshot_refresh, order_health

    started = time.perf_counter()
    held_snapshot_refresh()  # what the periodic rollup task does after the rollups
    print(f"  held-orders snapshot (rollup task): {(time.perf_counter() - started) * 1000:.0f} ms")
    order_health()  # warm-up: its first reverse() loads the URL configuration
    health_times = []
    for _ in range(RUNS * ROUNDS * 2):
        begin = time.perf_counter()
        order_health()
        health_times.append(time.perf_counter() - begin)
    health_p95 = percentile(health_times, 95) * 1000
    print(f"  order health view: p95 {health_p95:.1f} ms ({len(health_times)} renders) "
          f"{verdict(health_p95 <= TARGET_MS)}")  # fmt: skip

    # The rounds take minutes; in production the periodic refresh keeps the recent days current.
    refreshed = rollup_refresh()
    print(f"  refresh before the comparison: {refreshed} recent days")
    same = True
    for first, lastday in ranges:
        rolled = {p.key: (p.labels, p.series) for p in panels.dashboard(panels.from_rollups(first, lastday))}
        raw_panels = {p.key: (p.labels, p.series) for p in panels.dashboard(panels.from_raw(first, lastday))}
        differing = [key for key in raw_panels if rolled.get(key) != raw_panels[key]]
        if differing:
            same = False
            print(f"  DIFFER   : {first}..{lastday}: {differing}")
            for key in differing[:2]:
                print(f"    rollup {key}: {rolled.get(key)}"[:600])
                print(f"    raw    {key}: {raw_panels[key]}"[:600])
    p95 = percentile(rollup_times, 95) * 1000
    ours_median = statistics.median(rollup_times) * 1000
    raw_median = statistics.median(raw_times) * 1000
    ratio = raw_median / ours_median
    load_end = load_average()
    print(f"  medians  : rollups {ours_median:.1f} ms (p95 {p95:.1f} ms, {len(rollup_times)} renders, "
          f"7/30/90-day ranges); raw tables {raw_median:.0f} ms ({len(raw_times)} renders, 30 days)")  # fmt: skip
    print(f"  ratio    : {ratio:.0f}× (median raw / median rollup)")
    print(f"  invariant: rollup panels identical to raw panels on 7/30/90 days {verdict(same)}")
    print(f"  target   : p95 ≤ {TARGET_MS} ms {verdict(p95 <= TARGET_MS)}; ≥ {TARGET_RATIO}× "
          f"{verdict(ratio >= TARGET_RATIO)}")  # fmt: skip
    print(f"  {load_end} (end)")
    summary(
        f"Dashboard panels, {ORDERS / 1e6:g}M orders",
        target=f"p95 ≤ {TARGET_MS} ms, ≥ {TARGET_RATIO}×",
        figure=f"p95 {p95:.1f} ms (median {ours_median:.1f})",
        baseline=f"median {raw_median:.0f} ms (same panels on raw tables)",
        floor="— (read only)",
        ratios=f"{ratio:.0f}× baseline",
        load=f"{load_start.split()[2]} → {load_end.split()[2]}",
    )
    if not same:
        raise SystemExit("rollup panels differ from the raw panels")


if __name__ == "__main__":
    main()
