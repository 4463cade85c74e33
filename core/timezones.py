from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_zone() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


def business_date(moment: datetime | None = None) -> date:
    """The business day (SPEC R-M5, default UTC+8) that an aware moment falls on."""
    return timezone.localtime(moment or timezone.now(), business_zone()).date()


def to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A platform timestamp in UTC: its own offset wins; a naive one is read in `zone`."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, zone)
    return value.astimezone(UTC)
