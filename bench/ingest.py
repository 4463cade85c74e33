"""Bulk order ingest (issue #18: ≥ 5,000 orders/s, or ≥ 80 % of the plain-SQL floor measured in the
same run). Run: `.venv/bin/python -m bench.ingest` (INGEST_BATCH, INGEST_ROUNDS, INGEST_SAMPLE).

Every payload: 3 lines over 1,000 SKUs, a customer, an address; half paid; one in ten repeats an
order delivered earlier (a webhook sent twice). Three paths, interleaved round by round
(A B F A B F …) so load on this shared machine falls on all of them alike:

  ours     orders.intake.order_ingest_batch on a batch (dedupe, customers, numbers, lines, events,
           review rules, all-or-none reservations, holds), then every paid new order routed right
           after the batch commits — routing is in the measured path, as the system's routing
           tasks take the batch's paid orders (route_on_commit's chunks of ROUTE_TASK_CHUNK, each
           through fulfilment.routing.route_orders, what the task runs: runs of common orders
           planned in memory and written together, a chunk per transaction).
  baseline what a competent naive implementation does: one order per transaction through the
           one-order path (intake.order_ingest), then route_quietly for a paid one; on a sample.
  floor    hand-written SQL for the same writes of a batch, one array statement per table:
           customers, orders (ON CONFLICT dedupe), lines, events, balances locked in id order,
           reservations + balance update + reserve movements + stock-push marks in one statement,
           then routing writes for the paid orders (shipments, in the state ours leaves them: sent
           to the own warehouse; shipment lines, reservations linked, orders allocated, their
           events: allocated, routed, queued for picking). The same rows as ours per table
           (checked: pg_stat_user_tables around one batch of each). It reads no rules, no pools,
           no routing policy: a lower bound on the database work, not a feature-complete path.

Then: one writer against two (separate processes, catalogue split between them so their batches
share no SKU row), and the invariants: one order per external id, 3 lines each, every order
reserved, no negative availability, reserved = what holding reservations hold, the ledger sums
equal every balance (inventory.reconciliation.find_drift), paid orders routed."""

import multiprocessing
import os
import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from bench.common import load_average, setup_django, teardown, verdict

DB = "conduit_bench_ingest_h"
BATCH = int(os.environ.get("INGEST_BATCH", 1_000))
ROUNDS = int(os.environ.get("INGEST_ROUNDS", 5))
SAMPLE = int(os.environ.get("INGEST_SAMPLE", 60))  # baseline orders per round
PARALLEL_BATCHES = int(os.environ.get("INGEST_PARALLEL_BATCHES", 4))  # per writer
SKUS = 1_000
STOCK = 100_000


class Shop:
    """The fixture: channel, warehouse, SKUs with stock, and payload builders."""

    def __init__(self):
        from django.db import transaction
        from django.utils import timezone

        from catalog.models import Channel
        from inventory.models import SKU, MovementKind, Warehouse
        from inventory.services import stock_change

        self.channel = Channel.objects.create(platform="generic", code="burst", name="Burst", currency="CNY")
        self.warehouse = Warehouse.objects.create(code="WH-1", name="Main", kind="own")
        self.skus = SKU.objects.bulk_create(SKU(code=f"B-{n:04d}", name=f"Item {n}") for n in range(SKUS))
        with transaction.atomic():
            for sku in self.skus:
                stock_change(
                    kind=MovementKind.RECEIPT,
                    sku=sku,
                    warehouse=self.warehouse,
                    quantity=STOCK,
                    reference="PO",
                )
        self.placed = timezone.now() - timedelta(minutes=5)
        self.rng = random.Random(11)
        self.sent: dict[str, list[dict]] = {}
        self.expected: dict[str, int] = {}  # orders the parallel writers sent, per prefix

    def payload(self, n: int, prefix: str, skus=None) -> dict:
        skus = skus or self.skus
        return {
            "channel": self.channel,
            "external_id": f"{prefix}-{n}",
            "placed_at": self.placed,
            "currency": "CNY",
            "customer": {"name": "买家", "phone": f"139{n % 10**8:08d}", "email": ""},
            "shipping_address": {
                "country": "CN",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "line1": "文三路 90 号",
                "postcode": "310000",
                "phone": f"139{n % 10**8:08d}",
            },
            "lines": [
                {
                    "sku": sku,
                    "quantity": self.rng.randint(1, 3),
                    "unit_price": Decimal("19.90"),
                    "discount": Decimal("0"),
                }
                for sku in self.rng.sample(skus, 3)
            ],
            "shipping_fee": Decimal("8.00"),
            "discount": Decimal("0"),
            "platform_commission": Decimal("1.00"),
            "paid": n % 2 == 0,
            "priority": "normal",
            "tags": [],
            "note": "",
        }

    def batch(self, prefix: str, first: int, size: int, skus=None) -> list[dict]:
        """`size` payloads: 90 % new orders, 10 % repeats of orders sent before under `prefix`."""
        fresh = [self.payload(n, prefix, skus) for n in range(first, first + size * 9 // 10)]
        earlier = self.sent.setdefault(prefix, [])
        pool = earlier or fresh
        items = fresh + [pool[self.rng.randrange(len(pool))] for _ in range(size - len(fresh))]
        earlier.extend(fresh)
        self.rng.shuffle(items)
        return items


# --- the measured paths ---------------------------------------------------------------------------


def ours(items: list[dict]) -> tuple[float, float, int]:
    """(ingest seconds, routing seconds, orders routed)."""
    from fulfilment.routing import route_orders
    from fulfilment.routing.service import ROUTE_TASK_CHUNK
    from orders.intake import order_ingest_batch
    from orders.models import OrderStatus

    began = time.perf_counter()
    results = order_ingest_batch(items=items, follow_up=False)
    ingested = time.perf_counter()
    paid = sorted({o.pk for o, created in results if created and o.status == OrderStatus.PAID})
    for start in range(0, len(paid), ROUTE_TASK_CHUNK):  # as the routing tasks get them
        route_orders(paid[start : start + ROUTE_TASK_CHUNK])
    return ingested - began, time.perf_counter() - ingested, len(paid)


def baseline(items: list[dict]) -> float:
    from fulfilment.routing import route_quietly
    from orders.intake import order_ingest
    from orders.models import OrderStatus

    began = time.perf_counter()
    for data in items:
        order, created = order_ingest(data=data)
        if created and order.status == OrderStatus.PAID:
            route_quietly(order.pk)
    return time.perf_counter() - began


_FLOOR_SQL = {
    "customers": """
        INSERT INTO orders_customer (created_at, updated_at, identity_key, name, phone, email, is_vip,
                                     order_count)
        SELECT %(now)s, %(now)s, k, n, p, '', false, 0
          FROM unnest(%(key)s::text[], %(name)s::text[], %(phone)s::text[]) AS t(k, n, p)
        ON CONFLICT (identity_key) DO NOTHING""",
    "customer_ids": "SELECT identity_key, id FROM orders_customer WHERE identity_key = ANY(%(key)s::text[])",
    "orders": """
        INSERT INTO orders_order (created_at, updated_at, number, external_id, status, held_from, hold_reason,
            cancel_reason, priority, tags, customer_name, customer_phone, customer_email, buyer_note, ship_name,
            ship_phone, ship_country, ship_province, ship_city, ship_district, ship_line1, ship_line2,
            ship_postcode, currency, goods_amount, line_discount_amount, discount, shipping_fee,
            platform_commission, total, placed_at, channel_time_zone, paid_at, channel_id, customer_id,
            requires_shipping, adjustment_amount, paid_amount, platform_discount_amount, shipping_discount,
            shipping_tax, tax_amount, tax_included, receiver_protected)
        SELECT %(now)s, %(now)s, 'FL' || lpad(nextval('bench_floor_number')::text, 12, '0'), x,
               CASE WHEN pd THEN 'paid' ELSE 'pending_payment' END, '', '', '', 'normal', '[]', cn, cp, '', '',
               cn, cp, 'CN', '浙江省', '杭州市', '西湖区', '文三路 90 号', '', '310000', 'CNY', g, 0, 0, 8, 1,
               g + 8, %(placed)s, 'Asia/Shanghai', CASE WHEN pd THEN %(placed)s END, %(channel)s, c, true, 0,
               CASE WHEN pd THEN g + 8 END, 0, 0, 0, 0, false, '{}'
          FROM unnest(%(external)s::text[], %(paid)s::bool[], %(cname)s::text[], %(cphone)s::text[],
                      %(goods)s::numeric[], %(customer)s::bigint[]) AS t(x, pd, cn, cp, g, c)
        ON CONFLICT (channel_id, external_id) DO NOTHING
        RETURNING external_id, id, number""",
    "lines": """
        INSERT INTO orders_orderline (line_no, quantity, cancelled_quantity, unit_price, discount, presale,
            order_id, sku_id, adjustment, discount_allocations, kind, order_discount_share, paid_amount,
            platform_discount, platform_item_id, platform_sku_id, seller_code, tax_amount, title,
            platform_line_id)
        SELECT n, q, 0, 19.90, 0, false, o, s, 0, '[]', 'goods', 0, 19.90 * q, 0, '', '', '', 0, '', ''
          FROM unnest(%(order)s::bigint[], %(line_no)s::int[], %(sku)s::bigint[], %(quantity)s::int[])
               AS t(o, n, s, q)
        RETURNING id""",
    "events": """
        INSERT INTO orders_orderevent (kind, from_status, to_status, reason, payload, created_at, order_id)
        SELECT k, f, s, r, p::jsonb, %(now)s, o
          FROM unnest(%(kind)s::text[], %(from)s::text[], %(to)s::text[], %(reason)s::text[],
                      %(payload)s::text[], %(order)s::bigint[]) AS t(k, f, s, r, p, o)""",
    "lock": """
        SELECT id, sku_id, on_hand - reserved - qc_hold FROM inventory_stockbalance
         WHERE sku_id = ANY(%(sku)s::bigint[]) ORDER BY id FOR UPDATE""",
    "reserve": """
        WITH d AS (
            SELECT * FROM unnest(%(balance)s::bigint[], %(sku)s::bigint[], %(quantity)s::int[],
                                 %(state)s::text[], %(expires)s::timestamptz[], %(order)s::bigint[],
                                 %(line)s::bigint[], %(reference)s::text[])
                     AS t(balance_id, sku_id, quantity, state, expires_at, order_id, line_id, reference)
        ), applied AS (
            UPDATE inventory_stockbalance b SET reserved = b.reserved + v.q, updated_at = %(now)s
              FROM (SELECT balance_id, SUM(quantity) AS q FROM d GROUP BY balance_id) v
             WHERE b.id = v.balance_id AND b.on_hand - b.reserved - v.q - b.qc_hold >= 0
            RETURNING b.id
        ), inserted AS (
            INSERT INTO inventory_reservation (fingerprint, order_id, order_line_id, channel_id, reference,
                balance_id, sku_id, quantity, original_quantity, state, expires_at, created_at, updated_at)
            SELECT md5(random()::text || line_id::text), order_id, line_id, %(channel)s, reference, balance_id,
                   sku_id, quantity, quantity, state, expires_at, %(now)s, %(now)s
              FROM d
            RETURNING id, order_id, order_line_id, balance_id, sku_id, quantity, reference
        ), moved AS (
            INSERT INTO inventory_stockmovement (balance_id, sku_id, kind, on_hand_delta, reserved_delta,
                qc_hold_delta, reference, note, payload, order_id, reservation_id, created_at)
            SELECT balance_id, sku_id, 'reserve', 0, quantity, 0, reference, '', '{}', order_id, id, %(now)s
              FROM inserted
        ), pushed AS (
            INSERT INTO inventory_stockpushpending (sku_id, queued_at)
            SELECT DISTINCT sku_id, %(now)s FROM d ON CONFLICT (sku_id) DO NOTHING
        )
        SELECT (SELECT count(*) FROM applied), id, order_line_id FROM inserted""",
    "shipments": """
        INSERT INTO orders_shipment (created_at, updated_at, number, status, presale, priority, routing,
            tracking_number, waybill, external_ref, problem, order_id, warehouse_id, label_prints)
        SELECT %(now)s, %(now)s, n || '-1', 'sent_to_warehouse', false, 'normal', '{"why": "floor"}', '', '{}', '', '',
               o, %(warehouse)s, 0
          FROM unnest(%(order)s::bigint[], %(number)s::text[]) AS t(o, n)
        RETURNING order_id, id""",
    "shipment_lines": """
        INSERT INTO orders_shipmentline (quantity, packed_quantity, order_line_id, shipment_id, sku_id)
        SELECT q, 0, l, s, k FROM unnest(%(quantity)s::int[], %(line)s::bigint[], %(shipment)s::bigint[],
                                         %(sku)s::bigint[]) AS t(q, l, s, k)""",
    "link": """
        UPDATE inventory_reservation r SET shipment_id = t.s, updated_at = %(now)s
          FROM unnest(%(reservation)s::bigint[], %(shipment)s::bigint[]) AS t(r, s) WHERE r.id = t.r""",
    "allocate": """
        UPDATE orders_order SET status = 'allocated', updated_at = %(now)s WHERE id = ANY(%(order)s::bigint[])""",
}


def floor(shop: Shop, items: list[dict]) -> tuple[float, float]:
    """The same writes as `ours` for a batch, as plain SQL (see the module docstring), in two
    transactions like ours: the ingest, then the routing. Returns (ingest seconds, routing seconds)."""
    from django.db import connection
    from django.utils import timezone

    from core.array_insert import binary_cursor

    began = time.perf_counter()
    now = timezone.now()
    expires = now + timedelta(minutes=shop.channel.reservation_ttl_minutes)
    connection.set_autocommit(False)
    with binary_cursor() as cursor:

        def run(statement, **params):
            cursor.execute(_FLOOR_SQL[statement].replace(")s", ")b"), {"now": now, **params})  # binary arrays
            return cursor.fetchall() if cursor.description else None

        unique = list({data["external_id"]: data for data in items}.values())
        keys = [f"phone:+86{data['customer']['phone']}" for data in unique]
        run(
            "customers",
            key=keys,
            name=[d["customer"]["name"] for d in unique],
            phone=[d["customer"]["phone"] for d in unique],
        )
        customer = dict(run("customer_ids", key=keys))
        rows = run(
            "orders",
            external=[d["external_id"] for d in unique],
            paid=[d["paid"] for d in unique],
            cname=[d["customer"]["name"] for d in unique],
            cphone=[d["customer"]["phone"] for d in unique],
            goods=[sum(line["unit_price"] * line["quantity"] for line in d["lines"]) for d in unique],
            customer=[customer[key] for key in keys],
            placed=shop.placed,
            channel=shop.channel.pk,
        )
        new = {external: (pk, number) for external, pk, number in rows}
        fresh = [d for d in unique if d["external_id"] in new]
        lines = [(new[d["external_id"]][0], n, line) for d in fresh for n, line in enumerate(d["lines"], 1)]
        line_ids = [
            r[0]
            for r in run(
                "lines",
                order=[o for o, _n, _l in lines],
                line_no=[n for _o, n, _l in lines],
                sku=[line["sku"].pk for _o, _n, line in lines],
                quantity=[line["quantity"] for _o, _n, line in lines],
            )
        ]
        events = [(new[d["external_id"]][0], "created", "", "pending_payment", "") for d in fresh]
        events += [
            (new[d["external_id"]][0], "transition", "pending_payment", "paid", "")
            for d in fresh
            if d["paid"]
        ]
        run(
            "events",
            order=[e[0] for e in events],
            kind=[e[1] for e in events],
            **{"from": [e[2] for e in events]},
            to=[e[3] for e in events],
            reason=[e[4] for e in events],
            payload=['{"channel": "burst"}'] * len(events),
        )
        balances = {
            sku: (pk, free)
            for pk, sku, free in run("lock", sku=sorted({line["sku"].pk for *_x, line in lines}))
        }
        paid_of = {new[d["external_id"]][0]: d["paid"] for d in fresh}
        reserved = run(
            "reserve",
            balance=[balances[line["sku"].pk][0] for *_x, line in lines],
            sku=[line["sku"].pk for *_x, line in lines],
            quantity=[line["quantity"] for *_x, line in lines],
            state=["committed" if paid_of[o] else "active" for o, _n, _l in lines],
            expires=[None if paid_of[o] else expires for o, _n, _l in lines],
            order=[o for o, _n, _l in lines],
            line=line_ids,
            reference=[""] * len(lines),
            channel=shop.channel.pk,
        )
        reservation_of = {line_id: pk for _applied, pk, line_id in reserved}
        connection.commit()
        ingested = time.perf_counter()
        paid = [o for o, is_paid in paid_of.items() if is_paid]
        numbers = dict(new.values())
        shipment = dict(
            run("shipments", order=paid, number=[numbers[o] for o in paid], warehouse=shop.warehouse.pk)
        )
        routed = [
            (o, line_id, line)
            for (o, _n, line), line_id in zip(lines, line_ids, strict=True)
            if o in shipment
        ]
        run(
            "shipment_lines",
            quantity=[line["quantity"] for *_x, line in routed],
            line=[line_id for _o, line_id, _l in routed],
            shipment=[shipment[o] for o, *_x in routed],
            sku=[line["sku"].pk for *_x, line in routed],
        )
        run(
            "link",
            reservation=[reservation_of[line_id] for _o, line_id, _l in routed],
            shipment=[shipment[o] for o, *_x in routed],
        )
        run("allocate", order=paid)
        routed_events = [(o, "transition", "paid", "allocated", "Routed") for o in paid]
        routed_events += [(o, "routed", "", "", "floor") for o in paid]
        routed_events += [(o, "shipment", "", "", "Queued for picking in our warehouse.") for o in paid]
        run(
            "events",
            order=[e[0] for e in routed_events],
            kind=[e[1] for e in routed_events],
            **{"from": [e[2] for e in routed_events]},
            to=[e[3] for e in routed_events],
            reason=[e[4] for e in routed_events],
            payload=["{}"] * len(routed_events),
        )
        connection.commit()
    connection.set_autocommit(True)
    return ingested - began, time.perf_counter() - ingested


# --- parallel writers -----------------------------------------------------------------------------


def _writer(args) -> float:
    prefix, sku_ids, batches, offset = args
    from django.db import connections

    from inventory.models import SKU

    shop = _shop_for_worker()
    skus = list(SKU.objects.filter(pk__in=sku_ids))
    work = [shop.batch(prefix, offset + n * BATCH, BATCH, skus) for n in range(batches)]
    began = time.perf_counter()
    for items in work:
        ours(items)
    elapsed = time.perf_counter() - began
    connections.close_all()
    return elapsed


def _shop_for_worker() -> Shop:
    from catalog.models import Channel
    from inventory.models import SKU, Warehouse

    shop = Shop.__new__(Shop)
    shop.channel = Channel.objects.get(code="burst")
    shop.warehouse = Warehouse.objects.get(code="WH-1")
    shop.skus = list(SKU.objects.filter(code__startswith="B-"))
    shop.placed = _shop_for_worker.placed
    shop.rng = random.Random(os.getpid())
    shop.sent = {}
    return shop


def parallel(shop: Shop, writers: int, tag: str, *, shared: bool = False) -> float:
    """Orders/s with `writers` processes, each on its own half of the catalogue (or, `shared`,
    all of them on the whole catalogue)."""
    from django.db import connections

    connections.close_all()
    _shop_for_worker.placed = shop.placed
    halves = [[s.pk for s in (shop.skus if shared else shop.skus[i::writers])] for i in range(writers)]
    batches = PARALLEL_BATCHES * (2 if writers == 1 else 1)
    # Each writer its own customers too (phones from its own range): a shared new customer would
    # make one writer wait for the other's commit on the unique key, which is not what is measured.
    jobs = [(f"{tag}{w}", halves[w], batches, (w + 1) * 10**7) for w in range(writers)]
    for prefix, *_rest in jobs:
        shop.expected[prefix] = batches * (BATCH * 9 // 10)
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(writers) as pool:
        pool.map(_writer, jobs)
    wall = time.perf_counter() - began
    return writers * batches * BATCH / wall


# --- the run ----------------------------------------------------------------------------------------


def main() -> None:
    print(f"bulk order ingest — {load_average()} at start")
    setup_django(DB)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE bench_floor_number")
    shop = Shop()
    ours(shop.batch("W", 0, BATCH))  # warm-up: caches, first-use paths
    floor(shop, shop.batch("FW", 0, BATCH))

    ingest_rates, path_rates, route_rates, base_rates, floor_rates, loads = [], [], [], [], [], []
    floor_ingest_rates = []
    for r in range(ROUNDS):
        loads.append(os.getloadavg()[0])
        items = shop.batch("O", r * BATCH, BATCH)
        ingest_s, route_s, routed = ours(items)
        ingest_rates.append(BATCH / ingest_s)
        path_rates.append(BATCH / (ingest_s + route_s))
        route_rates.append(routed / route_s if route_s else 0)
        base_rates.append(
            SAMPLE / baseline([shop.payload(n, "N") for n in range(r * SAMPLE, (r + 1) * SAMPLE)])
        )
        floor_ingest_s, floor_route_s = floor(shop, shop.batch("F", r * BATCH, BATCH))
        floor_rates.append(BATCH / (floor_ingest_s + floor_route_s))
        floor_ingest_rates.append(BATCH / floor_ingest_s)
        print(
            f"  round {r + 1}: ours {path_rates[-1]:,.0f}/s (ingest {ingest_rates[-1]:,.0f}/s, routing "
            f"{route_rates[-1]:,.0f} orders/s) · baseline {base_rates[-1]:,.0f}/s · floor {floor_rates[-1]:,.0f}/s"
            f" (ingest {floor_ingest_rates[-1]:,.0f}/s) · ours/floor {path_rates[-1] / floor_rates[-1]:.0%} · "
            f"load {loads[-1]:.2f}"
        )

    one = parallel(shop, 1, "P")
    two = parallel(shop, 2, "Q")
    shared = parallel(shop, 2, "S", shared=True)
    connection.ensure_connection()
    checks = invariants(shop)
    med = statistics.median
    path, ingest, base, fl = med(path_rates), med(ingest_rates), med(base_rates), med(floor_rates)
    fl_ingest = med(floor_ingest_rates)
    print()
    print(
        f"payloads of 3 lines, batches of {BATCH:,} (10 % repeats), {ROUNDS} interleaved rounds; baseline sample "
        f"{SAMPLE}/round; medians"
    )
    print("| path | target | figure | baseline | floor | ×baseline | /floor | load (1 min, median) |")
    print("|---|---|---|---|---|---|---|---|")
    load = f"{med(loads):.2f} on {os.cpu_count()} CPUs"
    ok = path >= 5000 or path >= 0.8 * fl
    print(
        f"| ingest + route (paid) | ≥ 5,000/s or ≥ 80 % floor | {path:,.0f}/s {verdict(ok)} | {base:,.0f}/s "
        f"| {fl:,.0f}/s | {path / base:.1f}× | {path / fl:.0%} | {load} |"
    )
    print(
        f"| ingest only (routing left out of both) | — | {ingest:,.0f}/s | — | {fl_ingest:,.0f}/s | "
        f"— | {ingest / fl_ingest:.0%} | {load} |"
    )
    print(f"| routing after the batch | — | {med(route_rates):,.0f} paid orders/s | | | | | {load} |")
    print(
        f"| 2 writers vs 1 (ours, disjoint SKUs) | > 1× | {two:,.0f}/s vs {one:,.0f}/s = {two / one:.2f}× | | | | | "
        f"{os.getloadavg()[0]:.2f} |"
    )
    print(f"| 2 writers sharing all SKUs | — | {shared:,.0f}/s ({shared / one:.2f}× one writer) | | | | | |")
    # The machine's speed moves within a run (the floor alone ranged ±25 % round to round): each
    # round's two paths ran seconds apart, so the median of the rounds' own ratios says the same
    # with less of that noise. The verdict stays on the ratio of the medians above.
    paired = med(p / f for p, f in zip(path_rates, floor_rates, strict=True))
    paired_ingest = med(i / f for i, f in zip(ingest_rates, floor_ingest_rates, strict=True))
    print(
        f"round by round, median of ours/floor: ingest + route {paired:.0%}, ingest only {paired_ingest:.0%}"
    )
    print("invariants: " + ", ".join(f"{name} {verdict(good)}" for name, good in checks))
    print(f"{load_average()} at end")
    teardown(DB)
    if not all(good for _name, good in checks):
        raise SystemExit(1)


def invariants(shop: Shop) -> list[tuple[str, bool]]:
    from django.db.models import Count, F, Sum

    from fulfilment.models import Shipment
    from inventory.models import Reservation, StockBalance
    from inventory.reconciliation import find_drift
    from orders.models import Order, OrderLine, OrderStatus

    checks = []
    for prefix, sent in sorted(shop.sent.items()):
        expected = len({d["external_id"] for d in sent})
        orders = Order.objects.filter(external_id__startswith=f"{prefix}-", channel=shop.channel)
        stored = orders.count()
        lines = OrderLine.objects.filter(order__in=orders).count()
        reserved = Reservation.objects.filter(order__in=orders).values("order").distinct().count()
        checks.append(
            (
                f"{prefix}: {stored:,} orders = {expected:,} sent, 3 lines, all reserved",
                stored == expected and lines == 3 * expected and reserved == expected,
            )
        )
    for prefix, expected in sorted(shop.expected.items()):
        orders = Order.objects.filter(external_id__startswith=f"{prefix}-", channel=shop.channel)
        stored, lines = orders.count(), OrderLine.objects.filter(order__in=orders).count()
        checks.append(
            (f"{prefix}: {stored:,} orders = {expected:,} sent, 3 lines", stored == expected == lines // 3)
        )
    paid_unrouted = (
        Order.objects.filter(status=OrderStatus.PAID, channel=shop.channel)
        .annotate(n=Count("shipments"))
        .filter(n=0)
        .count()
    )
    checks.append((f"paid orders all routed ({paid_unrouted} left)", paid_unrouted == 0))
    routed = Order.objects.filter(status=OrderStatus.ALLOCATED).count()
    checks.append(
        (
            f"allocated orders have a shipment ({routed:,})",
            Shipment.objects.filter(order__status=OrderStatus.ALLOCATED).values("order").distinct().count()
            == routed,
        )
    )
    negative = StockBalance.objects.filter(on_hand__lt=F("reserved") + F("qc_hold")).count()
    checks.append(("no negative availability (no oversell)", negative == 0))
    held = (
        Reservation.objects.filter(state__in=["active", "committed"]).aggregate(n=Sum("quantity"))["n"] or 0
    )
    reserved_total = StockBalance.objects.aggregate(n=Sum("reserved"))["n"] or 0
    checks.append(
        (f"Σ reserved {reserved_total:,} = Σ held by reservations {held:,}", held == reserved_total)
    )
    drift = find_drift()
    checks.append((f"ledger proves every balance ({len(drift)} drifting)", not drift))
    return checks


if __name__ == "__main__":
    main()
