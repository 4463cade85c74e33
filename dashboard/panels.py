"""The manager dashboard's panels (R-D3), computed from day rows. The rows come from the rollup
tables (`from_rollups`) or, for the benchmark baseline, straight from the raw tables (`from_raw`);
both give the same shape, so every panel is computed one way. Panels read from the reporting
database (the read replica when there is one, core/replica.py).

Each chart has one unit on its axis (orders, the business currency, percent 0–100, minutes); a
rate whose day has nothing to measure is None (no point), never 0; days whose figures are not
final (today, or any day after the rollups' last refresh) are marked partial."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.replica import reporting_database
from dashboard import money, problems, ranges, rollups
from dashboard.models import CarrierDayRollup, OrderDayRollup
from finance.rates.reporting import summary
from finance.rates.selectors import RateTable, business_currency
from fulfilment.models import Carrier
from inventory.models import StockBalance

ORDER_FIELDS = (
    "orders",
    "paid",
    "cancelled",
    "held",
    "shipped",
    "shipped_on_time",
    "late",
    "delivered",
    "exceptions",
    "refunded",
)
CARRIER_FIELDS = ("shipped", "units", "first_scanned", "synced_in_window", "delivered", "exceptions")


@dataclass
class DayRows:
    first: date
    last: date
    orders: list[dict] = field(default_factory=list)  # day, channel_id, currency, ORDER_FIELDS, gross
    carriers: list[dict] = field(default_factory=list)  # day, carrier_id, CARRIER_FIELDS, latency_total
    rates: RateTable | None = None  # exchange rates of the orders' currencies over the days
    complete_until: datetime | None = None  # the figures are final before this moment

    @property
    def partial(self) -> set[date]:
        return ranges.partial_days(self.first, self.last, self.complete_until or timezone.now())

    def exchange_rates(self) -> RateTable:
        if self.rates is None:
            self.rates = money.rates_for(self.orders, self.first, self.last)
        return self.rates


def from_rollups(first: date, last: date, channel_id: int | None = None) -> DayRows:
    db = reporting_database()
    orders = OrderDayRollup.objects.using(db).filter(day__gte=first, day__lte=last)
    if channel_id:
        orders = orders.filter(channel_id=channel_id)
    carriers = CarrierDayRollup.objects.using(db).filter(day__gte=first, day__lte=last)
    order_rows = list(orders.values("day", "channel_id", "currency", "gross", *ORDER_FIELDS))
    return DayRows(
        first,
        last,
        order_rows,
        list(carriers.values("day", "carrier_id", "latency_total", *CARRIER_FIELDS)),
        money.rates_for(order_rows, first, last),
        ranges.rollups_complete_until(),
    )


def from_raw(first: date, last: date, channel_id: int | None = None) -> DayRows:
    """The same rows aggregated from orders and shipments on the fly (the benchmark's baseline)."""
    start, _end = rollups.day_bounds(first)
    _start, end = rollups.day_bounds(last)
    renamed = {f"n_{name}": name for name in ORDER_FIELDS} | {"n_on_time": "shipped_on_time"}
    orders = [
        {renamed.get(key, key): value for key, value in row.items()} | {"gross": row["gross_total"] or 0}
        for row in rollups.order_day_aggregates(start, end, now=timezone.now(), channel_id=channel_id)
    ]
    carrier_names = {
        "n_shipped": "shipped",
        "n_units": "units",
        "n_scanned": "first_scanned",
        "n_in_window": "synced_in_window",
        "latency_sum": "latency_total",
        "n_delivered": "delivered",
        "n_exceptions": "exceptions",
    }
    carriers = [
        {carrier_names.get(key, key): value for key, value in row.items()}
        for row in rollups.carrier_day_aggregates(start, end)
    ]
    return DayRows(first, last, orders, carriers, money.rates_for(orders, first, last), timezone.now())


def _days(rows: DayRows) -> list[date]:
    return [rows.first + timedelta(days=n) for n in range((rows.last - rows.first).days + 1)]


def _by_day(rows: DayRows, *names: str) -> dict[date, dict[str, int]]:
    totals: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    for row in rows.orders:
        for name in names:
            totals[row["day"]][name] += row[name] or 0
    return totals


def percent(part, whole) -> float | None:
    """part / whole in percent to one decimal; None (nothing to measure), never 0, without a whole."""
    return round(100 * part / whole, 1) if whole else None


def fulfilment_percent(on_time: int, late: int) -> float | None:
    """Shipped on time among the orders whose shipping was due: shipped (on time or late) or past
    their deadline unshipped. Orders still inside their window are not due yet, so a day of fresh
    orders has no rate rather than 0 %."""
    return percent(on_time, on_time + late)


def percent_axis(title) -> dict:
    return {"title": title, "min": 0, "max": 100, "percent": True}


def count_axis(title) -> dict:
    return {"title": title, "min": 0, "integer": True}


def money_axis() -> dict:
    return {"title": business_currency(), "min": 0}


@dataclass
class Panel:
    key: str
    title: str
    kind: str  # chart type: line, bar; number; table
    labels: list
    series: list[dict]  # {"label": …, "data": […], "original": […] (tooltip, download)}
    unit: str = ""
    note: str = ""
    stacked: bool = False
    axis: dict = field(default_factory=dict)  # the one y axis: title, min, max
    partial: list[bool] = field(default_factory=list)  # per label: a day whose figures are not final
    columns: list[tuple] = field(default_factory=list)  # extra download columns: (header, values)

    @property
    def has_data(self) -> bool:
        """Whether there is anything to draw: a rate at all (0 % is a figure), a count above 0."""
        if self.kind == "table":
            return bool(self.labels)
        values = [v for s in self.series for v in s["data"] if v is not None]
        return any(values) if self.unit != "%" else bool(values)

    @property
    def has_partial(self) -> bool:
        return any(self.partial)

    @property
    def display_rows(self) -> list[tuple]:
        """(label, [value per series]) for a table panel on the page."""
        return [(label, [s["data"][i] for s in self.series]) for i, label in enumerate(self.labels)]

    def table(self) -> tuple[list, list[list]]:
        """Header and rows for the CSV / Excel download; a series' original amounts (shown in the
        chart's tooltip) get a column of their own, and so do the panel's extra columns."""
        columns = []
        for s in self.series:
            columns.append((str(s["label"]), s["data"]))
            if s.get("original"):
                columns.append(
                    (str(_("%(label)s, original currency") % {"label": s["label"]}), s["original"])
                )
        columns += [(str(name), values) for name, values in self.columns]
        if self.partial:
            partial = str(_("partial day"))
            columns.append((str(_("Partial")), [partial if flag else "" for flag in self.partial]))
        header = [str(_("Label")), *[name for name, _data in columns]]
        rows = [[label, *[data[i] for _name, data in columns]] for i, label in enumerate(self.labels)]
        return header, rows


def _day_panel(rows: DayRows, key, title, kind, series, **options) -> Panel:
    days = _days(rows)
    partial = rows.partial
    return Panel(
        key,
        title,
        kind,
        [d.isoformat() for d in days],
        series,
        partial=[d in partial for d in days],
        **options,
    )


def orders_per_day(rows: DayRows) -> Panel:
    totals = _by_day(rows, "orders", "cancelled")
    days = _days(rows)
    return _day_panel(
        rows,
        "orders_per_day",
        _("Orders per day"),
        "bar",
        [
            {"label": _("Orders"), "data": [totals[d]["orders"] for d in days]},
            {"label": _("Cancelled"), "data": [totals[d]["cancelled"] for d in days]},
        ],
        axis=count_axis(_("Orders")),
    )


def fulfilment_rate(rows: DayRows) -> Panel:
    totals = _by_day(rows, "shipped_on_time", "late")
    days = _days(rows)
    hours = int(rollups.ship_within().total_seconds() // 3600)
    return _day_panel(
        rows,
        "fulfilment_rate",
        _("Fulfilment rate (shipped on time / due)"),
        "line",
        [
            {
                "label": _("On time %"),
                "data": [fulfilment_percent(totals[d]["shipped_on_time"], totals[d]["late"]) for d in days],
            }
        ],
        unit="%",
        axis=percent_axis(_("Per cent of orders due")),
        note=_(
            "On time: every parcel handed to the carrier within %(hours)s h of payment. Due: shipped, or "
            "unshipped past that deadline; a day with nothing due has no point."
        )
        % {"hours": hours},
    )


def _originals(sold: money.Sales, day: date) -> str:
    cells = sold.by_day.get(day, {})
    return " + ".join(f"{cells[c][1]:,} {c}" for c in sorted(cells))


def _original_columns(sold: money.Sales, days: list[date]) -> list[tuple]:
    """Per original currency, the day's amount in it; then the orders left out for want of a rate."""
    columns = [
        (
            _("%(currency)s, original currency") % {"currency": currency},
            [sold.by_day.get(d, {}).get(currency, [None, None])[1] for d in days],
        )
        for currency in sold.currencies
    ]
    columns.append((_("Orders not converted (no rate)"), [sold.day_missing.get(d, 0) for d in days]))
    return columns


def average_order_value(rows: DayRows) -> Panel:
    """Per day in the business currency: the converted sales over the orders converted (orders
    without a rate are left out and counted); the original currencies in the tooltip and download."""
    sold = money.sales(rows.orders, rows.exchange_rates())
    days = _days(rows)
    currency = business_currency()
    return _day_panel(
        rows,
        "average_order_value",
        _("Average order value (%(currency)s)") % {"currency": currency},
        "line",
        [
            {
                "label": _("Average order value (%(currency)s)") % {"currency": currency},
                "data": [
                    money.average(*sold.day_converted[d]) if d in sold.day_converted else None for d in days
                ],
                "original": [_originals(sold, d) for d in days],
            }
        ],
        unit=currency,
        axis=money_axis(),
        columns=_original_columns(sold, days),
        note=_("Orders not cancelled, converted at the rate of the day they were placed.")
        + " "
        + summary(_("Sales"), sold.total),
    )


def sales_per_day(rows: DayRows) -> Panel:
    """Gross sales (orders not cancelled) per day in the business currency, one series; what each
    original currency contributed is in the tooltip and in the download's columns."""
    sold = money.sales(rows.orders, rows.exchange_rates())
    days = _days(rows)
    currency = business_currency()
    return _day_panel(
        rows,
        "sales_per_day",
        _("Sales per day (%(currency)s)") % {"currency": currency},
        "bar",
        [
            {
                "label": _("Sales (%(currency)s)") % {"currency": currency},
                "data": [sold.day_amount(d) for d in days],
                "original": [_originals(sold, d) for d in days],
            }
        ],
        unit=currency,
        axis=money_axis(),
        columns=_original_columns(sold, days),
        note=summary(_("Sales"), sold.total),
    )


def refund_rate(rows: DayRows) -> Panel:
    totals = _by_day(rows, "paid", "refunded")
    days = _days(rows)
    return _day_panel(
        rows,
        "refund_rate",
        _("Refund rate"),
        "line",
        [
            {
                "label": _("Refunded %"),
                "data": [percent(totals[d]["refunded"], totals[d]["paid"]) for d in days],
            }
        ],
        unit="%",
        axis=percent_axis(_("Per cent of paid orders")),
        note=_("Paid orders of the day with a refund so far; recent days still gain refunds."),
    )


def stock_turnover(rows: DayRows) -> Panel:
    shipped_units = sum(row["units"] or 0 for row in rows.carriers)
    per_day = shipped_units / len(_days(rows))
    on_hand = StockBalance.objects.using(reporting_database()).aggregate(total=Sum("on_hand"))["total"] or 0
    days_of_stock = round(on_hand / per_day, 1) if per_day else None
    return Panel(
        "stock_turnover",
        _("Stock turnover (days)"),
        "number",
        [str(_("Days of stock"))],
        [{"label": _("Days"), "data": [days_of_stock]}],
        note=_("Units on hand now ÷ average units shipped per day in the range."),
    )


def _carrier_totals(rows: DayRows) -> dict[int, dict]:
    totals: dict[int, dict] = defaultdict(
        lambda: dict.fromkeys(CARRIER_FIELDS, 0) | {"latency": timedelta(0)}
    )
    for row in rows.carriers:
        carrier = totals[row["carrier_id"]]
        for name in CARRIER_FIELDS:
            carrier[name] += row[name] or 0
        carrier["latency"] += row["latency_total"] or timedelta(0)
    return totals


def _carrier_names(ids) -> dict[int, str]:
    return dict(Carrier.objects.using(reporting_database()).filter(pk__in=ids).values_list("pk", "name"))


def _carriers_by_name(rows: DayRows) -> tuple[dict, dict, list[int]]:
    totals = _carrier_totals(rows)
    names = _carrier_names(totals)
    return totals, names, sorted(totals, key=lambda pk: names.get(pk, ""))


def logistics_sync(rows: DayRows) -> Panel:
    totals, names, ids = _carriers_by_name(rows)
    hours = int(rollups.sync_window().total_seconds() // 3600)
    return Panel(
        "logistics_sync",
        _("Logistics sync success"),
        "bar",
        [names.get(pk, str(pk)) for pk in ids],
        [
            {
                "label": _("Synced within the window %"),
                "data": [percent(totals[pk]["synced_in_window"], totals[pk]["shipped"]) for pk in ids],
            }
        ],
        unit="%",
        axis=percent_axis(_("Per cent of parcels shipped")),
        note=_("Parcels with a first carrier event within %(hours)s h of handover.") % {"hours": hours},
    )


def logistics_latency(rows: DayRows) -> Panel:
    totals, names, ids = _carriers_by_name(rows)
    return Panel(
        "logistics_latency",
        _("Logistics sync latency (minutes)"),
        "bar",
        [names.get(pk, str(pk)) for pk in ids],
        [
            {
                "label": _("Average minutes to first event"),
                "data": [
                    round(totals[pk]["latency"].total_seconds() / 60 / totals[pk]["first_scanned"], 1)
                    if totals[pk]["first_scanned"]
                    else None
                    for pk in ids
                ],
            }
        ],
        unit="min",
        axis={"title": _("minutes"), "min": 0},
    )


def problem_carriers(rows: DayRows, limit: int = 5) -> Panel:
    """The carriers with the most trouble in the range: parcels with a delivery exception, and
    parcels without a first carrier event within the window (late to show up), most first."""
    totals = _carrier_totals(rows)
    names = _carrier_names(totals)

    def trouble(pk):
        return totals[pk]["exceptions"] + totals[pk]["shipped"] - totals[pk]["synced_in_window"]

    worst = sorted((pk for pk in totals if trouble(pk)), key=lambda pk: (-trouble(pk), names.get(pk, "")))
    worst = worst[:limit]
    return Panel(
        "problem_carriers",
        _("Top problem carriers"),
        "table",
        [names.get(pk, str(pk)) for pk in worst],
        [
            {"label": _("Parcels"), "data": [totals[pk]["shipped"] for pk in worst]},
            {"label": _("Exceptions"), "data": [totals[pk]["exceptions"] for pk in worst]},
            {
                "label": _("Exception %"),
                "data": [percent(totals[pk]["exceptions"], totals[pk]["shipped"]) for pk in worst],
            },
            {
                "label": _("No first event in time"),
                "data": [totals[pk]["shipped"] - totals[pk]["synced_in_window"] for pk in worst],
            },
        ],
        note=_(
            "Parcels handed over in the range. No first event in time: no carrier scan within the window."
        ),
    )


def problem_skus(rows: DayRows, limit: int = 10) -> Panel:
    """The SKUs that caused the most trouble in the range: orders held short of them, units
    returned (dashboard.problems)."""
    found = problems.problem_skus(rows.first, rows.last, limit=limit)
    return Panel(
        "problem_skus",
        _("Top problem SKUs"),
        "table",
        [row.code for row in found],
        [
            {"label": _("Name"), "data": [row.name for row in found]},
            {"label": _("Orders held short of it"), "data": [row.short_holds for row in found]},
            {"label": _("Units returned"), "data": [row.returned_units for row in found]},
        ],
        note=_(
            "Holds put on and returns requested in the range. Orders waiting for an unmapped platform "
            "item are in the order health view."
        ),
    )


def health_index(rows: DayRows) -> Panel:
    """100 × the share of live (not cancelled) orders without a problem: not held, not late, no
    delivery exception. An order with two problems counts once per problem, floored at 0."""
    totals = _by_day(rows, "orders", "cancelled", "held", "late", "exceptions")
    days = _days(rows)

    def index(day):
        live = totals[day]["orders"] - totals[day]["cancelled"]
        if not live:
            return None
        problems = totals[day]["held"] + totals[day]["late"] + totals[day]["exceptions"]
        return max(0.0, round(100 * (1 - problems / live), 1))

    return _day_panel(
        rows,
        "health_index",
        _("Order health index"),
        "line",
        [{"label": _("Health (0–100)"), "data": [index(d) for d in days]}],
        unit="%",
        axis=percent_axis(_("score")),
        note=_(
            "Per day of placing: 100 × share of live orders not held, not late and without a delivery "
            "exception."
        ),
    )


PANELS = {
    panel.__name__: panel
    for panel in (
        orders_per_day,
        sales_per_day,
        average_order_value,
        fulfilment_rate,
        refund_rate,
        health_index,
        logistics_sync,
        logistics_latency,
        stock_turnover,
        problem_carriers,
        problem_skus,
    )
}


def dashboard(rows: DayRows) -> list[Panel]:
    return [build(rows) for build in PANELS.values()]
