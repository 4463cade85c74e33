"""Counting what a reader would allocate for a zipped workbook, before it is handed to calamine.

Every part whose name ends in .xml or .rels is inflated (core.sheets.zipguard.inflate) and parsed
with expat, however it starts: a part that is not well-formed XML on its own (text before the
root element, a second root, a UTF-16 byte order mark) is refused as unreadable, because calamine
reads such a part anyway. Elements and attributes are matched on their local name, whatever the
namespace prefix or URI, since calamine ignores both (xlsx: `c`, `row`, `sheetData`, `sst`, `si`;
ODS: `table-row`, `table-cell` …). Counted: the grid of each sheet (rows × columns, counting ODS's
repeated rows and cells), the shared strings and the count a shared-strings part declares (calamine
reserves memory for it). A sheet relationship must point at an .xml part, so no sheet escapes the
scan by its name. Nothing is kept but counters: memory stays flat whatever the file holds.

Not counted: a sheet's `dimension`, which calamine uses only for a reservation it caps itself.
"""

import codecs
import re
import xml.parsers.expat
import zipfile

from django.utils.translation import gettext as _

from core.sheets.limits import SheetLimits, SheetRefused, too_large, too_many, unreadable
from core.sheets.zipguard import inflate

XML_SUFFIXES = (".xml", ".rels")
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
COLUMN_LIMIT = 16_384  # XFD
SHEET_RELATIONSHIPS = {"worksheet", "chartsheet", "dialogsheet"}  # what calamine opens as a sheet
ODS_CELLS = {"table-cell", "covered-table-cell"}
# A cell with one of these attributes has content (calamine keeps it, and expands its repeats).
ODS_CONTENT = {"value-type", "value", "string-value", "date-value", "time-value", "boolean-value", "formula"}
LEADING_DIGITS = re.compile(r"\s*\+?(\d+)")


class _Stop(Exception):
    """Raised inside an expat handler to leave the parse at once."""

    def __init__(self, refusal: SheetRefused):
        super().__init__(refusal.message)
        self.refusal = refusal


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _values(attrs: dict, local: str) -> list[str]:
    """The values of every attribute of that local name (x:r and r alike)."""
    return [value for key, value in attrs.items() if _local(key) == local]


class _Scan:
    """Counters over one XML part: xlsx cells and shared strings, ODS tables' grids."""

    def __init__(self, limits: SheetLimits, part_size: int):
        self.limits = limits
        self.part_size = part_size
        self.in_sheet_data = False
        self.row = self.max_row = 0
        self.column = self.max_column = 0
        self.shared_strings = 0
        # ODS: the table being read, its rows so far and the widest row with content
        self.ods_rows = self.ods_rows_end = self.ods_width = 0
        self.ods_row_repeat = self.ods_row_end = self.ods_column = 0
        self.ods_cell_end = 0
        self.ods_in_cell = False

    def start(self, name: str, attrs: dict) -> None:
        local = _local(name)
        if self.ods_in_cell:
            self.ods_row_end = self.ods_cell_end  # a text:p inside the cell: it has content
        if local == "sheetData":
            self.in_sheet_data, self.row = True, 0
        elif local == "sst":
            self._shared_strings_part(attrs)
        elif local == "si":
            self.shared_strings += 1
            if self.shared_strings > self.limits.max_shared_strings:
                raise _Stop(too_many(_("shared strings"), self.limits.max_shared_strings))
        elif local == "Relationship":
            _check_relationship(attrs)
        elif local in ("row", "c") and self.in_sheet_data:
            self._xlsx_cell(local, attrs)
        elif local in ("table", "table-row") or local in ODS_CELLS:
            self._ods_start(local, attrs)

    def end(self, name: str) -> None:
        local = _local(name)
        if local == "sheetData":
            self.in_sheet_data = False
        elif local in ODS_CELLS:
            self.ods_in_cell = False
        elif local == "table-row":
            self._ods_row_done()

    def _shared_strings_part(self, attrs: dict) -> None:
        if self.part_size > self.limits.max_shared_strings_bytes:
            raise _Stop(too_large(_("the shared strings part"), self.limits.max_shared_strings_bytes))
        # calamine reserves room for uniqueCount strings before reading one: 10^10 aborts the process
        for declared in _values(attrs, "uniqueCount"):
            digits = LEADING_DIGITS.match(declared)
            if digits and int(digits.group(1)) > self.limits.max_shared_strings:
                raise _Stop(too_many(_("shared strings"), self.limits.max_shared_strings))

    # xlsx: <sheetData><row r="7"><c r="B7">…; r may be left out (the next row, the next column).
    # calamine reads the unprefixed r only, as we do.
    def _xlsx_cell(self, local: str, attrs: dict) -> None:
        if local == "row":
            self.row = _number(attrs.get("r"), default=self.row + 1)
            self.column = 0
            self._grow(self.row, self.max_column)
            return
        reference, row = attrs.get("r"), self.row
        if reference:
            letters = reference.rstrip("0123456789")
            self.column = _column(letters)
            row = _number(reference[len(letters) :], default=self.row)
        else:
            self.column += 1
        self._grow(row, self.column)

    def _grow(self, row: int, column: int) -> None:
        self.max_row, self.max_column = max(self.max_row, row), max(self.max_column, column)
        if self.max_row * self.max_column > self.limits.max_cells:
            raise _Stop(too_many(_("cells"), self.limits.max_cells))

    # ODS: <table:table-row table:number-rows-repeated="n"><table:table-cell
    # table:number-columns-repeated="m" office:value-type="…"><text:p>…; a reader expands the
    # repeats up to the last cell with content, so only content counts towards the grid.
    def _ods_start(self, local: str, attrs: dict) -> None:
        if local == "table":
            self.ods_rows = self.ods_rows_end = self.ods_width = 0
        elif local == "table-row":
            self.ods_row_repeat = _repeats(attrs, "number-rows-repeated")
            self.ods_row_end = self.ods_column = 0
        else:
            self.ods_column += _repeats(attrs, "number-columns-repeated")
            self.ods_cell_end, self.ods_in_cell = self.ods_column, True
            if any(_local(key) in ODS_CONTENT for key in attrs):
                self.ods_row_end = self.ods_column

    def _ods_row_done(self) -> None:
        self.ods_rows += self.ods_row_repeat
        if self.ods_row_end:
            self.ods_rows_end, self.ods_width = self.ods_rows, max(self.ods_width, self.ods_row_end)
            if self.ods_rows_end * self.ods_width > self.limits.max_cells:
                raise _Stop(too_many(_("cells"), self.limits.max_cells))


def _check_relationship(attrs: dict) -> None:
    """A sheet is read from wherever its relationship points: only .xml parts are scanned."""
    kinds = {kind.rstrip("/").rpartition("/")[2] for kind in _values(attrs, "Type")}
    if kinds & SHEET_RELATIONSHIPS and not all(
        target.lower().endswith(".xml") for target in _values(attrs, "Target")
    ):
        raise _Stop(SheetRefused(_("The workbook keeps a sheet in a part that is not XML: it is refused.")))


def _repeats(attrs: dict, local: str) -> int:
    return max((_number(value, default=1) for value in _values(attrs, local)), default=1)


def _number(text, *, default: int) -> int:
    """A row number or a repeat count: a whole number from 1 up."""
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise _Stop(SheetRefused(_("The workbook holds a row or column number it cannot read.")))
    return number


def _column(letters: str) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
        if not 1 <= index <= COLUMN_LIMIT:
            raise _Stop(SheetRefused(_("The workbook refers to a cell beyond the last column (XFD).")))
    return index


def _refuse_doctype(*_args) -> None:
    raise _Stop(SheetRefused(_("The workbook holds a document type declaration, which is refused.")))


def scan_parts(data: bytes, book: zipfile.ZipFile, limits: SheetLimits, *, kind: str) -> None:
    """Inflate every part, scanning the XML ones; raises SheetRefused at the first limit crossed."""
    for part in book.infolist():
        if part.filename.lower().endswith(XML_SUFFIXES):
            _scan_part(data, part, limits, kind)
        else:  # a picture, a printer setting: no reader parses it, but its sizes are checked too
            for _chunk in inflate(data, part, kind=kind):
                pass


def _scan_part(data: bytes, part: zipfile.ZipInfo, limits: SheetLimits, kind: str) -> None:
    scan = _Scan(limits, part.file_size)
    # UTF-8 whatever the part declares: calamine tokenises the bytes as UTF-8 (ASCII-compatible)
    # text too, so both see the same elements; a UTF-16 byte order mark, which expat would still
    # follow, is refused below.
    parser = xml.parsers.expat.ParserCreate(encoding="UTF-8")
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    head = b""
    try:
        for chunk in inflate(data, part, kind=kind):
            if len(head) < 2:
                head += chunk[: 2 - len(head)]
                if head in UTF16_BOMS:
                    raise unreadable(kind)
            parser.Parse(chunk, False)
        if head:  # an empty part holds nothing to read
            parser.Parse(b"", True)
    except _Stop as stop:
        raise stop.refusal from None
    except xml.parsers.expat.ExpatError as exc:
        raise unreadable(kind) from exc
