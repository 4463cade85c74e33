"""Reconciliation, 1M payments (SPEC §8: ≤ 10 s; ≥ 50× per-row ORM matching on a sample).

Ours: finance.reconciliation — one run for January: unmatched lines matched by order number /
transaction id (UPDATEs on the few unmatched), one grouped query over every order in scope
(payments, settlement and bank lines, refunds) returning only orders where a side disagrees,
the leftovers (memo candidates, payouts, classification, trails) in Python, the differences
stored. Baseline, in the same run: per-row ORM matching — for each payment of a sample, load its
order, the order's payments, statement lines and refunds, and classify them with the same
classifier — scaled to all payments.
Fixture (set-based): ORDERS orders paid in January 2026, a payment for nearly each (Alipay, some
bank transfers), Alipay settlement lines (sale + commission, refunds for some), bank lines for the
transfers, and one planted difference of every class per 1,000 orders.
Invariants: every planted difference found, none invented; the baseline agrees on its sample."""

import os
import time
from collections import Counter

from bench.common import setup_django, teardown, verdict

DB = "conduit_bench_reconcile"
ORDERS = int(os.environ.get("RECONCILE_ORDERS", 1_000_000))
BASELINE = int(os.environ.get("RECONCILE_BASELINE", 2_000))
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
    from finance.imports.models import ImportBatch
    from finance.periods import period_get

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


def main() -> None:
    setup_django(DB)
    try:
        run()
    finally:
        teardown(DB)


def run() -> None:
    from django.db import transaction

    from finance.models import AccountingPeriod, Payment
    from finance.reconciliation.models import ReconciliationItem
    from finance.reconciliation.rules import classify
    from finance.reconciliation.services import reconciliation_execute, reconciliation_start

    started = time.perf_counter()
    load()
    payments = Payment.objects.count()
    print(
        f"reconciliation, {ORDERS:,} orders, {payments:,} payments; loaded in {time.perf_counter() - started:.0f} s"
    )

    # --- ours -----------------------------------------------------------------------------------
    with transaction.atomic():
        run_row, _created = reconciliation_start(year=2026, month=1)
    started = time.perf_counter()
    run_row = reconciliation_execute(run_id=run_row.pk)
    seconds = time.perf_counter() - started
    print(f"  ours     : {seconds:.2f} s → {payments / seconds:,.0f} payments/s; {run_row.difference_count:,} "
          f"differences on {run_row.order_count:,} orders, state {run_row.state} {run_row.error[:200]}")  # fmt: skip

    # --- baseline: per-row ORM matching on a sample ----------------------------------------------
    labels = {p.pk: str(p) for p in AccountingPeriod.objects.all()}
    step = max(1, payments // BASELINE)
    sample = list(Payment.objects.order_by("pk").values_list("order_id", flat=True)[::step][:BASELINE])
    started = time.perf_counter()
    baseline_found = set()
    for order_id in sample:
        for difference in classify(baseline_facts(order_id), labels):
            baseline_found.add((order_id, difference.difference, difference.column))
    baseline_seconds = time.perf_counter() - started
    per_payment = baseline_seconds / len(sample)
    scaled = per_payment * payments
    print(f"  baseline : per-row ORM matching on {len(sample):,} payments in {baseline_seconds:.2f} s → "
          f"{1 / per_payment:,.0f} payments/s; {payments:,} scaled: {scaled:,.0f} s")  # fmt: skip
    ratio = scaled / seconds
    print(f"  ratio    : {ratio:.0f}×")
    print(f"  target   : ≤ 10 s {verdict(seconds <= 10)}, ≥ 50× {verdict(ratio >= 50)}")

    found = Counter(run_row.counts)
    want = expected()
    ours_on_sample = {
        (order_id, difference, column)
        for order_id, difference, column in ReconciliationItem.objects.filter(
            run=run_row, order_id__in=sample
        ).values_list("order_id", "difference", "column")
    }
    same_as_planted = found == want
    agree = ours_on_sample == baseline_found
    print(f"  found    : {dict(sorted(found.items()))}")
    print(f"  invariants: all planted found and none invented {verdict(same_as_planted)}; "
          f"baseline agrees on its sample ({len(baseline_found)} differences) {verdict(agree)}")  # fmt: skip
    if not (same_as_planted and agree and run_row.state == "done"):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
