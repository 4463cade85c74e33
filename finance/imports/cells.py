"""Reading one cell of a statement: text, an amount (signed Decimal, two decimals at most) or a
moment (aware UTC datetime). A value that cannot be read raises RowProblem naming the field."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from core.money import CENT, MONEY_MAX_DIGITS
from finance.imports.readers import CellError

MAX_AMOUNT = Decimal(10) ** (MONEY_MAX_DIGITS - 2)
FLOAT_NOISE = Decimal("0.000001")
NUMBER_NOISE = re.compile(r"[,\s¥￥$€£]|(?:CNY|RMB|元)$")
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日",
)


class RowProblem(Exception):
    def __init__(self, field_name: str, message: str, value=None):
        super().__init__(message)
        self.field_name, self.message, self.value = field_name, message, value


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value).strip()


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_money(value, field_name: str) -> Decimal:
    """An amount with at most two decimals: 1,234.50 / ¥12.30 / -8 / (8.00) / 12.30元."""
    if type(value) is Decimal:  # most amounts (an XLSX number): the other types' checks are moot
        number = value
    elif isinstance(value, CellError):
        raise RowProblem(field_name, _("The cell holds an error (%(code)s).") % {"code": value}, value)
    elif isinstance(value, bool | datetime):
        raise RowProblem(field_name, _("Not an amount."), value)
    elif isinstance(value, Decimal | int):
        number = Decimal(value)
    else:
        text = NUMBER_NOISE.sub("", str(value).strip())
        negative = text.startswith("(") and text.endswith(")")
        try:
            number = Decimal(text[1:-1] if negative else text)
        except InvalidOperation:
            raise RowProblem(field_name, _("Not an amount."), value) from None
        if negative:
            number = -number
    if not number.is_finite():
        raise RowProblem(field_name, _("Not an amount."), value)
    rounded = number.quantize(CENT) if abs(number) < MAX_AMOUNT else None
    if rounded is None:
        raise RowProblem(field_name, _("The amount is too large."), value)
    # Excel keeps floats: 12.3 may come as 12.300000000000001; more real decimals are an error.
    if abs(number - rounded) > (FLOAT_NOISE if isinstance(value, Decimal) else 0):
        raise RowProblem(field_name, _("At most two decimals."), value)
    return rounded


def parse_moment(value, zone, field_name: str) -> datetime:
    """An aware UTC datetime; a time without offset (or a date) is read in `zone`."""
    if type(value) is datetime:  # most moments (an XLSX date): the other types' checks are moot
        moment = value
    elif isinstance(value, CellError):
        raise RowProblem(field_name, _("The cell holds an error (%(code)s).") % {"code": value}, value)
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_text_moment(value.strip())
        if moment is None:
            raise RowProblem(field_name, _("Not a date or time (use YYYY-MM-DD HH:MM:SS)."), value)
    else:
        raise RowProblem(field_name, _("Not a date or time (use YYYY-MM-DD HH:MM:SS)."), value)
    if not 2000 <= moment.year <= 2999:
        raise RowProblem(field_name, _("The date is out of range."), value)
    # core.timezones.to_utc, inlined: this runs once per row of 100k-row files
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)


def _parse_text_moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
