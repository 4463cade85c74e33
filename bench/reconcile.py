"""Reconciliation, 1M payments (SPEC §8: ≤ 5 s; ≥ 50× per-row ORM matching on a sample).

Ours: finance.reconciliation — one run for January: unmatched lines matched by order number /
transaction id (UPDATEs on the few unmatched), one grouped query over every order in scope
(payments, settlement and bank lines, refunds) returning only orders where a side disagrees,
the leftovers (memo candidates, payouts, classification, trails) in Python, the differences
stored. Baseline, in the same run: per-row ORM matching — for each payment of a sample, load its
order, the order's payments, statement lines and refunds, and classify them with the same
classifier — scaled to all payments (a different sample of BASELINE payments each round).
Floor: one plain-SQL statement over the same tables — payments, statement and bank lines, refunds
grouped per order in January, the orders where a side disagrees inserted into a table: the least
this machine needs to find the same differing orders.
Rounds: ours, baseline, floor, ROUNDS times (A B F A B F …), medians reported.
Fixture (set-based): ORDERS orders paid in January 2026, a payment for nearly each (Alipay, some
bank transfers), Alipay settlement lines (sale + commission, refunds for some), bank lines for the
transfers, and one planted difference of every class per 1,000 orders.
Invariants, every round: every planted difference found, none invented; the baseline agrees on
its sample; the floor flags exactly the orders ours flags."""

import os
import statistics
import time
from collections import Counter

from bench.common import ROUNDS, load_average, load_one, setup_django, summary, teardown, verdict
from bench.fill import column_defaults

DB = os.environ.get("BENCH_DB", "conduit_bench_sheet_h_reconcile")
ORDERS = int(os.environ.get("RECONCILE_ORDERS", 1_000_000))
BASELINE = int(os.environ.get("RECONCILE_BASELINE", 1_000))
TARGET_SECONDS, TARGET_RATIO = 5, 50
# n % 1000 → what order n is (everything else: a clean Alipay order, payment + sale + commission)
PLANTED = {
    0: "missing_payment",  # paid on the platform, no money anywhere
    1: "amount_mismatch",  # the settlement sale is 1.00 short
    2: "refund_not_reflected",  # the statement refunds 10.00 the ERP never recorded
    3: "fee_not_attributed",  # commission 5.00 on the statement, 3.00 here
    4: "period_mismatch",  # settled on 2 February, paid in January
    5: "missing_settlement",  # an Alipay payment no statement shows
    6: "missing_bank_line",  # a bank transfer the bank statement does not show
    7: "unmatched_line",  # a clean order, plus a statement line naming an unknown order
}
CLEAN_TRANSFER, CLEAN_REFUND = 8, 9


def load() -> None:
    from django.db import connection

    from catalog.models import Channel
    from finance.imports.models import ImportBatch, StatementLine
    from finance.models import Payment, RevenueLine
    from finance.periods import period_get
    from orders.models import Order

    column_defaults(Order, Payment, StatementLine, RevenueLine)
    channel = Channel.objects.create(platform="taobao", code="tmall", name="Tmall")
    january, february = period_get(2026, 1), period_get(2026, 2)
    settlement = ImportBatch.objects.create(source="settlement", layout_name="bench", file_name="alipay.csv")
    bank = ImportBatch.objects.create(source="bank", layout_name="bench", file_name="bank.csv")
    params = {"orders": ORDERS, "channel": channel.pk, "jan": january.pk, "feb": february.pk,
              "settlement": settlement.pk, "bank": bank.pk}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO orders_order (created_at, updated_at, number, channel_id, external_id, status, held_from,
                   hold_reason, cancel_reason, priority, tags, customer_name, customer_phone, customer_email,
                   buyer_note, ship_name, ship_phone, ship_country, ship_province, ship_city, ship_district,
                   ship_line1, ship_line2, ship_postcode, currency, goods_amount, line_discount_amount, discount,
                   shipping_fee, platform_commission, total, placed_at, channel_time_zone, paid_at)
            SELECT t, t, 'SOR' || g, %(channel)s, 'R' || g, 'paid', '', '', '', 'normal', '[]', '', '', '', '', '',
                   '', 'CN', '', 'x', '', 'x', '', '', 'CNY', 100 + g %% 50, 0, 0, 0, 3, 100 + g %% 50, t,
                   'Asia/Shanghai', t
              FROM (SELECT g, timestamptz '2026-01-01 00:00:00+08' + make_interval(secs => g * 2) AS t
                      FROM generate_series(1, %(orders)s) g) s;
            CREATE TEMP TABLE bench_o AS
            SELECT id, (substr(number, 4))::int %% 1000 AS k, number, total, paid_at FROM orders_order;
            INSERT INTO finance_payment (order_id, provider, transaction_id, amount, currency, fee, refunded_amount,
                   paid_at, method, status, raw, period_id, period_note, created_at)
            SELECT id, CASE WHEN k IN (6, 8) THEN 'bank_transfer' ELSE 'alipay' END, 'T' || number, total, 'CNY',
                   0, CASE WHEN k = 9 THEN 10 ELSE 0 END, paid_at, '',
                   CASE WHEN k = 9 THEN 'partially_refunded' ELSE 'succeeded' END, '{}', %(jan)s, '', paid_at
              FROM bench_o WHERE k <> 0;
            INSERT INTO finance_statementline (batch_id, source, account, entry_id, kind, occurred_at, period_id,
                   period_note, amount, currency, transaction_id, order_ref, counterparty, memo, description, method,
                   row_number, order_id, payment_id, matched_by)
            SELECT %(settlement)s, 'settlement', '', line.kind || o.number, line.kind,
                   CASE WHEN o.k = 4 THEN timestamptz '2026-02-02 10:00:00+08' ELSE o.paid_at + interval '1 hour' END,
                   CASE WHEN o.k = 4 THEN %(feb)s ELSE %(jan)s END, '',
                   CASE line.kind WHEN 'sale' THEN o.total - CASE WHEN o.k = 1 THEN 1 ELSE 0 END
                                  WHEN 'commission' THEN CASE WHEN o.k = 3 THEN -5 ELSE -3 END
                                  ELSE -10 END,
                   'CNY', 'T' || o.number, o.number, 'buyer', '', '', '支付宝', 1, o.id, p.id, 'order_number'
              FROM bench_o o
              JOIN finance_payment p ON p.order_id = o.id
              JOIN (VALUES ('sale'), ('commission'), ('refund')) AS line(kind)
                ON line.kind <> 'refund' OR o.k IN (2, 9)
             WHERE o.k NOT IN (0, 5, 6, 8);
            INSERT INTO finance_statementline (batch_id, source, account, entry_id, kind, occurred_at, period_id,
                   period_note, amount, currency, transaction_id, order_ref, counterparty, memo, description, method,
                   row_number, matched_by)
            SELECT %(settlement)s, 'settlement', '', 'X' || number, 'sale', paid_at, %(jan)s, '', 88, 'CNY', '',
                   'SOX' || number, 'buyer', '', '', '支付宝', 1, ''
              FROM bench_o WHERE k = 7;
            INSERT INTO finance_statementline (batch_id, source, account, entry_id, kind, occurred_at, period_id,
                   period_note, amount, currency, transaction_id, order_ref, counterparty, memo, description, method,
                   row_number, order_id, payment_id, matched_by)
            SELECT %(bank)s, 'bank', '6222', 'T' || o.number, 'other', o.paid_at + interval '1 day', %(jan)s, '',
                   o.total, 'CNY', '', '', 'buyer', '货款', '', '', 1, o.id, p.id, 'transaction_id'
              FROM bench_o o JOIN finance_payment p ON p.order_id = o.id WHERE o.k = 8;
            INSERT INTO finance_revenueline (order_id, kind, amount, currency, source, booked_at, period_id,
                   period_note, note, created_at)
            SELECT id, 'refund', -10, 'CNY', 'refund:R' || number, paid_at, %(jan)s, '', '', paid_at
              FROM bench_o WHERE k = 9;
            """,
            params,
        )
        # As in production, where autovacuum has long passed over last month's rows by the nightly run.
        cursor.execute("VACUUM ANALYZE")


def expected() -> Counter:
    counts = Counter()
    for n in range(1, ORDERS + 1):
        if n % 1000 in PLANTED:
            counts[PLANTED[n % 1000]] += 1
    return counts


def baseline_facts(order_id):
    """Per-row ORM matching: the order, then its payments, lines and refunds, one query each."""
    from django.db.models import Sum

    from finance.imports.models import StatementLine
    from finance.models import Payment, RevenueLine
    from finance.reconciliation.facts import SETTLED_PROVIDERS, TRANSFER_PROVIDERS, OrderFacts, money
    from orders.models import Order

    order = Order.objects.get(pk=order_id)
    payments = list(Payment.objects.filter(order_id=order_id))
    lines = list(StatementLine.objects.filter(order_id=order_id))
    refunds = RevenueLine.objects.filter(order_id=order_id, kind="refund").aggregate(s=Sum("amount"))["s"]
    statement = [line for line in lines if line.source != "bank"]
    order_lines = [
        line
        for line in statement
        if line.kind in ("sale", "refund", "fee", "commission", "platform_discount")
    ]
    sales = [line for line in statement if line.kind == "sale"]
    bank = [line for line in lines if line.source == "bank"]

    def pair(ids):
        return tuple(sorted({min(ids), max(ids)})) if ids else ()

    return OrderFacts(
        order_id=order.pk, number=order.number, status=order.status, currency=order.currency,
        total=money(order.total), commission=money(order.platform_commission), paid=order.paid_at is not None,
        erp_refunds=-money(refunds), pay_n=len(payments), pay_amount=money(sum(p.amount for p in payments)),
        pay_currencies=tuple(sorted({p.currency for p in payments})),
        pay_refunded=money(sum(p.refunded_amount for p in payments)), pay_fee=money(sum(p.fee for p in payments)),
        pay_periods=pair([p.period_id for p in payments]),
        pay_settled_n=sum(p.provider in SETTLED_PROVIDERS for p in payments),
        pay_transfer_n=sum(p.provider in TRANSFER_PROVIDERS for p in payments),
        st_n=len(order_lines), sale_n=len(sales),
        st_income=money(sum(line.amount for line in statement if line.kind in ("sale", "platform_discount"))),
        st_refunds=-money(sum(line.amount for line in statement if line.kind == "refund")),
        st_deductions=-money(sum(line.amount for line in statement if line.kind in ("fee", "commission"))),
        sale_periods=pair([line.period_id for line in sales]),
        st_currencies=tuple(sorted({line.currency for line in order_lines})),
        bank_n=len(bank), bank_amount=money(sum(line.amount for line in bank)),
        bank_periods=pair([line.period_id for line in bank]),
    )  # fmt: skip


FLOOR = """
    WITH scope AS (
        SELECT id, total, platform_commission FROM orders_order
         WHERE paid_at >= %(starts)s AND paid_at < %(ends)s),
    pay AS (
        SELECT order_id, count(*) AS n, sum(amount) AS amount, min(period_id) AS period,
               count(*) FILTER (WHERE provider = 'alipay') AS settled,
               count(*) FILTER (WHERE provider = 'bank_transfer') AS transfers
          FROM finance_payment WHERE order_id IN (SELECT id FROM scope) GROUP BY order_id),
    st AS (
        SELECT order_id,
               count(*) FILTER (WHERE source <> 'bank' AND kind = 'sale') AS sale_n,
               coalesce(sum(amount) FILTER (WHERE source <> 'bank' AND kind = 'sale'), 0) AS sales,
               min(period_id) FILTER (WHERE source <> 'bank' AND kind = 'sale') AS sale_period,
               coalesce(-sum(amount) FILTER (WHERE source <> 'bank' AND kind = 'refund'), 0) AS refunds,
               coalesce(-sum(amount) FILTER (WHERE source <> 'bank' AND kind IN ('fee', 'commission')), 0)
                   AS deductions,
               count(*) FILTER (WHERE source = 'bank') AS bank_n,
               coalesce(sum(amount) FILTER (WHERE source = 'bank'), 0) AS bank_amount
          FROM finance_statementline WHERE order_id IN (SELECT id FROM scope) GROUP BY order_id),
    erp AS (
        SELECT order_id, -sum(amount) AS refunds FROM finance_revenueline
         WHERE kind = 'refund' AND order_id IN (SELECT id FROM scope) GROUP BY order_id)
    INSERT INTO bench_floor_item (round, order_id)
    SELECT %(round)s, o.id
      FROM scope o LEFT JOIN pay ON pay.order_id = o.id LEFT JOIN st ON st.order_id = o.id
           LEFT JOIN erp ON erp.order_id = o.id
     WHERE pay.n IS NULL
        OR (pay.settled > 0 AND coalesce(st.sale_n, 0) = 0)
        OR (pay.transfers > 0 AND coalesce(st.bank_n, 0) = 0)
        OR (st.sale_n > 0 AND (st.sales <> o.total OR st.deductions <> o.platform_commission
                               OR st.sale_period <> pay.period))
        OR coalesce(st.refunds, 0) <> coalesce(erp.refunds, 0)
        OR (st.bank_n > 0 AND st.bank_amount <> pay.amount)
"""


def main() -> None:
    setup_django(DB)
    try:
        run()
    finally:
        teardown(DB)


def run() -> None:
    from django.db import connection, transaction

    from finance.models import AccountingPeriod, Payment
    from finance.periods import period_get
    from finance.reconciliation.models import ReconciliationItem
    from finance.reconciliation.rules import classify
    from finance.reconciliation.services import reconciliation_execute, reconciliation_start

    load_start = load_average()
    print(f"reconciliation, {ORDERS:,} orders, {ROUNDS} rounds; {load_start}")
    started = time.perf_counter()
    load()
    payments = Payment.objects.count()
    print(f"  loaded   : {payments:,} payments in {time.perf_counter() - started:.0f} s")
    january = period_get(2026, 1)
    labels = {p.pk: str(p) for p in AccountingPeriod.objects.all()}
    pay_order_ids = list(Payment.objects.order_by("pk").values_list("order_id", flat=True))
    step = max(1, len(pay_order_ids) // BASELINE)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor_item (round int NOT NULL, order_id bigint NOT NULL)")
    want = expected()

    ours_times, baseline_rates, floor_times, failures = [], [], [], []
    for round_no in range(1, ROUNDS + 1):
        # --- A: ours ------------------------------------------------------------------------------
        with transaction.atomic():
            run_row, _created = reconciliation_start(year=2026, month=1)
        started = time.perf_counter()
        run_row = reconciliation_execute(run_id=run_row.pk)
        seconds = time.perf_counter() - started
        ours_times.append(seconds)

        # --- B: per-row ORM matching on a sample (a different one each round) --------------------
        sample = pay_order_ids[round_no - 1 :: step][:BASELINE]
        started = time.perf_counter()
        baseline_found = set()
        for order_id in sample:
            for difference in classify(baseline_facts(order_id), labels):
                baseline_found.add((order_id, difference.difference, difference.column))
        baseline_seconds = time.perf_counter() - started
        baseline_rates.append(len(sample) / baseline_seconds)

        # --- F: one plain-SQL statement -----------------------------------------------------------
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(FLOOR, {"starts": january.starts_at, "ends": january.ends_at, "round": round_no})
        floor = time.perf_counter() - started
        floor_times.append(floor)

        # --- invariants ---------------------------------------------------------------------------
        items = ReconciliationItem.objects.filter(run=run_row)
        ours_on_sample = set(
            items.filter(order_id__in=sample).values_list("order_id", "difference", "column")
        )
        ours_orders = set(items.exclude(order_id=None).values_list("order_id", flat=True))
        with connection.cursor() as cursor:
            cursor.execute("SELECT order_id FROM bench_floor_item WHERE round = %s", [round_no])
            floor_orders = {row[0] for row in cursor.fetchall()}
        found = Counter(run_row.counts)
        ok = (
            run_row.state == "done"
            and found == want
            and ours_on_sample == baseline_found
            and floor_orders == ours_orders
        )
        if not ok:
            failures.append(round_no)
            print(f"  found    : {dict(sorted(found.items()))}; want {dict(sorted(want.items()))}; "
                  f"state {run_row.state} {run_row.error[:200]}; floor-only {len(floor_orders - ours_orders)}, "
                  f"ours-only {len(ours_orders - floor_orders)}")  # fmt: skip
        print(
            f"  round {round_no}  : ours {seconds:.2f} s ({run_row.difference_count:,} differences on "
            f"{run_row.order_count:,} orders) | baseline {len(sample):,} payments {baseline_seconds:.2f} s → "
            f"{payments * baseline_seconds / len(sample):,.0f} s scaled ({len(baseline_found)} differences, "
            f"{'agree' if ours_on_sample == baseline_found else 'DISAGREE'}) | floor {floor:.2f} s "
            f"({len(floor_orders):,} orders, {'same' if floor_orders == ours_orders else 'DIFFERENT'}) "
            f"{verdict(ok)} | {load_one()}"
        )

    seconds = statistics.median(ours_times)
    scaled = payments / statistics.median(baseline_rates)
    floor = statistics.median(floor_times)
    ratio = scaled / seconds
    load_end = load_average()
    print(f"  medians  : ours {seconds:.2f} s → {payments / seconds:,.0f} payments/s; baseline {scaled:,.0f} s "
          f"for {payments:,} (scaled from {BASELINE:,} a round); floor {floor:.2f} s")  # fmt: skip
    print(f"  ratios   : {ratio:.0f}× the baseline; ours takes {seconds / floor:.1f}× the floor's time")
    print(f"  found    : {dict(sorted(Counter(run_row.counts).items()))}")
    print(f"  target   : ≤ {TARGET_SECONDS} s {verdict(seconds <= TARGET_SECONDS)}, "
          f"≥ {TARGET_RATIO}× {verdict(ratio >= TARGET_RATIO)}; invariants {verdict(not failures)}")  # fmt: skip
    print(f"  {load_end} (end)")
    summary(
        f"Reconciliation {payments / 1e6:.2f}M payments",
        target=f"≤ {TARGET_SECONDS} s, ≥ {TARGET_RATIO}×",
        figure=f"{seconds:.2f} s",
        baseline=f"{scaled:,.0f} s (per-row ORM, {BASELINE:,}/round scaled)",
        floor=f"{floor:.2f} s (one SQL statement)",
        ratios=f"{ratio:.0f}× baseline, {seconds / floor:.1f}× floor time",
        load=f"{load_start.split()[2]} → {load_end.split()[2]}",
    )
    if failures:
        raise SystemExit(f"invariants failed in rounds {failures}")


if __name__ == "__main__":
    main()
