"""Item mappings in the admin: exported to Excel, edited there and imported back through the
guarded reader (core.sheets) and the mapping service — a new row releases the orders waiting for
its item; a wrong row is refused naming its line and field, and nothing is imported."""

import io

import openpyxl
import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.roles import Role
from inventory.models import ItemMapping
from orders import intake
from orders.models import OrderStatus
from orders.tests.factories import (
    ChannelFactory,
    SKUFactory,
    canonical_payload,
    ensure_master_data,
    receive,
    validated,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    user = make_user(Role.ADMIN)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def shop(db):
    ensure_master_data()
    return ChannelFactory(code="tb-shop", platform="taobao")


def choice(form, label: str) -> str:
    return next(value for value, text in form.fields["format"].choices if text == label)


def export_xlsx(client) -> list[list]:
    url = reverse("admin:inventory_itemmapping_export")
    form = client.get(url).context["form"]
    data = {"format": choice(form, "xlsx"), "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if isinstance(field, forms.BooleanField)})
    response = client.post(url, data)
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [["" if cell.value is None else cell.value for cell in row] for row in sheet.iter_rows()]


def xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def preview(client, content: bytes):
    url = reverse("admin:inventory_itemmapping_import")
    form = client.get(url).context["form"]
    return client.post(
        url,
        {
            "format": choice(form, "xlsx"),
            "resource": "0",
            "import_file": SimpleUploadedFile("mappings.xlsx", content),
        },
    )


def test_mappings_round_trip_through_excel_and_an_import_releases_waiting_orders(admin_client, shop):
    mug, cup, bowl = SKUFactory(code="MUG-1"), SKUFactory(code="CUP-1"), SKUFactory(code="BOWL-1")
    receive(bowl, 5)
    ItemMapping.objects.create(
        channel=shop, platform_item_id="5001", platform_sku_id="7001", sku=mug, title="Mug"
    )
    ItemMapping.objects.create(channel=shop, seller_code="TB-CUP", sku=cup)
    waiting = intake.order_ingest(
        data=validated(
            canonical_payload(
                channel="tb-shop",
                discount="0.00",
                lines=[
                    {
                        "platform_item_id": "5002",
                        "platform_sku_id": "7002",
                        "quantity": 1,
                        "unit_price": "9.00",
                    }
                ],
            )
        )
    )[0]
    assert waiting.status == OrderStatus.ON_HOLD

    rows = export_xlsx(admin_client)
    header = rows[0]
    assert header[:6] == ["channel", "platform_item_id", "platform_sku_id", "seller_code", "title", "sku"]
    exported = {tuple(row[:6]) for row in rows[1:]}
    assert exported == {
        ("tb-shop", "5001", "7001", "", "Mug", "MUG-1"),
        ("tb-shop", "", "", "TB-CUP", "", "CUP-1"),
    }

    # edited in Excel: the seller code now means the bowl, and a new row (ids typed as numbers)
    edited = [header] + [row if row[3] != "TB-CUP" else [*row[:5], "BOWL-1", *row[6:]] for row in rows[1:]]
    edited.append(["tb-shop", 5002, 7002, None, "Small bowl", "BOWL-1"])
    response = preview(admin_client, xlsx(edited))
    result = response.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["skip", "update", "new"]
    assert waiting.lines.get().sku is None  # a preview writes nothing
    confirm = response.context["confirm_form"].initial
    done = admin_client.post(reverse("admin:inventory_itemmapping_process_import"), confirm)

    assert done.status_code == 302
    assert ItemMapping.objects.get(seller_code="TB-CUP").sku == bowl
    new = ItemMapping.objects.get(platform_item_id="5002")
    assert (new.platform_sku_id, new.sku, new.mapped_by.is_staff) == ("7002", bowl, True)
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.PENDING_PAYMENT and waiting.lines.get().sku == bowl

    # and exported again, the file is what was imported
    again = {tuple(row[:6]) for row in export_xlsx(admin_client)[1:]}
    assert again == {
        ("tb-shop", "5001", "7001", "", "Mug", "MUG-1"),
        ("tb-shop", "", "", "TB-CUP", "", "BOWL-1"),
        ("tb-shop", "5002", "7002", "", "Small bowl", "BOWL-1"),
    }


def test_a_wrong_row_is_refused_naming_its_line_and_field_and_nothing_is_imported(admin_client, shop):
    SKUFactory(code="MUG-1")
    SKUFactory(code="OLD-1", is_active=False)
    header = ["channel", "platform_item_id", "platform_sku_id", "seller_code", "title", "sku"]
    rows = [
        header,
        ["tb-shop", "5001", "7001", None, None, "MUG-1"],  # line 1: fine
        ["no-such-shop", "5002", None, None, None, "MUG-1"],  # line 2: unknown channel
        ["tb-shop", "5003", None, None, None, "NOPE-9"],  # line 3: unknown SKU
        ["tb-shop", None, None, None, None, "MUG-1"],  # line 4: names no item
        ["tb-shop", "5004", None, None, None, "OLD-1"],  # line 5: inactive SKU
    ]

    result = preview(admin_client, xlsx(rows)).context["result"]

    errors = {row.number: row.field_specific_errors for row in result.invalid_rows}
    assert set(errors) == {2, 3, 4, 5}
    assert "no-such-shop" in errors[2]["channel"][0]
    assert "NOPE-9" in errors[3]["sku"][0]
    assert "seller code" in errors[4]["platform_item_id"][0]
    assert "OLD-1" in errors[5]["sku"][0]
    assert "confirm_form" not in (preview(admin_client, xlsx(rows)).context or {})
    assert not ItemMapping.objects.exists()


def test_the_admin_form_adds_a_mapping_through_the_service(admin_client, shop):
    mug = SKUFactory(code="MUG-1")
    response = admin_client.post(
        reverse("admin:inventory_itemmapping_add"),
        {
            "channel": shop.pk,
            "platform_item_id": "5001",
            "platform_sku_id": "",
            "seller_code": "",
            "title": "",
            "sku": mug.pk,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    mapping = ItemMapping.objects.get()
    assert mapping.sku == mug and mapping.mapped_by is not None

    blank = admin_client.post(
        reverse("admin:inventory_itemmapping_add"),
        {"channel": shop.pk, "platform_item_id": "", "platform_sku_id": "", "seller_code": "", "sku": mug.pk},
    )
    assert blank.status_code == 200 and "seller code" in blank.content.decode()
