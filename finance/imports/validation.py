"""Checking an uploaded statement row by row, without writing anything: find the header row,
turn each row into a statement line (times in UTC, signed Decimal amounts) or into errors that
name the row and the column, and count what an import would add."""

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from django.utils.translation import gettext as _

from core.timezones import business_zone
from finance.imports.cells import RowProblem, cell_text, is_blank, parse_moment, parse_money
from finance.imports.layouts import FIELDS, MONEY_FIELDS, REQUIRED, Layout, normalise_header
from finance.imports.lookups import values_in
from finance.imports.models import StatementKind, StatementLine, StatementSource
from finance.imports.readers import CellError, FileRejected, Sheet
from finance.imports.staging import StagedLine

HEADER_SEARCH_ROWS = 30
MAX_ERRORS = 10_000
PREVIEW_ROWS = 20
PROGRESS_EVERY = 5_000
LENGTHS = {
    "entry_id": 64,
    "account": 64,
    "transaction_id": 128,
    "order_ref": 64,
    "counterparty": 255,
    "memo": 500,
    "description": 255,
    "method": 64,
}
NO_TEXTS = dict.fromkeys(LENGTHS, "")
CURRENCY_ALIASES = {"RMB": "CNY", "人民币": "CNY", "¥": "CNY", "￥": "CNY"}


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet shows it; 0 = the file as a whole
    column: str  # the header in the file (or the field when no column holds it)
    message: str
    value: str = ""

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message, "value": self.value}


@dataclass
class CheckResult:
    header_row: int = 0
    lines: list[StagedLine] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    rows_read: int = 0
    duplicates: int = 0  # lines imported before with the same facts: skipped
    headers: dict[str, str] = field(default_factory=dict)  # field → its header in the file

    def add(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


class StatementChecker:
    """Reads a sheet with a layout; call `check(sheet)` once."""

    def __init__(self, layout: Layout, progress: Callable[[int], None] | None = None):
        self.layout = layout
        self.zone = layout.zone() or business_zone()
        self.kinds = layout.kinds
        self.progress = progress or (lambda rows: None)
        self.result = CheckResult()
        self.columns: dict[str, int] = {}
        self.headers: dict[str, str] = {}  # field → header as written in the file

    # --- header ---------------------------------------------------------------------------

    def _find_header(self, rows) -> None:
        wanted = self.layout.headers
        best: tuple[int, set[str]] = (0, set())
        seen_any = False
        for number, values in rows:
            self.result.rows_read += 1
            if all(is_blank(v) for v in values):
                continue
            seen_any = True
            if cell_text(values[0]).startswith("#"):
                continue
            found: dict[str, int] = {}
            duplicated = []
            for index, value in enumerate(values):
                target = wanted.get(normalise_header(value))
                if target is None:
                    continue
                if target in found:
                    duplicated.append(target)
                found.setdefault(target, index)
                self.headers.setdefault(target, cell_text(value))
            if self._complete(found):
                if duplicated:
                    raise FileRejected(
                        _("Row %(row)s has two columns for %(field)s: keep one.")
                        % {"row": number, "field": ", ".join(str(FIELDS[t]) for t in sorted(set(duplicated)))}
                    )
                self.columns, self.result.header_row = found, number
                self.result.headers = self.headers
                self._columns_found(found)
                return
            self.headers.clear()
            if len(found) > len(best[1]):
                best = (number, set(found))
            if self.result.rows_read >= HEADER_SEARCH_ROWS:
                break
        if not seen_any:
            raise FileRejected(_("The sheet is empty."))
        missing = [t for t in REQUIRED if t not in best[1]]
        if not best[1] & set(MONEY_FIELDS):
            missing.append("amount")
        described = [
            "{} ({})".format(
                " / ".join(self.layout.headers_for(t) or self.layout.headers_for("income") or [t]), FIELDS[t]
            )
            for t in missing
        ]
        raise FileRejected(
            _("Columns missing from the header row: %(columns)s. Check the layout (%(layout)s) or the file.")
            % {"columns": "; ".join(described), "layout": self.layout.name}
        )

    def _columns_found(self, found: dict[str, int]) -> None:
        """Where each field is, looked up once rather than on every row."""
        self.text_fields = [(t, found[t], limit) for t, limit in LENGTHS.items() if t in found]
        self.occurred_column = found["occurred_at"]
        self.amount_column = found.get("amount")
        self.currency_column = found.get("currency")
        self.currencies: dict[str, tuple[str, RowProblem | None]] = {}
        no_kind = "kind" not in found and self.layout.source == StatementSource.BANK
        self.fixed_kind = StatementKind.OTHER if no_kind else None

    def _complete(self, found: dict[str, int]) -> bool:
        return all(t in found for t in REQUIRED) and any(t in found for t in MONEY_FIELDS)

    # --- rows -----------------------------------------------------------------------------

    def check(self, sheet: Sheet) -> CheckResult:
        rows = iter(sheet.rows)
        self._find_header(rows)
        header_row = self.result.header_row
        for ref, first, last in sheet.merged:
            if last >= header_row:
                self.result.add(
                    RowError(
                        max(first, header_row),
                        ref,
                        _("Merged cells %(range)s: unmerge them, every value needs its own cell.")
                        % {"range": ref},
                    )
                )
        seen: dict[tuple[str, str], int] = {}
        for number, values in rows:
            self.result.rows_read += 1
            if self.result.rows_read % PROGRESS_EVERY == 0:
                self.progress(self.result.rows_read)
            first = values[0] if values else None
            if type(first) is str and first.startswith("#"):  # Alipay's comment and total lines
                continue
            if is_blank(first) and all(is_blank(v) for v in values):
                continue
            line = self._line(number, values)
            if line is None:
                continue
            key = (line.account, line.entry_id)
            if key in seen:
                self.result.add(
                    RowError(
                        number,
                        self.headers.get("entry_id", "entry_id"),
                        _("Entry %(id)s appears again (first on row %(row)s).")
                        % {"id": line.entry_id, "row": seen[key]},
                        line.entry_id,
                    )
                )
                continue
            seen[key] = number
            self.result.lines.append(line)
        self.progress(self.result.rows_read)
        if not self.result.lines and not self.result.error_count:
            raise FileRejected(_("The file has a header row but no statement lines."))
        return self.result

    def _get(self, values, target):
        return self._at(values, self.columns.get(target))

    @staticmethod
    def _at(values, index: int | None):
        return values[index] if index is not None and index < len(values) else None

    def _line(self, number: int, values: list) -> StagedLine | None:
        problems: list[RowProblem] = []
        texts = dict(NO_TEXTS)
        size = len(values)
        for target, index, limit in self.text_fields:
            value = values[index] if index < size else None
            if value is None:
                continue
            if type(value) is str:
                text = value.strip()
            elif isinstance(value, CellError):
                problems.append(
                    RowProblem(target, _("The cell holds an error (%(code)s).") % {"code": value}, value)
                )
                continue
            else:
                text = cell_text(value)
            if len(text) > limit:
                problems.append(RowProblem(target, _("At most %(n)s characters.") % {"n": limit}, text[:50]))
            texts[target] = text
        entry_id = texts["entry_id"]
        if not entry_id:
            problems.append(RowProblem("entry_id", _("This field is required.")))
        moment = self._moment(self._at(values, self.occurred_column), problems)
        amount = self._amount(values, problems)
        currency = self._currency(values, problems)
        kind = self.fixed_kind or self._kind(values, amount)
        if problems:
            for problem in problems:
                self.result.add(
                    RowError(
                        number,
                        self.headers.get(problem.field_name, problem.field_name),
                        problem.message,
                        "" if problem.value is None else cell_text(problem.value)[:100],
                    )
                )
            return None
        return StagedLine(
            row_number=number,
            entry_id=entry_id,
            account=texts["account"] or self.layout.account,
            kind=kind,
            occurred_at=moment,
            amount=amount,
            currency=currency,
            transaction_id=texts["transaction_id"],
            order_ref=texts["order_ref"],
            counterparty=texts["counterparty"],
            memo=texts["memo"],
            description=texts["description"],
            method=texts["method"],
        )

    def _moment(self, occurred, problems) -> datetime | None:
        if is_blank(occurred):
            problems.append(RowProblem("occurred_at", _("This field is required.")))
            return None
        try:
            return parse_moment(occurred, self.zone, "occurred_at")
        except RowProblem as problem:
            problems.append(problem)
            return None

    def _amount(self, values, problems) -> Decimal | None:
        if self.amount_column is not None:
            raw = self._at(values, self.amount_column)
            if is_blank(raw):
                problems.append(RowProblem("amount", _("This field is required.")))
                return None
            try:
                amount = parse_money(raw, "amount")
            except RowProblem as problem:
                problems.append(problem)
                return None
        else:
            parts = {}
            for target in ("income", "expense"):
                raw = self._get(values, target)
                try:
                    parts[target] = Decimal("0.00") if is_blank(raw) else parse_money(raw, target)
                except RowProblem as problem:
                    problems.append(problem)
                    return None
            if parts["income"] and parts["expense"]:
                problems.append(RowProblem("expense", _("A line has money in or money out, not both.")))
                return None
            if parts["income"] < 0:
                problems.append(RowProblem("income", _("Money in cannot be negative."), parts["income"]))
                return None
            amount = parts["income"] - abs(parts["expense"])
        if not amount:
            problems.append(
                RowProblem("amount" if "amount" in self.columns else "income", _("The amount is zero."))
            )
            return None
        return amount

    def _currency(self, values, problems) -> str:
        raw = self._at(values, self.currency_column)
        if type(raw) is str:  # a statement names a few currencies: each is read once
            known = self.currencies.get(raw)
            if known is None:
                known = self.currencies[raw] = self._read_currency(raw)
        else:
            known = self._read_currency(raw)
        code, problem = known
        if problem is not None:
            problems.append(problem)
        return code

    def _read_currency(self, value) -> tuple[str, RowProblem | None]:
        raw = cell_text(value).upper()
        if not raw:
            return self.layout.currency, None
        code = CURRENCY_ALIASES.get(raw, raw)
        if not re.fullmatch(r"[A-Z]{3}", code):
            return code, RowProblem("currency", _("Use a three-letter ISO 4217 code, e.g. CNY."), raw)
        return code, None

    def _kind(self, values, amount) -> str:
        raw = self._get(values, "kind")
        if "kind" in self.columns and not is_blank(raw):
            return self.kinds.get(normalise_header(raw), StatementKind.OTHER)
        if self.layout.source == StatementSource.BANK:
            return StatementKind.OTHER
        return StatementKind.SALE if amount is None or amount > 0 else StatementKind.REFUND


def check_statement(sheet: Sheet, layout: Layout, progress=None) -> CheckResult:
    result = StatementChecker(layout, progress).check(sheet)
    mark_imported_before(result, layout)
    return result


class _ImportedBefore(NamedTuple):
    amount: Decimal
    currency: str
    batch_id: int


def mark_imported_before(result: CheckResult, layout: Layout) -> None:
    """Lines imported before: the same facts are skipped (statements overlap), other facts are
    an error — an entry id is never overwritten."""
    by_account: dict[str, list[StagedLine]] = defaultdict(list)
    for line in result.lines:
        by_account[line.account].append(line)
    known: dict[tuple[str, str], _ImportedBefore] = {}
    for account, lines in by_account.items():
        for entry_id, amount, currency, batch_id in values_in(
            StatementLine,
            "entry_id",
            [line.entry_id for line in lines],
            ("entry_id", "amount", "currency", "batch_id"),
            source=layout.source,
            account=account,
        ):
            known[(account, entry_id)] = _ImportedBefore(amount, currency, batch_id)
    if not known:
        return
    kept = []
    for line in result.lines:
        before = known.get((line.account, line.entry_id))
        if before is None:
            kept.append(line)
        elif (before.amount, before.currency) == (line.amount, line.currency):
            result.duplicates += 1
        else:
            result.add(
                RowError(
                    line.row_number,
                    result.headers.get("entry_id", "entry_id"),
                    _("Entry %(id)s was imported before (import #%(batch)s) as %(amount)s %(currency)s.")
                    % {
                        "id": line.entry_id,
                        "batch": before.batch_id,
                        "amount": before.amount,
                        "currency": before.currency,
                    },
                    line.entry_id,
                )
            )
    result.lines = kept


def summarise(result: CheckResult) -> dict:
    kinds = Counter(line.kind for line in result.lines)
    money: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"in": Decimal("0.00"), "out": Decimal("0.00")}
    )
    for line in result.lines:
        money[line.currency]["in" if line.amount > 0 else "out"] += line.amount
    moments = [line.occurred_at for line in result.lines]
    return {
        "kinds": dict(kinds),
        "money": {currency: {k: str(v) for k, v in sums.items()} for currency, sums in money.items()},
        "first": min(moments).isoformat() if moments else "",
        "last": max(moments).isoformat() if moments else "",
        "header_row": result.header_row,
    }


def preview_rows(result: CheckResult) -> list[dict]:
    return [
        {
            name: (value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value))
            for name, value in line._asdict().items()
        }
        for line in result.lines[:PREVIEW_ROWS]
    ]
