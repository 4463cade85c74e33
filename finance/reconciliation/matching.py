"""Matching the period's statement lines before they are compared: to orders and payments by
order number and transaction id (two UPDATEs), then the leftovers in Python (platform order ids,
Tmall's T200P merchant numbers, bank references of transfers); platform payouts to the bank
credits that paid them out; and bank memos to the orders they may name (candidates for a person
to confirm)."""

from collections import defaultdict
from datetime import timedelta

from django.db import connection
from django.db.models import Exists, OuterRef

from finance.imports.models import StatementKind, StatementLine, StatementSource
from finance.imports.references import references_resolve
from finance.models import AccountingPeriod, Payment
from finance.reconciliation.facts import money
from finance.reconciliation.memo import memo_digit_runs, order_numbers_for
from finance.reconciliation.models import CandidateState, MatchedOn, MemoCandidate
from finance.reconciliation.sql import CHUNK, table
from orders.models import Order

PAYOUT_WINDOW = timedelta(days=5)  # a payout reaches the bank within days


def match_lines(period: AccountingPeriod) -> int:
    """Order and payment for the period's unmatched lines; returns how many got an order."""
    lines, orders, payments = table(StatementLine), table(Order), table(Payment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {lines} SET order_id = (SELECT o.id FROM {orders} o WHERE o.number = {lines}.order_ref),
                               matched_by = 'order_number'
             WHERE period_id = %s AND order_id IS NULL AND order_ref <> ''
               AND EXISTS (SELECT 1 FROM {orders} o WHERE o.number = {lines}.order_ref)
            """,  # noqa: S608
            [period.pk],
        )
        matched = cursor.rowcount
        cursor.execute(
            f"""
            UPDATE {lines}
               SET payment_id = (SELECT MIN(p.id) FROM {payments} p
                                  WHERE p.transaction_id = {lines}.transaction_id),
                   order_id = (SELECT MIN(p.order_id) FROM {payments} p
                                WHERE p.transaction_id = {lines}.transaction_id),
                   matched_by = 'transaction_id'
             WHERE period_id = %s AND order_id IS NULL AND payment_id IS NULL AND transaction_id <> ''
               AND (SELECT COUNT(*) FROM {payments} p WHERE p.transaction_id = {lines}.transaction_id) = 1
            """,  # noqa: S608
            [period.pk],
        )
        matched += cursor.rowcount
    leftovers = (
        StatementLine.objects.filter(period=period, order__isnull=True, payout_of__isnull=True)
        .exclude(kind=StatementKind.PAYOUT)
        .values_list("id", "source", "entry_id", "transaction_id", "order_ref", named=True)
    )
    by_source = defaultdict(list)
    for line in leftovers:
        by_source[line.source].append(line)
    updates = []
    for source, group in by_source.items():
        references = references_resolve(group, source)
        for line in group:
            found = references.match(line)
            if found.order_id is not None:
                updates.append(
                    StatementLine(
                        pk=line.id,
                        order_id=found.order_id,
                        payment_id=found.payment_id,
                        matched_by=found.matched_by,
                    )
                )
    StatementLine.objects.bulk_update(updates, ["order", "payment", "matched_by"], batch_size=CHUNK)
    return matched + len(updates)


def match_payouts(period: AccountingPeriod) -> int:
    """Platform payouts (settlement lines of kind payout) ↔ bank credits of the same amount and
    currency within days after; the nearest in time wins, each bank line once."""
    payouts = list(
        StatementLine.objects.filter(
            period=period, order__isnull=True, kind=StatementKind.PAYOUT, paid_out_by__isnull=True
        )  # order IS NULL: the partial index of unmatched lines, not the whole period
        .order_by("occurred_at", "id")
        .values_list("id", "amount", "currency", "occurred_at")
    )
    if not payouts:
        return 0
    has_candidate = MemoCandidate.objects.filter(line=OuterRef("pk")).exclude(state=CandidateState.REJECTED)
    credits = (
        StatementLine.objects.filter(
            source=StatementSource.BANK,
            order__isnull=True,
            payout_of__isnull=True,
            amount__gt=0,
            occurred_at__gte=period.starts_at - PAYOUT_WINDOW,
            occurred_at__lt=period.ends_at + PAYOUT_WINDOW,
        )
        .exclude(Exists(has_candidate))
        .values_list("id", "amount", "currency", "occurred_at")
    )
    pool: dict[tuple, list] = defaultdict(list)
    for pk, amount, currency, at in credits:
        pool[(money(amount), currency)].append((at, pk))
    updates = []
    for pk, amount, currency, at in payouts:
        options = [
            c
            for c in pool.get((money(-amount), currency), [])
            if at - timedelta(days=1) <= c[0] <= at + PAYOUT_WINDOW
        ]
        if not options:
            continue
        chosen = min(options, key=lambda c: abs(c[0] - at))
        pool[(money(-amount), currency)].remove(chosen)
        updates.append(StatementLine(pk=chosen[1], payout_of_id=pk, matched_by="payout"))
    StatementLine.objects.bulk_update(updates, ["payout_of", "matched_by"], batch_size=CHUNK)
    return len(updates)


def find_memo_candidates(period: AccountingPeriod) -> int:
    """Candidates for the period's bank lines that match nothing yet: digit runs in the memo that
    are one of our order numbers or a platform order id. Returns how many new ones."""
    lines = list(
        StatementLine.objects.filter(
            period=period, source=StatementSource.BANK, order__isnull=True, payout_of__isnull=True
        ).values_list("id", "memo", "amount", "currency")
    )
    runs = {pk: memo_digit_runs(memo) for pk, memo, _amount, _currency in lines}
    numbers = sorted({n for digits in runs.values() for d in digits for n in order_numbers_for(d)})
    externals = sorted({d for digits in runs.values() for d in digits})
    by_number: dict[str, tuple] = {}
    for start in range(0, len(numbers), CHUNK):
        for row in Order.objects.filter(number__in=numbers[start : start + CHUNK]).values_list(
            "number", "id", "total", "currency"
        ):
            by_number[row[0]] = row[1:]
    by_external: dict[str, list[tuple]] = defaultdict(list)
    for start in range(0, len(externals), CHUNK):
        for row in Order.objects.filter(external_id__in=externals[start : start + CHUNK]).values_list(
            "external_id", "id", "total", "currency"
        ):
            by_external[row[0]].append(row[1:])
    candidates = []
    for pk, _memo, amount, currency in lines:
        for digits in runs[pk]:
            found = [
                (MatchedOn.ORDER_NUMBER, by_number[n]) for n in order_numbers_for(digits) if n in by_number
            ]
            found += [(MatchedOn.EXTERNAL_ID, order) for order in by_external.get(digits, [])]
            for matched_on, (order_id, total, order_currency) in found:
                candidates.append(
                    MemoCandidate(
                        line_id=pk,
                        order_id=order_id,
                        digits=digits[:64],
                        matched_on=matched_on,
                        amount_matches=money(amount) == money(total) and currency == order_currency,
                    )
                )
    before = (
        MemoCandidate.objects.filter(line_id__in=[c.line_id for c in candidates]).count() if candidates else 0
    )
    MemoCandidate.objects.bulk_create(candidates, ignore_conflicts=True, batch_size=CHUNK)
    after = (
        MemoCandidate.objects.filter(line_id__in=[c.line_id for c in candidates]).count() if candidates else 0
    )
    return after - before
