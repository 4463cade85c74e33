from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_zone() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


def business_date(moment: datetime | None = None) -> date:
    """The business day (SPEC R-M5, default UTC+8) that an aware moment falls on."""
    return timezone.localtime(moment or timezone.now(), business_zone()).date()


# Chinese platforms (Taobao TOP, Qimen WMS, Kuaidi100, Alipay) write times as Beijing wall-clock
# "YYYY-MM-DD HH:MM:SS" with no offset.
BEIJING = ZoneInfo("Asia/Shanghai")
BEIJING_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_beijing_time(moment: datetime) -> str:
    """An aware moment as "YYYY-MM-DD HH:MM:SS" Beijing time (no offset)."""
    if timezone.is_naive(moment):
        raise ValueError("Beijing times are built from aware datetimes only")
    return moment.astimezone(BEIJING).strftime(BEIJING_TIME_FORMAT)


def parse_beijing_time(text: str) -> datetime:
    """ "YYYY-MM-DD HH:MM:SS" read as Beijing time, aware; ValueError when malformed."""
    return datetime.strptime(text.strip(), BEIJING_TIME_FORMAT).replace(tzinfo=BEIJING)


def to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A platform timestamp in UTC: its own offset wins; a naive one is read in `zone`."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, zone)
    return value.astimezone(UTC)
