"""Reads for the reconciliation screens: runs, the matrix of a run (rows are orders, or
statement lines that name no order; columns ERP / payment / settlement / bank) and the queue of
bank memo candidates."""

from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from finance.imports.models import StatementLine
from finance.reconciliation.models import CandidateState, MemoCandidate, ReconciliationItem, ReconciliationRun
from orders.models import Order

COLUMNS = ("erp", "payment", "settlement", "bank")


@dataclass
class MatrixRow:
    order: Order | None
    line: StatementLine | None
    items: list[ReconciliationItem] = field(default_factory=list)

    @property
    def trail(self) -> dict:
        return self.items[0].trail if self.items else {}

    @property
    def cells(self) -> list[tuple[str, str | None, bool]]:
        """(column, value, differs) in matrix order."""
        values = self.trail.get("cells", {})
        differing = {item.column for item in self.items}
        return [(column, values.get(column), column in differing) for column in COLUMNS]

    @property
    def currency(self) -> str:
        return self.items[0].currency if self.items else ""


def run_list(*, limit: int = 50) -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("period", "requested_by").order_by("-created_at", "-id")[
        :limit
    ]


def run_items(run: ReconciliationRun, difference: str, show: str) -> QuerySet[ReconciliationItem]:
    items = run.items.all()
    if difference:
        items = items.filter(difference=difference)
    if show == "open":
        items = items.filter(resolved_at__isnull=True)
    elif show == "resolved":
        items = items.filter(resolved_at__isnull=False)
    return items


def run_matrix(
    run: ReconciliationRun,
    *,
    difference: str = "",
    show: str = "open",
    page: int | str = 1,
    per_page: int = 50,
) -> tuple[Page, list[MatrixRow]]:
    items = run_items(run, difference, show)
    subjects = items.values_list("order_id", "line_id").distinct().order_by("order_id", "line_id")
    current = Paginator(subjects, per_page).get_page(page)
    order_ids = [order_id for order_id, _line in current if order_id]
    line_ids = [line_id for order_id, line_id in current if not order_id]
    rows: dict[tuple, MatrixRow] = {}
    for item in (
        items.filter(Q(order_id__in=order_ids) | Q(order__isnull=True, line_id__in=line_ids))
        .select_related("order", "line", "resolved_by")
        .order_by("order_id", "line_id", "id")
    ):
        key = (item.order_id, None) if item.order_id else (None, item.line_id)
        row = rows.setdefault(key, MatrixRow(order=item.order, line=item.line if not item.order_id else None))
        row.items.append(item)
    ordered = [
        rows[(o, None) if o else (None, line)]
        for o, line in current
        if ((o, None) if o else (None, line)) in rows
    ]
    return current, ordered


def candidate_queue(*, state: str = CandidateState.PENDING) -> QuerySet[MemoCandidate]:
    return (
        MemoCandidate.objects.filter(state=state)
        .select_related("line", "order", "decided_by")
        .order_by("line__occurred_at", "line_id", "id")
    )
