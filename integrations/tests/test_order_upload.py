import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from integrations.order_upload import COLUMNS
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
        "shipping_fee": "8.00",
        "order_discount": "",
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


def upload(client, file):
    response = client.post(UPLOAD, {"file": file})
    assert response.status_code == 200
    return response


def uploaded_orders():
    return Order.objects.filter(channel__code="shop-cn", external_id__startswith="UP-")


def test_preview_groups_lines_into_orders_then_confirm_imports_once(client, agent):
    client.force_login(agent)
    rows = [line("UP-1"), line("UP-1", sku="SKU-2", quantity=1), line("UP-2", paid="no")]

    response = upload(client, as_xlsx(rows))

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
    again = upload(client, as_csv(rows)).context["preview"]
    assert all(order.exists for order in again.orders) and again.new_orders == 0


def test_errors_name_rows_and_fields_and_nothing_is_imported(client, agent):
    client.force_login(agent)
    rows = [
        line("UP-1"),
        line("UP-1", sku="NO-SUCH-SKU"),
        line("UP-2", quantity="0", customer_name='=HYPERLINK("http://evil")'),
        line("UP-3", country="China", paid="maybe"),
        line(""),
    ]

    response = upload(client, as_csv(rows))

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


def test_error_file_is_an_xlsx_with_the_rows_an_errors_column_and_no_formulas(client, agent):
    client.force_login(agent)
    rows = [line("UP-1", quantity="0", customer_name='=HYPERLINK("http://evil")')]
    token = upload(client, as_csv(rows)).context["token"]

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
