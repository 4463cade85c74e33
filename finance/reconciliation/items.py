"""A run's differences as ReconciliationItem rows: one per difference of a differing order and
per statement line that names no order (or a payout no bank line paid out), each with its trail
(the records behind it), resolutions carried over from earlier runs, stored in bulk."""

import json
from collections import defaultdict

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from finance.imports.models import StatementKind, StatementLine, StatementSource
from finance.models import Payment, RevenueKind, RevenueLine
from finance.reconciliation.facts import ORDER_KINDS, OrderFacts
from finance.reconciliation.models import (
    CandidateState,
    DifferenceClass,
    MemoCandidate,
    ReconciliationItem,
    ReconciliationRun,
)
from finance.reconciliation.rules import NONE, classify
from finance.reconciliation.sql import CHUNK, table

LINE_FIELDS = (
    "id",
    "source",
    "kind",
    "entry_id",
    "amount",
    "currency",
    "occurred_at",
    "period_id",
    "batch_id",
    "order_ref",
    "memo",
    "matched_by",
)


def _line_dict(line: dict, labels: dict[int, str]) -> dict:
    return {
        "id": line["id"],
        "source": line["source"],
        "kind": line["kind"],
        "entry_id": line["entry_id"],
        "amount": str(line["amount"]),
        "currency": line["currency"],
        "occurred_at": line["occurred_at"].isoformat(),
        "period": labels.get(line["period_id"], ""),
        "batch": line["batch_id"],
        "order_ref": line["order_ref"],
        "memo": line["memo"][:120],
        "matched_by": line["matched_by"],
    }


def _trails(facts: list[OrderFacts], labels: dict[int, str]) -> dict[int, dict]:
    ids = [f.order_id for f in facts]
    payments: dict[int, list] = defaultdict(list)
    lines: dict[int, list] = defaultdict(list)
    refunds: dict[int, list] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for p in (
            Payment.objects.filter(order_id__in=chunk)
            .values(
                "id",
                "order_id",
                "provider",
                "transaction_id",
                "amount",
                "currency",
                "refunded_amount",
                "fee",
                "paid_at",
                "period_id",
            )
            .order_by("id")
        ):
            payments[p["order_id"]].append(
                {
                    "id": p["id"],
                    "provider": p["provider"],
                    "transaction_id": p["transaction_id"],
                    "amount": str(p["amount"]),
                    "currency": p["currency"],
                    "refunded": str(p["refunded_amount"]),
                    "fee": str(p["fee"]),
                    "paid_at": p["paid_at"].isoformat(),
                    "period": labels.get(p["period_id"], ""),
                }
            )
        for line in (
            StatementLine.objects.filter(order_id__in=chunk)
            .values("order_id", *LINE_FIELDS)
            .order_by("occurred_at", "id")
        ):
            lines[line["order_id"]].append(_line_dict(line, labels))
        for r in RevenueLine.objects.filter(order_id__in=chunk, kind=RevenueKind.REFUND).values(
            "order_id", "amount", "source", "booked_at"
        ):
            refunds[r["order_id"]].append(
                {"amount": str(-r["amount"]), "source": r["source"], "booked_at": r["booked_at"].isoformat()}
            )
    trails = {}
    for f in facts:
        own = lines[f.order_id]
        trails[f.order_id] = {
            "cells": {
                "erp": str(f.total),
                "payment": str(f.pay_amount) if f.pay_n else None,
                "settlement": str(f.st_income) if f.st_n else None,
                "bank": str(f.bank_amount) if f.bank_n else None,
            },
            "erp": {
                "number": f.number,
                "status": f.status,
                "currency": f.currency,
                "total": str(f.total),
                "commission": str(f.commission),
                "refunds": refunds[f.order_id],
            },
            "payment": payments[f.order_id],
            "settlement": [e for e in own if e["source"] != StatementSource.BANK],
            "bank": [e for e in own if e["source"] == StatementSource.BANK],
        }
    return trails


def _item(
    run: ReconciliationRun,
    *,
    order_id: int | None = None,
    line_id: int | None = None,
    difference: str,
    column: str,
    expected,
    actual,
    currency: str,
    trail: dict,
) -> ReconciliationItem:
    subject = f"o{order_id}" if order_id else f"l{line_id}"
    return ReconciliationItem(
        run=run,
        order_id=order_id,
        line_id=line_id,
        difference=difference,
        column=column,
        expected=str(expected)[:64],
        actual=str(actual)[:64],
        currency=currency,
        key=f"{difference}:{column}:{subject}:{expected}:{actual}"[:200],
        trail=trail,
    )


def order_items(
    run: ReconciliationRun, facts: list[OrderFacts], labels: dict[int, str]
) -> list[ReconciliationItem]:
    """The differences of each differing order, each with the order's trail."""
    trails = _trails(facts, labels)
    return [
        _item(
            run,
            order_id=f.order_id,
            difference=found.difference,
            column=found.column,
            expected=found.expected,
            actual=found.actual,
            currency=f.currency,
            trail=trails[f.order_id],
        )
        for f in facts
        for found in classify(f, labels)
    ]


def line_items(run: ReconciliationRun, labels: dict[int, str]) -> list[ReconciliationItem]:
    """The period's statement lines that name no order (and wait for no memo decision), and its
    payouts no bank line paid out."""
    period = run.period
    waiting = MemoCandidate.objects.filter(line=OuterRef("pk"), state=CandidateState.PENDING)
    unmatched = (
        StatementLine.objects.filter(period=period, order__isnull=True, payout_of__isnull=True)
        .filter(
            Q(source__in=[StatementSource.SETTLEMENT, StatementSource.POS], kind__in=ORDER_KINDS)
            | Q(source=StatementSource.BANK, amount__gt=0)
        )
        .exclude(Exists(waiting))
        .values(*LINE_FIELDS)
    )
    items = []
    for line in unmatched:
        column = "bank" if line["source"] == StatementSource.BANK else "settlement"
        items.append(
            _item(
                run,
                line_id=line["id"],
                difference=DifferenceClass.UNMATCHED_LINE,
                column=column,
                expected="an order",
                actual=line["order_ref"] or line["memo"][:60] or NONE,
                currency=line["currency"],
                trail={"cells": {column: str(line["amount"])}, column: [_line_dict(line, labels)]},
            )
        )
    unpaid_out = StatementLine.objects.filter(
        period=period, order__isnull=True, kind=StatementKind.PAYOUT, paid_out_by__isnull=True
    ).values(*LINE_FIELDS)
    for line in unpaid_out:
        items.append(
            _item(
                run,
                line_id=line["id"],
                difference=DifferenceClass.MISSING_BANK_LINE,
                column="bank",
                expected=str(-line["amount"]),
                actual=NONE,
                currency=line["currency"],
                trail={
                    "cells": {"settlement": str(line["amount"]), "bank": None},
                    "settlement": [_line_dict(line, labels)],
                },
            )
        )
    return items


def carry_over(items: list[ReconciliationItem]) -> None:
    """A difference resolved in an earlier run (same subject, class and amounts) stays resolved."""
    keys = [item.key for item in items]
    resolved: dict[str, dict] = {}
    for start in range(0, len(keys), CHUNK):
        for row in (
            ReconciliationItem.objects.filter(key__in=keys[start : start + CHUNK], resolved_at__isnull=False)
            .order_by("resolved_at")
            .values("key", "resolved_at", "resolved_by_id", "resolution", "run_id")
        ):
            resolved[row["key"]] = row
    for item in items:
        earlier = resolved.get(item.key)
        if earlier is not None:
            item.resolved_at = earlier["resolved_at"]
            item.resolved_by_id = earlier["resolved_by_id"]
            item.resolution = earlier["resolution"]


ITEM_COLUMNS = (
    "run_id", "order_id", "line_id", "difference", "column", "expected", "actual", "currency", "key", "trail",
    "resolved_at", "resolved_by_id", "resolution",
)  # fmt: skip


def store(items: list[ReconciliationItem]) -> None:
    """Insert the differences: COPY on PostgreSQL (a bulk INSERT quotes every value client-side,
    ~0.2 ms a row with its trail), bulk_create elsewhere."""
    if connection.vendor != "postgresql":
        ReconciliationItem.objects.bulk_create(items, batch_size=CHUNK)
        return
    columns = ", ".join(connection.ops.quote_name(c) for c in ITEM_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table(ReconciliationItem)} ({columns}) FROM STDIN") as copy,  # noqa: S608
    ):
        for item in items:
            copy.write_row(
                [
                    *(getattr(item, name) for name in ITEM_COLUMNS[:9]),
                    json.dumps(item.trail, ensure_ascii=False),
                    item.resolved_at,
                    item.resolved_by_id,
                    item.resolution,
                ]
            )
