"""The guarded spreadsheet reader (core.sheets): hostile files are refused before anything is
unpacked; real files in every encoding Chinese banks and platforms use are read."""

import codecs
import re
import time
import tracemalloc
from datetime import date
from unittest import mock

import pytest

from core.sheets import SheetLimits, SheetRefused, read_rows
from core.sheets import reader as sheet_reader
from core.tests.sheet_files import (
    SHEET_HEAD,
    SHEET_TAIL,
    crafted_xlsx,
    grid_sheet,
    ods,
    understating_zip,
    workbook,
    zip_bomb,
)

HEADER = ["sku", "名称", "quantity", "counted_on"]


def refused_without_unpacking(data: bytes, name: str = "bomb.xlsx", **limits) -> SheetRefused:
    """Read `data`, expecting a refusal that comes fast, keeps memory flat and never hands the
    file to calamine."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with (
            mock.patch.object(sheet_reader, "_calamine_rows", side_effect=AssertionError("unpacked")),
            pytest.raises(SheetRefused) as refused,
        ):
            read_rows(data, name, limits=SheetLimits.from_settings(**limits))
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2, f"took {elapsed:.1f} s"
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    return refused.value


# --- hostile files ---------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_from_the_zip_directory():
    bomb = zip_bomb(256)
    assert len(bomb) < 300 * 1024  # ~250 KB that unpacks to 256 MB

    refusal = refused_without_unpacking(bomb)

    assert "too large" in refusal.message and "100 MB" in refusal.message and refusal.field == "file"


def test_a_part_compressed_like_a_bomb_is_refused_even_under_the_size_limit():
    refusal = refused_without_unpacking(zip_bomb(50))  # 50 MB < 100 MB, but ~1000 times packed

    assert "zip bomb" in refusal.message and "xl/worksheets/sheet1.xml" in refusal.message


def test_a_zip_directory_that_understates_a_part_is_caught_at_the_first_byte_too_many():
    # the directory says 1 KB (ratio fine, size fine) and Python's zipfile reads just that KB;
    # calamine would inflate all 40 MB
    refusal = refused_without_unpacking(understating_zip(40), max_compression_ratio=10_000)

    assert "zip bomb" in refusal.message


def test_a_sheet_whose_grid_would_not_fit_is_refused_without_being_read():
    # two cells, A1 and XFD1048576: calamine would allocate 17 billion cells for them
    sheet = (
        SHEET_HEAD + b'<row r="1"><c r="A1"><v>1</v></c></row>'
        b'<row r="1048576"><c r="XFD1048576"><v>2</v></c></row>' + SHEET_TAIL
    )

    refusal = refused_without_unpacking(crafted_xlsx([sheet]))

    assert "more than 2,000,000 cells" in refusal.message


def test_rows_and_cells_without_references_count_too():
    cells = b"<c><v>1</v></c>" * 30
    sheet = SHEET_HEAD + b"<row>" + cells + b"</row>" + b"<row/>" * 40 + SHEET_TAIL

    refusal = refused_without_unpacking(crafted_xlsx([sheet]), "s.xlsx", max_cells=1000)  # 41 × 30

    assert "more than 1,000 cells" in refusal.message
    assert read_rows(crafted_xlsx([sheet]), "s.xlsx", limits=SheetLimits.from_settings(max_cells=1300))


def test_too_many_shared_strings_are_refused():
    strings = "".join(f"<si><t>s{n}</t></si>" for n in range(50))
    shared = (
        '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{strings}</sst>"
    )
    data = crafted_xlsx([SHEET_HEAD + SHEET_TAIL], extra_parts={"xl/sharedStrings.xml": shared})

    refusal = refused_without_unpacking(data, max_shared_strings=49)

    assert "more than 49 shared strings" in refusal.message


def test_a_document_type_declaration_is_refused():
    sheet = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>' + SHEET_HEAD[21:] + SHEET_TAIL

    refusal = refused_without_unpacking(crafted_xlsx([sheet]))

    assert "document type declaration" in refusal.message


def test_a_binary_xlsb_workbook_named_xlsx_is_refused():
    # calamine would read its sheets as binary records, which the guard does not scan
    data = crafted_xlsx([SHEET_HEAD + SHEET_TAIL], extra_parts={"xl/workbook.bin": "\x00\x01"})

    refusal = refused_without_unpacking(data)

    assert "not an Excel .xlsx workbook" in refusal.message


def test_an_ods_whose_repeated_cells_would_fill_memory_is_refused():
    bomb = ods(
        '<table:table-row table:number-rows-repeated="10000">'
        '<table:table-cell table:number-columns-repeated="10000" office:value-type="string">'
        "<text:p>x</text:p></table:table-cell></table:table-row>"
    )

    refusal = refused_without_unpacking(bomb, "bomb.ods")

    assert "more than 2,000,000 cells" in refusal.message


def test_an_ods_with_libreoffice_s_empty_filler_rows_is_read():
    data = ods(
        '<table:table-row><table:table-cell office:value-type="string"><text:p>sku</text:p>'
        '</table:table-cell><table:table-cell office:value-type="float" office:value="3">'
        "<text:p>3</text:p></table:table-cell></table:table-row>"
        '<table:table-row table:number-rows-repeated="1048575">'
        '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    )

    assert read_rows(data, "count.ods") == [["sku", 3.0]]


# Every way calamine still reads a sheet that a scan keyed on "<" and on the spreadsheet namespace
# would not count: a 200 × 10 sheet must be refused under a 1,000-cell limit however it is written.
MAIN_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKSHEET = b'<worksheet xmlns="' + MAIN_NS + b'"><sheetData>'
PREFIXED = re.compile(rb"<(/?)(worksheet|sheetData|row|c|v)\b")


def _prefixed(xml: bytes, namespace: bytes) -> bytes:
    xml = PREFIXED.sub(rb"<\1x:\2", xml)
    return xml.replace(b"<x:worksheet", b'<x:worksheet xmlns:x="' + namespace + b'"', 1)


def _utf16_wrapped(xml: bytes) -> bytes:
    """Well-formed UTF-16 XML to expat (one element of CJK text), the same bytes read as UTF-8
    (how calamine tokenises them) a whole sheet."""
    xml += b" " * (len(xml) % 2)
    return codecs.BOM_UTF16_LE + "<w>".encode("utf-16-le") + xml + "</w>".encode("utf-16-le")


GRID = grid_sheet(200, 10)
DISGUISED_SHEETS = {
    "junk-before-the-root": b"x" + WORKSHEET + GRID + SHEET_TAIL,
    "other-namespace": WORKSHEET.replace(MAIN_NS, b"urn:x") + GRID + SHEET_TAIL,
    "other-prefix-and-namespace": _prefixed(WORKSHEET + GRID + SHEET_TAIL, b"urn:x"),
    "utf-16-byte-order-mark": _utf16_wrapped(WORKSHEET + GRID + SHEET_TAIL),
}


@pytest.mark.parametrize("sheet", DISGUISED_SHEETS.values(), ids=DISGUISED_SHEETS)
def test_a_sheet_calamine_reads_is_scanned_however_it_is_written(sheet):
    refusal = refused_without_unpacking(crafted_xlsx([sheet]), "s.xlsx", max_cells=1000)

    assert "more than 1,000 cells" in refusal.message or "not a readable" in refusal.message


def test_a_sheet_kept_in_a_part_not_named_xml_is_refused():
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.png"/></Relationships>'
    )
    hidden = b"\x89PNG" + WORKSHEET + GRID + SHEET_TAIL  # calamine would read it as the sheet
    data = crafted_xlsx(
        [SHEET_HEAD + SHEET_TAIL],
        extra_parts={"xl/_rels/workbook.xml.rels": rels, "xl/worksheets/sheet1.png": hidden},
    )

    refusal = refused_without_unpacking(data, "s.xlsx", max_cells=1000)

    assert "not XML" in refusal.message


def test_a_shared_strings_part_that_declares_too_many_strings_is_refused():
    # calamine reserves memory for uniqueCount strings before reading one: 10^10 aborts the worker
    shared = (
        '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'count="1" uniqueCount="10000000000"><si><t>a</t></si></sst>'
    )
    data = crafted_xlsx([SHEET_HEAD + SHEET_TAIL], extra_parts={"xl/sharedStrings.xml": shared})

    refusal = refused_without_unpacking(data)

    assert "more than 1,000,000 shared strings" in refusal.message


def test_an_xlsb_workbook_part_is_found_whatever_the_case_of_its_name():
    data = crafted_xlsx([SHEET_HEAD + SHEET_TAIL], extra_parts={"XL/Workbook.BIN": "\x00\x01"})

    refusal = refused_without_unpacking(data)

    assert "not an Excel .xlsx workbook" in refusal.message


@pytest.mark.parametrize(
    ("table_xml", "namespace"),
    [
        (  # the table prefix bound to another namespace: calamine matches "table:" by name
            '<table:table-row table:number-rows-repeated="10000">'
            '<table:table-cell table:number-columns-repeated="10000" office:value-type="string">'
            "<text:p>x</text:p></table:table-cell></table:table-row>",
            "urn:x",
        ),
        (  # a formula is content too: calamine expands its repeats
            '<table:table-row table:number-rows-repeated="10000">'
            '<table:table-cell table:number-columns-repeated="10000" table:formula="of:=1"/>'
            "</table:table-row>",
            "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
        ),
    ],
    ids=["other-namespace", "formula-only-cells"],
)
def test_an_ods_bomb_is_refused_however_it_is_written(table_xml, namespace):
    refusal = refused_without_unpacking(ods(table_xml, table_namespace=namespace), "bomb.ods")

    assert "more than 2,000,000 cells" in refusal.message


def test_pictures_and_empty_xml_parts_do_not_stop_a_real_workbook():
    data = crafted_xlsx(
        [WORKSHEET + grid_sheet(2, 2) + SHEET_TAIL],
        extra_parts={"xl/media/image1.png": "\x89PNG\r\n\x1a\n\x00binary", "customXml/item1.xml": ""},
    )

    assert read_rows(data, "s.xlsx") == [[1.0, 1.0], [1.0, 1.0]]


# --- NUL characters: PostgreSQL stores none --------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        ("sku,qty\n" + "SKU-1,1\n" * 600 + "SKU-\x00,2\n").encode(),  # after the first 4 KiB
        ("sku\tqty\n" + "SKU-1\t1\n" * 600 + "SKU-\x00\t2\n").encode("utf-16"),
    ],
    ids=["utf-8-after-4-kib", "utf-16"],
)
def test_a_csv_cell_holding_a_nul_character_is_refused_naming_the_cell(data):
    with pytest.raises(SheetRefused, match="Row 602, column A holds a NUL character"):
        read_rows(data, "count.csv")


@pytest.mark.parametrize(
    ("sheet", "shared"),
    [
        (b'<row r="3"><c r="B3" t="inlineStr"><is><t>a_x0000_b</t></is></c></row>', None),
        (
            b'<row r="3"><c r="B3" t="s"><v>0</v></c></row>',
            '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            "<si><t>a_x0000_b</t></si></sst>",
        ),
    ],
    ids=["inline-string", "shared-string"],
)
def test_an_xlsx_cell_holding_a_nul_character_is_refused_naming_the_cell(sheet, shared):
    extra = {"xl/sharedStrings.xml": shared} if shared else None
    data = crafted_xlsx([SHEET_HEAD + sheet + SHEET_TAIL], extra_parts=extra)

    with pytest.raises(SheetRefused, match="Row 3, column B holds a NUL character"):
        read_rows(data, "count.xlsx")


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xlsx", "97–2003 (.xls)"),
        (b"sku,qty\n", "count.xlsx", "not an Excel .xlsx workbook"),
        (b"PK\x03\x04broken", "count.xlsx", "not a readable Excel .xlsx workbook"),
        (b"", "count.csv", "empty"),
        (b"x" * 11, "count.pdf", ".xlsx, .ods, .csv"),
        (b"sku\n" + b"x" * (11 * 1024 * 1024), "count.csv", "over the limit of 10 MB"),
    ],
)
def test_files_that_are_not_what_they_say_are_refused_with_a_clear_message(data, name, message):
    with pytest.raises(
        SheetRefused, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        read_rows(data, name)


# --- real files --------------------------------------------------------------------------------


def test_an_excel_workbook_is_read_with_its_types_and_row_numbers():
    data = workbook(
        HEADER, [["SKU-1", "苹果", 12, date(2026, 5, 1)], [None, None, None, None], ["SKU-2", "梨", 2.5]]
    )

    rows = read_rows(data, "count.xlsx")

    assert rows[0] == HEADER
    assert rows[1] == ["SKU-1", "苹果", 12, date(2026, 5, 1)]
    assert rows[3][:3] == ["SKU-2", "梨", 2.5]


def test_an_empty_first_row_keeps_spreadsheet_row_numbers():
    sheet = SHEET_HEAD + b'<row r="2"><c r="B2" t="inlineStr"><is><t>sku</t></is></c></row>' + SHEET_TAIL

    assert read_rows(crafted_xlsx([sheet]), "s.xlsx") == [[None, None], [None, "sku"]]


TEXT = "sku,名称,counted_quantity\r\nSKU-1,红富士苹果,12\r\nSKU-2,𠀀鸭梨,3\r\n"
ROWS = [["sku", "名称", "counted_quantity"], ["SKU-1", "红富士苹果", "12"], ["SKU-2", "𠀀鸭梨", "3"]]
GBK_TEXT, GBK_ROWS = TEXT.replace("𠀀", ""), [*ROWS[:2], ["SKU-2", "鸭梨", "3"]]  # 𠀀 is beyond GBK


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (TEXT.encode("utf-8"), ROWS),
        (TEXT.encode("utf-8-sig"), ROWS),  # Excel's "CSV UTF-8"
        (TEXT.encode("gb18030"), ROWS),
        (GBK_TEXT.encode("gbk"), GBK_ROWS),  # Excel's CSV on Chinese Windows, bank exports
        (TEXT.replace(",", "\t").encode("utf-16"), ROWS),  # Excel's "Unicode text": tab-separated
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "gbk", "utf-16-tabs"],
)
def test_csv_in_every_encoding_chinese_exports_use(data, rows):
    assert read_rows(data, "count.csv") == rows


def test_a_csv_over_the_cell_limit_is_refused():
    data = ("a,b\n" * 600).encode()

    with pytest.raises(SheetRefused, match="more than 1,000 cells"):
        read_rows(data, "c.csv", limits=SheetLimits.from_settings(max_cells=1000))
