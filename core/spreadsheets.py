"""Spreadsheet downloads that are safe to open: text a spreadsheet would run as a formula is kept
as text, and large sheets stream (openpyxl write-only mode, CSV row by row)."""

import csv
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from itertools import chain

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from openpyxl import Workbook

# A cell starting with one of these runs as a formula in Excel / LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# …unless the whole text is a plain number ("-12.50" in a CSV): that only ever opens as a number.
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def spreadsheet_safe(value):
    """Text that would run as a formula is kept as text with a leading quote; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: Sequence, rows: Iterable[Sequence]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"  # BOM: Excel opens UTF-8 (Chinese) correctly
        yield writer.writerow([spreadsheet_safe(str(cell)) for cell in header])
        for row in rows:
            yield writer.writerow([spreadsheet_safe(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(filename: str, title: str, header: Sequence, rows: Iterable[Sequence]) -> HttpResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])  # Excel's limit on sheet names
    sheet.append([str(cell) for cell in header])
    for row in rows:
        sheet.append([spreadsheet_safe(cell) for cell in row])
    buffer = BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- streamed XLSX ---------------------------------------------------------------------------
# openpyxl's write-only mode still spends ~15 µs a cell; large exports (100k rows) write the sheet
# XML directly instead and stream the zip as it grows (ZIP data descriptors need no seeking), so
# memory stays flat and the first bytes leave at once. Cells: text (formula-neutralised, inline),
# numbers, booleans, dates and times (aware ones in the current time zone).

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_NAME_ILLEGAL = re.compile(r"[\[\]:*?/\\]")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/></Relationships>'
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}
_SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = b"</sheetData></worksheet>"


class _Sink:
    """A write-only stream that hands over what was written since the last take()."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _xml_text(value: str) -> str:
    value = _XML_ILLEGAL.sub("", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("\r", "&#13;") if "\r" in value else value  # XML readers turn a bare CR into LF


# Cells carry no r="B7": a reader takes the next column (OOXML leaves r optional; calamine,
# openpyxl, Excel and LibreOffice all read it so, and so does core.sheets' guard). Every position
# is therefore written, an empty one as <c/>. Most exports are 100k rows × 15 cells: cells are
# written by a function per value type, and text is escaped only when it holds something to escape.
_EMPTY_CELL = "<c/>"
_NEEDS_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text_cell(value: str) -> str:
    if not value:
        return _EMPTY_CELL
    if value.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER.fullmatch(value):
        value = "'" + value
    if _NEEDS_ESCAPE.search(value):
        value = _xml_text(value)
    return f'<c t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'


def _datetime_cell(value: datetime) -> str:
    if timezone.is_aware(value):
        value = timezone.make_naive(value)
    return f'<c s="1"><v>{(value - _EXCEL_EPOCH).total_seconds() / 86400!r}</v></c>'


def _float_cell(value: float) -> str:
    return f"<c><v>{value!r}</v></c>" if math.isfinite(value) else _text_cell(str(value))


_CELL_BY_TYPE = {
    str: _text_cell,
    type(None): lambda value: _EMPTY_CELL,
    int: lambda value: f"<c><v>{value}</v></c>",
    Decimal: lambda value: f"<c><v>{value:f}</v></c>",
    float: _float_cell,
    bool: lambda value: f'<c t="b"><v>{int(value)}</v></c>',
    datetime: _datetime_cell,
    date: lambda value: f'<c s="2"><v>{(value - _EXCEL_EPOCH.date()).days}</v></c>',
}


def _xlsx_cell(value) -> str:
    """A value whose exact type has no writer of its own: a subclass (a str enum, an int enum), a
    lazy translation, anything else as its text."""
    for kind in (bool, int, Decimal, float, datetime, date):  # bool before int, datetime before date
        if isinstance(value, kind):
            return _CELL_BY_TYPE[kind](value)
    return _text_cell(str(value))


def xlsx_stream(title: str, header: Sequence, rows: Iterable[Sequence], *, rows_per_chunk: int = 2000):
    """The workbook's bytes, chunk by chunk, as rows are consumed."""
    sink = _Sink()
    name = _xml_text(_SHEET_NAME_ILLEGAL.sub(" ", str(title)).strip()[:31] or "Sheet1").replace('"', "&quot;")
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for part, content in _XLSX_STATIC.items():
            book.writestr(part, content)
        book.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        yield sink.take()
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD)
            pending: list[str] = []
            writers = _CELL_BY_TYPE
            for number, row in enumerate(chain([header], rows), start=1):
                cells = "".join([writers.get(type(value), _xlsx_cell)(value) for value in row])
                pending.append(f'<row r="{number}">{cells}</row>')
                if len(pending) >= rows_per_chunk:
                    sheet.write("".join(pending).encode())
                    pending.clear()
                    yield sink.take()
            sheet.write("".join(pending).encode() + _SHEET_TAIL)
        yield sink.take()
    yield sink.take()


def xlsx_stream_response(filename: str, title: str, header: Sequence, rows: Iterable[Sequence]):
    response = StreamingHttpResponse(xlsx_stream(title, header, rows), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
