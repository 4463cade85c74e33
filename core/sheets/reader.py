"""Reading an uploaded spreadsheet into rows of cell values, after the guard has let it through.

.xlsx and .ods go through core.sheets.zipguard (sizes, compression, cells, shared strings) and
are then read by python-calamine (Rust: fast, and it never evaluates anything); .csv is decoded
(UTF-8 with or without BOM, UTF-16 with BOM, else GB18030, which covers GBK: what Chinese banks
and platforms export) and read with the csv module under the same cell limit. Old Excel 97–2003
.xls files are refused: calamine builds every sheet's whole grid as soon as one is opened, sized
by the file's own claims, so no limit could be checked first.

Values: None (blank), str, int, float, bool, date, datetime, time, timedelta; row 1 of the list
is row 1 of the sheet, column A is index 0. No text holds a NUL character (a CSV's, a UTF-16
file's, an xlsx's `_x0000_`): PostgreSQL stores none, so such a file is refused, naming the cell.
"""

import codecs
import csv
import io
from pathlib import PurePosixPath

import python_calamine
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from core.sheets import scan, zipguard
from core.sheets.limits import SheetLimits, SheetRefused, not_a, too_large, too_many, unreadable

WORKBOOKS = (".xlsx", ".ods")
EXTENSIONS = (*WORKBOOKS, ".csv")
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97–2003 (and encrypted .xlsx)
DELIMITERS = (",", "\t", ";")


def read_rows(
    data: bytes, file_name: str, *, limits: SheetLimits | None = None, extensions=EXTENSIONS
) -> list[list]:
    """The rows of the file's first visible sheet; SheetRefused says why a file is not read."""
    limits = limits or SheetLimits.from_settings()
    suffix = PurePosixPath(file_name.lower()).suffix
    check_kind(data, suffix, extensions, limits)
    if suffix in WORKBOOKS:
        book = zipguard.open_checked(data, limits, kind=suffix)
        scan.scan_parts(data, book, limits, kind=suffix)
        return refuse_nul(_calamine_rows(data, suffix))
    return read_csv(data, limits)


def check_kind(data: bytes, suffix: str, extensions, limits: SheetLimits) -> None:
    """The file is one we read, not empty, not over the size limit, and is what its name says."""
    if suffix not in extensions:
        raise SheetRefused(accepted_types(extensions))
    if not data:
        raise SheetRefused(_("The file is empty."))
    if len(data) > limits.max_file_bytes:
        raise too_large(_("the file"), limits.max_file_bytes)
    if data.startswith(OLE_MAGIC):
        raise SheetRefused(
            _(
                "This is an old Excel 97–2003 (.xls) file or a password-protected workbook: "
                "save it as .xlsx without a password and upload it again."
            )
        )
    if suffix in WORKBOOKS and not data.startswith(ZIP_MAGIC):
        raise not_a(suffix)
    if suffix not in WORKBOOKS and data.startswith(ZIP_MAGIC):
        raise SheetRefused(_("This is an Excel workbook, not a CSV file: name it .xlsx."))


def accepted_types(extensions) -> str:
    return _("Upload one of these file types: %(types)s.") % {"types": ", ".join(extensions)}


def _calamine_rows(data: bytes, suffix: str) -> list[list]:
    try:
        with python_calamine.CalamineWorkbook.from_object(io.BytesIO(data)) as book:
            index = next(
                (i for i, sheet in enumerate(book.sheets_metadata) if _visible_worksheet(sheet)), None
            )
            if index is None:
                raise SheetRefused(_("The workbook has no sheet."))
            rows = book.get_sheet_by_index(index).to_python(skip_empty_area=False)
    except python_calamine.CalamineError as exc:
        raise unreadable(suffix) from exc
    except BaseException as exc:
        # A Rust panic on a malformed file reaches Python as pyo3's PanicException, which derives
        # from BaseException so that `except Exception` misses it: it is still only a bad file.
        if type(exc).__name__ != "PanicException":
            raise
        raise unreadable(suffix) from exc
    return [[None if value == "" else value for value in row] for row in rows]


def _visible_worksheet(sheet) -> bool:
    return (
        sheet.visible == python_calamine.SheetVisibleEnum.Visible
        and sheet.typ == python_calamine.SheetTypeEnum.WorkSheet
    )


# --- CSV ------------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """CSV bytes as text: UTF-16 when it says so (BOM), else UTF-8 (BOM or not), else GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SheetRefused(_("The CSV file is not readable UTF-16 text.")) from exc
    if b"\x00" in data[:4096]:
        raise SheetRefused(_("The file is not a text CSV file (it holds binary data)."))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetRefused(_("The CSV file is neither UTF-8 nor GBK/GB18030 text."))


def delimiter(text: str) -> str:
    """The separator the header line uses most: Excel's "Unicode text" is tab-separated, some
    European exports use semicolons, everything else commas."""
    header = text.split("\n", 1)[0]
    return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def read_csv(data: bytes, limits: SheetLimits) -> list[list]:
    text = decode_text(data)
    rows, cells = [], 0
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text)):
            cells += max(len(row), 1)
            if cells > limits.max_cells:
                raise too_many(_("cells"), limits.max_cells)
            rows.append([value if value != "" else None for value in row])
    except csv.Error as exc:
        raise SheetRefused(_("The CSV file is malformed: %(error)s.") % {"error": exc}) from exc
    return refuse_nul(rows) if "\x00" in text else rows


def refuse_nul(rows: list[list], *, first_row: int = 1) -> list[list]:
    """The rows, unless a text cell holds a NUL character, which no database text column takes."""
    for number, row in enumerate(rows, start=first_row):
        for index, value in enumerate(row):
            if type(value) is str and "\x00" in value:
                raise SheetRefused(
                    _(
                        "Row %(row)s, column %(column)s holds a NUL character, which cannot be stored: "
                        "remove it and upload the file again."
                    )
                    % {"row": number, "column": get_column_letter(index + 1)}
                )
    return rows
