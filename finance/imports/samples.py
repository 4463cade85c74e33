"""Statement files in a built-in layout's own format, written from our payments: the demo's
settlement statement and the sample a finance user downloads from the import page to try the
import with. The Alipay account statement (账务明细) is written as Alipay exports it: GBK text,
"#" lines above and below the table, a trailing tab after values Excel would mangle, a running
balance; its headers are the layout's own (layouts.ALIPAY_ACCOUNT), so it imports cleanly."""

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from core.money import CENT, ZERO
from finance.imports.layouts import ALIPAY_ACCOUNT, Layout
from finance.models import Payment, PaymentProvider

ALIPAY_ZONE = ZoneInfo(ALIPAY_ACCOUNT.time_zone)
ALIPAY_ACCOUNT_NO = "20881234567890120156"
ALIPAY_FEE_RATE = Decimal("0.006")  # Alipay's standard rate for online payments
OPENING_BALANCE = Decimal("20000.00")
# Alipay's 业务类型 for each kind of entry (keys of ALIPAY_ACCOUNT.kind_values)
SALE, REFUND, FEE, COMMISSION = "在线支付", "交易退款", "收费", "天猫佣金"


@dataclass
class AlipayEntry:
    """One row of the statement: income positive, expense negative."""

    trade_no: str
    order_ref: str
    description: str
    occurred_at: datetime
    counterparty: str
    amount: Decimal
    kind: str
    memo: str = ""
    method: str = "支付宝"


def alipay_fee(amount: Decimal) -> Decimal:
    return (amount * ALIPAY_FEE_RATE).quantize(CENT)


def alipay_trade_no(order_id: int, paid_at: datetime) -> str:
    """A 28-digit Alipay trade number: the day, Alipay's fixed infix, a serial."""
    return f"{paid_at.astimezone(ALIPAY_ZONE):%Y%m%d}22001{order_id:015d}"


def payment_entries(payment: Payment, *, commission: Decimal = ZERO, refunds=()) -> list[AlipayEntry]:
    """What Alipay books for one payment: the sale, its fee, the platform's commission, and each
    refund (amount, at) it paid back."""
    order = payment.order
    buyer = "天猫买家 (tb_buyer)"
    entries = [
        AlipayEntry(
            payment.transaction_id,
            order.number,
            f"订单 {order.number}",
            payment.paid_at,
            buyer,
            payment.amount,
            SALE,
        )
    ]
    if payment.fee:
        entries.append(
            AlipayEntry(
                payment.transaction_id,
                order.number,
                "交易服务费",
                payment.paid_at,
                "支付宝 (service@alipay.com)",
                -payment.fee,
                FEE,
                memo=f"服务费[{payment.transaction_id}]",
            )
        )
    if commission:
        entries.append(
            AlipayEntry(
                payment.transaction_id,
                order.number,
                "天猫佣金",
                payment.paid_at,
                "天猫 (tmall@service.taobao.com)",
                -commission,
                COMMISSION,
                memo=f"佣金[{payment.transaction_id}]",
            )
        )
    for amount, at in refunds:
        entries.append(AlipayEntry(payment.transaction_id, order.number, "退款", at, buyer, -amount, REFUND))
    return entries


def local(moment: datetime) -> datetime:
    return moment.astimezone(ALIPAY_ZONE)


def alipay_statement(
    entries: list[AlipayEntry], *, start: datetime, end: datetime, nonce: int | None = None
) -> bytes:
    """The 账务明细 CSV (GBK) of the entries, in time order. Entry ids (账务流水号) carry `nonce`,
    so two files never share one (an entry imported before is skipped, not imported again)."""
    nonce = time.time_ns() // 10**6 % 10**8 if nonce is None else nonce
    ordered = sorted(entries, key=lambda e: (e.occurred_at, e.amount < 0))
    buffer = io.StringIO()
    buffer.write("#支付宝账务明细查询\n")
    buffer.write(f"#账号：[{ALIPAY_ACCOUNT_NO}]\n")
    stamp = "%Y年%m月%d日 %H:%M:%S"
    buffer.write(f"#起始日期：[{local(start):{stamp}}]   终止日期：[{local(end):{stamp}}]\n")
    buffer.write(
        "#-----------------------------------------账务明细列表----------------------------------------\n"
    )
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号"]
        + ["收入金额（+元）", "支出金额（-元）", "账户余额（元）", "交易渠道", "业务类型", "备注"]
    )
    balance, income, expense, n_in, n_out = OPENING_BALANCE, ZERO, ZERO, 0, 0
    for seq, entry in enumerate(ordered, start=1):
        balance += entry.amount
        if entry.amount >= 0:
            income, n_in = income + entry.amount, n_in + 1
        else:
            expense, n_out = expense - entry.amount, n_out + 1
        writer.writerow(
            [
                f"{local(entry.occurred_at):%Y%m%d}200040011{nonce:08d}{seq:07d}\t",
                f"{entry.trade_no}\t",
                f"{entry.order_ref}\t",
                f"{entry.description}\t",
                f"{local(entry.occurred_at):%Y-%m-%d %H:%M:%S}",
                f"{entry.counterparty}\t",
                f"{max(entry.amount, ZERO):.2f}",
                f"{max(-entry.amount, ZERO):.2f}",
                f"{balance:.2f}",
                entry.method,
                entry.kind,
                entry.memo,
            ]
        )
    buffer.write(
        "#-----------------------------------------账务明细列表结束------------------------------------\n"
    )
    buffer.write(f"#支出合计：{n_out}笔，共{expense:.2f}元\n")
    buffer.write(f"#收入合计：{n_in}笔，共{income:.2f}元\n")
    buffer.write(f"#导出时间：[{local(timezone.now()):%Y年%m月%d日 %H:%M:%S}]\n")
    return buffer.getvalue().encode("gb18030")


SAMPLE_PAYMENTS = 5


def alipay_sample_statement(*, now: datetime | None = None) -> bytes:
    """A small statement to try the import with: the latest few Alipay payments of this database
    (sale, fee, commission, their refunds), or fixed invented rows when there are none. Its entry
    ids are new each time, so it imports cleanly however often it is downloaded."""
    now = now or timezone.now()
    payments = list(
        Payment.objects.filter(provider=PaymentProvider.ALIPAY, currency="CNY")
        .select_related("order")
        .order_by("-paid_at", "-id")[:SAMPLE_PAYMENTS]
    )
    entries = []
    for payment in payments:
        entries += payment_entries(payment, commission=payment.order.platform_commission)
    if not entries:
        entries = _invented_entries(now)
    first = local(min(entry.occurred_at for entry in entries))  # from that day's start, Beijing time
    return alipay_statement(entries, start=first.replace(hour=0, minute=0, second=0, microsecond=0), end=now)


def _invented_entries(now: datetime) -> list[AlipayEntry]:
    """Rows that name no order of this database (they import, and reconcile as lines to match)."""
    rows = []
    for n, amount in enumerate((Decimal("199.00"), Decimal("89.90"), Decimal("358.00")), start=1):
        at = now.replace(microsecond=0) - timedelta(hours=4 * n)
        trade_no = f"{at.astimezone(ALIPAY_ZONE):%Y%m%d}22001{990000000 + n:015d}"
        ref = f"SO-SAMPLE-{n:04d}"
        rows.append(
            AlipayEntry(trade_no, ref, "示例商品 / sample item", at, "示例买家 (buyer)", amount, SALE)
        )
        rows.append(
            AlipayEntry(
                trade_no, ref, "交易服务费", at, "支付宝 (service@alipay.com)", -alipay_fee(amount), FEE,
                memo=f"服务费[{trade_no}]",
            )
        )  # fmt: skip
    return rows


@dataclass(frozen=True)
class Sample:
    layout: Layout
    build: Callable[[], bytes]
    file_name: str
    encoding: str


# Samples by the layout key's name (builtin:<name>), offered on the import page.
SAMPLES = {
    "alipay-account": Sample(ALIPAY_ACCOUNT, alipay_sample_statement, "alipay-account-sample.csv", "gb18030"),
}
