"""Order search and detail at 1M realistic orders (SPEC §8: p95 ≤ 100 ms; no baseline is asked for).

Fixture: bench.dashboard's 1M orders, made realistic with set-based SQL — 3 lines each, a created
event and a status event (a shipment event too once shipped), one reservation per line on the
SKU's stock balance (consumed once shipped, released if cancelled, else active), a shipment with
all three lines for every order that left the warehouse, phones on every order.
Ours: the desk's global search (desk.search.order_search) by order number, external id, phone
and tracking number, and the order detail read (orders.selectors.order_detail with its lines,
events and reservations), over LOOKUPS random orders split across the rounds.
Baseline (not in the SPEC; for scale): the search Django's admin does by default —
`search_fields` without `=`, i.e. `icontains` over number, external id, phone and the shipments'
tracking numbers, `distinct()` — on LOOKUP_BASELINE orders per kind and round. No floor: a read.
Rounds: ours, baseline, ROUNDS times (A B A B …).
Invariants: every lookup found its order (search results contain it; the detail shows its 3
lines, its events and its 3 reservations), and the baseline found it too."""

import os
import random
import statistics
import time

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
from bench.dashboard import ORDERS
from bench.dashboard import load as load_orders
from bench.fill import column_defaults

DB = os.environ.get("BENCH_DB", "conduit_bench_sheet_h_lookup")
LOOKUPS = int(os.environ.get("LOOKUPS", 240))
BASELINE = int(os.environ.get("LOOKUP_BASELINE", 2))  # per kind and round
TARGET_MS = 100


def load() -> None:
    from django.db import connection

    from inventory.models import Reservation, StockBalance
    from orders.models import OrderEvent

    load_orders()
    column_defaults(OrderEvent, Reservation, StockBalance)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE orders_order SET customer_phone = '139' || lpad(id::text, 8, '0');
            INSERT INTO orders_orderline (order_id, line_no, sku_id, quantity, cancelled_quantity, unit_price,
                                          discount, presale, title)
            SELECT o.id, n, (SELECT min(id) FROM inventory_sku) + (o.id + n * 7) % 200, 1, 0, 50, 0, false,
                   'Item'
              FROM orders_order o CROSS JOIN generate_series(2, 3) n;
            INSERT INTO orders_shipmentline (shipment_id, order_line_id, sku_id, quantity, packed_quantity)
            SELECT s.id, l.id, l.sku_id, l.quantity, l.quantity
              FROM orders_shipment s JOIN orders_orderline l ON l.order_id = s.order_id AND l.line_no > 1;
            INSERT INTO orders_orderevent (order_id, kind, from_status, to_status, reason, payload, created_at)
            SELECT o.id, e.kind, e.from_status, e.to_status, '', '{}', o.placed_at + e.after
              FROM orders_order o
              JOIN LATERAL (VALUES ('created', '', 'pending_payment', interval '0'),
                                   ('transition', 'pending_payment', o.status, interval '10 minutes'),
                                   ('shipment', '', '', interval '1 day')) AS e(kind, from_status, to_status, after)
                ON e.kind = 'created' OR (e.kind = 'transition' AND o.status <> 'pending_payment')
                   OR (e.kind = 'shipment' AND o.status IN ('shipped', 'delivered', 'completed'));
            INSERT INTO inventory_stockbalance (on_hand, reserved, qc_hold, updated_at, sku_id, warehouse_id, pool_id)
            SELECT 1000000, 0, 0, now(), s.id, (SELECT id FROM inventory_warehouse),
                   (SELECT id FROM inventory_stockpool WHERE is_default)
              FROM inventory_sku s;
            INSERT INTO inventory_reservation (fingerprint, quantity, original_quantity, state, expires_at,
                   created_at, updated_at, order_id, order_line_id, sku_id, balance_id, channel_id, reference,
                   shipment_id)
            SELECT 'L' || l.id, l.quantity, l.quantity,
                   CASE WHEN o.status IN ('shipped', 'delivered', 'completed') THEN 'consumed'
                        WHEN o.status = 'cancelled' THEN 'released' ELSE 'active' END,
                   CASE WHEN o.status = 'pending_payment' THEN o.placed_at + interval '30 minutes' END,
                   o.placed_at, o.placed_at, o.id, l.id, l.sku_id, b.id, o.channel_id, o.number,
                   (SELECT s.id FROM orders_shipment s WHERE s.order_id = o.id)
              FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id
              JOIN inventory_stockbalance b ON b.sku_id = l.sku_id;
            ANALYZE;
            """
        )


def main() -> None:
    setup_django(DB)
    try:
        run()
    finally:
        teardown(DB)


def run() -> None:
    from django.db.models import Q

    from desk.search import order_search
    from fulfilment.models import Shipment
    from orders.models import Order
    from orders.selectors import order_detail

    load_start = load_average()
    print(f"order lookup, {ORDERS:,} orders, {LOOKUPS} lookups over {ROUNDS} rounds; {load_start}")
    started = time.perf_counter()
    load()
    print(f"  loaded   : {Order.objects.count():,} orders in {time.perf_counter() - started:.0f} s")
    rng = random.Random(11)
    top = Order.objects.order_by("-pk").values_list("pk", flat=True).first()
    ids = rng.sample(range(1, top + 1), LOOKUPS)
    orders = Order.objects.in_bulk(ids)
    tracking = dict(Shipment.objects.filter(order_id__in=ids).values_list("order_id", "tracking_number"))
    misses: list[str] = []

    def search(term):
        return list(order_search(Order.objects.all(), term)[:50])

    def admin_search(term):  # Django admin's default: icontains on every search field, distinct
        query = (
            Q(number__icontains=term)
            | Q(external_id__icontains=term)
            | Q(customer_phone__icontains=term)
            | Q(shipments__tracking_number__icontains=term)
        )
        return list(Order.objects.filter(query).distinct()[:50])

    kinds = {
        "number": lambda o: o.number,
        "external id": lambda o: o.external_id,
        "phone": lambda o: o.customer_phone,
        "tracking no.": lambda o: tracking.get(o.pk),
    }

    def detail(order):
        found = order_detail(order.number)
        lines, events = list(found.lines.all()), list(found.events.all())
        reservations = list(found.reservations.all())
        if not (found.pk == order.pk and len(lines) == 3 and events and len(reservations) == 3):
            misses.append(f"detail {order.number}")

    def timed_lookup(fn, order, label) -> float:
        begin = time.perf_counter()
        found = fn(order)
        seconds = time.perf_counter() - begin
        if found is not None and order.pk not in {o.pk for o in found}:
            misses.append(f"{label} {order.number}")
        return seconds

    ours = {name: [] for name in [*kinds, "detail"]}
    base = {name: [] for name in kinds}
    per_round = [ids[i::ROUNDS] for i in range(ROUNDS)]
    for round_no, round_ids in enumerate(per_round, start=1):
        for pk in round_ids:
            order = orders[pk]
            for name, term in kinds.items():
                if term(order) is not None:
                    ours[name].append(timed_lookup(lambda o, t=term: search(t(o)), order, name))
            ours["detail"].append(timed_lookup(lambda o: detail(o), order, "detail"))
        for pk in round_ids[:BASELINE]:
            order = orders[pk]
            for name, term in kinds.items():
                if term(order) is not None:
                    base[name].append(
                        timed_lookup(lambda o, t=term: admin_search(t(o)), order, f"admin {name}")
                    )
        round_ours = [t for times in ours.values() for t in times]
        print(f"  round {round_no}  : ours so far {describe(round_ours)} | admin search so far median "
              f"{statistics.median([t for v in base.values() for t in v]) * 1000:.0f} ms | {load_one()}")  # fmt: skip

    worst = 0.0
    for name, times in ours.items():
        worst = max(worst, percentile(times, 95))
        baseline = (
            f"; admin icontains median {statistics.median(base[name]) * 1000:.0f} ms" if name in base else ""
        )
        print(f"  {name:<12}: {describe(times)}, p95 {percentile(times, 95) * 1000:.1f} ms{baseline}")
    ours_median = statistics.median([t for name in kinds for t in ours[name]])
    base_median = statistics.median([t for v in base.values() for t in v])
    ratio = base_median / ours_median
    load_end = load_average()
    ok = not misses
    print(f"  ratio    : {ratio:.0f}× (median admin icontains search / median our search)")
    print(f"  invariant: every lookup found its order (3 lines, events, 3 reservations on detail) {verdict(ok)}"
          f"{'; missed: ' + ', '.join(misses[:10]) if misses else ''}")  # fmt: skip
    print(f"  target   : p95 ≤ {TARGET_MS} ms {verdict(worst * 1000 <= TARGET_MS)}")
    print(f"  {load_end} (end)")
    summary(
        f"Order search/detail, {ORDERS / 1e6:g}M realistic orders",
        target=f"p95 ≤ {TARGET_MS} ms",
        figure=f"worst p95 {worst * 1000:.1f} ms (search median {ours_median * 1000:.1f} ms)",
        baseline=f"median {base_median * 1000:.0f} ms (admin icontains search, {BASELINE}/kind/round)",
        floor="— (read only)",
        ratios=f"{ratio:.0f}× baseline",
        load=f"{load_start.split()[2]} → {load_end.split()[2]}",
    )
    if misses:
        raise SystemExit(f"{len(misses)} lookups did not find their order")


if __name__ == "__main__":
    main()
