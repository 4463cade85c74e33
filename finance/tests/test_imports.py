import json
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.errors import DomainError, NotPermitted
from finance.imports import insertion, lookups, validation
from finance.imports import services as import_services
from finance.imports.models import ImportBatch, ImportLayout, StatementLine
from finance.imports.staging import StagedLine
from finance.periods import period_close
from finance.tests.statements import (
    ALIPAY,
    BANK,
    BANK_HEADER,
    confirm,
    csv_bytes,
    import_file,
    upload,
    xlsx_bytes,
)
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def lines():
    return list(StatementLine.objects.order_by("row_number"))


def staged_line(row_number, occurred_at):
    return StagedLine(
        row_number=row_number,
        entry_id=f"E-{row_number}",
        account="",
        kind="other",
        occurred_at=occurred_at,
        amount=Decimal("1.00"),
        currency="CNY",
        transaction_id="",
        order_ref="",
        counterparty="",
        memo="",
        description="",
        method="",
    )


def test_an_alipay_account_statement_imports_signed_utc_lines_matched_to_orders(capture, finance_user):
    order = make_order(external_id="3012345678901234567")
    data = (FIXTURES / "alipay_account_statement.csv").read_bytes()

    batch = upload(capture, data, "20881234567890120156_账务明细.csv", ALIPAY, finance_user)

    assert batch.state == "valid"
    assert (batch.line_count, batch.summary["header_row"]) == (5, 5)
    assert batch.summary["kinds"] == {"sale": 2, "fee": 1, "payout": 1, "refund": 1}
    assert StatementLine.objects.count() == 0  # a preview writes nothing

    batch = confirm(capture, batch, finance_user)

    assert (batch.state, batch.imported_count) == ("imported", 5)
    sale, fee, unknown, payout, refund = lines()
    assert sale.entry_id == "20260131200040011100040000000001"  # Alipay's trailing tab is gone
    assert sale.occurred_at == datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)  # Beijing time, stored in UTC
    assert [line.amount for line in lines()] == [
        Decimal("212.80"),
        Decimal("-3.20"),
        Decimal("99.00"),
        Decimal("-5000.00"),
        Decimal("-50.00"),
    ]
    assert (sale.order, sale.matched_by) == (order, "external_id")  # T200P<tid> is Tmall's order id
    assert (fee.order, refund.order) == (order, order)
    assert unknown.order is None and unknown.order_ref == "SO20990101999999"
    assert payout.kind == "payout" and payout.order is None
    assert refund.memo.startswith("=HYPERLINK")  # stored as given; exports neutralise it


def test_lines_at_23_59_59_and_00_00_business_time_fall_in_their_own_months(capture):
    rows = [
        BANK_HEADER,
        ["2026-01-31 23:59:59", "10.00", "CNY", "A", "late", "B-1"],
        ["2026-02-01 00:00:00", "20.00", "CNY", "B", "early", "B-2"],
        ["2026-02-01", "30.00", "CNY", "C", "date only", "B-3"],
        ["2026-01-31T15:59:59Z", "40.00", "CNY", "D", "utc given", "B-4"],
    ]

    import_file(capture, csv_bytes(rows), "bank.csv")

    months = [(line.period.year, line.period.month) for line in lines()]
    assert months == [(2026, 1), (2026, 2), (2026, 2), (2026, 1)]
    assert lines()[2].occurred_at == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)


def test_a_line_dated_in_a_closed_period_is_booked_in_the_next_open_one_with_a_note(capture, finance_user):
    period_close(year=2026, month=1, actor=finance_user)
    rows = [
        BANK_HEADER,
        ["2026-01-15 10:00:00", "10.00", "CNY", "A", "x", "C-1"],
        ["2026-02-02", "5", "CNY", "B", "y", "C-2"],
    ]

    batch = upload(capture, csv_bytes(rows), "bank.csv")
    assert batch.summary["closed_months"] == ["2026-01"]
    confirm(capture, batch)

    late, current = lines()
    assert (late.period.year, late.period.month) == (2026, 2)
    assert "closed period 2026-01" in late.period_note and "2026-01-15 10:00" in late.period_note
    assert current.period_note == ""


def test_booking_lines_in_a_closed_period_takes_the_same_queries_for_one_line_or_many(finance_user):
    period_close(year=2026, month=1, actor=finance_user)

    def book(count):
        lines = [staged_line(n, datetime(2026, 1, 10, n % 24, tzinfo=UTC)) for n in range(count)]
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            booked = insertion.book_periods(lines)
        return booked, len(queries)

    book(1)  # creates the next open period once
    _one, few_queries = book(1)
    many, many_queries = book(40)
    assert many_queries == few_queries
    assert len({booking.period_id for booking in many.values()}) == 1
    assert "closed period 2026-01" in many[13].note and "2026-01-10 21:00" in many[13].note


@pytest.mark.parametrize(
    "zone", ["Etc/GMT+12", "Pacific/Kiritimati", "Asia/Kathmandu", "Asia/Shanghai", "UTC"]
)
def test_lines_fall_in_the_months_of_their_business_time_zone_whatever_the_zone(monkeypatch, zone):
    """The grouping converts only the moments near a month's ends: it must agree with converting all."""
    monkeypatch.setattr(insertion, "business_zone", lambda: ZoneInfo(zone))
    start = datetime(2025, 12, 25, tzinfo=UTC)
    checked = [staged_line(n, start + timedelta(hours=7 * n, minutes=n)) for n in range(400)]
    checked.append(staged_line(400, datetime(2026, 3, 3, 1, tzinfo=ZoneInfo("Pacific/Kiritimati"))))

    grouped = insertion.lines_by_month(checked)

    local = [line.occurred_at.astimezone(ZoneInfo(zone)) for line in checked]
    assert {month: [line.row_number for line in group] for month, group in grouped.items()} == {
        month: [n for n, moment in enumerate(local) if (moment.year, moment.month) == month]
        for month in {(moment.year, moment.month) for moment in local}
    }


def test_bad_rows_reject_the_whole_file_naming_rows_and_columns(capture, finance_client):
    rows = [
        BANK_HEADER,
        ["2026-02-01", "12.50", "CNY", "ok", "fine", "D-1"],
        ["2026-02-01", "12,3x", "CNY", "bad", "not a number", "D-2"],
        ["2026-02-01", "1.234", "CNY", "bad", "three decimals", "D-3"],
        ["", "8.00", "CNY", "bad", "no date", "D-4"],
        ["2026-02-31", "8.00", "CNY", "bad", "no such day", "D-5"],
        ["2026-02-01", "8.00", "YUAN", "bad", "currency", "D-6"],
        ["2026-02-01", "9.00", "CNY", "dup", "again", "D-1"],
        ["2026-02-01", "8.00", "YUAN", "bad", "the same currency again", "D-7"],
    ]

    batch = upload(capture, csv_bytes(rows), "bank.csv")

    assert batch.state == "rejected" and StatementLine.objects.count() == 0
    found = {(e["row"], e["column"]) for e in batch.errors}
    assert found == {
        (3, "amount"),
        (4, "amount"),
        (5, "date"),
        (6, "date"),
        (7, "currency"),
        (8, "bank reference"),
        (9, "currency"),
    }
    assert [e["value"] for e in batch.errors if e["column"] == "currency"] == ["YUAN", "YUAN"]
    assert "first on row 2" in next(e["message"] for e in batch.errors if e["row"] == 8)
    with pytest.raises(DomainError):
        import_services.import_confirm(batch_id=batch.pk)

    report = finance_client.get(f"/finance/imports/{batch.pk}/errors/?format=csv")
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    assert "3,amount,12,3x" in text.replace('"', "") and "Not an amount." in text


def test_a_workbook_with_missing_columns_is_rejected_naming_them(capture):
    batch = upload(capture, xlsx_bytes([["date", "amount", "memo"], ["2026-02-01", 5, "x"]]), "bank.xlsx")

    assert batch.state == "rejected"
    assert "bank reference" in batch.message and "流水号" in batch.message


def test_merged_cells_in_the_data_are_row_errors(capture):
    rows = [BANK_HEADER, ["2026-02-01", 5, "CNY", "A", "x", "E-1"], ["2026-02-02", 6, "CNY", "B", "y", "E-2"]]

    batch = upload(capture, xlsx_bytes(rows, merge="D2:E3"), "bank.xlsx")

    assert batch.state == "rejected" and StatementLine.objects.count() == 0
    assert [(e["row"], e["column"]) for e in batch.errors] == [(2, "D2:E3")]
    assert "Merged cells D2:E3" in batch.errors[0]["message"]


def test_an_empty_sheet_is_rejected(capture):
    batch = upload(capture, xlsx_bytes([]), "bank.xlsx")

    assert (batch.state, batch.message) == ("rejected", "The sheet is empty.")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bank.xlsx", b"date,amount\n2026-02-01,5\n", "not an Excel .xlsx workbook"),
        ("bank.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "97–2003 (.xls)"),
        ("bank.csv", xlsx_bytes([BANK_HEADER]), "not a CSV file"),
        ("bank.csv", b"\x00\x01\x02PDF", "binary data"),
        ("bank.xlsx", b"PK\x03\x04broken zip", "not a readable Excel"),
    ],
)
def test_a_file_of_the_wrong_type_is_rejected_with_a_clear_message(capture, name, data, message):
    batch = upload(capture, data, name)

    assert batch.state == "rejected" and message in batch.message


def test_an_unsupported_extension_is_refused_at_upload(capture):
    with pytest.raises(DomainError, match=r"\.xlsx"):
        upload(capture, b"%PDF-1.7", "statement.pdf")
    assert not ImportBatch.objects.exists()


def test_excel_numbers_dates_formulas_and_error_cells(capture):
    rows = [
        BANK_HEADER,
        [datetime(2026, 2, 1, 9, 30), 12.3, "CNY", "A", "float noise is fine", "F-1"],
        [datetime(2026, 2, 1, 9, 31), "=1/0", "CNY", "B", "a formula without a value", "F-2"],
        [20260201, 5, "CNY", "C", "a number is not a date", "F-3"],
        [datetime(2026, 2, 1, 9, 32), "#DIV/0!", "CNY", "D", "an error cell", "F-4"],
    ]

    batch = upload(capture, xlsx_bytes(rows), "bank.xlsx")

    assert batch.state == "rejected" and StatementLine.objects.count() == 0
    errors = {(e["row"], e["column"]): e["message"] for e in batch.errors}
    assert set(errors) == {(3, "amount"), (4, "date"), (5, "amount")}
    assert errors[(5, "amount")] == "The cell holds an error (#DIV/0!)."


def test_excel_values_import_exactly(capture):
    rows = [BANK_HEADER, [datetime(2026, 2, 1, 9, 30), 12.3, "CNY", "A", "x", 123456789012]]

    import_file(capture, xlsx_bytes(rows), "bank.xlsx")

    (line,) = lines()
    assert (line.amount, line.entry_id) == (Decimal("12.30"), "123456789012")
    assert line.occurred_at == datetime(2026, 2, 1, 1, 30, tzinfo=UTC)


def test_reimporting_a_statement_skips_known_lines_and_refuses_changed_ones(capture):
    rows = [
        BANK_HEADER,
        ["2026-02-01", "10.00", "CNY", "A", "x", "G-1"],
        ["2026-02-01", "11.00", "CNY", "B", "y", "G-2"],
    ]
    import_file(capture, csv_bytes(rows), "bank.csv")

    again = upload(capture, csv_bytes([*rows, ["2026-02-02", "12.00", "CNY", "C", "z", "G-3"]]), "bank.csv")
    assert (again.state, again.line_count, again.duplicate_count) == ("valid", 1, 2)
    assert confirm(capture, again).imported_count == 1

    changed = upload(
        capture, csv_bytes([BANK_HEADER, ["2026-02-01", "99.00", "CNY", "A", "x", "G-1"]]), "bank.csv"
    )
    assert changed.state == "rejected"
    assert "imported before" in changed.errors[0]["message"] and "10.00 CNY" in changed.errors[0]["message"]
    assert StatementLine.objects.count() == 3


def test_a_custom_layout_maps_other_headers(capture):
    layout = ImportLayout.objects.create(
        name="Acme bank",
        source="bank",
        mapping={
            "Txn": "entry_id",
            "Booked": "occurred_at",
            "Credit": "income",
            "Debit": "expense",
            "Text": "memo",
        },
        account="6222-0001",
        currency="USD",
        time_zone="America/New_York",
    )
    rows = [["Txn", "Booked", "Credit", "Debit", "Text"], ["H-1", "2026-02-01 19:30", "", "7.50", "card"]]

    import_file(capture, csv_bytes(rows), "acme.csv", layout=f"layout:{layout.pk}")

    (line,) = lines()
    assert (line.account, line.currency, line.amount) == ("6222-0001", "USD", Decimal("-7.50"))
    assert line.occurred_at == datetime(2026, 2, 2, 0, 30, tzinfo=UTC)


def test_an_unusable_layout_is_refused_next_to_its_field():
    layout = ImportLayout(name="broken", source="bank", mapping={"Txn": "entry_id", "X": "colour"})
    with pytest.raises(ValidationError) as refused:
        layout.clean()
    assert "colour" in refused.value.message_dict["mapping"][0]


def test_the_check_reports_progress_until_every_row_is_read(capture, monkeypatch):
    monkeypatch.setattr(validation, "PROGRESS_EVERY", 10)
    seen = []
    real = import_services._progress
    monkeypatch.setattr(
        import_services, "_progress", lambda batch_id, rows: (seen.append(rows), real(batch_id, rows))
    )
    rows = [BANK_HEADER, *[["2026-02-01", f"{n}.00", "CNY", "A", "x", f"P-{n}"] for n in range(1, 56)]]

    batch = upload(capture, csv_bytes(rows), "bank.csv")

    assert seen == [10, 20, 30, 40, 50, 56]
    assert (batch.processed_rows, batch.total_rows, batch.percent) == (56, 56, 100)


def test_nothing_is_half_imported_when_the_insert_fails_midway(capture, monkeypatch):
    monkeypatch.setattr(insertion, "INSERT_BATCH", 2)
    rows = [BANK_HEADER, *[["2026-02-01", f"{n}.00", "CNY", "A", "x", f"Q-{n}"] for n in range(1, 6)]]
    batch = upload(capture, csv_bytes(rows), "bank.csv")
    real = StatementLine.objects.bulk_create
    written = []

    def failing_bulk_create(objs, **kwargs):  # SQLite path: the second batch fails
        written.append(len(objs))
        if len(written) == 2:
            raise OSError("disk full")
        return real(objs, **kwargs)

    def failing_copy(rows, batch_id):  # PostgreSQL path: half the rows in, then the failure
        written.append(
            len(real([StatementLine(**dict(zip(insertion.COLUMNS, r, strict=True))) for r in rows[:2]]))
        )
        raise OSError("disk full")

    monkeypatch.setattr(StatementLine.objects, "bulk_create", failing_bulk_create)
    monkeypatch.setattr(insertion, "_copy", failing_copy)
    batch = confirm(capture, batch)

    assert written and written[0] == 2  # rows were written before the failure…
    assert batch.state == "failed" and "nothing was imported" in batch.message
    assert StatementLine.objects.count() == 0  # …and rolled back with it


def test_text_with_tabs_line_breaks_and_backslashes_is_stored_as_it_was_written(capture):
    """The insert writes COPY's text format itself: these characters must be escaped, others not."""
    memo = "tab\there, line\nbreak, return\rhere, back\\slash \\N, 货款 & <co>"
    rows = [
        BANK_HEADER,
        ["2026-02-01", "5.00", "CNY", "A\\B", memo, "T-1\\x"],
        ["2026-02-01", "6.00", "", "", "", "T-2"],
    ]

    import_file(capture, xlsx_bytes(rows), "bank.xlsx")

    first, second = lines()
    assert (first.memo, first.counterparty, first.entry_id) == (memo, "A\\B", "T-1\\x")
    assert (second.memo, second.counterparty, second.amount, second.order_id) == (
        "",
        "",
        Decimal("6.00"),
        None,
    )


def test_a_batch_staged_line_by_line_before_the_upgrade_still_imports():
    from finance.imports import staging

    checked = [
        staged_line(2, datetime(2026, 1, 10, 8, 30, tzinfo=UTC)),
        staged_line(3, datetime(2026, 1, 11, tzinfo=UTC)),
    ]
    old_format = json.dumps(
        [
            [
                *line[: staging.OCCURRED_AT],
                line.occurred_at.isoformat(),
                str(line.amount),
                *line[staging.AMOUNT + 1 :],
            ]
            for line in checked
        ]
    )

    assert (
        staging.unstage(zlib.compress(old_format.encode()))
        == checked
        == staging.unstage(staging.stage(checked))
    )


@pytest.mark.postgres
def test_keys_are_looked_up_as_written_whatever_characters_they_hold():
    keys = ['a"b', "c\\d", "e,f", "g{h}", " i ", "NULL", "", "货款 \\N"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [lookups.text_array(keys)])
        assert cursor.fetchone()[0] == keys
    assert lookups.text_array(["only"]) == '{"only"}'
    with pytest.raises(ValueError, match="NUL"):
        lookups.text_array(["a\x00b"])


def test_uploading_needs_the_import_permission(capture, agent):
    with pytest.raises(NotPermitted):
        upload(capture, csv_bytes([BANK_HEADER]), "bank.csv", actor=agent)


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def test_the_desk_uploads_previews_confirms_and_shows_progress(finance_client, capture):
    rows = [BANK_HEADER, ["2026-02-01", "10.00", "CNY", "A", "x", "R-1"]]
    with capture(execute=True):
        response = finance_client.post(
            "/finance/imports/", {"layout": BANK, "file": SimpleUploadedFile("b.csv", csv_bytes(rows))}
        )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response.url == f"/finance/imports/{batch.pk}/"
    page = finance_client.get(response.url)
    assert "Confirm: import 1 line" in page.text

    progress = finance_client.get(f"/finance/imports/{batch.pk}/progress/").json()
    assert progress == {
        "state": "valid",
        "label": "Ready to import",
        "processed": 2,
        "total": 2,
        "percent": 100,
        "running": False,
    }

    with capture(execute=True):
        finance_client.post(f"/finance/imports/{batch.pk}/confirm/")
    assert StatementLine.objects.count() == 1
    assert "1 line imported." in finance_client.get(f"/finance/imports/{batch.pk}/").text


def test_pos_receipts_import_with_their_store_and_order(capture):
    order = make_order()
    rows = [
        ["小票号", "交易时间", "金额", "门店", "支付方式", "订单号"],
        ["P-0001", "2026-02-01 12:00:00", "212.80", "杭州西湖店", "微信", order.number],
        ["P-0002", "2026-02-01 12:05:00", "-10.00", "杭州西湖店", "微信", order.number],
    ]

    import_file(capture, csv_bytes(rows), "pos.csv", "builtin:pos")

    sale, refund = lines()
    assert (sale.source, sale.account, sale.kind, sale.order) == ("pos", "杭州西湖店", "sale", order)
    assert (refund.kind, refund.amount) == ("refund", Decimal("-10.00"))


def test_an_interrupted_check_is_done_again_when_its_task_is_redelivered(capture):
    rows = [BANK_HEADER, ["2026-02-01", "10.00", "CNY", "A", "x", "S-1"]]
    with capture(execute=False):  # the worker took the task and died mid-check
        batch = import_services.import_upload(
            file=SimpleUploadedFile("b.csv", csv_bytes(rows)),
            layout_key=BANK,
        )
    ImportBatch.objects.filter(pk=batch.pk).update(state="validating")

    assert import_services.import_validate(batch_id=batch.pk).state == "validating"  # still fresh: left alone
    ImportBatch.objects.filter(pk=batch.pk).update(
        updated_at=batch.updated_at - import_services.STALE_CHECK * 2
    )
    assert import_services.import_validate(batch_id=batch.pk).state == "valid"


def test_the_admin_shows_a_bad_layout_as_a_form_error(admin_client):
    response = admin_client.post(
        "/admin/finance/importlayout/add/",
        {"name": "x", "source": "bank", "mapping": '{"Txn": "entry_id"}', "kind_values": "{}", "currency": "CNY",
         "time_zone": "", "account": "", "is_active": "on"},
    )  # fmt: skip

    assert response.status_code == 200 and "The mapping needs occurred_at, amount." in response.text
    assert not ImportLayout.objects.exists()
