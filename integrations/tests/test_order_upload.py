import csv
import io
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.models import StoredFile
from core.roles import Role
from core.sheets import reader as sheet_reader
from core.tests.deadlocks import deadlocking_once
from core.tests.sheet_files import zip_bomb
from integrations import order_upload
from integrations.models import OrderUpload, OrderUploadState
from integrations.order_upload import COLUMNS
from integrations.uploads import order_uploads_sweep
from orders.models import Order
from orders.tests.factories import ensure_master_data

pytestmark = pytest.mark.django_db

UPLOAD = "/integrations/desk/upload/"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    ensure_master_data()
    return tmp_path


def line(external_id: str, sku: str = "SKU-1", **changes) -> dict:
    row = {
        "channel": "shop-cn",
        "external_id": external_id,
        "placed_at": (timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"),
        "currency": "CNY",
        "customer_name": "王芳",
        "customer_phone": "13800000001",
        "customer_email": "fang@example.com",
        "country": "CN",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路 90 号",
        "postcode": "310000",
        "sku": sku,
        "quantity": "2",
        "unit_price": "59.90",
        "line_discount": "",
        "line_tax": "",
        "shipping_fee": "8.00",
        "order_discount": "",
        "tax_included": "",
        "paid_amount": "",
        "paid": "yes",
        "note": "",
    }
    row.update(changes)
    return row


def as_csv(rows: list[dict]) -> SimpleUploadedFile:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile("orders.csv", buffer.getvalue().encode("utf-8"), content_type="text/csv")


def as_xlsx(rows: list[dict]) -> SimpleUploadedFile:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row[column] for column in COLUMNS])
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile("orders.xlsx", buffer.getvalue())


@pytest.fixture
def upload(client, django_capture_on_commit_callbacks):
    """Post a file; the worker reads it once the request commits (tasks run in-process in
    tests); then the upload's page the request redirected to."""

    def post(file):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(UPLOAD, {"file": file})
        assert response.status_code == 302
        response = client.get(response.url)
        assert response.status_code == 200
        return response

    return post


def uploaded_orders():
    return Order.objects.filter(channel__code="shop-cn", external_id__startswith="UP-")


def test_preview_groups_lines_into_orders_then_confirm_imports_once(client, agent, upload):
    client.force_login(agent)
    rows = [line("UP-1"), line("UP-1", sku="SKU-2", quantity=1), line("UP-2", paid="no")]

    response = upload(as_xlsx(rows))

    preview = response.context["preview"]
    assert preview.is_valid and not preview.errors
    assert [(o.external_id, o.rows, o.line_count) for o in preview.orders] == [
        ("UP-1", (2, 3), 2),
        ("UP-2", (4,), 1),
    ]
    assert not uploaded_orders().exists()  # a preview writes nothing
    confirm = f"{UPLOAD}{response.context['token']}/confirm/"

    client.post(confirm)
    client.post(confirm)  # a second confirm (double click, back button) adds nothing

    orders = {order.external_id: order for order in uploaded_orders()}
    assert set(orders) == {"UP-1", "UP-2"}
    assert orders["UP-1"].lines.count() == 2 and orders["UP-1"].paid_at is not None
    assert orders["UP-2"].paid_at is None
    again = upload(as_csv(rows)).context["preview"]
    assert all(order.exists for order in again.orders) and again.new_orders == 0


@pytest.mark.django_db(transaction=True)  # the confirm's transaction is the outermost one
def test_a_confirm_that_deadlocked_runs_again_and_imports_once(client, agent, upload, monkeypatch):
    client.force_login(agent)
    response = upload(as_csv([line("UP-D1"), line("UP-D2")]))
    stand_in, calls = deadlocking_once(order_upload.order_ingest_batch)
    monkeypatch.setattr(order_upload, "order_ingest_batch", stand_in)

    client.post(f"{UPLOAD}{response.context['token']}/confirm/")

    assert calls == [2, 2]
    assert sorted(uploaded_orders().values_list("external_id", flat=True)) == ["UP-D1", "UP-D2"]
    assert OrderUpload.objects.get().state == OrderUploadState.IMPORTED


def test_tax_and_the_paid_amount_come_from_their_columns(client, agent, upload):
    client.force_login(agent)
    taxed = {"line_tax": "15.57", "tax_included": "no"}
    rows = [
        line("UP-T1", paid_amount="143.37", **taxed),  # 2 × 59.90 + 15.57 tax + 8.00 shipping
        line("UP-T2", paid_amount="143.38", **taxed),  # a cent more than the lines give
        line("UP-T3", tax_included="maybe"),
    ]

    response = upload(as_csv(rows))
    preview = response.context["preview"]
    assert [(e.rows, e.field) for e in preview.errors] == [((4,), "tax_included")]
    assert [o.total for o in preview.orders[:2]] == [Decimal("143.37"), Decimal("143.37")]

    client.post(f"{UPLOAD}{response.context['token']}/confirm/")  # refused: nothing imported
    assert not uploaded_orders().exists()
    response = upload(as_csv(rows[:2]))
    client.post(f"{UPLOAD}{response.context['token']}/confirm/")
    orders = {order.external_id: order for order in uploaded_orders()}
    assert (orders["UP-T1"].tax_amount, orders["UP-T1"].total) == (Decimal("15.57"), Decimal("143.37"))
    assert orders["UP-T1"].status == "paid"
    assert orders["UP-T2"].status == "on_hold" and "143.38" in orders["UP-T2"].hold_reason


def test_errors_name_rows_and_fields_and_nothing_is_imported(client, agent, upload):
    client.force_login(agent)
    rows = [
        line("UP-1"),
        line("UP-1", sku="NO-SUCH-SKU"),
        line("UP-2", quantity="0", customer_name='=HYPERLINK("http://evil")'),
        line("UP-3", country="China", paid="maybe"),
        line(""),
    ]

    response = upload(as_csv(rows))

    preview = response.context["preview"]
    found = {(error.rows, error.field) for error in preview.errors}
    assert ((3,), "sku") in found  # the bad line only
    assert ((4,), "quantity") in found
    assert ((5,), "country") in found and ((5,), "paid") in found
    assert ((6,), "external_id") in found
    html = response.content.decode()
    assert "Confirm" not in html and "error file" in html

    # confirming anyway imports nothing
    response = client.post(f"{UPLOAD}{response.context['token']}/confirm/")
    assert "nothing was imported" in response.content.decode()
    assert not uploaded_orders().exists()


def test_error_file_is_an_xlsx_with_the_rows_an_errors_column_and_no_formulas(client, agent, upload):
    client.force_login(agent)
    rows = [line("UP-1", quantity="0", customer_name='=HYPERLINK("http://evil")')]
    token = upload(as_csv(rows)).context["token"]

    response = client.get(f"{UPLOAD}{token}/errors.xlsx")

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    assert header == [*COLUMNS, "errors"]
    data = dict(zip(header, sheet[2], strict=True))
    assert data["customer_name"].value == '\'=HYPERLINK("http://evil")'
    assert data["customer_name"].data_type == "s"
    assert "quantity" in data["errors"].value


def test_tokens_are_only_files_this_session_uploaded(client, agent, media):
    client.force_login(agent)
    (media / "secret.csv").write_text("x")

    for token in ("../secret.csv", "0" * 32 + ".csv"):
        response = client.post(f"{UPLOAD}{token}/confirm/")
        assert response.status_code in (302, 404)
    assert not uploaded_orders().exists()


def test_template_and_permissions(client, agent, warehouse_user):
    client.force_login(warehouse_user)
    assert client.get(UPLOAD).status_code == 403

    client.force_login(agent)
    response = client.get(f"{UPLOAD}template.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[1]] == list(COLUMNS)


def test_a_file_that_is_not_a_spreadsheet_is_refused(client, agent):
    client.force_login(agent)

    response = client.post(UPLOAD, {"file": SimpleUploadedFile("orders.xlsx", b"not a zip")})

    assert "could not be read" in response.content.decode()


# --- the worker reads the file, through the guarded reader ------------------------------------


def test_the_request_stores_the_file_and_the_worker_reads_it(
    client, agent, django_capture_on_commit_callbacks
):
    client.force_login(agent)
    with mock.patch.object(order_upload, "read_rows", wraps=order_upload.read_rows) as reads:
        with django_capture_on_commit_callbacks() as queued:
            response = client.post(UPLOAD, {"file": as_xlsx([line("UP-1")])})

        assert response.status_code == 302 and reads.call_count == 0  # the request did not parse
        stored = OrderUpload.objects.get()
        assert stored.state == OrderUploadState.QUEUED and stored.file
        waiting = client.get(response.url).content.decode()
        assert 'http-equiv="refresh"' in waiting and "being read" in waiting

        for task in queued:
            task()

    assert reads.call_count == 1
    stored.refresh_from_db()
    assert stored.state == OrderUploadState.READY and not stored.file  # rows kept, file gone
    assert client.get(response.url).context["preview"].is_valid


def test_a_zip_bomb_is_refused_on_the_upload_page_without_being_unpacked(
    client, agent, django_capture_on_commit_callbacks
):
    client.force_login(agent)
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(UPLOAD, {"file": SimpleUploadedFile("orders.xlsx", zip_bomb(256))})

    tracemalloc.start()
    started = time.perf_counter()
    with mock.patch.object(sheet_reader, "_calamine_rows", side_effect=AssertionError("unpacked")):
        for task in queued:
            task()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert elapsed < 2 and peak < 16 * 1024 * 1024
    page = client.get(response.url)
    assert page.status_code == 200 and "too large" in page.content.decode()
    assert OrderUpload.objects.get().state == OrderUploadState.REFUSED and not uploaded_orders().exists()


def test_a_nul_character_after_the_first_4_kib_refuses_the_file_naming_the_cell(client, agent, upload):
    client.force_login(agent)
    rows = [line(f"UP-{n}") for n in range(30)] + [line("UP-NUL", note="a\x00b")]  # row 32

    response = upload(as_csv(rows))

    stored = OrderUpload.objects.get()
    assert stored.state == OrderUploadState.REFUSED and not stored.rows and not stored.file
    assert "Row 32, column X holds a NUL character" in stored.message  # X: the note
    assert "Row 32, column X" in response.content.decode()
    assert not uploaded_orders().exists() and not StoredFile.objects.exists()


def test_rows_the_database_refuses_to_store_refuse_the_file_instead_of_leaving_it_queued(
    client, agent, upload, nul_refused_as_on_postgres
):
    # a reader that let a NUL through: PostgreSQL stores no NUL in the preview's JSON rows
    nul_refused_as_on_postgres(OrderUpload)
    client.force_login(agent)
    bad = line("UP-1", note="a\x00b")
    with mock.patch.object(
        order_upload, "read_rows", return_value=[list(COLUMNS), [bad[c] for c in COLUMNS]]
    ):
        response = upload(as_csv([line("UP-1")]))

    stored = OrderUpload.objects.get()
    assert stored.state == OrderUploadState.REFUSED and stored.read_at and not stored.file
    assert "database refused to store this file's rows" in stored.message
    assert stored.rows == [] and stored.headers == []  # nothing half-written
    assert "database refused" in response.content.decode()
    assert not uploaded_orders().exists() and not StoredFile.objects.exists()


def test_a_gbk_csv_is_read_and_imported(client, agent, upload):
    client.force_login(agent)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerow(line("UP-GBK", note="请尽快发货"))
    gbk = SimpleUploadedFile("订单.csv", buffer.getvalue().encode("gbk"), content_type="text/csv")

    response = upload(gbk)

    assert response.context["preview"].is_valid
    client.post(f"{UPLOAD}{response.context['token']}/confirm/")
    order = uploaded_orders().get()
    assert (order.customer_name, order.buyer_note) == ("王芳", "请尽快发货")


def test_an_upload_is_only_its_uploader_s(client, agent, make_user, upload):
    client.force_login(agent)
    token = upload(as_csv([line("UP-1")])).context["token"]

    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    for path in (f"{UPLOAD}{token}/", f"{UPLOAD}{token}/errors.xlsx"):
        assert client.get(path).status_code == 302
    client.post(f"{UPLOAD}{token}/confirm/")
    assert not uploaded_orders().exists()


def test_uploads_older_than_a_day_are_removed(client, agent, upload):
    client.force_login(agent)
    upload(as_csv([line("UP-1")]))

    order_uploads_sweep(now=timezone.now() + timedelta(hours=23))
    assert OrderUpload.objects.exists()
    order_uploads_sweep(now=timezone.now() + timedelta(hours=25))
    assert not OrderUpload.objects.exists()


def test_a_file_no_worker_starts_waits_and_one_whose_reading_dies_each_time_is_refused(
    settings, agent, django_capture_on_commit_callbacks, monkeypatch
):
    from integrations import uploads

    settings.HANDOFF_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks():  # the publish after commit never happens
        stored = uploads.order_upload_queue(
            file_bytes=as_csv([line("UP-1")]).read(), file_name="orders.csv", actor=agent
        )

    # no worker takes the imports queue for hours: the file is handed over, never refused
    now = timezone.now() + timedelta(minutes=5)
    for _ in range(8):
        with django_capture_on_commit_callbacks():
            assert order_uploads_sweep(now=now).handed_over == [stored.pk]
        stored.refresh_from_db()
        now = stored.next_handoff_at
    assert (stored.state, stored.attempts, stored.handoffs) == (OrderUploadState.QUEUED, 0, 8)

    # then reading it kills its worker each time it starts
    def worker_dies(upload):
        raise SystemExit

    monkeypatch.setattr(uploads, "_rows", worker_dies)
    for started in (1, 2):
        with django_capture_on_commit_callbacks() as published:
            assert order_uploads_sweep(now=now).handed_over == [stored.pk]
        with pytest.raises(SystemExit):
            published[0]()
        stored.refresh_from_db()
        assert (stored.state, stored.attempts) == (OrderUploadState.QUEUED, started)
        now = stored.next_handoff_at

    assert order_uploads_sweep(now=now).given_up == [stored.pk]
    stored.refresh_from_db()
    assert stored.state == OrderUploadState.REFUSED and not uploaded_orders().exists()
    assert stored.message == (
        "Reading this file started 2 times and never finished; nothing was imported. Upload it again."
    )
