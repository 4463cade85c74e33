"""Refusing a zipped workbook (.xlsx, .ods) before a reader unpacks what is too big.

The zip directory is checked first (part sizes, their sum, each part's compression ratio); then
every part is inflated (`inflate`), in bounded chunks that are dropped as they are read, and must
come out exactly as large as the directory says, with its checksum: a directory that understates
a part (so that another reader would trust it and inflate gigabytes) is caught at the first byte
too many. core.sheets.scan parses the XML parts on the way for what a reader would allocate.
"""

import struct
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
MAIN_PARTS = {".xlsx": "xl/workbook.xml", ".ods": "content.xml"}
BINARY_WORKBOOK = "xl/workbook.bin"  # .xlsb: sheets as binary records


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
    # calamine finds a part whatever the case of its name (XL/Workbook.BIN too)
    if MAIN_PARTS.get(kind) not in names or BINARY_WORKBOOK in {name.lower() for name in names}:
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
