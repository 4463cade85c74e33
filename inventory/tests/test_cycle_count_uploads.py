"""Count sheets uploaded on the desk are stored by the request and read by a worker through the
guarded reader: a zip bomb is refused on the upload's page without being unpacked, a GBK CSV is
read, and the request itself never parses."""

import time
import tracemalloc
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from core.models import StoredFile
from core.sheets import reader as sheet_reader
from core.tests.sheet_files import SHEET_HEAD, SHEET_TAIL, crafted_xlsx, workbook, zip_bomb
from inventory.cycle_counts import cycle_count_upload_read, cycle_count_uploads_sweep, sheet
from inventory.models import CycleCount, CycleCountLine, CycleCountUpload, CycleCountUploadState
from orders.tests.factories import WarehouseFactory, ensure_master_data

pytestmark = pytest.mark.django_db

UPLOAD = "inventory:cyclecount-upload"
HEADER = ["sku", "lot", "pool", "counted_quantity"]


@pytest.fixture
def warehouse():
    ensure_master_data()  # SKU-1..3 with 1000 each in WH-HZ
    return WarehouseFactory()


def post(client, content: bytes, name: str):
    return client.post(reverse(UPLOAD), {"warehouse": "WH-HZ", "file": SimpleUploadedFile(name, content)})


def test_the_request_stores_the_sheet_and_the_worker_reads_it(
    client, warehouse, warehouse_user, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    with mock.patch.object(sheet, "read_rows", wraps=sheet.read_rows) as reads:
        with django_capture_on_commit_callbacks() as queued:
            response = post(client, workbook(HEADER, [["SKU-1", None, None, 990]]), "may.xlsx")

        upload = CycleCountUpload.objects.get()
        assert response.status_code == 302 and response.url == upload.get_absolute_url()
        assert reads.call_count == 0  # the request did not parse the sheet
        assert upload.state == CycleCountUploadState.QUEUED and not CycleCount.objects.exists()
        waiting = client.get(upload.get_absolute_url()).content.decode()
        assert 'http-equiv="refresh"' in waiting and "being read" in waiting

        for task in queued:  # the worker's turn
            task()

    assert reads.call_count == 1
    upload.refresh_from_db()
    assert upload.state == CycleCountUploadState.READ and not upload.file  # the stored file is gone
    count = upload.cycle_count
    assert [(line.sku.code, line.difference) for line in count.lines.select_related("sku")] == [
        ("SKU-1", -10)
    ]
    page = client.get(upload.get_absolute_url(), follow=True)
    assert page.redirect_chain[-1][0] == count.get_absolute_url()


def test_a_zip_bomb_is_refused_on_the_upload_page_without_being_unpacked(
    client, warehouse, warehouse_user, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    bomb = zip_bomb(256)  # ~270 KB, its sheet unpacks to 256 MB
    with django_capture_on_commit_callbacks() as queued:
        response = post(client, bomb, "count.xlsx")
    assert response.status_code == 302

    tracemalloc.start()
    started = time.perf_counter()
    with mock.patch.object(sheet_reader, "_calamine_rows", side_effect=AssertionError("unpacked")):
        for task in queued:
            task()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert elapsed < 2 and peak < 16 * 1024 * 1024
    upload = CycleCountUpload.objects.get()
    assert upload.state == CycleCountUploadState.REFUSED and "too large" in upload.message
    assert not CycleCount.objects.exists() and not CycleCountLine.objects.exists()
    page = client.get(response.url)
    assert page.status_code == 200 and "too large" in page.content.decode()


def test_a_gbk_csv_is_read(client, warehouse, warehouse_user, django_capture_on_commit_callbacks):
    client.force_login(warehouse_user)
    content = "sku,counted_quantity,备注\r\nSKU-1,7,货架 A3 盘点\r\nSKU-2,1000,\r\n".encode("gbk")

    with django_capture_on_commit_callbacks(execute=True):
        post(client, content, "盘点.csv")

    upload = CycleCountUpload.objects.get()
    assert upload.state == CycleCountUploadState.READ, upload.message
    assert upload.file_name == "盘点.csv"
    assert [(line.row_number, line.difference) for line in upload.cycle_count.lines.all()] == [
        (2, -993),
        (3, 0),
    ]


def test_a_cell_holding_a_nul_character_refuses_the_sheet_naming_the_cell(
    client, warehouse, warehouse_user, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    rows = [
        b'<row r="1">' + _text_cell("A1", b"sku") + _text_cell("B1", b"counted_quantity") + b"</row>",
        b'<row r="2">' + _text_cell("A2", b"SKU-1") + b'<c r="B2"><v>5</v></c></row>',
        b'<row r="3">' + _text_cell("A3", b"SKU-2_x0000_") + b'<c r="B3"><v>5</v></c></row>',  # a NUL
    ]

    with django_capture_on_commit_callbacks(execute=True):
        post(client, crafted_xlsx([SHEET_HEAD, *rows, SHEET_TAIL]), "count.xlsx")

    upload = CycleCountUpload.objects.get()
    assert upload.state == CycleCountUploadState.REFUSED and not upload.file
    assert "Row 3, column A holds a NUL character" in upload.message
    assert not CycleCount.objects.exists() and not StoredFile.objects.exists()


def _text_cell(reference: str, text: bytes) -> bytes:
    return b'<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (reference.encode(), text)


def test_a_refusal_the_database_cannot_store_still_refuses_the_sheet(
    client, warehouse, warehouse_user, django_capture_on_commit_callbacks, nul_refused_as_on_postgres
):
    # a reader that let a NUL through: the row errors quote it, and PostgreSQL stores no NUL
    nul_refused_as_on_postgres(CycleCountUpload)
    client.force_login(warehouse_user)
    with (
        mock.patch.object(sheet, "read_rows", return_value=[["sku", "counted_quantity"], ["SKU-\x00", 5]]),
        django_capture_on_commit_callbacks(execute=True),
    ):
        post(client, b"sku,counted_quantity\r\nSKU-1,5\r\n", "count.csv")

    upload = CycleCountUpload.objects.get()
    assert upload.state == CycleCountUploadState.REFUSED and upload.finished_at and not upload.file
    assert upload.message == "The database refused to store this sheet's rows; nothing was stored."
    assert upload.errors == [] and upload.cycle_count is None
    assert not CycleCount.objects.exists() and not StoredFile.objects.exists()


def test_a_file_that_is_not_a_sheet_is_refused_in_the_request_without_storing_it(
    client, warehouse, warehouse_user
):
    client.force_login(warehouse_user)

    response = post(client, b"%PDF-1.7 not a sheet", "count.xlsx")

    assert response.status_code == 200 and "not an Excel .xlsx workbook" in response.content.decode()
    assert not CycleCountUpload.objects.exists()


def test_a_second_delivery_reads_nothing_again(warehouse, warehouse_user, django_capture_on_commit_callbacks):
    from inventory.cycle_counts import cycle_count_upload_queue

    with django_capture_on_commit_callbacks(execute=True):
        upload = cycle_count_upload_queue(
            warehouse=warehouse,
            file_bytes=workbook(HEADER, [["SKU-2", None, None, 1]]),
            file_name="x.xlsx",
            actor=warehouse_user,
        )

    assert cycle_count_upload_read(upload_id=upload.pk).state == CycleCountUploadState.READ
    assert CycleCount.objects.count() == 1


def test_a_sheet_whose_task_was_lost_is_handed_to_a_worker_again(
    warehouse, warehouse_user, django_capture_on_commit_callbacks
):
    from inventory.cycle_counts import cycle_count_upload_queue

    with django_capture_on_commit_callbacks():  # the publish after commit never happens
        upload = cycle_count_upload_queue(
            warehouse=warehouse,
            file_bytes=workbook(HEADER, [["SKU-3", None, None, 999]]),
            file_name="lost.xlsx",
            actor=warehouse_user,
        )
    assert cycle_count_uploads_sweep().handed_over == []  # still within the grace period

    later = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        swept = cycle_count_uploads_sweep(now=later)

    assert swept.handed_over == [upload.pk]
    upload.refresh_from_db()
    assert upload.state == CycleCountUploadState.READ and upload.cycle_count.lines.get().difference == -1


def test_a_sheet_no_worker_starts_waits_and_one_whose_reading_dies_each_time_is_refused(
    settings, warehouse, warehouse_user, django_capture_on_commit_callbacks, monkeypatch
):
    from inventory.cycle_counts import cycle_count_upload_queue, uploads

    settings.HANDOFF_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks():  # the publish after commit never happens
        upload = cycle_count_upload_queue(
            warehouse=warehouse,
            file_bytes=workbook(HEADER, [["SKU-3", None, None, 999]]),
            file_name="lost.xlsx",
            actor=warehouse_user,
        )

    # no worker takes the imports queue for hours: the sheet is handed over, never refused
    now = timezone.now() + timedelta(minutes=5)
    for _ in range(8):
        with django_capture_on_commit_callbacks():
            assert cycle_count_uploads_sweep(now=now).handed_over == [upload.pk]
        upload.refresh_from_db()
        now = upload.next_handoff_at
    assert (upload.state, upload.attempts, upload.handoffs) == (CycleCountUploadState.QUEUED, 0, 8)

    # then reading it kills its worker each time it starts
    def worker_dies(upload):
        raise SystemExit

    monkeypatch.setattr(uploads, "_read", worker_dies)
    for started in (1, 2):
        with django_capture_on_commit_callbacks() as published:
            assert cycle_count_uploads_sweep(now=now).handed_over == [upload.pk]
        with pytest.raises(SystemExit):
            published[0]()
        upload.refresh_from_db()
        assert (upload.state, upload.attempts) == (CycleCountUploadState.QUEUED, started)
        now = upload.next_handoff_at

    assert cycle_count_uploads_sweep(now=now).given_up == [upload.pk]
    upload.refresh_from_db()
    assert upload.state == CycleCountUploadState.REFUSED and not CycleCount.objects.exists()
    assert upload.message == (
        "Reading this sheet started 2 times and never finished; nothing was stored. Upload it again."
    )
