"""Order search and detail at 1M orders (SPEC §8: p95 ≤ 100 ms; no baseline is asked for).

Loads the same 1M-order fixture as bench.dashboard, then times the desk's global search
(desk.search.order_search) by order number, external id, phone and tracking number, and the
order detail read (orders.selectors.order_detail with its lines, events and reservations)."""

import os
import random
import time

from bench.common import describe, percentile, setup_django, teardown, verdict
from bench.dashboard import load

DB = "conduit_bench_lookup"
LOOKUPS = int(os.environ.get("LOOKUPS", 200))


def main() -> None:
    setup_django(DB)
    try:
        from django.db import connection

        from desk.search import order_search
        from fulfilment.models import Shipment
        from orders.models import Order
        from orders.selectors import order_detail

        started = time.perf_counter()
        load()
        with connection.cursor() as cursor:  # phones to search by (the fixture leaves them empty)
            cursor.execute(
                "UPDATE orders_order SET customer_phone = '139' || lpad(id::text, 8, '0'); ANALYZE orders_order"
            )
        print(f"loaded {Order.objects.count():,} orders in {time.perf_counter() - started:.0f} s")
        rng = random.Random(11)
        top = Order.objects.order_by("-pk").values_list("pk", flat=True).first()
        ids = [rng.randint(1, top) for _ in range(LOOKUPS)]
        orders = {o.pk: o for o in Order.objects.filter(pk__in=ids)}
        tracking = dict(Shipment.objects.filter(order_id__in=ids).values_list("order_id", "tracking_number"))

        def timed(fn) -> list[float]:
            times = []
            for pk in ids:
                order = orders.get(pk)
                if order is None:
                    continue
                begin = time.perf_counter()
                fn(order)
                times.append(time.perf_counter() - begin)
            return times

        searches = {
            "number": lambda o: list(order_search(Order.objects.all(), o.number)[:50]),
            "external id": lambda o: list(order_search(Order.objects.all(), o.external_id)[:50]),
            "phone": lambda o: list(order_search(Order.objects.all(), o.customer_phone)[:50]),
            "tracking no.": lambda o: list(
                order_search(Order.objects.all(), tracking.get(o.pk, "none"))[:50]
            ),
        }
        worst = 0.0
        for name, search in searches.items():
            times = timed(search)
            worst = max(worst, percentile(times, 95))
            print(f"search by {name}: {describe(times)}, p95 {percentile(times, 95) * 1000:.1f} ms")

        def detail(order):
            found = order_detail(order.number)
            list(found.lines.all()), list(found.events.all()), list(found.reservations.all())

        times = timed(detail)
        worst = max(worst, percentile(times, 95))
        print(f"order detail: {describe(times)}, p95 {percentile(times, 95) * 1000:.1f} ms")
        print(f"target p95 ≤ 100 ms: {verdict(worst * 1000 <= 100)}")
    finally:
        teardown(DB)


if __name__ == "__main__":
    main()
