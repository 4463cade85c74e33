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
    out = {"items": items, "counts": run.counts, "order_count": run.order_count, "candidates": run.candidate_count}
    with open(os.environ["DUMP_TO"], "w") as fh:
        json.dump(out, fh, indent=1, default=str, sort_keys=True)
