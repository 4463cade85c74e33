"""One reconciliation pass over a period.

1. Matching (matching.py), set-based: statement lines not yet matched get their order and payment
   by order number and transaction id (two UPDATEs); the leftovers in Python: platform order ids
   (and Tmall's T200P prefix), platform payouts ↔ bank credits by amount and date, bank memo
   digit runs (candidates for a person to confirm).
2. The grouped comparison (comparison.py): one query computes, for every order in scope (a
   payment or a statement line booked in the period, or paid in it), its totals on each side and
   returns only the orders where a difference rule (rules.py) holds.
3. Items (items.py): the few differing orders classified by the same rules, their trails, the
   statement lines that name no order, and resolutions carried over from earlier runs.
"""

from collections import Counter

from finance.imports.models import StatementLine
from finance.models import AccountingPeriod, Payment
from finance.reconciliation.comparison import differing_orders
from finance.reconciliation.items import carry_over, line_items, order_items, store
from finance.reconciliation.matching import find_memo_candidates, match_lines, match_payouts
from finance.reconciliation.models import ReconciliationRun


def reconcile(run: ReconciliationRun) -> None:
    """Match, compare and store the run's differences (inside the caller's transaction)."""
    period = run.period
    labels = {p.pk: str(p) for p in AccountingPeriod.objects.all()}
    match_lines(period)
    match_payouts(period)
    run.candidate_count = find_memo_candidates(period)
    facts = differing_orders(period)
    items = order_items(run, facts, labels) + line_items(run, labels)
    carry_over(items)
    store(items)
    run.counts = dict(Counter(str(item.difference) for item in items))
    run.order_count = len(facts)
    run.payment_count = Payment.objects.filter(period=period).count()
    run.line_count = StatementLine.objects.filter(period=period).count()
