"""Every admin export (django-import-export) keeps text that a spreadsheet would run as a formula
as text, in CSV and XLSX; every admin import reads through the guarded reader."""

import csv
import io
import tempfile

import openpyxl
import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import StoredFile
from core.roles import Role
from core.sheets import SheetRefused
from core.sheets.formats import SafeCSV, SafeXLSX
from core.tests.sheet_files import workbook, zip_bomb
from inventory.models import SKU, Warehouse
from orders.tests.factories import SKUFactory

pytestmark = pytest.mark.django_db

DANGEROUS = {
    "F-EQ": '=HYPERLINK("http://evil","x")',
    "F-PLUS": "+cmd|' /C calc'!A0",
    "F-MINUS": "-2+3+cmd|' /C calc'!A0",
    "F-AT": "@SUM(A1:A9)",
    "F-TAB": "\t=1+1",
    "F-CR": "\r=1+1",
}


@pytest.fixture
def admin_client(client, make_user):
    user = make_user(Role.ADMIN)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def export(admin_client, format_class) -> bytes:
    url = reverse("admin:inventory_sku_export")
    form = admin_client.get(url).context["form"]
    formats = [choice for choice, _label in form.fields["format"].choices]
    chosen = next(value for value, (_v, label) in zip(formats, form.fields["format"].choices, strict=True)
                  if label == format_class().get_title())  # fmt: skip
    data = {"format": chosen, "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if isinstance(field, forms.BooleanField)})
    response = admin_client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return response.content


def test_the_admin_offers_only_the_safe_formats(admin_client):
    form = admin_client.get(reverse("admin:inventory_sku_export")).context["form"]

    assert [label for _value, label in form.fields["format"].choices if _value != ""] == ["csv", "xlsx"]


def test_csv_export_neutralises_every_formula_prefix_and_keeps_numbers(admin_client):
    for code, name in DANGEROUS.items():
        SKUFactory(code=code, name=name)
    SKUFactory(code="PLAIN", name="-12.50")  # a plain number opens as a number: nothing to neutralise

    content = export(admin_client, SafeCSV)

    assert content.startswith("\ufeff".encode())  # Excel reads the UTF-8 (Chinese) correctly
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    names = {row["code"]: row["name"] for row in rows}
    for code, name in DANGEROUS.items():
        assert names[code] == "'" + name
    assert names["PLAIN"] == "-12.50"


def test_xlsx_export_neutralises_every_formula_prefix(admin_client):
    for code, name in DANGEROUS.items():
        SKUFactory(code=code, name=name)

    content = export(admin_client, SafeXLSX)

    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    header = [cell.value for cell in sheet[1]]
    names = {}
    for row in sheet.iter_rows(min_row=2):
        cells = dict(zip(header, row, strict=True))
        names[cells["code"].value] = cells["name"]
    for code, name in DANGEROUS.items():
        assert names[code].data_type == "s"  # text, not a formula
        assert names[code].value == "'" + name.replace("\r", "\n")  # XML reads a bare CR as LF


def test_admin_import_reads_gbk_csv_and_refuses_a_zip_bomb():
    rows = "code,name,unit\r\nGBK-1,红富士苹果,个\r\n".encode("gbk")
    dataset = SafeCSV().create_dataset(rows)
    assert dataset.headers == ["code", "name", "unit"] and dataset[0] == ("GBK-1", "红富士苹果", "个")

    assert SafeXLSX().create_dataset(workbook(["code"], [["X-1"]])).dict == [{"code": "X-1"}]
    with pytest.raises(SheetRefused):
        SafeXLSX().create_dataset(zip_bomb(256))
    assert not SKU.objects.filter(code="GBK-1").exists()


def test_an_admin_import_of_a_gbk_csv_works_and_a_zip_bomb_is_a_form_error(admin_client):
    url = reverse("admin:inventory_warehouse_import")
    form = admin_client.get(url).context["form"]
    csv_choice = next(value for value, label in form.fields["format"].choices if label == "csv")
    xlsx_choice = next(value for value, label in form.fields["format"].choices if label == "xlsx")
    rows = "code,name,kind,province,city\r\nWH-GZ,广州仓,own,广东省,广州市\r\n".encode("gbk")

    preview = admin_client.post(
        url,
        {"format": csv_choice, "resource": "0", "import_file": SimpleUploadedFile("wh.csv", rows)},
    )
    assert preview.status_code == 200 and "广州仓" in preview.content.decode()

    bomb = admin_client.post(
        url,
        {"format": xlsx_choice, "resource": "0", "import_file": SimpleUploadedFile("wh.xlsx", zip_bomb(256))},
    )
    assert bomb.status_code == 200 and "SheetRefused" in bomb.content.decode()


def test_an_admin_import_keeps_its_file_in_the_default_storage_from_preview_to_confirm(
    admin_client, monkeypatch, tmp_path
):
    # preview and confirm may reach two web machines: the file waits in the default storage
    # (the database here), not in the first machine's temporary directory
    url = reverse("admin:inventory_warehouse_import")
    form = admin_client.get(url).context["form"]
    csv_choice = next(value for value, label in form.fields["format"].choices if label == "csv")
    rows = "code,name,kind,province,city\r\nWH-SZ,深圳仓,own,广东省,深圳市\r\n".encode("gbk")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "first-machine"))
    (tmp_path / "first-machine").mkdir()
    preview = admin_client.post(
        url, {"format": csv_choice, "resource": "0", "import_file": SimpleUploadedFile("wh.csv", rows)}
    )
    confirm = preview.context["confirm_form"].initial
    kept = StoredFile.objects.get()
    assert kept.name == f"django-import-export/{confirm['import_file_name']}"
    assert not any((tmp_path / "first-machine").iterdir())

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "second-machine"))
    response = admin_client.post(reverse("admin:inventory_warehouse_process_import"), confirm)

    assert response.status_code == 302
    assert Warehouse.objects.get(code="WH-SZ").name == "深圳仓"
    assert not StoredFile.objects.exists()  # removed once confirmed
