"""Refusing a zipped workbook (.xlsx, .ods) before a reader unpacks what is too big.

The zip directory is checked first (part sizes, their sum, each part's compression ratio); then
every part is inflated here, in bounded chunks that are dropped as they are read, and must come
out exactly as large as the directory says, with its checksum: a directory that understates a
part (so that another reader would trust it and inflate gigabytes) is caught at the first byte
too many. On the way, the XML parts are scanned with expat for what a reader would allocate: the
grid of each sheet (rows × columns, counting ODS's repeated rows and cells) and the shared
strings. Nothing is kept but counters, so memory stays flat whatever the file holds.
"""

import struct
import xml.parsers.expat
import zipfile
import zlib
from collections.abc import Iterator
from io import BytesIO

from django.utils.translation import gettext as _

from core.sheets.limits import (
    SheetLimits,
    SheetRefused,
    not_a,
    too_compressed,
    too_large,
    too_many,
    unreadable,
)

CHUNK = 256 * 1024
RATIO_FLOOR = 1024 * 1024  # small parts may compress very well (styles, empty sheets): harmless
MAX_PARTS = 10_000
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature … file name length, extra field length
COLUMN_LIMIT = 16_384  # XFD
SPREADSHEET_NS = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
MAIN_PARTS = {".xlsx": "xl/workbook.xml", ".ods": "content.xml"}
BINARY_WORKBOOK = "xl/workbook.bin"  # .xlsb: sheets as binary records
TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"


def open_checked(data: bytes, limits: SheetLimits, *, kind: str) -> zipfile.ZipFile:
    """The workbook's zip, once its directory promises nothing over the limits."""
    try:
        book = zipfile.ZipFile(BytesIO(data))
        parts = book.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise unreadable(kind) from exc
    if len(parts) > MAX_PARTS:
        raise too_many(_("parts"), MAX_PARTS)
    if len({part.filename for part in parts}) != len(parts):
        raise unreadable(kind)  # two parts of one name: readers would disagree on which is read
    names = {part.filename for part in parts}
    if MAIN_PARTS.get(kind) not in names or BINARY_WORKBOOK in names:
        raise not_a(kind)  # calamine would fall back to a binary format whose records are not scanned
    total = 0
    for part in parts:
        if part.flag_bits & 0x1:
            raise SheetRefused(
                _("The workbook is encrypted: save it without a password and upload it again.")
            )
        if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise unreadable(kind)
        total += part.file_size
        if total > limits.max_unpacked_bytes:
            raise too_large(_("the unpacked workbook"), limits.max_unpacked_bytes)
        if (
            part.file_size > RATIO_FLOOR
            and part.file_size > part.compress_size * limits.max_compression_ratio
        ):
            raise too_compressed(part.filename, limits.max_compression_ratio)
    return book


def inflate(data: bytes, part: zipfile.ZipInfo, *, kind: str) -> Iterator[bytes]:
    """The part's bytes in chunks; never more than the directory declared, checksum verified."""
    produced, crc = 0, 0
    for chunk in _chunks(_packed(data, part, kind), part.compress_type, kind):
        produced += len(chunk)
        if produced > part.file_size:
            raise too_compressed(part.filename, 1)  # more than the directory admits to
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if produced != part.file_size or crc != part.CRC:
        raise unreadable(kind)


def _packed(data: bytes, part: zipfile.ZipInfo, kind: str) -> memoryview:
    """The part's compressed bytes, found through its local header as every zip reader does."""
    try:
        signature, name_length, extra_length = LOCAL_HEADER.unpack_from(data, part.header_offset)
    except struct.error as exc:
        raise unreadable(kind) from exc
    start = part.header_offset + LOCAL_HEADER.size + name_length + extra_length
    packed = memoryview(data)[start : start + part.compress_size]
    if signature != b"PK\x03\x04" or len(packed) != part.compress_size:
        raise unreadable(kind)
    return packed


def _chunks(packed: memoryview, method: int, kind: str) -> Iterator[bytes]:
    if method == zipfile.ZIP_STORED:
        for start in range(0, len(packed), CHUNK):
            yield bytes(packed[start : start + CHUNK])
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for start in range(0, len(packed), CHUNK):
            pending = packed[start : start + CHUNK]
            while pending:
                yield inflater.decompress(pending, CHUNK)
                pending = inflater.unconsumed_tail
        while not inflater.eof:
            chunk = inflater.decompress(b"", CHUNK)
            if not chunk:
                break
            yield chunk
    except zlib.error as exc:
        raise unreadable(kind) from exc
    if not inflater.eof:
        raise unreadable(kind)


def read_part(data: bytes, part: zipfile.ZipInfo, *, kind: str) -> bytes:
    """A whole part in memory (the directory's sizes were checked first), under the same checks
    as `inflate` but in one call: zlib stops one byte past the declared size."""
    packed = _packed(data, part, kind)
    if part.compress_type == zipfile.ZIP_STORED:
        content, complete = bytes(packed), True
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            content = inflater.decompress(packed, part.file_size + 1)
        except zlib.error as exc:
            raise unreadable(kind) from exc
        complete = inflater.eof
    if len(content) > part.file_size:
        raise too_compressed(part.filename, 1)  # more than the directory admits to
    if not complete or len(content) != part.file_size or zlib.crc32(content) != part.CRC:
        raise unreadable(kind)
    return content


# --- what the XML parts hold ---------------------------------------------------------------------


class _Stop(Exception):
    """Raised inside an expat handler to leave the parse at once."""

    def __init__(self, refusal: SheetRefused):
        super().__init__(refusal.message)
        self.refusal = refusal


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
        namespace, _sep, local = name.rpartition(" ")
        if namespace in SPREADSHEET_NS:
            self._xlsx_start(local, attrs)
        elif namespace == TABLE_NS:
            self._ods_start(local, attrs)
        elif self.ods_in_cell:
            self.ods_row_end = self.ods_cell_end  # a text:p inside the cell: it has content

    def end(self, name: str) -> None:
        namespace, _sep, local = name.rpartition(" ")
        if namespace in SPREADSHEET_NS and local == "sheetData":
            self.in_sheet_data = False
        elif namespace == TABLE_NS:
            if local in ("table-cell", "covered-table-cell"):
                self.ods_in_cell = False
            elif local == "table-row":
                self._ods_row_done()

    # xlsx: <sheetData><row r="7"><c r="B7">…; r may be left out (the next row, the next column)
    def _xlsx_start(self, local: str, attrs: dict) -> None:
        if local == "sheetData":
            self.in_sheet_data, self.row = True, 0
        elif local == "sst" and self.part_size > self.limits.max_shared_strings_bytes:
            raise _Stop(too_large(_("the shared strings part"), self.limits.max_shared_strings_bytes))
        elif local == "si":
            self.shared_strings += 1
            if self.shared_strings > self.limits.max_shared_strings:
                raise _Stop(too_many(_("shared strings"), self.limits.max_shared_strings))
        elif not self.in_sheet_data:
            return
        elif local == "row":
            self.row = _number(attrs.get("r"), default=self.row + 1)
            self.column = 0
            self._grow(self.row, self.max_column)
        elif local == "c":
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
            self.ods_row_repeat = _number(attrs.get(f"{TABLE_NS} number-rows-repeated"), default=1)
            self.ods_row_end = self.ods_column = 0
        elif local in ("table-cell", "covered-table-cell"):
            self.ods_column += _number(attrs.get(f"{TABLE_NS} number-columns-repeated"), default=1)
            self.ods_cell_end, self.ods_in_cell = self.ods_column, True
            if f"{OFFICE_NS} value-type" in attrs:
                self.ods_row_end = self.ods_column

    def _ods_row_done(self) -> None:
        self.ods_rows += self.ods_row_repeat
        if self.ods_row_end:
            self.ods_rows_end, self.ods_width = self.ods_rows, max(self.ods_width, self.ods_row_end)
            if self.ods_rows_end * self.ods_width > self.limits.max_cells:
                raise _Stop(too_many(_("cells"), self.limits.max_cells))


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


def _looks_like_xml(head: bytes) -> bool:
    return head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def scan_parts(data: bytes, book: zipfile.ZipFile, limits: SheetLimits, *, kind: str) -> None:
    """Inflate and scan every XML part; raises SheetRefused at the first limit crossed."""
    for part in book.infolist():
        if part.is_dir() or not part.file_size:
            continue
        chunks = inflate(data, part, kind=kind)
        first = next(chunks, b"")
        if not _looks_like_xml(first):
            continue  # a picture, a printer setting, an embedded file: no reader parses it as a sheet
        scan = _Scan(limits, part.file_size)
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = scan.start
        parser.EndElementHandler = scan.end
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.EntityDeclHandler = _refuse_doctype
        try:
            parser.Parse(first, False)
            for chunk in chunks:
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except _Stop as stop:
            raise stop.refusal from None
        except xml.parsers.expat.ExpatError as exc:
            raise unreadable(kind) from exc
