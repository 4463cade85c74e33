from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext


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


# Real zones span -12 h to +14 h; PostgreSQL refuses a displacement of 16 h or more.
UTC_OFFSET_LIMIT = timedelta(hours=16)
# Python's datetime ends at years 1 and 9999: a wall-clock time closer to either end than this
# cannot be moved to every zone.
CALENDAR_MARGIN = timedelta(days=1)


def checked_moment(value: datetime) -> datetime:
    """`value` unchanged when it is a moment every zone can show, aware or naive (to be read in
    a zone later); ValueError with a translated message otherwise: a UTC offset of 16 h or more,
    or a time within a day of the calendar's ends."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= UTC_OFFSET_LIMIT:
        raise ValueError(gettext("Use a time zone offset between -15:59 and +15:59."))
    wall_clock = value.replace(tzinfo=None)
    if not datetime.min + CALENDAR_MARGIN <= wall_clock <= datetime.max - CALENDAR_MARGIN:
        raise ValueError(gettext("Out of range: use a date between 0001-01-02 and 9999-12-30."))
    return value
