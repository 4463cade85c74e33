"""Checking an uploaded statement row by row, without writing anything: find the header row,
turn each row into a statement line (times in UTC, signed Decimal amounts) or into errors that
name the row and the column, and count what an import would add."""

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from core.money import CENT, MONEY_MAX_DIGITS
from core.timezones import business_zone
from finance.imports.layouts import FIELDS, MONEY_FIELDS, REQUIRED, Layout, normalise_header
from finance.imports.lookups import values_in
from finance.imports.models import StatementKind, StatementLine, StatementSource
from finance.imports.readers import CellError, FileRejected, Sheet

HEADER_SEARCH_ROWS = 30
MAX_ERRORS = 10_000
PREVIEW_ROWS = 20
PROGRESS_EVERY = 5_000
MAX_AMOUNT = Decimal(10) ** (MONEY_MAX_DIGITS - 2)
FLOAT_NOISE = Decimal("0.000001")
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
CURRENCY_ALIASES = {"RMB": "CNY", "人民币": "CNY", "¥": "CNY", "￥": "CNY"}
NUMBER_NOISE = re.compile(r"[,\s¥￥$€£]|(?:CNY|RMB|元)$")
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日",
)
# Staged line: the order of values in the checked-rows file.
STAGED_FIELDS = (
    "row_number",
    "entry_id",
    "account",
    "kind",
    "occurred_at",
    "amount",
    "currency",
    "transaction_id",
    "order_ref",
    "counterparty",
    "memo",
    "description",
    "method",
)


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
    lines: list[tuple] = field(default_factory=list)  # STAGED_FIELDS, occurred_at aware UTC
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    rows_read: int = 0
    duplicates: int = 0  # lines imported before with the same facts: skipped
    headers: dict[str, str] = field(default_factory=dict)  # field → its header in the file

    def add(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


class RowProblem(Exception):
    def __init__(self, field_name: str, message: str, value=None):
        super().__init__(message)
        self.field_name, self.message, self.value = field_name, message, value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_money(value, field_name: str) -> Decimal:
    """An amount with at most two decimals: 1,234.50 / ¥12.30 / -8 / (8.00) / 12.30元."""
    if isinstance(value, CellError):
        raise RowProblem(field_name, _("The cell holds an error (%(code)s).") % {"code": value}, value)
    if isinstance(value, bool | datetime):
        raise RowProblem(field_name, _("Not an amount."), value)
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    else:
        text = NUMBER_NOISE.sub("", str(value).strip())
        negative = text.startswith("(") and text.endswith(")")
        try:
            number = Decimal(text[1:-1] if negative else text)
        except InvalidOperation:
            raise RowProblem(field_name, _("Not an amount."), value) from None
        if negative:
            number = -number
    if not number.is_finite():
        raise RowProblem(field_name, _("Not an amount."), value)
    rounded = number.quantize(CENT) if abs(number) < MAX_AMOUNT else None
    if rounded is None:
        raise RowProblem(field_name, _("The amount is too large."), value)
    # Excel keeps floats: 12.3 may come as 12.300000000000001; more real decimals are an error.
    if abs(number - rounded) > (FLOAT_NOISE if isinstance(value, Decimal) else 0):
        raise RowProblem(field_name, _("At most two decimals."), value)
    return rounded


def parse_moment(value, zone, field_name: str) -> datetime:
    """An aware UTC datetime; a time without offset (or a date) is read in `zone`."""
    if isinstance(value, CellError):
        raise RowProblem(field_name, _("The cell holds an error (%(code)s).") % {"code": value}, value)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_text_moment(value.strip())
        if moment is None:
            raise RowProblem(field_name, _("Not a date or time (use YYYY-MM-DD HH:MM:SS)."), value)
    else:
        raise RowProblem(field_name, _("Not a date or time (use YYYY-MM-DD HH:MM:SS)."), value)
    if not 2000 <= moment.year <= 2999:
        raise RowProblem(field_name, _("The date is out of range."), value)
    # core.timezones.to_utc, inlined: this runs once per row of 100k-row files
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)


def _parse_text_moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


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
            if all(_blank(v) for v in values):
                continue
            seen_any = True
            if _text(values[0]).startswith("#"):
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
                self.headers.setdefault(target, _text(value))
            if self._complete(found):
                if duplicated:
                    raise FileRejected(
                        _("Row %(row)s has two columns for %(field)s: keep one.")
                        % {"row": number, "field": ", ".join(str(FIELDS[t]) for t in sorted(set(duplicated)))}
                    )
                self.columns, self.result.header_row = found, number
                self.result.headers = self.headers
                self.text_fields = [(t, found[t], limit) for t, limit in LENGTHS.items() if t in found]
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
            if _blank(first) and all(_blank(v) for v in values):
                continue
            line = self._line(number, values)
            if line is None:
                continue
            key = (line[2], line[1])
            if key in seen:
                self.result.add(
                    RowError(
                        number,
                        self.headers.get("entry_id", "entry_id"),
                        _("Entry %(id)s appears again (first on row %(row)s).")
                        % {"id": line[1], "row": seen[key]},
                        line[1],
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
        index = self.columns.get(target)
        return values[index] if index is not None and index < len(values) else None

    def _line(self, number: int, values: list) -> tuple | None:
        problems: list[RowProblem] = []

        def attempt(function, *args):
            try:
                return function(*args)
            except RowProblem as problem:
                problems.append(problem)
                return None

        texts = {}
        size = len(values)
        for target, index, limit in self.text_fields:
            value = values[index] if index < size else None
            if value is None:
                texts[target] = ""
                continue
            if type(value) is str:
                text = value.strip()
            elif isinstance(value, CellError):
                problems.append(
                    RowProblem(target, _("The cell holds an error (%(code)s).") % {"code": value}, value)
                )
                continue
            else:
                text = _text(value)
            if len(text) > limit:
                problems.append(RowProblem(target, _("At most %(n)s characters.") % {"n": limit}, text[:50]))
            texts[target] = text
        entry_id = texts.get("entry_id", "")
        if not entry_id:
            problems.append(RowProblem("entry_id", _("This field is required.")))
        occurred = self._get(values, "occurred_at")
        if _blank(occurred):
            problems.append(RowProblem("occurred_at", _("This field is required.")))
            moment = None
        else:
            moment = attempt(parse_moment, occurred, self.zone, "occurred_at")
        amount = self._amount(values, problems)
        currency = self._currency(values, problems)
        kind = self._kind(values, amount)
        if problems:
            for problem in problems:
                self.result.add(
                    RowError(
                        number,
                        self.headers.get(problem.field_name, problem.field_name),
                        problem.message,
                        "" if problem.value is None else _text(problem.value)[:100],
                    )
                )
            return None
        return (
            number,
            entry_id,
            texts.get("account") or self.layout.account,
            kind,
            moment,
            amount,
            currency,
            texts.get("transaction_id", ""),
            texts.get("order_ref", ""),
            texts.get("counterparty", ""),
            texts.get("memo", ""),
            texts.get("description", ""),
            texts.get("method", ""),
        )

    def _amount(self, values, problems) -> Decimal | None:
        if "amount" in self.columns:
            raw = self._get(values, "amount")
            if _blank(raw):
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
                    parts[target] = Decimal("0.00") if _blank(raw) else parse_money(raw, target)
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
        raw = _text(self._get(values, "currency")).upper()
        if not raw:
            return self.layout.currency
        code = CURRENCY_ALIASES.get(raw, raw)
        if not re.fullmatch(r"[A-Z]{3}", code):
            problems.append(RowProblem("currency", _("Use a three-letter ISO 4217 code, e.g. CNY."), raw))
        return code

    def _kind(self, values, amount) -> str:
        raw = self._get(values, "kind")
        if "kind" in self.columns and not _blank(raw):
            return self.kinds.get(normalise_header(raw), StatementKind.OTHER)
        if self.layout.source == StatementSource.BANK:
            return StatementKind.OTHER
        return StatementKind.SALE if amount is None or amount > 0 else StatementKind.REFUND


def check_statement(sheet: Sheet, layout: Layout, progress=None) -> CheckResult:
    result = StatementChecker(layout, progress).check(sheet)
    mark_imported_before(result, layout)
    return result


def mark_imported_before(result: CheckResult, layout: Layout) -> None:
    """Lines imported before: the same facts are skipped (statements overlap), other facts are
    an error — an entry id is never overwritten."""
    by_account: dict[str, list[tuple]] = defaultdict(list)
    for line in result.lines:
        by_account[line[2]].append(line)
    known: dict[tuple[str, str], tuple] = {}
    for account, lines in by_account.items():
        for entry_id, amount, currency, batch_id in values_in(
            StatementLine,
            "entry_id",
            [line[1] for line in lines],
            ("entry_id", "amount", "currency", "batch_id"),
            source=layout.source,
            account=account,
        ):
            known[(account, entry_id)] = (amount, currency, batch_id)
    if not known:
        return
    kept = []
    for line in result.lines:
        before = known.get((line[2], line[1]))
        if before is None:
            kept.append(line)
        elif (before[0], before[1]) == (line[5], line[6]):
            result.duplicates += 1
        else:
            result.add(
                RowError(
                    line[0],
                    result.headers.get("entry_id", "entry_id"),
                    _("Entry %(id)s was imported before (import #%(batch)s) as %(amount)s %(currency)s.")
                    % {"id": line[1], "batch": before[2], "amount": before[0], "currency": before[1]},
                    line[1],
                )
            )
    result.lines = kept


def summarise(result: CheckResult) -> dict:
    kinds = Counter(line[3] for line in result.lines)
    money: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"in": Decimal("0.00"), "out": Decimal("0.00")}
    )
    for line in result.lines:
        money[line[6]]["in" if line[5] > 0 else "out"] += line[5]
    moments = [line[4] for line in result.lines]
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
            for name, value in zip(STAGED_FIELDS, line, strict=True)
        }
        for line in result.lines[:PREVIEW_ROWS]
    ]
