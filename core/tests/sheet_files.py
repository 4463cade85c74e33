"""Spreadsheet files built in the tests: real workbooks, zip bombs and other hostile files."""

import io
import struct
import zipfile
import zlib

import openpyxl

SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_TAIL = b"</sheetData></worksheet>"
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
}


def workbook(header, rows) -> bytes:
    """A real .xlsx as Excel users make them (openpyxl)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def crafted_xlsx(sheet_xml_chunks, *, extra_parts: dict | None = None) -> bytes:
    """A minimal workbook whose sheet XML is written chunk by chunk (so a bomb of hundreds of MB
    never sits in memory while it is built)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        for name, text in {**_PARTS, **(extra_parts or {})}.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for chunk in sheet_xml_chunks:
                sheet.write(chunk)
    return out.getvalue()


def grid_sheet(rows: int, columns: int) -> bytes:
    """The <row> elements of a rows × columns sheet of numbers, every cell with its reference."""
    letters = [chr(65 + column) for column in range(columns)]
    return b"".join(
        b'<row r="%d">' % row
        + b"".join(b'<c r="%s%d"><v>1</v></c>' % (letter.encode(), row) for letter in letters)
        + b"</row>"
        for row in range(1, rows + 1)
    )


_CELL_HEAD, _CELL_TAIL = b'<row><c t="inlineStr"><is><t>', b"</t></is></c></row>"
BOMB_BLOCK = _CELL_HEAD + b"A" * (1024 * 1024 - len(_CELL_HEAD) - len(_CELL_TAIL)) + _CELL_TAIL  # 1 MB


def _bomb_xml(unpacked_mb: int):
    yield SHEET_HEAD
    for _ in range(unpacked_mb):
        yield BOMB_BLOCK
    yield SHEET_TAIL


def zip_bomb(unpacked_mb: int = 256) -> bytes:
    """About 1 KB per unpacked MB: a ~250 KB .xlsx whose sheet XML unpacks to 256 MB."""
    return crafted_xlsx(_bomb_xml(unpacked_mb))


def understating_zip(unpacked_mb: int = 40) -> bytes:
    """A workbook whose zip directory claims the sheet is 1 KB (with the checksum of its first
    KB, so Python's zipfile reads 1 KB and is satisfied) while it unpacks to `unpacked_mb` MB:
    a reader that trusts the directory inflates it all."""
    data = bytearray(zip_bomb(unpacked_mb))
    first_kb = (SHEET_HEAD + BOMB_BLOCK)[:1024]
    end_of_directory = data.rindex(b"PK\x05\x06")
    entry = struct.unpack_from("<I", data, end_of_directory + 16)[0]
    while data[entry : entry + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, entry + 28)
        if data[entry + 46 : entry + 46 + name_length] == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<I", data, entry + 16, zlib.crc32(first_kb))
            struct.pack_into("<I", data, entry + 24, len(first_kb))
            return bytes(data)
        entry += 46 + name_length + extra_length + comment_length
    raise AssertionError("no sheet entry in the zip directory")


def ods(table_xml: str, *, table_namespace: str = "urn:oasis:names:tc:opendocument:xmlns:table:1.0") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        book.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
        book.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            f'xmlns:table="{table_namespace}" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
            f'<office:body><office:spreadsheet><table:table table:name="S">{table_xml}</table:table>'
            "</office:spreadsheet></office:body></office:document-content>",
        )
    return out.getvalue()
