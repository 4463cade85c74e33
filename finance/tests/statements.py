"""Helpers for statement tests: build CSV / XLSX files and push them through the real import
services (upload → checked by the task → confirm → inserted by the task)."""

import csv
import io

import openpyxl
from django.core.files.uploadedfile import SimpleUploadedFile

from finance.imports.models import ImportBatch
from finance.imports.services import import_confirm, import_upload

BANK = "builtin:bank"
ALIPAY = "builtin:alipay-account"
POS = "builtin:pos"
BANK_HEADER = ["date", "amount", "currency", "counterparty", "memo", "bank reference"]


def csv_bytes(rows, encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows, *, merge: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(capture, data: bytes, name: str, layout=BANK, actor=None) -> ImportBatch:
    """Upload and let the check task run (on commit, eager in tests)."""
    with capture(execute=True):
        batch = import_upload(file=SimpleUploadedFile(name, data), layout_key=layout, actor=actor)
    batch.refresh_from_db()
    return batch


def confirm(capture, batch: ImportBatch, actor=None) -> ImportBatch:
    with capture(execute=True):
        import_confirm(batch_id=batch.pk, actor=actor)
    batch.refresh_from_db()
    return batch


def import_file(capture, data: bytes, name: str, layout=BANK, actor=None) -> ImportBatch:
    batch = upload(capture, data, name, layout, actor)
    assert batch.state == "valid", (batch.message, batch.errors[:5])
    return confirm(capture, batch, actor)
