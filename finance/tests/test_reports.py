import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from core.spreadsheets import FORMULA_PREFIXES
from core.timezones import business_date
from finance import reports
from finance.revenue import revenue_record_refund
from finance.services import payment_record
from finance.tests.statements import ALIPAY, BANK, BANK_HEADER, csv_bytes, import_file
from finance.vouchers.models import VoucherLayout
from finance.vouchers.services import voucher_approve, voucher_prepare
from orders.tests.factories import ChannelFactory, make_order

pytestmark = pytest.mark.django_db
NUMBER = re.compile(r"-?\d+(\.\d+)?")  # a CSV number such as -15.00 is a number, not a formula
EVIL = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def paid_order(channel="shop-cn", txn=None, **overrides):
    order = make_order(channel=channel, **overrides)
    payment = payment_record(
        order_number=order.number,
        provider="alipay",
        transaction_id=txn or f"T-{order.pk}",
        amount=order.total,
        currency="CNY",
        paid_at=timezone.now() - timedelta(minutes=1),
        fee=Decimal("1.00"),
    )[0]
    return order, payment


def test_daily_sales_sum_revenue_per_day_and_channel():
    ChannelFactory(code="tmall-flagship", platform="taobao", name="Tmall")
    paid_order()
    paid_order()
    paid_order(channel="tmall-flagship")
    today = business_date()

    report = reports.daily_sales(start=today, end=today)

    rows = {row[1]: row for row in report.rows}
    shop, tmall = rows["shop-cn"], rows["tmall-flagship"]
    assert (shop[0], shop[2], shop[3], shop[4]) == (today, "generic", "CNY", 2)
    assert tmall[2] == "taobao" and tmall[4] == 1
    header = [str(h) for h in report.header]
    assert shop[header.index("Billed")] == Decimal("425.60")  # 2 × 212.80
    assert shop[header.index("Net")] == Decimal("425.60") - 2 * Decimal("3.20") - 2 * Decimal("1.00")


def test_receivables_are_paid_orders_no_statement_shows_yet(capture):
    settled, _p = paid_order(txn="A-1")
    waiting, _p = paid_order(txn="A-2")
    make_order()  # unpaid: not receivable
    text = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注\n"
    text += f"E-1,A-1,{settled.number},x,{timezone.localtime(timezone.now()):%Y-%m-%d %H:%M:%S},b,212.80,0,0,支付宝,在线支付,\n"
    import_file(capture, text.encode("gbk"), "a.csv", ALIPAY)

    (row,) = reports.receivables().rows

    assert row[:5] == ["shop-cn", "generic", "CNY", 1, waiting.total]
    assert row[5] == waiting.total and row[6:8] == [Decimal("0.00"), Decimal("0.00")]
    assert row[8:] == [waiting.total, 0]  # in CNY, the business currency; none left unconverted


def test_payables_are_refunds_not_yet_paid_out_and_overpayments():
    order, payment = paid_order()
    revenue_record_refund(order=order, amount=Decimal("20.00"), reference="RMA-9", payment=payment)
    over = make_order()
    payment_record(
        order_number=over.number,
        provider="api",
        transaction_id="OVER",
        amount=over.total + 5,
        currency="CNY",
        paid_at=timezone.now(),
    )

    (row,) = reports.payables().rows

    assert row == ["shop-cn", "generic", "CNY", 1, Decimal("20.00"), 1, Decimal("5.00"), Decimal("25.00")] + [
        Decimal("25.00"),  # in CNY, the business currency
        0,  # orders not converted
    ]


def test_refund_differences_list_orders_whose_refunds_disagree(capture):
    order, payment = paid_order(txn="A-9")
    revenue_record_refund(order=order, amount=Decimal("20.00"), reference="RMA-1", payment=payment)
    matched, payment2 = paid_order(txn="A-10")
    revenue_record_refund(order=matched, amount=Decimal("10.00"), reference="RMA-2", payment=payment2)
    now = f"{timezone.localtime(timezone.now()):%Y-%m-%d %H:%M:%S}"
    text = "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注\n"
    text += f"E-1,A-9,{order.number},x,{now},b,0,15.00,0,支付宝,交易退款,\nE-2,A-10,{matched.number},x,{now},b,0,10.00,0,支付宝,交易退款,\n"
    import_file(capture, text.encode("gbk"), "a.csv", ALIPAY)
    today = business_date()

    rows = list(reports.refund_differences(start=today, end=today).rows)

    assert rows == [
        [
            order.number,
            "shop-cn",
            "CNY",
            Decimal("20.00"),
            Decimal("20.00"),
            Decimal("15.00"),
            Decimal("5.00"),
        ]
    ]


# --- every export neutralises formulas ------------------------------------------------------


def cells(response) -> list[list]:
    data = b"".join(response.streaming_content)
    if response["Content-Type"].startswith("text/csv"):
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def assert_safe(rows, *expected_neutralised):
    texts = [cell for row in rows for cell in row if isinstance(cell, str)]
    dangerous = [t for t in texts if t.startswith(FORMULA_PREFIXES) and not NUMBER.fullmatch(t)]
    assert not dangerous, dangerous
    for value in expected_neutralised:
        assert "'" + value in texts, (value, texts)


@pytest.fixture
def evil_data(capture, make_user):
    """Data whose text would run as formulas: a channel code, bank memos and counterparties."""
    ChannelFactory(code="-cmd", name="evil")
    order, payment = paid_order(channel="-cmd", txn="EVIL-1")
    revenue_record_refund(order=order, amount=Decimal("1.00"), reference="RMA-E", payment=payment)
    rows = [
        BANK_HEADER,
        *[
            [f"{business_date():%Y-%m-%d}", "1.00", "CNY", value, value, f"EV-{n}"]
            for n, value in enumerate(EVIL)
        ],
    ]
    import_file(capture, csv_bytes(rows), "bank.csv", BANK)
    layout = VoucherLayout.objects.create(
        name="evil",
        columns=[["date", "date"], ["summary", "summary"], ["x", "text:=cmd"], ["debit", "debit"]],
        account_codes=dict.fromkeys(
            ("goods", "shipping", "merchant_discount", "commission", "fee", "refund", "receivable"), "1"
        ),
    )
    year, month = business_date().year, business_date().month
    preparer = make_user("finance")
    batch = voucher_prepare(year=year, month=month, layout_id=layout.pk, actor=preparer)
    return order, batch


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_export_neutralises_cells_that_would_run_as_formulas(
    evil_data, client, finance_user, capture, fmt
):
    order, batch = evil_data
    voucher_approve(batch_id=batch.pk, actor=finance_user)
    client.force_login(finance_user)
    from finance.reconciliation.services import reconciliation_start

    today = business_date()
    with capture(execute=True):
        run, _created = reconciliation_start(year=today.year, month=today.month, actor=finance_user)
    bad_upload = [BANK_HEADER, [f"{today:%Y-%m-%d}", "=1+1", "CNY", "x", "y", "BAD-1"]]
    from finance.tests.statements import upload

    rejected = upload(capture, csv_bytes(bad_upload), "bad.csv", BANK)
    day = f"start={today:%Y-%m-%d}&end={today:%Y-%m-%d}"
    exports = {
        f"/finance/statements/?format={fmt}": EVIL[:4],  # imports trim the tab and CR ones
        f"/finance/reports/daily-sales/?{day}&format={fmt}": ["-cmd"],
        f"/finance/reports/receivables/?report=receivables&format={fmt}": [],
        f"/finance/reports/receivables/?report=payables&format={fmt}": ["-cmd"],
        f"/finance/reports/refund-differences/?{day}&format={fmt}": ["-cmd"],
        f"/finance/reconciliation/{run.pk}/?show=all&format={fmt}": [],
        f"/finance/imports/{rejected.pk}/errors/?format={fmt}": ["=1+1"],
        f"/finance/vouchers/{batch.pk}/download/?format={fmt}": ["=cmd"],
    }
    for url, neutralised in exports.items():
        response = client.get(url)
        assert response.status_code == 200, url
        rows = cells(response)
        assert len(rows) > 1, url
        assert_safe(rows, *neutralised)
    # numbers stay numbers: a negative amount is not text in the statement export
    statement = cells(client.get(f"/finance/statements/?format={fmt}"))
    assert statement[1][5] in ("1.00", 1, 1.0)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_spreadsheet_writers_neutralise_every_formula_prefix(fmt):
    from finance.desk.exports import export_response

    response = export_response(fmt, "x", "x", ["=header"], [[value, Decimal("-5.00")] for value in EVIL])

    rows = cells(response)
    assert [row[0] for row in rows] == ["'=header", *("'" + value for value in EVIL)]
    assert rows[1][1] in ("-5.00", -5)  # a negative number stays a number
