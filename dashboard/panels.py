"""The manager dashboard's panels (R-D3), computed from day rows. The rows come from the rollup
tables (`from_rollups`) or, for the benchmark baseline, straight from the raw tables (`from_raw`);
both give the same shape, so every panel is computed one way. Panels read from the reporting
database (the read replica when there is one, core/replica.py)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.replica import reporting_database
from dashboard import money, rollups
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
    return DayRows(first, last, orders, carriers, money.rates_for(orders, first, last))


def _days(rows: DayRows) -> list[date]:
    return [rows.first + timedelta(days=n) for n in range((rows.last - rows.first).days + 1)]


def _by_day(rows: DayRows, *names: str) -> dict[date, dict[str, int]]:
    totals: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    for row in rows.orders:
        for name in names:
            totals[row["day"]][name] += row[name] or 0
    return totals


def _percent(part, whole) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass
class Panel:
    key: str
    title: str
    kind: str  # chart type: line, bar, number
    labels: list
    series: list[dict]  # {"label": …, "data": […]}
    unit: str = ""
    note: str = ""
    stacked: bool = False

    def table(self) -> tuple[list, list[list]]:
        """Header and rows for the CSV / Excel download; a series' original amounts (shown in the
        chart's tooltip) get a column of their own."""
        columns = []
        for s in self.series:
            columns.append((str(s["label"]), s["data"]))
            if s.get("original"):
                columns.append(
                    (str(_("%(label)s, original currency") % {"label": s["label"]}), s["original"])
                )
        header = [str(_("Label")), *[name for name, _data in columns]]
        rows = [[label, *[data[i] for _name, data in columns]] for i, label in enumerate(self.labels)]
        return header, rows


def orders_per_day(rows: DayRows) -> Panel:
    totals = _by_day(rows, "orders", "cancelled")
    days = _days(rows)
    return Panel(
        "orders_per_day",
        _("Orders per day"),
        "bar",
        [d.isoformat() for d in days],
        [
            {"label": _("Orders"), "data": [totals[d]["orders"] for d in days]},
            {"label": _("Cancelled"), "data": [totals[d]["cancelled"] for d in days]},
        ],
    )


def fulfilment_rate(rows: DayRows) -> Panel:
    totals = _by_day(rows, "paid", "shipped_on_time")
    days = _days(rows)
    return Panel(
        "fulfilment_rate",
        _("Fulfilment rate (shipped on time / paid)"),
        "line",
        [d.isoformat() for d in days],
        [
            {
                "label": _("On time %"),
                "data": [_percent(totals[d]["shipped_on_time"], totals[d]["paid"]) for d in days],
            }
        ],
        unit="%",
        note=_("On time: every parcel handed to the carrier within %(hours)s h of payment.")
        % {"hours": int(rollups.ship_within().total_seconds() // 3600)},
    )


def average_order_value(rows: DayRows) -> Panel:
    """In the business currency: all orders, then those of each original currency (their average
    in their own currency in the tooltip); orders without a rate are left out and counted."""
    sold = money.sales(rows.orders, rows.exchange_rates())
    currencies = sold.currencies
    total = sold.total
    counted = sum(sold.converted_orders.values())
    return Panel(
        "average_order_value",
        _("Average order value (%(currency)s)") % {"currency": business_currency()},
        "bar",
        [str(_("All")), *currencies],
        [
            {
                "label": _("Average order value (%(currency)s)") % {"currency": business_currency()},
                "data": [
                    money.average(total.amount, counted),
                    *(
                        money.average(sold.by_currency[c].amount, sold.converted_orders[c])
                        for c in currencies
                    ),
                ],
                "original": [
                    total.originals(),
                    *(
                        f"{money.average(sold.by_currency[c].original[c], sold.orders[c])} {c}"
                        for c in currencies
                    ),
                ],
            }
        ],
        note=_("Orders not cancelled, converted at the rate of the day they were placed.")
        + " "
        + summary(_("Sales"), total),
    )


def sales_per_day(rows: DayRows) -> Panel:
    """Gross sales (orders not cancelled) per day in the business currency, one stacked series per
    original currency; the original amount is in the tooltip and the download."""
    sold = money.sales(rows.orders, rows.exchange_rates())
    days = _days(rows)
    series = []
    for currency in sold.currencies:
        cells = [sold.by_day.get(d, {}).get(currency) for d in days]
        series.append(
            {
                "label": currency,
                "data": [cell[0] if cell else None for cell in cells],
                "original": [f"{cell[1]:,} {currency}" if cell else "" for cell in cells],
            }
        )
    return Panel(
        "sales_per_day",
        _("Sales per day (%(currency)s)") % {"currency": business_currency()},
        "bar",
        [d.isoformat() for d in days],
        series,
        note=summary(_("Sales"), sold.total),
        stacked=True,
    )


def refund_rate(rows: DayRows) -> Panel:
    totals = _by_day(rows, "paid", "refunded")
    days = _days(rows)
    return Panel(
        "refund_rate",
        _("Refund rate"),
        "line",
        [d.isoformat() for d in days],
        [
            {
                "label": _("Refunded %"),
                "data": [_percent(totals[d]["refunded"], totals[d]["paid"]) for d in days],
            }
        ],
        unit="%",
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


def logistics_sync(rows: DayRows) -> Panel:
    totals = _carrier_totals(rows)
    names = _carrier_names(totals)
    ids = sorted(totals, key=lambda pk: names.get(pk, ""))
    return Panel(
        "logistics_sync",
        _("Logistics sync: success and latency"),
        "bar",
        [names.get(pk, str(pk)) for pk in ids],
        [
            {
                "label": _("Synced within the window %"),
                "data": [_percent(totals[pk]["synced_in_window"], totals[pk]["shipped"]) for pk in ids],
            },
            {
                "label": _("Average minutes to first event"),
                "data": [
                    round(totals[pk]["latency"].total_seconds() / 60 / totals[pk]["first_scanned"], 1)
                    if totals[pk]["first_scanned"]
                    else None
                    for pk in ids
                ],
            },
        ],
    )


def exception_carriers(rows: DayRows, limit: int = 5) -> Panel:
    totals = _carrier_totals(rows)
    names = _carrier_names(totals)
    worst = sorted(
        (pk for pk in totals if totals[pk]["exceptions"]), key=lambda pk: -totals[pk]["exceptions"]
    )
    worst = worst[:limit]
    return Panel(
        "exception_carriers",
        _("Top exception carriers"),
        "bar",
        [names.get(pk, str(pk)) for pk in worst],
        [
            {"label": _("Exceptions"), "data": [totals[pk]["exceptions"] for pk in worst]},
            {
                "label": _("Exception %"),
                "data": [_percent(totals[pk]["exceptions"], totals[pk]["shipped"]) for pk in worst],
            },
        ],
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

    return Panel(
        "health_index",
        _("Order health index"),
        "line",
        [d.isoformat() for d in days],
        [{"label": _("Health (0–100)"), "data": [index(d) for d in days]}],
        note=_("100 × share of live orders not held, not late and without a delivery exception."),
    )


PANELS = {
    panel.__name__: panel
    for panel in (
        orders_per_day,
        sales_per_day,
        fulfilment_rate,
        average_order_value,
        refund_rate,
        stock_turnover,
        logistics_sync,
        exception_carriers,
        health_index,
    )
}


def dashboard(rows: DayRows) -> list[Panel]:
    return [build(rows) for build in PANELS.values()]
