import io
import re
import time
import tracemalloc
import zipfile
from datetime import datetime
from decimal import Decimal

import openpyxl
import pytest

from core.spreadsheets import xlsx_stream
from core.tests.sheet_files import understating_zip, zip_bomb
from finance.imports import readers
from finance.imports.readers import CellError, FileRejected, read_sheet

ROWS = [
    ["text", "number", "when", "flag", "blank", "last"],
    ["张三 & <Co>", 12.5, datetime(2026, 1, 31, 23, 59, 59), True, None, "x"],
    ["  spaced  ", 3, datetime(2026, 2, 1), False, None, "=1+1"],
    ["same text", -0.1, None, None, None, "same text"],
]


def openpyxl_bytes(rows) -> bytes:
    book = openpyxl.Workbook()  # not write-only: shared strings, as Excel writes them
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def expected(rows):
    def norm(v):
        if isinstance(v, float | int) and not isinstance(v, bool):
            return Decimal(str(v))
        if isinstance(v, str) and v.startswith("="):
            return None  # a formula without a cached value reads as blank
        return v

    return [[norm(v) for v in row] for row in rows]


def read(data: bytes, name="x.xlsx"):
    sheet = read_sheet(data, name)
    return [values + [None] * (len(ROWS[0]) - len(values)) for _number, values in sheet.rows]


def test_the_fast_reader_reads_what_openpyxl_wrote():
    assert read(openpyxl_bytes(ROWS)) == expected(ROWS)


def test_prefixed_elements_and_other_attribute_orders_take_the_general_path():
    data = openpyxl_bytes(ROWS)
    source = zipfile.ZipFile(io.BytesIO(data))
    sheet = source.read("xl/worksheets/sheet1.xml").decode()
    sheet = re.sub(r"<(/?)(row|c|v|is|t|f)\b", r"<\1x:\2", sheet)
    sheet = sheet.replace(
        "<worksheet ", '<worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ', 1
    )
    sheet = re.sub(r'<x:c r="([A-Z]+\d+)" s="(\d+)" t="(\w+)"', r'<x:c t="\3" s="\2" r="\1"', sheet)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            content = sheet.encode() if info.filename == "xl/worksheets/sheet1.xml" else source.read(info)
            target.writestr(info, content)

    assert read(buffer.getvalue()) == expected(ROWS)


def test_the_streamed_writer_round_trips_through_both_readers():
    data = b"".join(xlsx_stream("Lines", ROWS[0], ROWS[1:]))

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert [list(r) for r in book.active.iter_rows(min_row=2, max_row=2, values_only=True)] == [
        ["张三 & <Co>", 12.5, datetime(2026, 1, 31, 23, 59, 59), True, None, "x"]
    ]
    ours = read(data)
    assert ours[2][-1] == "'=1+1"  # neutralised text, not a formula
    assert ours[1][:4] == ["张三 & <Co>", Decimal("12.5"), datetime(2026, 1, 31, 23, 59, 59), True]


def test_error_cells_and_merged_ranges_are_reported():
    book = openpyxl.Workbook()
    book.active.append(["a", "b"])
    book.active.append(["#N/A", 1])
    book.active.merge_cells("A3:B4")
    buffer = io.BytesIO()
    book.save(buffer)

    sheet = read_sheet(buffer.getvalue(), "m.xlsx")
    rows = list(sheet.rows)
    assert rows[1][1][0] == CellError("#N/A")
    assert sheet.merged == [("A3:B4", 3, 4)]


def test_csv_in_gbk_and_utf8_with_bom():
    text = "日期,金额\n2026-02-01,5\n"
    for data in (text.encode("gbk"), "\ufeff".encode() + text.encode()):
        assert [values for _n, values in read_sheet(data, "b.csv").rows] == [
            ["日期", "金额"],
            ["2026-02-01", "5"],
        ]


def test_an_xlsx_without_a_sheet_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("xl/workbook.xml", "<workbook><sheets/></workbook>")
        book.writestr("xl/_rels/workbook.xml.rels", "<Relationships/>")
    with pytest.raises(FileRejected, match="no sheet"):
        read_sheet(buffer.getvalue(), "x.xlsx")


def crafted_xlsx(sheet_data: str, *, sheet: str | bytes | None = None, shared: str | None = None) -> bytes:
    """The smallest workbook the reader accepts, with the given <sheetData> body (or the whole
    sheet XML) and shared strings part."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        if shared is not None:
            book.writestr("xl/sharedStrings.xml", shared)
        book.writestr(
            "xl/workbook.xml",
            '<workbook xmlns:r="r"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        book.writestr(
            "xl/worksheets/sheet1.xml", sheet or f"<worksheet><sheetData>{sheet_data}</sheetData></worksheet>"
        )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "cell",
    [
        '<c r="ZZZZZZ2"><v>1</v></c>',  # the fast path
        '<c t="n" r="ZZZZZZ2"><v>1</v></c>',  # the general path
    ],
)
def test_a_cell_beyond_column_xfd_is_refused_without_allocating(cell):
    data = crafted_xlsx(f'<row r="2">{cell}</row>')
    with pytest.raises(FileRejected, match="ZZZZZZ2.*XFD"):
        list(read_sheet(data, "x.xlsx").rows)


def test_the_last_column_xfd_is_still_read():
    rows = list(read_sheet(crafted_xlsx('<row r="1"><c r="XFD1"><v>7</v></c></row>'), "x.xlsx").rows)
    assert len(rows[0][1]) == 16384 and rows[0][1][-1] == Decimal(7)


@pytest.mark.parametrize(
    "cell, name",
    [
        ('<c r="B3" t="d"><v>not a date</v></c>', "B3"),
        ('<c t="d" r="C3"><v>2026-13-45</v></c>', "C3"),
    ],
)
def test_an_unreadable_date_cell_is_refused_naming_the_cell(cell, name):
    data = crafted_xlsx(f'<row r="3">{cell}</row>')
    with pytest.raises(FileRejected, match=f"date.*{name}"):
        list(read_sheet(data, "x.xlsx").rows)


def test_a_huge_date_number_and_a_bad_row_number_are_refused():
    styles = '<styleSheet><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>'
    data = crafted_xlsx('<row r="1"><c r="A1" s="1"><v>1e300</v></c></row>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("xl/styles.xml", styles)
    with pytest.raises(FileRejected, match="date.*A1"):
        list(read_sheet(buffer.getvalue(), "x.xlsx").rows)

    with pytest.raises(FileRejected, match="row 2x"):
        list(read_sheet(crafted_xlsx('<row r="2x"><c r="A1"><v>1</v></c></row>'), "x.xlsx").rows)


# --- the guard every upload passes (core.sheets) ------------------------------------------------


@pytest.mark.parametrize("data", [zip_bomb(256), understating_zip(40)], ids=["bomb", "understated"])
def test_a_zip_bomb_statement_is_refused_before_it_is_unpacked(data):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FileRejected, match="zip bomb"):
            read_sheet(data, "statement.xlsx")
        elapsed, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2 and peak < 16 * 1024 * 1024


def test_a_sheet_with_more_cells_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(readers, "MAX_CELLS", 5)
    data = crafted_xlsx(
        '<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>2</v></c><c r="C1"><v>3</v></c></row>' * 2
    )

    with pytest.raises(FileRejected, match="more than 5 cells"):
        read_sheet(data, "statement.xlsx")


def test_cells_are_counted_whatever_their_prefix_and_wherever_the_root_starts(monkeypatch):
    monkeypatch.setattr(readers, "MAX_CELLS", 5)
    cells = "".join(f'<x:c r="{column}1"><x:v>1</x:v></x:c>' for column in "ABCDEF")
    sheet = (
        f"<!--{' ' * 5000}-->"  # the prefixed root beyond the first 4 KiB
        '<x:worksheet xmlns:x="urn:x"><x:sheetData>'
        f'<x:row r="1">{cells}</x:row></x:sheetData></x:worksheet>'
    )
    data = crafted_xlsx("", sheet=sheet)
    monkeypatch.setattr(readers, "MAX_CELLS", 6)
    assert len(list(read_sheet(data, "x.xlsx").rows)[0][1]) == 6  # the reader reads all six
    monkeypatch.setattr(readers, "MAX_CELLS", 5)

    with pytest.raises(FileRejected, match="more than 5 cells"):
        read_sheet(data, "statement.xlsx")


def test_shared_strings_are_counted_however_they_are_written(monkeypatch):
    monkeypatch.setattr(readers, "MAX_SHARED_STRINGS", 2)
    shared = "<sst><si/><si\n><t>b</t></si><x:si><x:t>c</x:t></x:si></sst>"

    with pytest.raises(FileRejected, match="more than 2 shared strings"):
        read_sheet(crafted_xlsx('<row r="1"><c r="A1" t="s"><v>2</v></c></row>', shared=shared), "x.xlsx")


def test_a_csv_cell_holding_a_nul_character_is_refused_naming_the_cell():
    data = ("entry,amount\n" + "E-1,1\n" * 800 + "E-\x00,2\n").encode()  # after the first 4 KiB

    with pytest.raises(FileRejected, match="Row 802, column A holds a NUL character"):
        list(read_sheet(data, "statement.csv").rows)


def test_an_xlsx_part_holding_a_nul_byte_is_refused():
    data = crafted_xlsx('<row r="1"><c r="A1" t="inlineStr"><is><t>E-\x00</t></is></c></row>')

    with pytest.raises(FileRejected, match="not a readable Excel"):
        list(read_sheet(data, "statement.xlsx").rows)


def test_streamed_cells_without_references_keep_their_columns_through_both_readers():
    """The writer leaves out each cell's r="B2" (a reader takes the next column): an empty cell in
    the middle must still hold its place, and subclasses of the written types keep their kind."""
    from django.db.models import TextChoices
    from django.utils.translation import gettext_lazy

    class Kind(TextChoices):
        SALE = "sale", "Sale"

    header = ["a", gettext_lazy("Amount"), "c", "d", "e", "f", "g"]
    row = [Kind.SALE, Decimal("-6.50"), None, "", "=1+1", float("nan"), "tail & <end>\r"]
    data = b"".join(xlsx_stream("Cells", header, [row]))

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert list(book.active.iter_rows(min_row=1, max_row=2, values_only=True)) == [
        ("a", "Amount", "c", "d", "e", "f", "g"),
        ("sale", -6.5, None, None, "'=1+1", "nan", "tail & <end>\r"),
    ]
    ours = read(data)
    assert ours[1] == ["sale", Decimal("-6.5"), None, None, "'=1+1", "nan", "tail & <end>\r"]


def _mixed_rows() -> tuple[str, list]:
    """Forty rows in the fast shape, with a few in other shapes among them: a formula, a row whose
    r is not its first attribute, a prefixed row, rich text."""
    xml, expected = [], []
    for n in range(1, 41):
        cells = f'<c><v>{n}</v></c><c t="inlineStr"><is><t>E-{n} &amp; co</t></is></c>'
        values = [Decimal(n), f"E-{n} & co"]
        if n % 13 == 0:
            cells += f'<c r="D{n}"><f>A{n}*2</f><v>{2 * n}</v></c>'
            values += [None, Decimal(2 * n)]
        if n == 35:
            cells += '<c t="inlineStr"><is><r><rPr><color rgb="FFFF0000"/></rPr><t>red</t></r></is></c>'
            values.append("red")
        row = f'<row r="{n}">{cells}</row>'
        if n == 20:
            row = f'<row spans="1:2" r="{n}">{cells}</row>'
        if n == 30:
            row = f'<x:row r="{n}"><x:c><x:v>{n}</x:v></x:c></x:row>'
            values = [Decimal(n)]
        xml.append(row)
        expected.append((n, values))
    return "".join(xml), expected


@pytest.mark.parametrize("chunk_bytes", [1, 200, 4 * 1024 * 1024])
def test_rows_read_the_same_whatever_stretch_of_the_sheet_is_matched_at_once(monkeypatch, chunk_bytes):
    """A stretch holding another shape than the fast one is read row by row: its rows must come out
    whole, none dropped or run into the one before."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk_bytes)
    xml, expected = _mixed_rows()

    assert list(read_sheet(crafted_xlsx(xml), "x.xlsx").rows) == expected


def test_a_sheet_that_is_not_utf8_is_refused():
    sheet = b'<worksheet><sheetData><row r="1"><c t="inlineStr"><is><t>E-\xff</t></is></c></row></sheetData></worksheet>'
    data = crafted_xlsx("", sheet=sheet)

    with pytest.raises(FileRejected, match="not a readable Excel"):
        list(read_sheet(data, "statement.xlsx").rows)
