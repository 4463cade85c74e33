"""The dashboard's date ranges: the presets a manager picks from, the previous period a range is
compared with, and which of its days are partial. Every day is a business day (core.timezones,
Asia/Shanghai by default), so "today" turns over at midnight in the business zone, not in UTC."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.replica import reporting_database
from core.timezones import business_date
from dashboard.models import RollupWatermark

DEFAULT_PRESET = "30d"


@dataclass(frozen=True)
class Preset:
    key: str
    label: str

    def range(self, today: date) -> tuple[date, date]:
        return PRESET_RANGES[self.key](today)


def _month_start(day: date) -> date:
    return day.replace(day=1)


PRESET_RANGES = {
    "today": lambda today: (today, today),
    "7d": lambda today: (today - timedelta(days=6), today),
    "30d": lambda today: (today - timedelta(days=29), today),
    "month": lambda today: (_month_start(today), today),
    "last_month": lambda today: (
        _month_start(_month_start(today) - timedelta(days=1)),
        _month_start(today) - timedelta(days=1),
    ),
}
PRESETS = [
    Preset("today", _("Today")),
    Preset("7d", _("7 days")),
    Preset("30d", _("30 days")),
    Preset("month", _("This month")),
    Preset("last_month", _("Last month")),
]


def preset_range(key: str, today: date | None = None) -> tuple[date, date]:
    return PRESET_RANGES[key](today or business_date())


def matching_preset(first: date, last: date, today: date | None = None) -> str | None:
    """The preset whose range is exactly first…last (so typed dates light up their preset too)."""
    today = today or business_date()
    return next((p.key for p in PRESETS if p.range(today) == (first, last)), None)


def previous_period(first: date, last: date) -> tuple[date, date]:
    """The period of the same length just before first…last (7 days → the 7 days before). A
    calendar month is compared with the month before it, whatever their lengths."""
    if first.day == 1 and (last + timedelta(days=1)).day == 1:
        before = first - timedelta(days=1)
        return _month_start(before), before
    length = last - first + timedelta(days=1)
    return first - length, first - timedelta(days=1)


def rollups_complete_until(now: datetime | None = None) -> datetime:
    """The moment the rollups are complete up to: their last refresh, never later than now (before
    the first refresh: now, so today is partial)."""
    now = now or timezone.now()
    mark = (
        RollupWatermark.objects.using(reporting_database())
        .filter(name="orders")
        .values_list("value", flat=True)
        .first()
    )
    return min(mark, now) if mark else now


def partial_days(first: date, last: date, complete_until: datetime) -> set[date]:
    """Days of first…last whose figures are not final: the day the rollups were last refreshed on
    (today, normally) and every day after it — their orders are still coming in."""
    from_day = business_date(complete_until)
    return {
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if first + timedelta(days=n) >= from_day
    }
