"""Reading an uploaded statement into rows of cell values, fast and without trusting the file.

XLSX is read straight from the sheet XML (zip → regular expressions over a few megabytes of rows
at a time): openpyxl's read-only mode needs ~18 s of CPU for 100k rows × 10 columns, this reader
~1 s, which is what makes a 100k-row import fit in 5 s. It understands shared and inline strings,
numbers (kept as exact Decimals, as written in the XML), dates (by the cell's number format),
booleans and error cells, and reports merged ranges. CSV is UTF-8 (with or without BOM), UTF-16 or
GB18030/GBK, the encoding Chinese banks and Alipay export in (core.sheets.decode_text).

The file passes the same guard as every other upload (core.sheets): the zip directory's sizes and
compression ratios, every part inflated to exactly its declared size, and the cells and shared
strings counted before they are read, under the larger limits a statement needs (LIMITS).

Values: None (blank), str, Decimal, datetime (naive: read in the layout's zone), bool, CellError.
"""

import csv
import functools
import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath

from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from core.sheets import SheetLimits, SheetRefused, decode_text
from core.sheets.limits import too_large, too_many
from core.sheets.reader import check_kind, refuse_nul
from core.sheets.zipguard import open_checked, read_part

EXTENSIONS = (".xlsx", ".csv")
MAX_FILE_BYTES = 60 * 1024 * 1024
MAX_UNPACKED_BYTES = 400 * 1024 * 1024  # all parts of the workbook, unzipped
MAX_CELLS = 20_000_000  # a million rows of twenty columns
MAX_SHARED_STRINGS = 5_000_000  # a unique memo on every row of a big statement
MAX_SHARED_STRINGS_BYTES = 200 * 1024 * 1024
MAX_COLUMN = 16383  # XFD, Excel's last column (0-based)
XLSX = ".xlsx"

FileRejected = SheetRefused  # the file as a whole cannot be read (wrong type, broken, too big)


def limits() -> SheetLimits:
    """A statement's limits: bigger files than a desk upload; ratio and other limits as set."""
    return SheetLimits.from_settings(
        max_file_bytes=MAX_FILE_BYTES,
        max_unpacked_bytes=MAX_UNPACKED_BYTES,
        max_cells=MAX_CELLS,
        max_shared_strings=MAX_SHARED_STRINGS,
        max_shared_strings_bytes=MAX_SHARED_STRINGS_BYTES,
    )


@dataclass(frozen=True)
class CellError:
    code: str  # "#DIV/0!", "#N/A", …

    def __str__(self):
        return self.code


@dataclass
class Sheet:
    rows: Iterator[tuple[int, list]]  # (row number as the spreadsheet shows it, values)
    row_count: int  # rows in the file (for progress), counted cheaply
    merged: list[tuple[str, int, int]] = field(default_factory=list)  # (range, first row, last row)


def read_sheet(data: bytes, file_name: str) -> Sheet:
    suffix = PurePosixPath(file_name.lower()).suffix
    if suffix not in EXTENSIONS:
        raise FileRejected(_("Upload an Excel (.xlsx) or CSV (.csv) file."))
    check_kind(data, suffix, EXTENSIONS, limits())
    if suffix == XLSX:
        return _read_xlsx(data)
    return _read_csv(data)


# --- CSV ----------------------------------------------------------------------------------------


def _read_csv(data: bytes) -> Sheet:
    text = decode_text(data)
    nul = "\x00" in text  # refused naming the cell: no database text column takes a NUL character

    def rows():
        try:
            for number, values in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
                yield number, refuse_nul([values], first_row=number)[0] if nul else values
        except csv.Error as exc:
            raise FileRejected(_("The CSV file is malformed: %(error)s.") % {"error": exc}) from exc

    return Sheet(rows=rows(), row_count=text.count("\n") + 1)


# --- XLSX ---------------------------------------------------------------------------------------

_P = rb"(?:[\w.-]+:)?"  # an optional namespace prefix (x:row, x:c …)
# A row's body as runs of anything but "<", and "<" not closing the row: the same match as a lazy
# ".*?" without trying the closing tag at every byte (0.82 → 0.48 s on a 62 MB sheet).
ROW = re.compile(
    rb"<" + _P + rb"row\b([^>]*?)(?:/>|>([^<]*(?:<(?!/" + _P + rb"row>)[^<]*)*)</" + _P + rb"row>)"
)
CELL = re.compile(rb"<" + _P + rb"c\b([^>]*?)(?:/>|>(.*?)</" + _P + rb"c>)", re.S)
VALUE = re.compile(rb"<" + _P + rb"v>(.*?)</" + _P + rb"v>", re.S)
TEXT = re.compile(rb"<" + _P + rb"t\b[^>]*?(?:/>|>(.*?)</" + _P + rb"t>)", re.S)
PHONETIC = re.compile(rb"<" + _P + rb"rPh\b.*?</" + _P + rb"rPh>", re.S)
SHARED = re.compile(rb"<" + _P + rb"si\b[^>]*?(?:/>|>(.*?)</" + _P + rb"si>)", re.S)
FIRST_ROW = re.compile(rb"<([\w.-]+:)?row\b")
MERGE = re.compile(rb"<" + _P + rb"mergeCell\b[^>]*?ref=\"([A-Za-z]+\d+(?::[A-Za-z]+\d+)?)\"")
ATTR = re.compile(rb'([\w:]+)="([^"]*)"')
REF = re.compile(r"([A-Za-z]+)(\d+)")
SHEET = re.compile(rb"<" + _P + rb"sheet\b([^>]*?)/?>")
RELATION = re.compile(rb"<" + _P + rb"Relationship\b([^>]*?)/?>")
XF_BLOCK = re.compile(rb"<" + _P + rb"cellXfs\b[^>]*>(.*?)</" + _P + rb"cellXfs>", re.S)
XF = re.compile(rb"<" + _P + rb"xf\b([^>]*?)/?>")
NUMFMT = re.compile(rb"<" + _P + rb"numFmt\b([^>]*?)/?>")
DATE_FORMAT_IDS = {*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59), *range(71, 82)}
EPOCH_1900 = datetime(1899, 12, 30)
EPOCH_1904 = datetime(1904, 1, 1)


def _attrs(raw: bytes) -> dict[bytes, bytes]:
    return dict(ATTR.findall(raw))


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _column_index(letters: str, cell: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
        if index - 1 > MAX_COLUMN:
            raise FileRejected(
                _("The workbook refers to cell %(cell)s, beyond the last column (XFD).") % {"cell": cell}
            )
    return index - 1


def _bad_cell(cell: str) -> FileRejected:
    return FileRejected(_("The workbook holds a date it cannot read in cell %(cell)s.") % {"cell": cell})


def _serial_date(epoch: datetime, number: Decimal) -> datetime | None:
    """The moment an Excel serial number stands for; None if it cannot be one."""
    try:
        return epoch + timedelta(seconds=round(float(number) * 86400))
    except (ValueError, OverflowError):
        return None


def _is_date_format(code: str) -> bool:
    code = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code).lower()
    return code != "general" and any(char in code for char in "dmyhs")


class _Book:
    """The workbook's zip, its directory already checked; parts are inflated under the guard."""

    def __init__(self, data: bytes):
        self.data = data
        self.zip = open_checked(data, limits(), kind=XLSX)

    def member(self, name: str) -> bytes | None:
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            return None
        content = read_part(self.data, info, kind=XLSX)
        if b"\x00" in content:  # no XML holds one, and no database text column takes one
            raise FileRejected(_("The file is not a readable Excel .xlsx workbook."))
        return content


def _first_sheet_path(book: _Book) -> tuple[str, bool]:
    workbook = book.member("xl/workbook.xml")
    rels = book.member("xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        raise FileRejected(_("The file is not an Excel .xlsx workbook."))
    date1904 = re.search(rb'date1904="(1|true)"', workbook) is not None
    targets = {}
    for raw in RELATION.findall(rels):
        attrs = _attrs(raw)
        targets[attrs.get(b"Id")] = attrs.get(b"Target", b"").decode()
    for raw in SHEET.findall(workbook):
        attrs = _attrs(raw)
        if attrs.get(b"state") in (b"hidden", b"veryHidden"):
            continue
        rel_id = next((value for key, value in attrs.items() if key.endswith(b":id")), None)
        target = targets.get(rel_id)
        if target:
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            return str(PurePosixPath(path)), date1904
    raise FileRejected(_("The workbook has no sheet."))


def _shared_strings(book: _Book) -> list[str]:
    data = book.member("xl/sharedStrings.xml")
    if not data:
        return []
    if len(data) > MAX_SHARED_STRINGS_BYTES:
        raise too_large(_("the shared strings part"), MAX_SHARED_STRINGS_BYTES)
    if _count(data, b"si") > MAX_SHARED_STRINGS:
        raise too_many(_("shared strings"), MAX_SHARED_STRINGS)
    strings = []
    for (body,) in ((m.group(1),) for m in SHARED.finditer(data)):
        body = PHONETIC.sub(b"", body or b"")
        strings.append("".join(_text(part or b"") for part in TEXT.findall(body)))
    return strings


def _count(xml: bytes, tag: bytes) -> int:
    """At least how many <tag> elements the regular expressions above read, whatever follows the
    name (<tag/>, a line break …) and wherever the root element starts: bytes.count runs at memory
    speed, a parse would not. It also counts the few other names that start with tag (<col>,
    <cfRule> for c) — harmless for a limit in the millions. Prefixed elements (<x:c …>), which
    few writers use, are counted one by one."""
    count = xml.count(b"<" + tag)
    if b":" + tag in xml:
        count += sum(1 for _match in re.finditer(rb"<[\w.-]+:" + tag + rb"\b", xml))
    return count


def _cell_count(sheet: bytes) -> int:
    return _count(sheet, b"c")


def _date_styles(book: _Book) -> set[bytes]:
    """Style indexes (the cell's s attribute) whose number format shows a date or time."""
    data = book.member("xl/styles.xml")
    if not data:
        return set()
    custom = {}
    for raw in NUMFMT.findall(data):
        attrs = _attrs(raw)
        custom[int(attrs.get(b"numFmtId", b"0"))] = html.unescape(attrs.get(b"formatCode", b"").decode())
    block = XF_BLOCK.search(data)
    styles = set()
    for index, raw in enumerate(XF.findall(block.group(1)) if block else []):
        fmt = int(_attrs(raw).get(b"numFmtId", b"0"))
        if fmt in DATE_FORMAT_IDS or (fmt in custom and _is_date_format(custom[fmt])):
            styles.add(str(index).encode())
    return styles


def _read_xlsx(data: bytes) -> Sheet:
    try:
        book = _Book(data)
        path, date1904 = _first_sheet_path(book)
        sheet = book.member(path)
        if sheet is not None and _cell_count(sheet) > MAX_CELLS:
            raise too_many(_("cells"), MAX_CELLS)
        shared = _shared_strings(book)
        date_styles = _date_styles(book)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise FileRejected(_("The file is not a readable Excel .xlsx workbook.")) from exc
    if sheet is None:
        raise FileRejected(_("The workbook has no sheet."))
    epoch = EPOCH_1904 if date1904 else EPOCH_1900
    first = FIRST_ROW.search(sheet)  # where the rows start, and their prefix (x:row …)
    prefix = (first.group(1) or b"") if first else b""
    merged = []
    for ref in MERGE.findall(sheet) if b"mergeCell" in sheet else ():  # the scan costs 0.2 s on 60 MB
        ref = ref.decode()
        numbers = [int(m.group(2)) for m in REF.finditer(ref)]
        merged.append((ref, min(numbers), max(numbers)))
    return Sheet(
        rows=_xlsx_rows(sheet, first.start() if first else len(sheet), prefix, shared, date_styles, epoch),
        row_count=sheet.count(b"<" + prefix + b"row "),
        merged=merged,
    )


def _cell_value(
    attrs: dict, body: bytes, shared: list[str], date_styles: set[bytes], epoch: datetime, cell: str
):
    kind = attrs.get(b"t", b"n")
    if kind == b"inlineStr":
        return "".join(_text(part or b"") for part in TEXT.findall(PHONETIC.sub(b"", body)))
    found = VALUE.search(body)
    if found is None:
        return None
    raw = found.group(1)
    if kind == b"s":
        try:
            return shared[int(raw)]
        except (ValueError, IndexError) as exc:
            raise FileRejected(_("The workbook refers to a text it does not contain.")) from exc
    if kind in (b"str", b"e"):
        text = _text(raw)
        return CellError(text) if kind == b"e" else text
    if kind == b"b":
        return raw.strip() in (b"1", b"true")
    if kind == b"d":
        try:
            return datetime.fromisoformat(raw.decode().rstrip("Z"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad_cell(cell) from exc
    try:
        number = Decimal(raw.decode())
    except InvalidOperation as exc:
        raise FileRejected(_("The workbook holds a number it cannot read.")) from exc
    if attrs.get(b"s") in date_styles:
        moment = _serial_date(epoch, number)
        if moment is None:
            raise _bad_cell(cell)
        return moment
    return number


CHUNK_BYTES = 4 * 1024 * 1024


@functools.cache
def _fast_pattern(prefix: str) -> re.Pattern:
    """Rows and plain cells in the shape Excel, LibreOffice, openpyxl and core.spreadsheets' streamed
    export write them (an empty cell as <c/>, no r when it is the next column), and any other tag
    but a row's end as a stray: a row is (r, …), a cell ("", letters, s, t, v, text, ""), a stray
    ("", …, the character after its "<")."""
    p = re.escape(prefix)
    return re.compile(
        rf'<(?:{p}row r="([0-9]+)"[^>]*+>'
        rf'|{p}c(?: r="([A-Z]+)[0-9]+")?(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?(?:/>|>'
        rf'(?:<{p}v>([^<]*+)</{p}v>|<{p}is><{p}t(?: xml:space="preserve")?>([^<]*+)</{p}t></{p}is>)</{p}c>)'
        rf"|(?!/{p}row>)(.))",
        re.S,
    )


def _xlsx_rows(
    sheet: bytes, start: int, prefix: bytes, shared, date_styles, epoch
) -> Iterator[tuple[int, list]]:
    """The rows from `start` (the first row) to </sheetData>, a few megabytes at a time."""
    end_of_data = sheet.rfind(b"sheetData>")  # of </sheetData> (or </x:sheetData>)
    stop = sheet.rfind(b"<", start, end_of_data) if end_of_data > start else -1
    stop = stop if stop >= start else len(sheet)
    rows = _SheetRows(prefix.decode(), shared, date_styles, epoch)
    row_end = b"</" + prefix + b"row>"
    while start < stop:
        end = sheet.find(row_end, start + CHUNK_BYTES, stop)
        end = stop if end < 0 else end + len(row_end)
        yield from rows.read(sheet[start:end])
        start = end


class _SheetRows:
    """Reads a sheet's rows a few megabytes at a time: one compiled expression matches every row
    and cell of the stretch at once (row by row it costs twice as much). A stretch holding another
    shape (formulas, rich text, other attribute orders, prefixes …) shows a stray tag and is read
    row by row instead, each row the fast way if it can be."""

    def __init__(self, prefix: str, shared: list[str], date_styles: set[bytes], epoch: datetime):
        self.pattern = _fast_pattern(prefix)
        self.shared, self.epoch = shared, epoch
        self.date_styles, self.date_style_bytes = {style.decode() for style in date_styles}, date_styles
        self.columns: dict[str, int] = {}
        self.last_row = 0

    def read(self, chunk: bytes) -> list[tuple[int, list]]:
        try:
            rows = self._values(self.pattern.findall(chunk.decode()))
        except UnicodeDecodeError as exc:
            raise FileRejected(_("The file is not a readable Excel .xlsx workbook.")) from exc
        if rows is not None:
            return rows
        rows = []
        for row in ROW.finditer(chunk):
            fast = self._values(self.pattern.findall(row.group(0).decode()))
            rows += fast if fast is not None else [self._general(row)]
        return rows

    def _general(self, row: re.Match) -> tuple[int, list]:
        row_attrs = _attrs(row.group(1))
        try:
            number = int(row_attrs[b"r"]) if b"r" in row_attrs else self.last_row + 1
        except ValueError as exc:
            raise FileRejected(
                _("The workbook holds a row it cannot read (row %(row)s).")
                % {"row": row_attrs[b"r"].decode("utf-8", "replace")[:20]}
            ) from exc
        self.last_row = number
        body = row.group(2) or b""
        return number, _general_values(number, body, self.shared, self.date_style_bytes, self.epoch)

    def _values(self, found: list[tuple]) -> list[tuple[int, list]] | None:
        """The rows matched, or None at a stray tag: before it everything reads as row by row."""
        rows: list[tuple[int, list]] = []
        values: list = []
        append = values.append
        number = self.last_row
        shared, date_styles, epoch, unescape = self.shared, self.date_styles, self.epoch, html.unescape
        for row, letters, style, kind, raw, inline, stray in found:
            if row:
                number = int(row)
                values = []
                append = values.append
                rows.append((number, values))
                continue
            if letters:  # else the next column
                column = self.columns.get(letters)
                if column is None:
                    column = self.columns[letters] = _column_index(letters, f"{letters}{number}")
                if column > len(values):
                    values.extend([None] * (column - len(values)))
            if kind == "inlineStr":
                append(unescape(inline) if "&" in inline else inline)
            elif not raw:  # <c/>: an empty cell holding its place
                if stray:
                    return None
                append(None)
            elif kind == "s":
                try:
                    append(shared[int(raw)])
                except (ValueError, IndexError) as exc:
                    raise FileRejected(_("The workbook refers to a text it does not contain.")) from exc
            elif kind == "" or kind == "n":
                try:
                    value = Decimal(raw)
                except InvalidOperation as exc:
                    raise FileRejected(_("The workbook holds a number it cannot read.")) from exc
                if style and style in date_styles:
                    value = _serial_date(epoch, value)
                    if value is None:
                        raise _bad_cell(_cell_name(letters, len(values), number))
                append(value)
            else:  # a boolean, an error, a formula's text …
                cell = _cell_name(letters, len(values), number)
                attrs = {b"t": kind.encode(), b"s": style.encode()}
                append(
                    _cell_value(attrs, f"<v>{raw}</v>".encode(), shared, self.date_style_bytes, epoch, cell)
                )
        self.last_row = number
        return rows


def _cell_name(letters: str, index: int, row: int) -> str:
    """ "B7", for a message about the cell (a cell written without its reference: by position)."""
    return f"{letters or get_column_letter(index + 1)}{row}"


def _general_values(row, body: bytes, shared, date_styles, epoch) -> list:
    values: list = []
    for cell_attrs_raw, cell_body in CELL.findall(body):
        attrs = _attrs(cell_attrs_raw)
        ref = attrs.get(b"r")
        cell = ref.decode("utf-8", "replace")[:20] if ref is not None else f"#{len(values) + 1} (row {row})"
        if ref is not None:
            column = _column_index(ref.rstrip(b"0123456789").decode("utf-8", "replace"), cell)
            if column > len(values):
                values.extend([None] * (column - len(values)))
        values.append(_cell_value(attrs, cell_body, shared, date_styles, epoch, cell) if cell_body else None)
    return values
