"""Finance reports (R-M6) as reads that both the screens and the spreadsheet exports use:
daily platform sales summary, receivables / payables, refund differences, statement lines.
Each report is a header and an iterator of rows, so an export streams whatever its size. They
read from the reporting database (the read replica when there is one, core/replica.py)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import ZERO, MoneySum, quantize
from core.replica import reporting_database
from core.timezones import business_zone
from finance.imports.models import StatementKind, StatementLine, StatementSource
from finance.models import BILLED_KINDS, Payment, RevenueKind, RevenueLine
from finance.rates.conversion import Converted, convert_groups, grand_total
from finance.rates.reporting import amount_cell, in_business, rate_cell, rate_header, summary
from finance.rates.selectors import rate_table
from orders.models import Order, OrderStatus

MONEY = DecimalField(max_digits=18, decimal_places=2)
AGING = ((0, 7), (8, 30), (31, None))


@dataclass
class Report:
    title: str
    header: list
    rows: list  # or any iterable (exports stream it)
    numeric: frozenset = frozenset()  # columns shown right-aligned
    # Lines above the table: totals in the business currency, what could not be converted.
    summary: list[str] = field(default_factory=list)


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    zone = business_zone()
    return (
        datetime(start.year, start.month, start.day, tzinfo=zone),
        datetime(end.year, end.month, end.day, tzinfo=zone) + timedelta(days=1),
    )


# --- daily platform sales summary ----------------------------------------------------------------


DAILY_KINDS = (
    RevenueKind.GOODS,
    RevenueKind.ADJUSTMENT,
    RevenueKind.MERCHANT_DISCOUNT,
    RevenueKind.PLATFORM_DISCOUNT,
    RevenueKind.SHIPPING,
    RevenueKind.TAX,
    RevenueKind.COMMISSION,
    RevenueKind.FEE,
    RevenueKind.REFUND,
)


def daily_sales(*, start: date, end: date, channel: str = "") -> Report:
    """Per business day, channel and currency: orders with revenue booked that day and the
    revenue by kind, billed (what buyers were charged) and net (what the merchant keeps)."""
    begin, finish = _day_bounds(start, end)
    lines = RevenueLine.objects.using(reporting_database()).filter(booked_at__gte=begin, booked_at__lt=finish)
    if channel:
        lines = lines.filter(order__channel__code=channel)
    lines = lines.annotate(day=TruncDate("booked_at", tzinfo=business_zone()))
    keys = ("day", "order__channel__code", "order__channel__platform", "currency")
    sums = lines.values(*keys, "kind").annotate(total=MoneySum("amount")).order_by(*keys, "kind")
    orders = {
        tuple(row[k] for k in keys): row["n"]
        for row in lines.values(*keys).annotate(n=Count("order", distinct=True)).order_by()
    }
    rows: dict[tuple, dict] = {}
    for item in sums:
        key = tuple(item[k] for k in keys)
        row = rows.setdefault(key, dict.fromkeys(DAILY_KINDS, ZERO))
        row[item["kind"]] = row.get(item["kind"], ZERO) + quantize(item["total"])
    # Each row is one (day, channel, currency) group: converted at its day's rate, rounded once.
    rates = rate_table({key[3] for key in rows}, start, end, using=reporting_database())
    billed_total, net_total = Converted(), Converted()
    table = []
    for key, by_kind in rows.items():
        billed = sum((by_kind[k] for k in BILLED_KINDS), ZERO)
        net = sum(by_kind.values(), ZERO)
        rate = rates.rate(key[3], key[0])
        billed_converted = billed_total.add(billed, key[3], rate, orders.get(key, 0))
        net_converted = net_total.add(net, key[3], rate, orders.get(key, 0))
        table.append(
            [
                key[0],
                key[1],
                key[2],
                key[3],
                orders.get(key, 0),
                *(by_kind[k] for k in DAILY_KINDS),
                billed,
                net,
                rate_cell(rate),
                amount_cell(billed_converted),
                amount_cell(net_converted),
            ]
        )
    labels = dict(RevenueKind.choices)
    header = [
        _("Day"),
        _("Channel"),
        _("Platform"),
        _("Currency"),
        _("Orders"),
        *(labels[k] for k in DAILY_KINDS),
        _("Billed"),
        _("Net"),
        rate_header(),
        in_business(_("Billed")),
        in_business(_("Net")),
    ]
    totals = [summary(_("Billed"), billed_total), summary(_("Net"), net_total)]
    return Report(_("Daily platform sales"), header, table, frozenset(range(4, len(header))), totals)


# --- receivables and payables --------------------------------------------------------------------


def _settled(kinds) -> Exists:
    return Exists(
        StatementLine.objects.filter(order=OuterRef("pk")).filter(
            Q(source=StatementSource.BANK) | Q(kind__in=kinds)
        )
    )


def receivables(*, as_of: datetime | None = None, channel: str = "") -> Report:
    """Paid orders whose money no statement shows yet (no settlement / POS sale, no bank line),
    per channel and currency, aged by when they were paid."""
    as_of = as_of or timezone.now()
    orders = (
        Order.objects.using(reporting_database())
        .filter(paid_at__isnull=False, paid_at__lt=as_of)
        .exclude(status=OrderStatus.CANCELLED)
        .exclude(_settled([StatementKind.SALE]))
    )
    if channel:
        orders = orders.filter(channel__code=channel)
    buckets = {}
    for low, high in AGING:
        condition = Q(paid_at__lte=as_of - timedelta(days=low))
        if high is not None:
            condition &= Q(paid_at__gt=as_of - timedelta(days=high + 1))
        buckets[f"b{low}"] = Coalesce(MoneySum("total", filter=condition), Value(ZERO), output_field=MONEY)
    keys = ("channel__code", "channel__platform", "currency")
    grouped = (
        orders.values(*keys).annotate(n=Count("id"), amount=MoneySum("total"), **buckets).order_by(*keys)
    )
    converted = _converted_by_day(orders, keys)
    table = []
    for row in grouped:
        in_business_currency = converted.get(tuple(row[k] for k in keys), Converted())
        table.append(
            [
                row["channel__code"],
                row["channel__platform"],
                row["currency"],
                row["n"],
                quantize(row["amount"]),
                *(quantize(row[f"b{low}"]) for low, _high in AGING),
                in_business_currency.amount,
                in_business_currency.missing_count,
            ]
        )
    header = [
        _("Channel"),
        _("Platform"),
        _("Currency"),
        _("Orders"),
        _("Receivable"),
        _("0–7 days"),
        _("8–30 days"),
        _("over 30 days"),
        in_business(_("Receivable")),
        _("Orders not converted"),
    ]
    totals = [summary(_("Receivable"), grand_total(converted.values()))]
    return Report(_("Receivables"), header, table, frozenset(range(3, len(header))), totals)


def _converted_by_day(orders, keys) -> dict[tuple, Converted]:
    """The orders' totals in the business currency per `keys`, each (day placed, channel,
    currency) group converted at its day's rate."""
    by_day = (
        orders.annotate(day=TruncDate("placed_at", tzinfo=business_zone()))
        .values(*keys, "day")
        .annotate(n=Count("id"), amount=MoneySum("total"))
        .order_by()
    )
    groups = ((tuple(r[k] for k in keys), r["day"], r["currency"], r["amount"], r["n"]) for r in by_day)
    return convert_groups(groups, using=reporting_database())


def _refund_sums():
    erp = (
        RevenueLine.objects.filter(order=OuterRef("pk"), kind=RevenueKind.REFUND)
        .values("order")
        .annotate(s=MoneySum("amount"))
        .values("s")
    )
    settled = (
        StatementLine.objects.filter(order=OuterRef("pk"), kind=StatementKind.REFUND)
        .exclude(source=StatementSource.BANK)
        .values("order")
        .annotate(s=MoneySum("amount"))
        .values("s")
    )
    paid_back = (
        Payment.objects.filter(order=OuterRef("pk"))
        .values("order")
        .annotate(s=MoneySum("refunded_amount"))
        .values("s")
    )
    zero = Value(ZERO)
    return {
        "erp_refunds": Coalesce(Subquery(erp, output_field=MONEY), zero, output_field=MONEY) * -1,
        "settled_refunds": Coalesce(Subquery(settled, output_field=MONEY), zero, output_field=MONEY) * -1,
        "payment_refunds": Coalesce(Subquery(paid_back, output_field=MONEY), zero, output_field=MONEY),
    }


def _orders_with_refunds(start: datetime | None, end: datetime | None):
    erp = RevenueLine.objects.filter(order=OuterRef("pk"), kind=RevenueKind.REFUND)
    settled = StatementLine.objects.filter(order=OuterRef("pk"), kind=StatementKind.REFUND)
    if start is not None:
        erp, settled = erp.filter(booked_at__gte=start), settled.filter(occurred_at__gte=start)
    if end is not None:
        erp, settled = erp.filter(booked_at__lt=end), settled.filter(occurred_at__lt=end)
    orders = Order.objects.using(reporting_database())
    return orders.filter(Q(Exists(erp)) | Q(Exists(settled))).annotate(**_refund_sums())


def payables(*, channel: str = "") -> Report:
    """What is owed back: refunds recorded here that no statement shows paid out yet, and money
    received beyond an order's total — per channel and currency."""
    owed: dict[tuple, dict] = defaultdict(
        lambda: {"refunds": ZERO, "refund_orders": 0, "over": ZERO, "over_orders": 0}
    )
    refunds = _orders_with_refunds(None, None).filter(erp_refunds__gt=F("settled_refunds"))
    if channel:
        refunds = refunds.filter(channel__code=channel)
    groups = []  # (key, day placed, currency, amount, orders): converted per day below
    zone = business_zone()
    for row in refunds.values(
        "channel__code", "channel__platform", "currency", "erp_refunds", "settled_refunds", "placed_at"
    ):
        key = (row["channel__code"], row["channel__platform"], row["currency"])
        due = quantize(row["erp_refunds"] - row["settled_refunds"])
        owed[key]["refunds"] += due
        owed[key]["refund_orders"] += 1
        groups.append((key, timezone.localtime(row["placed_at"], zone).date(), row["currency"], due, 1))
    received = (
        Payment.objects.filter(order=OuterRef("pk"), currency=OuterRef("currency"))
        .values("order")
        .annotate(s=MoneySum("amount"))
        .values("s")
    )
    over = (
        Order.objects.using(reporting_database())
        .annotate(received=Subquery(received, output_field=MONEY))
        .filter(received__gt=F("total"))
    )
    if channel:
        over = over.filter(channel__code=channel)
    for row in over.values(
        "channel__code", "channel__platform", "currency", "received", "total", "placed_at"
    ):
        key = (row["channel__code"], row["channel__platform"], row["currency"])
        extra = quantize(row["received"] - row["total"])
        owed[key]["over"] += extra
        owed[key]["over_orders"] += 1
        groups.append((key, timezone.localtime(row["placed_at"], zone).date(), row["currency"], extra, 1))
    converted = convert_groups(groups, using=reporting_database())
    table = [
        [
            key[0],
            key[1],
            key[2],
            v["refund_orders"],
            v["refunds"],
            v["over_orders"],
            v["over"],
            v["refunds"] + v["over"],
            converted[key].amount,
            converted[key].missing_count,
        ]
        for key, v in sorted(owed.items())
    ]
    header = [
        _("Channel"),
        _("Platform"),
        _("Currency"),
        _("Orders with refunds due"),
        _("Refunds due"),
        _("Overpaid orders"),
        _("Overpaid"),
        _("Payable"),
        in_business(_("Payable")),
        _("Orders not converted"),
    ]
    totals = [summary(_("Payable"), grand_total(converted.values()))]
    return Report(_("Payables"), header, table, frozenset(range(3, len(header))), totals)


# --- refund differences --------------------------------------------------------------------------


def refund_differences(*, start: date | None = None, end: date | None = None, channel: str = "") -> Report:
    """Orders with a refund (here or on a statement) in the range where the refund recorded here,
    the payment's refunded amount and the statement's refunds disagree."""
    begin, finish = _day_bounds(start, end) if start and end else (None, None)
    orders = _orders_with_refunds(begin, finish).filter(
        ~Q(erp_refunds=F("settled_refunds")) | ~Q(erp_refunds=F("payment_refunds"))
    )
    if channel:
        orders = orders.filter(channel__code=channel)
    rows = (
        [
            o["number"],
            o["channel__code"],
            o["currency"],
            quantize(o["erp_refunds"]),
            quantize(o["payment_refunds"]),
            quantize(o["settled_refunds"]),
            quantize(o["erp_refunds"] - o["settled_refunds"]),
        ]
        for o in orders.order_by("number")
        .values("number", "channel__code", "currency", "erp_refunds", "payment_refunds", "settled_refunds")
        .iterator(chunk_size=2000)
    )
    header = [
        _("Order"),
        _("Channel"),
        _("Currency"),
        _("Refunded here"),
        _("Refunded on payments"),
        _("Refunded on statements"),
        _("Difference"),
    ]
    return Report(_("Refund differences"), header, rows, frozenset(range(3, len(header))))


# --- statement lines -----------------------------------------------------------------------------


STATEMENT_FIELDS = (
    "occurred_at",
    "source",
    "account",
    "entry_id",
    "kind",
    "amount",
    "currency",
    "transaction_id",
    "order_ref",
    "order__number",
    "counterparty",
    "memo",
    "period__year",
    "period__month",
    "period_note",
    "batch_id",
)


def statement_lines(*, period=None, source: str = "", unmatched: bool = False):
    lines = StatementLine.objects.using(reporting_database())
    if period is not None:
        lines = lines.filter(period=period)
    if source:
        lines = lines.filter(source=source)
    if unmatched:
        lines = lines.filter(order__isnull=True)
    return lines.order_by("occurred_at", "id")


def statement_export(lines) -> Report:
    """Statement lines for a spreadsheet, streamed from the database in chunks."""
    zone = business_zone()
    rows = (
        [
            timezone.localtime(r[0], zone).replace(tzinfo=None),
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9] or "",
            r[10],
            r[11],
            f"{r[12]:04d}-{r[13]:02d}",
            r[14],
            r[15],
        ]
        for r in lines.values_list(*STATEMENT_FIELDS).iterator(chunk_size=5000)
    )
    header = [
        _("Time"),
        _("Statement"),
        _("Account"),
        _("Entry id"),
        _("Kind"),
        _("Amount"),
        _("Currency"),
        _("Transaction id"),
        _("Order reference"),
        _("Matched order"),
        _("Counterparty"),
        _("Memo"),
        _("Period"),
        _("Period note"),
        _("Import"),
    ]
    return Report(_("Statement lines"), header, rows, frozenset({5}))
