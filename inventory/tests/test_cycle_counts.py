import io
from datetime import date

import openpyxl
import pytest
from django.urls import URLResolver, include, path, reverse

from config import urls as project_urls
from core.errors import NotPermitted, TransitionRefused
from core.roles import Role
from inventory.cycle_counts import (
    CycleCountFileError,
    cycle_count_approve,
    cycle_count_cancel,
    cycle_count_upload,
)
from inventory.desk import cycle_count_urls
from inventory.ledger import InsufficientStock, standard_pool
from inventory.models import (
    CycleCount,
    CycleCountLine,
    CycleCountState,
    MovementKind,
    StockBalance,
    StockMovement,
)
from inventory.reconciliation import find_drift
from orders.tests.factories import SKUFactory, WarehouseFactory, ensure_master_data, make_order, receive

# The desk mounts the count screens under the "inventory" namespace (inventory/desk/urls.py);
# mount them here too, so these tests do not depend on when config.urls starts including it.
try:
    from inventory.desk import urls as _inventory_desk_urls  # noqa: F401

    _inventory = path("stock/", include("inventory.desk.urls"))
except ImportError:
    _inventory = path("stock/counts/", include((cycle_count_urls.urlpatterns, "inventory")))
urlpatterns = [
    *(p for p in project_urls.urlpatterns if not (isinstance(p, URLResolver) and p.namespace == "inventory")),
    _inventory,
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

HEADER = ["sku", "lot", "pool", "counted_quantity"]
LOT_EXPIRY = date(2030, 1, 31)


def xlsx(rows, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def on_hand(code: str, *, lot: str | None = None, pool: str = "regular") -> int:
    balance = StockBalance.objects.filter(
        sku__code=code, warehouse__code="WH-HZ", pool__code=pool, lot__code=lot
    ).first()
    return balance.on_hand if balance else 0


@pytest.fixture
def stock():
    """SKU-1..3 with 1000 each, a lot-tracked SKU with 50 in lot L1 and 20 in the promotion pool."""
    ensure_master_data()
    receive(SKUFactory(code="LOT-1", lot_tracked=True), 50, lot_code="L1", expires_on=LOT_EXPIRY)

    receive(SKUFactory(code="SKU-1"), 20, pool=standard_pool("promotion"))
    SKUFactory(code="SKU-NEW")  # known, never received
    return WarehouseFactory()


def upload(warehouse, actor, rows, *, name="count.xlsx", header=HEADER):
    return cycle_count_upload(
        warehouse=warehouse,
        file_bytes=xlsx(rows, header),
        file_name=name,
        actor=actor,
        reference="CC-2026-05",
    )


GOOD_ROWS = [
    ["SKU-1", None, None, 990],  # 10 missing
    ["SKU-2", "", "regular", 1000],  # as expected
    ["SKU-1", None, "promotion", 23],  # 3 found in the promotion pool
    ["LOT-1", "L1", None, 45],
    ["SKU-NEW", None, None, 7],  # found on a shelf the system thought empty
    [None, None, None, None],  # a blank line between blocks is ignored
    ["SKU-3", None, None, 1000.0],  # Excel hands whole numbers over as floats sometimes
]


# --- upload ------------------------------------------------------------------------------------


def test_a_good_sheet_becomes_a_draft_with_system_quantities(stock, warehouse_user):
    count = upload(stock, warehouse_user, GOOD_ROWS)

    assert count.state == CycleCountState.DRAFT
    assert count.created_by == warehouse_user and count.source_file_name == "count.xlsx"
    lines = {
        (line.row_number, line.sku.code, line.pool.code, line.lot.code if line.lot else None): (
            line.system_quantity,
            line.counted_quantity,
            line.difference,
        )
        for line in count.lines.select_related("sku", "pool", "lot")
    }
    assert lines == {
        (2, "SKU-1", "regular", None): (1000, 990, -10),
        (3, "SKU-2", "regular", None): (1000, 1000, 0),
        (4, "SKU-1", "promotion", None): (20, 23, 3),
        (5, "LOT-1", "regular", "L1"): (50, 45, -5),
        (6, "SKU-NEW", "regular", None): (0, 7, 7),
        (8, "SKU-3", "regular", None): (1000, 1000, 0),
    }
    assert not StockMovement.objects.filter(kind=MovementKind.COUNT).exists()  # nothing posted yet


def test_a_csv_sheet_works_too(stock, warehouse_user):
    content = "\ufeffsku,counted_quantity\r\nSKU-1,999\r\nSKU-2,1000\r\n".encode()  # Excel's CSV: BOM
    count = cycle_count_upload(
        warehouse=stock, file_bytes=content, file_name="count.csv", actor=warehouse_user
    )

    assert [(line.row_number, line.difference) for line in count.lines.all()] == [(2, -1), (3, 0)]


def test_bad_rows_are_all_named_and_nothing_is_stored(stock, warehouse_user):
    rows = [
        ["SKU-1", None, None, 990],  # row 2: fine
        ["NOPE-9", None, None, 1],  # row 3: unknown SKU
        ["SKU-2", "L7", None, 5],  # row 4: lot on a SKU without lots
        ["LOT-1", None, None, 5],  # row 5: lot-tracked without a lot
        ["SKU-3", None, None, -2],  # row 6: negative
        ["SKU-3", None, "promotion", 2.5],  # row 7: not whole
        ["SKU-3", None, "offline", "lots"],  # row 8: not a number
        ["SKU-1", None, "regular", 991],  # row 9: the same position as row 2
        ["SKU-2", None, "nowhere", 1],  # row 10: unknown pool
        ["SKU-2", None, "live", None],  # row 11: no quantity
        ["LOT-1", "L404", None, 3],  # row 12: unknown lot
    ]
    with pytest.raises(CycleCountFileError) as refused:
        upload(stock, warehouse_user, rows)

    assert {(e.row_number, e.field) for e in refused.value.errors} == {
        (3, "sku"),
        (4, "lot"),
        (5, "lot"),
        (6, "counted_quantity"),
        (7, "counted_quantity"),
        (8, "counted_quantity"),
        (9, "sku"),
        (10, "pool"),
        (11, "counted_quantity"),
        (12, "lot"),
    }
    messages = {e.row_number: e.message for e in refused.value.errors}
    assert "NOPE-9" in messages[3] and "row 2" in messages[9] and "negative" in messages[6]
    assert not CycleCount.objects.exists() and not CycleCountLine.objects.exists()


def test_a_missing_column_is_named_on_the_header_row(stock, warehouse_user):
    with pytest.raises(CycleCountFileError) as refused:
        upload(stock, warehouse_user, [["SKU-1", 3]], header=["sku", "quantity"])

    assert refused.value.errors[0][:2] == (1, "counted_quantity")
    assert not CycleCount.objects.exists()


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"not a spreadsheet", "count.xlsx"), (b"", "count.csv"), (b"sku,counted_quantity\n", "count.pdf")],
)
def test_unreadable_or_empty_files_are_refused(stock, warehouse_user, content, name):
    with pytest.raises(CycleCountFileError):
        cycle_count_upload(warehouse=stock, file_bytes=content, file_name=name, actor=warehouse_user)
    assert not CycleCount.objects.exists()


# --- approval ----------------------------------------------------------------------------------


def test_approval_posts_the_differences_as_count_movements(stock, warehouse_user, manager):
    count = upload(stock, warehouse_user, GOOD_ROWS)

    cycle_count_approve(cycle_count=count, actor=manager)

    assert on_hand("SKU-1") == 990 and on_hand("SKU-1", pool="promotion") == 23
    assert on_hand("SKU-2") == 1000 and on_hand("SKU-3") == 1000
    assert on_hand("LOT-1", lot="L1") == 45 and on_hand("SKU-NEW") == 7
    movements = StockMovement.objects.filter(kind=MovementKind.COUNT)
    assert sorted(movements.values_list("on_hand_delta", flat=True)) == [
        -10,
        -5,
        3,
        7,
    ]  # zero rows post nothing
    assert set(movements.values_list("actor", flat=True)) == {manager.pk}
    assert find_drift() == []
    count.refresh_from_db()
    assert count.state == CycleCountState.APPROVED and count.approved_by == manager
    assert not count.lines.filter(balance__isnull=True).exclude(counted_quantity=0).exists()


def test_stock_moving_after_the_upload_is_kept(stock, warehouse_user, manager):
    count = upload(stock, warehouse_user, [["SKU-1", None, None, 990]])
    receive(SKUFactory(code="SKU-1"), 5)  # a receipt lands between the count and its approval

    cycle_count_approve(cycle_count=count, actor=manager)

    assert on_hand("SKU-1") == 995  # the count's −10 is posted against its snapshot
    assert find_drift() == []


def test_a_count_below_what_is_reserved_is_refused_whole(stock, warehouse_user, manager):
    make_order(paid=True)  # reserves 2 × SKU-1 and 1 × SKU-2 in WH-HZ
    count = upload(stock, warehouse_user, [["SKU-3", None, None, 990], ["SKU-1", None, None, 1]])

    with pytest.raises(InsufficientStock) as refused:
        cycle_count_approve(cycle_count=count, actor=manager)

    assert "SKU-1" in refused.value.message and "nothing was posted" in refused.value.message
    assert not StockMovement.objects.filter(kind=MovementKind.COUNT).exists()
    assert on_hand("SKU-3") == 1000 and on_hand("SKU-1") == 1000
    count.refresh_from_db()
    assert count.state == CycleCountState.DRAFT
    assert find_drift() == []


# --- permissions and states --------------------------------------------------------------------


def test_who_may_upload_approve_and_cancel(stock, make_user, warehouse_user, manager):
    agent = make_user(Role.CUSTOMER_SERVICE)
    with pytest.raises(NotPermitted):
        upload(stock, agent, GOOD_ROWS)

    count = upload(stock, warehouse_user, GOOD_ROWS)
    with pytest.raises(NotPermitted):
        cycle_count_approve(cycle_count=count, actor=warehouse_user)
    with pytest.raises(NotPermitted):
        cycle_count_cancel(cycle_count=count, actor=make_user(Role.WAREHOUSE))  # not theirs
    assert not StockMovement.objects.filter(kind=MovementKind.COUNT).exists()

    cycle_count_cancel(cycle_count=count, actor=warehouse_user)  # the uploader withdraws it
    with pytest.raises(TransitionRefused):
        cycle_count_approve(cycle_count=count, actor=manager)
    count.refresh_from_db()
    assert count.state == CycleCountState.CANCELLED and count.cancelled_by == warehouse_user


def test_a_count_is_approved_once(stock, warehouse_user, manager):
    count = upload(stock, warehouse_user, GOOD_ROWS)
    cycle_count_approve(cycle_count=count, actor=manager)

    with pytest.raises(TransitionRefused):
        cycle_count_approve(cycle_count=count, actor=manager)
    with pytest.raises(TransitionRefused):
        cycle_count_cancel(cycle_count=count, actor=manager)
    assert StockMovement.objects.filter(kind=MovementKind.COUNT).count() == 4


# --- desk --------------------------------------------------------------------------------------


def desk_upload(client, capture, form: dict):
    """Post the upload form; the worker's task runs once the request's transaction commits
    (tasks run in-process in tests), then the upload page it redirected to is followed."""
    with capture(execute=True):
        response = client.post(reverse("inventory:cyclecount-upload"), form)
    assert response.status_code == 302
    return client.get(response.url, follow=True)


def test_desk_upload_shows_each_bad_row(client, stock, warehouse_user, django_capture_on_commit_callbacks):
    client.force_login(warehouse_user)
    bad = xlsx([["SKU-1", None, None, 5], ["NOPE-9", None, None, 1], ["SKU-2", None, None, -1]])

    response = desk_upload(
        client, django_capture_on_commit_callbacks, {"warehouse": "WH-HZ", "file": _file(bad, "bad.xlsx")}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Rows to fix" in page and "NOPE-9" in page and "negative" in page
    assert (
        '<td class="num">3</td><td>sku</td>' in page
        and '<td class="num">4</td><td>counted_quantity</td>' in page
    )
    assert not CycleCount.objects.exists()


def test_desk_upload_review_and_approve(
    client, stock, warehouse_user, manager, django_capture_on_commit_callbacks
):
    client.force_login(warehouse_user)
    response = desk_upload(
        client,
        django_capture_on_commit_callbacks,
        {"warehouse": "WH-HZ", "file": _file(xlsx(GOOD_ROWS), "may.xlsx"), "reference": "May count"},
    )
    count = CycleCount.objects.get()
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == count.get_absolute_url()
    assert "May count" in page and "<mark><strong>-10</strong></mark>" in page and "+7" in page
    assert (
        "cyclecount-approve" not in page
        and reverse("inventory:cyclecount-approve", args=[count.pk]) not in page
    )
    assert client.post(reverse("inventory:cyclecount-approve", args=[count.pk])).status_code == 403

    client.force_login(manager)
    page = client.get(count.get_absolute_url()).content.decode()
    assert reverse("inventory:cyclecount-approve", args=[count.pk]) in page
    listing = client.get(reverse("inventory:cyclecount-list")).content.decode()
    assert "May count" in listing and "<mark>4</mark>" in listing

    response = client.post(reverse("inventory:cyclecount-approve", args=[count.pk]), follow=True)
    assert "approved" in response.content.decode()
    assert on_hand("SKU-1") == 990

    stale = client.post(reverse("inventory:cyclecount-approve", args=[count.pk]), follow=True)
    assert stale.status_code == 200 and "only a draft" in stale.content.decode()


def test_desk_refused_approval_is_a_message(client, stock, warehouse_user, manager):
    make_order(paid=True)
    count = upload(stock, warehouse_user, [["SKU-1", None, None, 0]])
    client.force_login(manager)

    response = client.post(reverse("inventory:cyclecount-approve", args=[count.pk]), follow=True)

    assert "SKU-1" in response.content.decode() and "nothing was posted" in response.content.decode()
    assert on_hand("SKU-1") == 1000


def test_desk_screens_need_the_permissions(client, make_user):
    client.force_login(make_user(Role.CUSTOMER_SERVICE))
    assert client.get(reverse("inventory:cyclecount-list")).status_code == 403
    assert client.get(reverse("inventory:cyclecount-upload")).status_code == 403
    client.logout()
    assert client.get(reverse("inventory:cyclecount-list")).status_code == 302  # to the login page


def test_template_download_is_an_empty_sheet_with_the_headers(client, warehouse_user):
    client.force_login(warehouse_user)

    response = client.get(reverse("inventory:cyclecount-template"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [cell.value for cell in sheet[1]] == HEADER and sheet.max_row == 1


def _file(content: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)
