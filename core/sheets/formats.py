"""django-import-export formats for every admin import and export (settings.IMPORT_EXPORT_FORMATS).

Exports: every text cell a spreadsheet would run as a formula (= + - @, a leading tab or CR) is
kept as text with a leading quote, in CSV and XLSX alike; plain numbers pass unchanged. Imports:
the file is read by the guarded reader (core.sheets), so a zip bomb or an oversized sheet is
refused before it is unpacked, and a CSV may be UTF-8 (with or without BOM), UTF-16 or GBK.
The settings module imports this file: it must not need the app registry.
"""

import tablib
from import_export.formats import base_formats

from core.sheets.reader import read_rows
from core.spreadsheets import spreadsheet_safe


def _neutralised(dataset: tablib.Dataset) -> tablib.Dataset:
    safe = tablib.Dataset(headers=[spreadsheet_safe(header) for header in dataset.headers or []])
    for row in dataset:
        safe.append([spreadsheet_safe(value) for value in row])
    return safe


def _dataset(rows: list[list]) -> tablib.Dataset:
    rows = rows or [[]]
    width = max(len(row) for row in rows)
    dataset = tablib.Dataset(headers=[*rows[0], *[None] * (width - len(rows[0]))])
    for row in rows[1:]:
        dataset.append([*row, *[None] * (width - len(row))])
    return dataset


class SafeCSV(base_formats.CSV):
    """Bytes both ways: imports decode the upload themselves (UTF-8, UTF-16, GBK), exports are
    UTF-8 with a BOM so that Excel shows Chinese text correctly."""

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        return _dataset(read_rows(_as_bytes(in_stream), "import.csv"))

    def export_data(self, dataset, **kwargs):
        return _neutralised(dataset).export("csv", **kwargs).encode("utf-8-sig")


class SafeXLSX(base_formats.XLSX):
    def create_dataset(self, in_stream):
        return _dataset(read_rows(_as_bytes(in_stream), "import.xlsx"))

    def export_data(self, dataset, **kwargs):
        return super().export_data(_neutralised(dataset), **kwargs)


def _as_bytes(in_stream) -> bytes:
    return in_stream.encode("utf-8") if isinstance(in_stream, str) else bytes(in_stream)
