import json
import os

from finance.tests.test_reconciliation import capture, media, month, run_january  # noqa: F401


def test_dump(month, capture, finance_user):  # noqa: F811
    run = run_january(capture, finance_user)
    items = [
        [i.order.number if i.order else i.line.entry_id, i.difference, i.column, i.expected, i.actual, i.currency,
         i.key.split(":")[0:2], i.trail]
        for i in run.items.select_related("order", "line").order_by("id")
    ]
    from finance.imports.models import ImportBatch, StatementLine
    lines = [
        [l.entry_id, l.source, l.account, l.kind, l.occurred_at, l.amount, l.currency, l.transaction_id, l.order_ref,
         l.counterparty, l.memo, l.description, l.method, l.row_number, l.order.number if l.order else None,
         l.payment.transaction_id if l.payment else None, l.matched_by, str(l.period), l.period_note,
         l.payout_of.entry_id if l.payout_of else None]
        for l in StatementLine.objects.select_related("order", "payment", "period", "payout_of").order_by("entry_id")
    ]
    batches = [[b.state, b.line_count, b.duplicate_count, b.summary, b.preview, b.errors] for b in ImportBatch.objects.order_by("id")]
    out = {"lines": lines, "batches": batches, "items": items, "counts": run.counts, "order_count": run.order_count, "candidates": run.candidate_count}
    with open(os.environ["DUMP_TO"], "w") as fh:
        json.dump(out, fh, indent=1, default=str, sort_keys=True)
